"""The db config's ``mongo_compat`` setting: which MongoDB-server shims a LaunchPad gets.

``none`` (the default, a real MongoDB server) applies nothing. ``nx27017`` applies the
test-only shims of :mod:`ssic_flows.testing.nx27017` (the ``nx-27017`` wire server the
integration tests use); this module is the only production code that reaches them.

>>> worker_query("none", {"a": 1})
{'a': 1}
"""

from __future__ import annotations

__all__ = ["COMPAT_MODES", "apply_compat", "check_mode", "compat_mode", "worker_query"]

#: Allowed values of ``mongo_compat`` (see :class:`ssic_flows.store.config.StoreConfig`).
COMPAT_MODES = ("none", "nx27017")


def check_mode(mode: str | None) -> str:
    """``mode`` validated (``None``/``""`` → ``"none"``); ``ValueError`` names the fix."""
    mode = "none" if mode in (None, "") else mode
    if mode not in COMPAT_MODES:
        raise ValueError(
            f"unknown mongo_compat {mode!r}: use 'none' for a real MongoDB server or 'nx27017' "
            "for the nx-27017 test server (db config key mongo_compat)"
        )
    return mode


def apply_compat(lp, mode: str | None) -> None:
    """Apply the named compatibility mode to a LaunchPad (``none`` does nothing).

    Idempotent; the mode is recorded on ``lp`` for :func:`compat_mode`. Raises
    ``ValueError`` for an unknown mode.
    """
    mode = check_mode(mode)
    lp._ssic_compat = mode  # noqa: SLF001 - read by compat_mode
    if mode == "nx27017":
        from ssic_flows.testing.nx27017 import apply_nx27017

        apply_nx27017(lp)


def compat_mode(lp) -> str:
    """The compatibility mode applied to ``lp`` (``none`` if never applied)."""
    return getattr(lp, "_ssic_compat", "none")


def worker_query(mode: str | None, query: dict | None = None) -> dict:
    """An FWorker ``query`` that is safe under ``mode`` (the nx-27017 guard for ``nx27017``)."""
    if check_mode(mode) == "nx27017":
        from ssic_flows.testing.nx27017 import guard_worker_query

        return guard_worker_query(query)
    return dict(query or {})
