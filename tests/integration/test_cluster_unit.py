"""Pure-Python parts of ssic_flows.cluster and the nx-27017 shims (no server, no SLURM)."""

from __future__ import annotations

import pytest
from jobflow import Flow


def test_move_or_into_and_keeps_meaning():
    from ssic_flows.testing.nx27017 import move_or_into_and

    q = {"state": "READY", "$or": [{"a": 1}, {"b": 2}]}
    assert move_or_into_and(q) == {"state": "READY", "$and": [{"$or": [{"a": 1}, {"b": 2}]}]}
    assert q == {"state": "READY", "$or": [{"a": 1}, {"b": 2}]}  # input untouched
    assert move_or_into_and({"$or": [{"a": 1}]}) == {"$or": [{"a": 1}]}
    assert move_or_into_and({"x": 1}) == {"x": 1}
    both = move_or_into_and({"x": 1, "$and": [{"y": 2}], "$or": [{"z": 3}]})
    assert both == {"x": 1, "$and": [{"y": 2}, {"$or": [{"z": 3}]}]}


def test_worker_query_guard_and_mode_errors():
    from fireworks import FWorker

    from ssic_flows.store.mongo_compat import apply_compat, worker_query
    from ssic_flows.testing.nx27017 import OR_GUARD

    assert worker_query("none", {"a": 1}) == {"a": 1}
    q = worker_query("nx27017", {"a": 1})
    assert q == {"a": 1, **OR_GUARD}
    # FireWorks then builds $and instead of a top-level $or next to "state"
    fq = FWorker(query=q, category="cpu").query
    assert "$or" not in fq and len(fq["$and"]) == 2 and fq["a"] == 1
    with pytest.raises(ValueError, match="'none' for a real MongoDB"):
        worker_query("mongo5")
    with pytest.raises(ValueError, match="mongo_compat"):
        apply_compat(object(), "bogus")


def test_role_routing_and_category_assignment():
    from flow_jobs import add

    from ssic_flows.cluster.routing import assign_categories, resource_class_for
    from ssic_flows.schemas import ROLES

    assert {r: resource_class_for(r) for r in ("mlmd", "reference_md", "label")} == \
        {"mlmd": "gpu", "reference_md": "cpu", "label": "cpu"}
    assert all(resource_class_for(r) in ("cpu", "gpu") for r in ROLES)
    assert resource_class_for(None) == "cpu"
    assert resource_class_for("mlmd", {"mlmd": "cpu"}) == "cpu"
    with pytest.raises(ValueError, match="not one of"):
        resource_class_for("mlmd", {"mlmd": "tpu"})
    a, b = add(1, 2), add(3, 4)
    a.update_metadata({"role": "mlmd"})
    inner = Flow([b])
    cats = assign_categories(Flow([a, inner]))
    assert cats == {a.uuid: "gpu", b.uuid: "cpu"}
    assert a.config.manager_config == {"_category": "gpu"}
    assert b.config.manager_config == {"_category": "cpu"}


def test_fworker_for_rejects_unknown_class():
    from ssic_flows.cluster.workers import fworker_for

    w = fworker_for("gpu")
    assert w.category == "gpu" and w.name == "ssic-gpu"
    with pytest.raises(ValueError, match="resource class"):
        fworker_for("fpga")


def test_launchpad_file_refused_inside_repo(tmp_path):
    from pathlib import Path

    from ssic_flows.cluster.workers import write_launchpad_file
    from ssic_flows.store.config import StoreConfig

    cfg = StoreConfig(mode="server", uri_env="SSIC_TEST_URI_X")
    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(ValueError, match="SSIC_HOME"):
        write_launchpad_file(cfg, repo / "db_config" / "my_launchpad.yaml")
    import os
    os.environ["SSIC_TEST_URI_X"] = "mongodb://u:p@h/"
    try:
        p = write_launchpad_file(cfg, tmp_path / "lp.yaml")
    finally:
        del os.environ["SSIC_TEST_URI_X"]
    assert p.stat().st_mode & 0o077 == 0 and "mongodb://u:p@h/" in p.read_text()


def test_worker_configs_need_server_mode(tmp_path):
    from ssic_flows.cluster.workers import write_worker_configs

    emb = tmp_path / "emb.yaml"
    emb.write_text("mode: embedded\n")
    with pytest.raises(ValueError, match="mode: server"):
        write_worker_configs(tmp_path / "w", emb)


def test_db_config_examples_parse():
    from pathlib import Path

    from ssic_flows.store.config import load_store_config

    d = Path(__file__).resolve().parents[2] / "db_config"
    cfg = load_store_config(d / "server.yaml")
    assert cfg.mode == "server" and cfg.mongo_compat == "none"
    assert load_store_config(d / "embedded.yaml").mode == "embedded"
    # the worker templates live in the package only (no twins in db_config/)
    assert not list(d.glob("my_*.yaml"))


def test_worker_templates_load_from_the_package(tmp_path):
    """The templates are package data (importlib.resources), so a wheel install has them."""
    from importlib import resources

    import yaml
    from fireworks import FWorker

    from ssic_flows.cluster.workers import TEMPLATE_NAMES, template_text, write_worker_configs

    pkg = resources.files("ssic_flows").joinpath("data", "worker_templates")
    for name in TEMPLATE_NAMES:
        assert pkg.joinpath(name).is_file(), name
        assert template_text(name) == pkg.joinpath(name).read_text(encoding="utf-8")
    q = yaml.safe_load(template_text("my_qadapter.yaml"))
    for key in ("rocket_launch", "nodes", "ntasks", "walltime", "queue", "account", "pre_rocket"):
        assert key in q
    for rc in ("cpu", "gpu"):
        f = tmp_path / f"{rc}.yaml"
        f.write_text(template_text(f"my_fworker_{rc}.yaml"))
        assert FWorker.from_file(str(f)).category == rc
    # rendering reads them from the package too, whatever the working directory
    dbc = tmp_path / "db.yaml"
    dbc.write_text("mode: server\n")
    paths = write_worker_configs(tmp_path / "w", dbc, python="/venv/bin/python")
    rl = yaml.safe_load(paths["qadapter_cpu"].read_text())["rocket_launch"]
    assert rl == (f"/venv/bin/python -m ssic_flows cluster rlaunch -c {dbc.resolve()} "
                  f"-w {paths['fworker_cpu']} singleshot")
