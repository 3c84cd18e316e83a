"""Compatibility shims for MongoDB wire servers that are not MongoDB (test use only).

``mongo_compat: nx27017`` in the db config enables them; a real MongoDB needs ``none``
(the default). Production runs on a real MongoDB server; the ``nx27017`` mode exists so the
integration tests can run the whole production path (FireWorks + jobflow stores + SLURM)
against the pip-installable ``nx-27017`` wire server (NeoSQLite-backed).

What ``nx27017`` fixes, and how
-------------------------------
1. Write operations whose filter has a top-level ``$or`` next to other fields ignore the
   other fields on nx-27017 (FireWorks' checkout ``{"state": "READY", "$or": [...]}`` then
   reserves WAITING or RUNNING fireworks). The LaunchPad's collections are wrapped so that
   every write filter has its top-level ``$or`` moved into an ``$and`` (same meaning on any
   MongoDB), and worker queries built by :func:`worker_query` carry an ``$or`` guard so that
   FireWorks itself builds the ``$and`` form even in a plain ``rlaunch -w`` process.
2. A compound index containing ``_id`` makes every later insert fail, and indexes on array
   fields make matches fail: FireWorks' ``tuneup`` (run by ``lpad reset``) creates both.
   ``tuneup`` is wrapped to drop every index it made except the unique ``fw_id`` /
   ``launch_id`` ones. Never run ``lpad admin tuneup`` against nx-27017.
3. ``$set: True`` reads back as ``1`` and ``{"f": None}`` does not match an explicit null:
   our own code compares states (strings) and ids only, so these need no shim.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COMPAT_MODES",
    "OR_GUARD",
    "apply_compat",
    "compat_mode",
    "drop_unsupported_indexes",
    "move_or_into_and",
    "worker_query",
]

COMPAT_MODES = ("none", "nx27017")

#: A no-op ``$or`` for FWorker queries: FireWorks then puts its own ``$or`` inside ``$and``.
OR_GUARD: dict = {"$or": [{"fw_id": {"$exists": True}}]}

# index keys (FireWorks' tuneup) that nx-27017 handles correctly; all others are dropped
_KEEP_KEYS = {"fireworks": [("_id",), ("fw_id",)], "launches": [("_id",), ("launch_id",)]}


def _check_mode(mode: str | None) -> str:
    mode = "none" if mode in (None, "") else mode
    if mode not in COMPAT_MODES:
        raise ValueError(
            f"unknown mongo_compat {mode!r}: use 'none' for a real MongoDB server or 'nx27017' "
            "for the nx-27017 test server (db config key mongo_compat)"
        )
    return mode


def move_or_into_and(query: dict | None) -> dict | None:
    """Same filter, with a top-level ``$or`` that has sibling fields moved into ``$and``.

    ``{"state": "READY", "$or": [a, b]}`` → ``{"state": "READY", "$and": [{"$or": [a, b]}]}``.
    A filter whose only key is ``$or`` (or that has no ``$or``) is returned unchanged.
    """
    if not isinstance(query, dict) or "$or" not in query or len(query) == 1:
        return query
    q = dict(query)
    q["$and"] = [*q.get("$and", []), {"$or": q.pop("$or")}]
    return q


class _CompatCollection:
    """A pymongo Collection whose write filters go through :func:`move_or_into_and`."""

    _WRITE_METHODS = frozenset({
        "find_one_and_update", "find_one_and_replace", "find_one_and_delete",
        "update_one", "update_many", "replace_one", "delete_one", "delete_many",
    })

    def __init__(self, coll):
        object.__setattr__(self, "_coll", coll)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._coll, name)
        if name in self._WRITE_METHODS:
            def call(filter, *args, **kwargs):  # noqa: A002 - pymongo's parameter name
                return attr(move_or_into_and(filter), *args, **kwargs)
            return call
        return attr

    def __getitem__(self, name: str):
        return self._coll[name]

    def __eq__(self, other) -> bool:
        return self._coll == getattr(other, "_coll", other)

    def __hash__(self) -> int:
        return hash(self._coll)

    def __repr__(self) -> str:
        return f"_CompatCollection({self._coll!r})"


def drop_unsupported_indexes(db) -> list[str]:
    """Drop the indexes nx-27017 mishandles from a LaunchPad database; returns their names."""
    dropped = []
    for cname in ("fireworks", "launches", "workflows"):
        keep = _KEEP_KEYS.get(cname, [("_id",)])
        coll = db[cname]
        for info in coll.list_indexes():
            name = info["name"]
            if tuple(dict(info["key"])) not in keep:
                coll.drop_index(name)
                dropped.append(f"{cname}.{name}")
    return dropped


def apply_compat(lp, mode: str | None) -> None:
    """Apply the named compatibility mode to a LaunchPad (``none`` does nothing).

    Idempotent. Raises ``ValueError`` for an unknown mode.
    """
    mode = _check_mode(mode)
    lp._ssic_compat = mode  # noqa: SLF001 - read by compat_mode / ssic_flows.cluster
    if mode == "none" or getattr(lp, "_ssic_compat_applied", False):
        return
    for cname in ("fireworks", "launches", "workflows", "offline_runs", "fw_id_assigner"):
        coll = getattr(lp, cname, None)
        if coll is not None and not isinstance(coll, _CompatCollection):
            setattr(lp, cname, _CompatCollection(coll))

    original_tuneup = lp.tuneup

    def tuneup(bkground: bool = True) -> None:
        original_tuneup(bkground=bkground)
        drop_unsupported_indexes(lp.db)

    lp.tuneup = tuneup
    lp._ssic_compat_applied = True  # noqa: SLF001
    # a database reset earlier without the shim may carry the bad indexes already
    drop_unsupported_indexes(lp.db)


def compat_mode(lp) -> str:
    """The compatibility mode applied to ``lp`` (``none`` if never applied)."""
    return getattr(lp, "_ssic_compat", "none")


def worker_query(mode: str | None, query: dict | None = None) -> dict:
    """An FWorker ``query`` that is safe under ``mode`` (adds :data:`OR_GUARD` for nx27017)."""
    mode = _check_mode(mode)
    q = dict(query or {})
    if mode == "nx27017":
        if "$or" in q:
            q["$and"] = [*q.get("$and", []), {"$or": q.pop("$or")}]
        q.update(OR_GUARD)
    return q
