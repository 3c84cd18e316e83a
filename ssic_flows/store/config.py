"""Where results live: embedded files (default) or a MongoDB server.

The configuration is a small YAML file (examples in ``db_config/``) found, in order, from
the ``--db-config`` CLI option, the ``SSIC_DB_CONFIG`` environment variable, or nothing
(embedded defaults under :func:`ssic_home`). Credentials never live in the YAML: a server
URI is read from the environment variable named by ``uri_env`` or from the untracked file
named by ``uri_file``.

Example
-------
>>> cfg = StoreConfig()           # embedded defaults
>>> cfg.mode
'embedded'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["StoreConfig", "StoreConfigError", "load_store_config", "ssic_home"]


class StoreConfigError(ValueError):
    """The store configuration is missing or wrong; the message says how to fix it."""


def ssic_home() -> Path:
    """Project data directory: ``$SSIC_HOME`` or ``~/.ssic_flows`` (created on demand)."""
    home = Path(os.environ.get("SSIC_HOME", Path.home() / ".ssic_flows")).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


class StoreConfig(BaseModel):
    """Settings for the LaunchPad (FireWorks) and the JobStore (jobflow).

    mode:
        ``embedded``: FireWorks on a file-backed mongomock LaunchPad and jobflow on montydb
        (sqlite) stores, all under ``home``; one process at a time (file lock).
        ``server``: a MongoDB server; LaunchPad and JobStore share ``database``; big arrays
        go to GridFS (``data`` store).
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["embedded", "server"] = "embedded"
    home: Path | None = Field(None, description="embedded data directory (default $SSIC_HOME)")
    # server mode
    uri_env: str = Field("SSIC_MONGO_URI", description="environment variable holding the URI")
    uri_file: Path | None = Field(None, description="untracked file whose first line is the URI")
    database: str = "ssic_flows"
    launchpad_database: str | None = None
    mongo_compat: Literal["none", "nx27017"] = Field(
        "none",
        description="work around the nx-27017 test server's MongoDB gaps; 'none' for a real MongoDB",
    )
    server_timeout_ms: int = 5000

    @property
    def data_dir(self) -> Path:
        d = (self.home or ssic_home()).expanduser().resolve()
        d.mkdir(parents=True, exist_ok=True)
        return d

    def uri(self) -> str:
        """The MongoDB URI (server mode), from the environment or the untracked file."""
        if self.mode != "server":
            raise StoreConfigError("uri() is only defined in server mode")
        val = os.environ.get(self.uri_env)
        if val:
            return val.strip()
        if self.uri_file is not None:
            p = Path(self.uri_file).expanduser()
            if not p.exists():
                raise StoreConfigError(
                    f"uri_file {p} does not exist: create it (one line, the MongoDB URI) "
                    f"or export {self.uri_env}"
                )
            return p.read_text().strip().splitlines()[0].strip()
        raise StoreConfigError(
            f"server mode needs a MongoDB URI: export {self.uri_env}=mongodb://... "
            "or set uri_file in the db config"
        )


def load_store_config(path: str | Path | None = None) -> StoreConfig:
    """Read a store config file (YAML); ``None`` → ``$SSIC_DB_CONFIG`` → embedded defaults."""
    path = path or os.environ.get("SSIC_DB_CONFIG")
    if not path:
        return StoreConfig()
    p = Path(path).expanduser()
    if not p.exists():
        raise StoreConfigError(f"db config {p} not found (check --db-config / SSIC_DB_CONFIG)")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StoreConfigError(f"db config {p} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreConfigError(f"db config {p} must be a mapping of settings")
    try:
        cfg = StoreConfig(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        raise StoreConfigError(f"db config {p}: key '{key}': {err['msg']}") from exc
    if cfg.home is not None and not cfg.home.is_absolute():
        cfg.home = (p.parent / cfg.home).resolve()
    return cfg
