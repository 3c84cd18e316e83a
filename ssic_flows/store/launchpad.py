"""FireWorks LaunchPad for each mode.

Embedded mode uses FireWorks' mongomock LaunchPad persisted to ``<home>/launchpad.json``
(``mongomock-persistence``). That file is read once when the client is created and written
back by :func:`flush_launchpad` (atomically: temp file + rename) — we flush after every
state change, because the library itself only writes at interpreter exit and a killed
process would lose everything. Two processes on one file lose updates, so every embedded
session holds :func:`embedded_lock` for its whole life.

Server mode uses pymongo against ``cfg.uri()``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from ssic_flows.store.config import StoreConfig

__all__ = ["EmbeddedBusyError", "embedded_lock", "embedded_snapshot", "ensure_initialized",
           "flush_launchpad", "get_launchpad"]


class EmbeddedBusyError(RuntimeError):
    """Another process holds the embedded store."""


def _lp_file(cfg: StoreConfig) -> Path:
    f = cfg.data_dir / "launchpad.json"
    if not f.exists() or f.stat().st_size == 0:
        f.write_text("{}")
    return f


@contextmanager
def embedded_lock(cfg: StoreConfig) -> Iterator[None]:
    """Hold the embedded store exclusively; refuse at once if another process has it."""
    lock = FileLock(str(cfg.data_dir / "embedded.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise EmbeddedBusyError(
            f"another ssic process is using the embedded store in {cfg.data_dir}; wait for it "
            "to finish (the embedded LaunchPad is single-process), or use a MongoDB server "
            "(db_config/server.yaml) for concurrent work"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def get_launchpad(cfg: StoreConfig):
    """A FireWorks ``LaunchPad`` for ``cfg`` (does not reset anything)."""
    import fireworks.core.launchpad as lpmod
    from fireworks import LaunchPad

    if cfg.mode == "embedded":
        import mongomock.gridfs
        import mongomock_persistence

        lp_file = _lp_file(cfg)
        try:
            mongomock.gridfs.enable_gridfs_integration()
        except Exception:  # noqa: BLE001 - already enabled
            pass
        # FireWorks builds its client from the module global: swap it for this construction
        # only, so a server LaunchPad made later in the same process gets pymongo again
        # MONGOMOCK_SERVERSTORE_FILE only while the client is made: FireWorks itself switches
        # to mongomock whenever that variable is set, so left in os.environ it would turn
        # every later `qlaunch`/`lpad`/`rlaunch` this process starts into a mock
        prev, prev_env = lpmod.MongoClient, os.environ.get("MONGOMOCK_SERVERSTORE_FILE")
        os.environ["MONGOMOCK_SERVERSTORE_FILE"] = str(lp_file)
        lpmod.MongoClient = mongomock_persistence.MongoClient
        try:
            lp = LaunchPad(host="localhost", name="ssic_launchpad", strm_lvl="ERROR")
        finally:
            lpmod.MongoClient = prev
            if prev_env is None:
                os.environ.pop("MONGOMOCK_SERVERSTORE_FILE", None)
            else:
                os.environ["MONGOMOCK_SERVERSTORE_FILE"] = prev_env
        lp._ssic_file = lp_file  # noqa: SLF001 - used by flush_launchpad
        ensure_initialized(lp)
        return lp

    import pymongo

    from ssic_flows.store.mongo_compat import apply_compat

    lpmod.MongoClient = pymongo.MongoClient
    lp = LaunchPad(host=cfg.uri(), uri_mode=True,
                   name=cfg.launchpad_database or cfg.database, strm_lvl="ERROR",
                   mongoclient_kwargs={"serverSelectionTimeoutMS": cfg.server_timeout_ms})
    apply_compat(lp, cfg.mongo_compat)
    ensure_initialized(lp)
    return lp


def ensure_initialized(lp) -> bool:
    """Initialise an empty LaunchPad database (FireWorks' ``lpad reset`` on nothing).

    Only a database with neither an id counter nor any firework is touched, so stored
    work is never wiped. Returns True if it initialised.
    """
    if lp.fw_id_assigner.count_documents({}) or lp.fireworks.count_documents({}):
        return False
    lp.reset("", require_password=False, max_reset_wo_password=0)
    return True


def flush_launchpad(lp) -> None:
    """Write an embedded LaunchPad's in-memory state to its file atomically (no-op on a server)."""
    path = getattr(lp, "_ssic_file", None)
    if path is None:
        return
    import bson.json_util

    store = lp.connection._store  # noqa: SLF001 - mongomock ServerStore
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(bson.json_util.dumps(store.to_dict()))
    tmp.replace(path)


def embedded_snapshot(cfg: StoreConfig):
    """A read-only copy of the embedded LaunchPad (``fireworks``, ``launches``, ``workflows``).

    Reads ``<home>/launchpad.json`` once, without the embedded lock, so a running ``ssic run``
    keeps it (that file is only ever replaced whole: :func:`flush_launchpad`); the copy is a
    plain in-memory mongomock database that is never written back. ``None`` when the store
    has no LaunchPad file yet.

    >>> snap = embedded_snapshot(cfg)                           # doctest: +SKIP
    >>> snap.workflows.count_documents({})                      # doctest: +SKIP
    1
    """
    from types import SimpleNamespace

    import bson.json_util
    import mongomock

    f = cfg.data_dir / "launchpad.json"
    if not f.exists() or f.stat().st_size == 0:
        return None
    dbs = bson.json_util.loads(f.read_text())
    saved = os.environ.pop("MONGOMOCK_SERVERSTORE_FILE", None)  # never bind this copy to the file
    try:
        db = mongomock.MongoClient()["ssic_launchpad_snapshot"]
    finally:
        if saved is not None:
            os.environ["MONGOMOCK_SERVERSTORE_FILE"] = saved
    src = dbs.get("ssic_launchpad", {})
    names = ("fireworks", "launches", "workflows")
    for name in names:
        docs = [d for _, d in (src.get(name) or {}).get("documents", [])]
        if docs:
            db[name].insert_many(docs)
    return SimpleNamespace(**{n: db[n] for n in names}, db=db)
