"""KeyedMontyStore: montydb's answers, decoding only the rows that hold the key."""

from __future__ import annotations

import pytest
from maggma.stores import MontyStore

from ssic_flows.store.keyed_monty import KeyedMontyStore


@pytest.fixture()
def stores(tmp_path):
    kw = dict(database_path=str(tmp_path), database_name="ssic", storage="sqlite", key="blob_uuid")
    plain, keyed = MontyStore("outputs_data", **kw), KeyedMontyStore("outputs_data", **kw)
    plain.connect()
    keyed.connect()
    docs = [{"blob_uuid": f"b-{i:03d}", "job_uuid": f"j-{i % 3}", "data": {"x": list(range(i))}}
            for i in range(30)]
    keyed.update(docs)
    return plain, keyed


def _decodes(monkeypatch) -> list:
    from montydb.types import bson as mbson

    calls, decode = [], mbson.document_decode
    monkeypatch.setattr(mbson, "document_decode", lambda *a, **k: calls.append(1) or decode(*a, **k))
    return calls


CASES = [({"blob_uuid": "b-007"}, ["blob_uuid", "data"]),
         ({"blob_uuid": {"$in": ["b-001", "b-020", "nope"]}}, ["blob_uuid", "data"]),
         ({"blob_uuid": "b-012"}, None),
         ({"blob_uuid": "b-012"}, []),
         ({"blob_uuid": "missing"}, None),
         ({"blob_uuid": "b-00"}, None)]  # a prefix of many keys: bytes match, the filter refuses


@pytest.mark.parametrize("criteria, properties", CASES)
def test_key_lookups_equal_montydb_and_decode_only_matching_rows(stores, monkeypatch, criteria, properties):
    plain, keyed = stores
    want = list(plain.query(criteria, properties=properties))
    calls = _decodes(monkeypatch)
    got = list(keyed.query(criteria, properties=properties))
    assert got == want
    assert len(calls) <= 3 if criteria["blob_uuid"] != "b-00" else len(calls) <= 10  # not all 30


def test_other_queries_and_updates_behave_as_montydb(stores):
    plain, keyed = stores
    for crit in ({"job_uuid": "j-1"}, {}):
        assert list(keyed.query(crit, properties=["blob_uuid"])) == list(plain.query(crit, properties=["blob_uuid"]))
    assert list(keyed.query({"blob_uuid": "b-003"}, sort={"blob_uuid": 1})) == list(plain.query({"blob_uuid": "b-003"}))
    keyed.update({"blob_uuid": "b-003", "data": "replaced"})  # an existing key is replaced, not doubled
    assert [d["data"] for d in plain.query({"blob_uuid": "b-003"})] == ["replaced"]
    keyed.update([{"blob_uuid": "new", "data": 1}])
    assert plain.count() == 31 and plain.count({"blob_uuid": "new"}) == 1


def test_connecting_again_does_not_rewrite_the_storage_file_other_processes_read(tmp_path, monkeypatch):
    """maggma's MontyStore rewrites ``.monty.storage`` at every connect (a worker reading it
    meanwhile saw an empty storage name and its job fizzled); ours only writes it once."""
    import montydb.configure as mc

    from ssic_flows.store.keyed_monty import EmbeddedMontyStore

    kw = dict(database_path=str(tmp_path), database_name="ssic", storage="sqlite", key="uuid")
    first = EmbeddedMontyStore("outputs", **kw)
    first.connect()
    first.update([{"uuid": "a", "x": 1}])
    writes = []
    real = mc.set_storage
    monkeypatch.setattr(mc, "set_storage", lambda *a, **k: writes.append(a) or real(*a, **k))
    for cls in (EmbeddedMontyStore, KeyedMontyStore):
        s = cls("outputs", **kw)
        s.connect()
        assert s.query_one({"uuid": "a"})["x"] == 1
    assert writes == []
    import maggma.stores.mongolike as ml

    monkeypatch.setattr(ml, "set_storage", lambda *a, **k: writes.append(a) or real(*a, **k))
    MontyStore("outputs", **kw).connect()
    assert len(writes) == 1  # the stock store rewrites the file that the others read
