"""jobflow JobStore for each mode: montydb files (embedded) or MongoDB + GridFS (server).

Big arrays (trajectories, curves) are routed to the additional store named ``data``
(jobflow's ``@job(data=...)``), never into job documents.
"""

from __future__ import annotations

from jobflow import JobStore

from ssic_flows.store.config import StoreConfig

__all__ = ["get_jobstore", "prime_embedded_stores"]


def get_jobstore(cfg: StoreConfig) -> JobStore:
    """A JobStore with a ``data`` additional store for big arrays.

    Embedded: montydb (sqlite storage) under ``<home>/jobstore`` for both the docs and the
    data store (persists across processes and keeps concurrent writes), as
    :class:`~ssic_flows.store.keyed_monty.EmbeddedMontyStore` (worker processes can connect
    at once); the data store is a :class:`~ssic_flows.store.keyed_monty.KeyedMontyStore`, whose blob look-ups
    decode only the matching rows (montydb has no index).
    Server: ``MongoStore`` (collection ``outputs``) + ``GridFSStore`` (``outputs_data``), from the URI.
    """
    if cfg.mode == "embedded":
        from ssic_flows.store.keyed_monty import EmbeddedMontyStore, KeyedMontyStore

        root = cfg.data_dir / "jobstore"
        root.mkdir(parents=True, exist_ok=True)
        docs = EmbeddedMontyStore("outputs", database_path=str(root), database_name="ssic",
                          storage="sqlite", key="uuid")
        data = KeyedMontyStore("outputs_data", database_path=str(root), database_name="ssic",
                               storage="sqlite", key="blob_uuid")
        return JobStore(docs, additional_stores={"data": data})

    from maggma.stores import GridFSStore, MongoStore

    uri = cfg.uri()
    client = {"serverSelectionTimeoutMS": cfg.server_timeout_ms}
    docs = MongoStore.from_uri(uri, "outputs", database=cfg.database, key="uuid",
                               mongoclient_kwargs=client)
    data = GridFSStore.from_uri(uri, "outputs_data", database=cfg.database, key="blob_uuid",
                                mongoclient_kwargs=client)
    return JobStore(docs, additional_stores={"data": data})


def prime_embedded_stores(store: JobStore) -> None:
    """Create the embedded (montydb, sqlite) collections' tables before several worker
    processes write to them: montydb creates a collection's table at its first write, and
    two workers writing their first outputs at once raced on it ("sqlite3.OperationalError:
    no such table: documents": the main job's first build job fizzled). A no-op for
    collections that already hold documents, and for server stores."""
    from maggma.stores import MontyStore

    store.connect()
    for s in [store.docs_store, *store.additional_stores.values()]:
        if not isinstance(s, MontyStore):
            continue
        coll = s._collection
        if coll.find_one({}) is None:
            coll.insert_one({"_ssic_prime": True})
            coll.delete_many({"_ssic_prime": True})
