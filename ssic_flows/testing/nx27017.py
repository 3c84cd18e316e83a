"""Shims for the ``nx-27017`` MongoDB wire server (NeoSQLite-backed; test use only).

Production never imports this module directly: ``mongo_compat: nx27017`` in the db config
enables it through :mod:`ssic_flows.store.mongo_compat`; a real MongoDB needs ``none`` (the
default). The mode exists so the integration tests can run the whole production path
(FireWorks + jobflow stores + SLURM) against the pip-installable ``nx-27017`` server.

What ``nx27017`` fixes, and how
-------------------------------
1. Write operations whose filter has a top-level ``$or`` next to other fields ignore the
   other fields on nx-27017 (FireWorks' checkout ``{"state": "READY", "$or": [...]}`` then
   reserves WAITING or RUNNING fireworks). The LaunchPad's collections are wrapped so that
   every write filter has its top-level ``$or`` moved into an ``$and`` (same meaning on any
   MongoDB), and worker queries built by :func:`guard_worker_query` carry an ``$or`` guard so that
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
    "OR_GUARD",
    "apply_nx27017",
    "drop_unsupported_indexes",
    "guard_worker_query",
    "move_or_into_and",
]

#: A no-op ``$or`` for FWorker queries: FireWorks then puts its own ``$or`` inside ``$and``.
OR_GUARD: dict = {"$or": [{"fw_id": {"$exists": True}}]}

# index keys (FireWorks' tuneup) that nx-27017 handles correctly; all others are dropped
_KEEP_KEYS = {"fireworks": [("_id",), ("fw_id",)], "launches": [("_id",), ("launch_id",)]}


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


def apply_nx27017(lp) -> None:
    """Wrap a LaunchPad's collections and ``tuneup`` for nx-27017 (idempotent).

    >>> apply_nx27017(lp)  # doctest: +SKIP
    """
    if getattr(lp, "_ssic_compat_applied", False):
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


def guard_worker_query(query: dict | None = None) -> dict:
    """An FWorker ``query`` with its ``$or`` moved into ``$and`` plus :data:`OR_GUARD`.

    >>> guard_worker_query({"a": 1}) == {"a": 1, **OR_GUARD}
    True
    """
    q = dict(query or {})
    if "$or" in q:
        q["$and"] = [*q.get("$and", []), {"$or": q.pop("$or")}]
    q.update(OR_GUARD)
    return q
