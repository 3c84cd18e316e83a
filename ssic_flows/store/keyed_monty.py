"""A montydb (sqlite) store whose look-ups and inserts by its key read only matching records.

montydb has no indexes: every ``find`` reads and BSON-decodes *every* document of the
collection, and maggma's ``update`` (``replace_one(..., upsert=True)``) does the same for
each document written. For the embedded ``data`` store, which holds every trajectory of a
campaign, that made each output reference resolved by a job (jobflow queries
``{"blob_uuid": {"$in": [...]}}``) cost a decode of the whole store: 8.5 s per reference
for the 330 MB store of the demo campaign, 147 s of the AgI ``analyze`` job's 240 s.

:class:`KeyedMontyStore` answers a query whose criteria name only the store's key
(``{key: v}`` or ``{key: {"$in": [v, ...]}}``, string values) by asking sqlite for the rows
whose stored bytes contain one of the values (``instr``, no decoding), decoding those, and
applying montydb's own filter and projection to them, so the result is what montydb
returns (a document whose key is ``v`` contains the bytes of ``v``; the filter removes the
rest). An insert of a key not yet present skips the upsert's scan. Anything else
(sort, skip, limit, other criteria) goes to :class:`maggma.stores.MontyStore` unchanged.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any, Iterator

from maggma.stores import MontyStore
from monty.json import jsanitize

__all__ = ["EmbeddedMontyStore", "KeyedMontyStore"]


class EmbeddedMontyStore(MontyStore):
    """:class:`~maggma.stores.MontyStore` that several processes can connect to at once.

    maggma's ``connect`` calls montydb's ``set_storage`` every time, which rewrites the
    repository's ``.monty.storage`` file (``open(..., "w")``, then the name): a worker
    connecting while another rewrites it reads an empty name and fails with "No module
    named 'montydb.storage.'" (seen once in the two-worker store test: its first job
    fizzled). Here the storage is only set when the repository does not already name it;
    the parent process connects first (:func:`~ssic_flows.store.jobstore.prime_embedded_stores`),
    so the workers only read.
    """

    def connect(self, force_reset: bool = False) -> None:
        if self._coll and not force_reset:
            return
        from montydb import MontyClient
        from montydb.configure import _storage_ident_fname, set_storage

        if self.database_path != ":memory:" and not _names_storage(
                os.path.join(self.database_path, _storage_ident_fname), self.storage):
            set_storage(self.database_path, storage=self.storage, **self.storage_kwargs)
        client = MontyClient(self.database_path, **self.client_kwargs)
        self._coll = client[self.database_name][self.collection_name]


def _names_storage(ident_file: str, storage: str) -> bool:
    try:
        with open(ident_file) as fh:
            return fh.readline().strip() == storage
    except OSError:
        return False


class KeyedMontyStore(EmbeddedMontyStore):
    """:class:`~maggma.stores.MontyStore` (sqlite storage) with key look-ups that decode
    only the documents holding the key (module docstring); same constructor."""

    # ------------------------------------------------------------------ raw rows
    def _collection_file(self) -> str:
        from montydb.storage.sqlite import SQLITE_DB_EXT

        return os.path.join(self.database_path, self.database_name,
                            self.collection_name + SQLITE_DB_EXT)

    def _fast(self) -> bool:
        if self.storage != "sqlite" or self.database_path == ":memory:":
            return False
        from montydb.types import bson as mbson

        _ = self._collection  # connect: montydb's bson flavour is set on first use
        return bool(mbson.bson_used)

    def _rows_containing(self, values: list[str]) -> list[bytes]:
        """Raw BSON of the rows whose bytes contain any of ``values``."""
        from montydb.storage.sqlite import SQLITE_RECORD_TABLE

        path = self._collection_file()
        if not values or not os.path.isfile(path):
            return []
        where = " OR ".join(["instr(v, ?) > 0"] * len(values))
        con = sqlite3.connect(path, timeout=60.0)
        try:
            return [r[0] for r in con.execute(f"SELECT v FROM [{SQLITE_RECORD_TABLE}] WHERE {where}",
                                              [v.encode() for v in values])]
        except sqlite3.OperationalError:  # no table yet (empty collection)
            return []
        finally:
            con.close()

    def _key_values(self, criteria: dict | None) -> list[str] | None:
        """The key values of a pure key look-up, or None for any other criteria."""
        if not isinstance(criteria, dict) or set(criteria) != {self.key}:
            return None
        v = criteria[self.key]
        if isinstance(v, dict):
            if set(v) != {"$in"} or not isinstance(v["$in"], (list, tuple)):
                return None
            v = list(v["$in"])
        else:
            v = [v]
        if not all(isinstance(x, str) and x and x.isascii() for x in v):
            return None
        return v

    # ------------------------------------------------------------------ Store API
    def query(self, criteria: dict | None = None, properties: dict | list | None = None,
              sort: dict | None = None, hint: dict | None = None, skip: int = 0, limit: int = 0,
              **kwargs: Any) -> Iterator[dict]:
        """As :meth:`MontyStore.query`; a pure key look-up decodes only matching rows."""
        values = self._key_values(criteria)
        if values is None or sort or hint or skip or limit or kwargs or not self._fast():
            yield from super().query(criteria=criteria, properties=properties, sort=sort,
                                     hint=hint, skip=skip, limit=limit, **kwargs)
            return
        from montydb.cursor import _fields_list_to_dict
        from montydb.engine.project import Projector
        from montydb.engine.queries import QueryFilter
        from montydb.types import bson as mbson

        if isinstance(properties, list):
            properties = {p: 1 for p in properties}
        if properties is not None:  # as montydb's cursor prepares a projection
            properties = _fields_list_to_dict(properties or {"_id": 1}, "projection")
        options = self._collection.codec_options
        qf = QueryFilter(criteria)
        projector = Projector(properties, qf) if properties else None
        for raw in self._rows_containing(values):
            doc = mbson.document_decode(raw, codec_options=options)
            if qf(doc):
                fw = qf.fieldwalker
                if projector:
                    projector(fw)
                yield fw.doc

    def update(self, docs: list[dict] | dict, key: list | str | None = None) -> None:
        """As :meth:`MontyStore.update`; a document whose (string) key is not stored yet is
        inserted without the upsert's scan of the collection."""
        if not isinstance(docs, list):
            docs = [docs]
        key = key or self.key
        keys = key if isinstance(key, list) else [key]
        if keys != [self.key] or self.validator or not self._fast():
            super().update(docs, key=key)
            return
        rest = []
        for d in docs:
            d = jsanitize(d, allow_bson=True)
            values = self._key_values({self.key: d.get(self.key)})
            if values is not None and not self._rows_containing(values):
                self._collection.insert_one(d)
            else:
                rest.append(d)
        if rest:
            super().update(rest, key=key)
