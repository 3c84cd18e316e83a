"""LaunchPad (FireWorks) and JobStore (jobflow) setup for embedded and server modes."""

from ssic_flows.store.config import StoreConfig, StoreConfigError, load_store_config, ssic_home

__all__ = ["StoreConfig", "StoreConfigError", "load_store_config", "open_jobstore", "ssic_home"]


def open_jobstore(config_path=None):
    """The JobStore for ``config_path`` (or ``$SSIC_DB_CONFIG``, or embedded defaults)."""
    from ssic_flows.store.jobstore import get_jobstore

    return get_jobstore(load_store_config(config_path))
