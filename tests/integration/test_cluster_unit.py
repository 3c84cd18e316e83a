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

    from ssic_flows.cluster.fw_config import write_launchpad_file
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
    # the templates live in the package only (db_config/fireworks/ is their rendering, tested)
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


# ------------------------------------------------------------- `ssic cluster init` files
def test_fw_config_directory_is_what_fireworks_and_jobflow_read(tmp_path):
    import yaml
    from fireworks import FWorker
    from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter
    from jobflow import JobStore

    from ssic_flows.cluster.fw_config import render_fw_config
    from ssic_flows.testing.nx27017 import OR_GUARD

    uri = "mongodb://u:p@db.example:27017/?authSource=admin"
    files = render_fw_config(tmp_path, uri=uri, database="camp", compat="nx27017",
                             rlaunch="/venv/bin/rlaunch")
    assert set(files) == {"FW_config.yaml", "my_launchpad.yaml", "jobflow.yaml", "my_fworker.yaml",
                          "my_fworker_cpu.yaml", "my_fworker_gpu.yaml", "my_qadapter.yaml",
                          "my_qadapter_cpu.yaml", "my_qadapter_gpu.yaml"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        assert "@" not in text.replace(uri, "").replace("%j", ""), name  # no placeholder left
    assert yaml.safe_load(files["FW_config.yaml"]) == {"CONFIG_FILE_DIR": str(tmp_path)}
    lp = yaml.safe_load(files["my_launchpad.yaml"])
    assert lp["host"] == uri and lp["uri_mode"] is True and lp["name"] == "camp"
    # FWorkers: every class, or one; the nx-27017 guard comes through the file's query
    every = FWorker.from_file(str(tmp_path / "my_fworker.yaml"))
    assert every.category == ["cpu", "gpu"] and every._query == OR_GUARD
    assert "$or" not in every.query and every.query["spec._category"] == {"$in": ["cpu", "gpu"]}
    assert FWorker.from_file(str(tmp_path / "my_fworker_gpu.yaml")).category == "gpu"
    plain = render_fw_config(tmp_path, uri=uri, database="camp")  # a real MongoDB: no guard
    assert yaml.safe_load(plain["my_fworker.yaml"])["query"] == "{}"
    # queue adapters: FireWorks' own rlaunch with this directory's files
    for rc, fwk in (("", "my_fworker.yaml"), ("_gpu", "my_fworker_gpu.yaml")):
        qa = CommonAdapter.from_dict(yaml.safe_load(files[f"my_qadapter{rc}.yaml"]))
        assert qa["rocket_launch"] == (f"/venv/bin/rlaunch -l {tmp_path}/my_launchpad.yaml "
                                       f"-w {tmp_path}/{fwk} singleshot")
        assert f"export JOBFLOW_CONFIG_FILE={tmp_path}/jobflow.yaml" in qa["pre_rocket"]
        script = qa.get_script_str(str(tmp_path))
        assert "None" not in script and ("--gres=gpu:1" in script) == (rc == "_gpu")
    # jobflow.yaml: MongoStore "outputs" + GridFSStore "outputs_data" as the "data" store
    store = JobStore.from_dict_spec(yaml.safe_load(files["jobflow.yaml"])["JOB_STORE"])
    assert type(store.docs_store).__name__ == "MongoStore"
    assert store.docs_store.collection_name == "outputs" and store.docs_store.key == "uuid"
    data = store.additional_stores["data"]
    assert type(data).__name__ == "GridFSStore" and data.collection_name == "outputs_data"


def test_fw_config_secrets_mode_600_refused_in_repo_and_examples_in_sync(tmp_path, monkeypatch):
    from pathlib import Path

    from ssic_flows.cluster.fw_config import (EXAMPLE_DIR, EXAMPLE_URI, SECRET_FILES,
                                              example_files, write_fw_config)
    from ssic_flows.store.config import StoreConfig

    monkeypatch.setenv("SSIC_TEST_URI_Y", "mongodb://u:TOPSECRET@h/")
    cfg = StoreConfig(mode="server", uri_env="SSIC_TEST_URI_Y")
    paths = write_fw_config(tmp_path / "fw", cfg)
    for name, p in paths.items():
        mode = p.stat().st_mode & 0o777
        holds = "TOPSECRET" in p.read_text()
        assert holds == (name in SECRET_FILES), name
        assert (mode == 0o600) if name in SECRET_FILES else (mode & 0o077 != 0o077), (name, oct(mode))
    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(ValueError, match="SSIC_HOME"):
        write_fw_config(repo / "db_config" / "fw_test", cfg)
    assert not (repo / "db_config" / "fw_test").exists()
    with pytest.raises(ValueError, match="mode: server"):
        write_fw_config(tmp_path / "emb", StoreConfig())
    # db_config/fireworks/ is the packaged templates rendered with a placeholder URI, no twin
    want = example_files()
    have = {p.name: p.read_text() for p in EXAMPLE_DIR.iterdir()}
    assert have == want, ("db_config/fireworks/ is out of date; regenerate it with python -c "
                          "'from ssic_flows.cluster.fw_config import write_examples; write_examples()'")
    assert all(EXAMPLE_URI in want[n] for n in SECRET_FILES)


# ------------------------------------------------------------- `ssic status`
def test_status_counts_running_fizzled_and_embedded_snapshot_keeps_the_lock(ssic_home):
    import datetime as dt

    from flow_jobs import add, fail_if
    from filelock import FileLock, Timeout

    from ssic_flows.cluster.status import campaign_ids, campaign_status, format_status, is_settled
    from ssic_flows.runner import run_embedded
    from ssic_flows.store.config import StoreConfig
    from ssic_flows.store.launchpad import embedded_lock, embedded_snapshot

    a, b, bad = add(1, 2), add(3, 4), fail_if(True)
    a.update_metadata({"study": "agi", "role": "reference_md"})
    b.update_metadata({"study": "agi", "role": "mlmd"})
    bad.update_metadata({"study": "lgps", "role": "validate"})
    child = add(bad.output, 1)
    child.update_metadata({"study": "lgps", "role": "analyze"})
    cfg = StoreConfig()
    run_embedded(Flow([a, b, bad, child]), cfg, "st", metadata={"source": "workflows/x.yaml"})

    with embedded_lock(cfg):  # as a running `ssic run` would hold it
        snap = embedded_snapshot(cfg)
        with pytest.raises(Timeout):  # still held: the snapshot took nothing
            FileLock(str(cfg.data_dir / "embedded.lock")).acquire(timeout=0)
    assert campaign_ids(snap) == ["st"]
    st = campaign_status(snap, "st")
    assert st.counts == {("agi", "mlmd"): {"COMPLETED": 1}, ("agi", "reference_md"): {"COMPLETED": 1},
                         ("lgps", "analyze"): {"WAITING": 1}, ("lgps", "validate"): {"FIZZLED": 1}}
    assert st.totals() == {"COMPLETED": 2, "WAITING": 1, "FIZZLED": 1} and is_settled(st)
    assert [f.error for f in st.fizzled] == ["RuntimeError: injected failure"]
    lines = format_status(st, embedded=True)
    assert lines[0] == "campaign st: 4 jobs: COMPLETED 2, WAITING 1, FIZZLED 1"
    assert lines[-1].endswith("run `ssic run workflows/x.yaml` again")
    server = format_status(st, db_option=" --db-config db.yaml")[-1]
    assert f"lpad rerun_fws -i {st.fizzled[0].fw_id}" in server and "ssic rerun --campaign st --db-config db.yaml" in server

    # a RUNNING job: host, SLURM job id (qlaunch -r reservation) and last heartbeat, from the launch
    fw = snap.fireworks.find_one({"state": "COMPLETED"})
    beat = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    snap.fireworks.update_one({"fw_id": fw["fw_id"]}, {"$set": {"state": "RUNNING"}})
    snap.launches.update_one({"launch_id": fw["launches"][-1]}, {"$set": {
        "host": "node07", "state_history": [
            {"state": "RESERVED", "created_on": "2026-01-02T03:00:00", "reservation_id": "4711"},
            {"state": "RUNNING", "created_on": "2026-01-02T03:01:00", "updated_on": beat.isoformat()}]}})
    st = campaign_status(snap, "st")
    (r,) = st.running
    assert (r.host, r.slurm_job_id, r.heartbeat) == ("node07", "4711", beat) and not is_settled(st)
    line = next(ln for ln in format_status(st, now=beat + dt.timedelta(seconds=30)) if "RUNNING fw" in ln)
    assert "on node07, SLURM job 4711; last heartbeat 30 s ago" in line
    with pytest.raises(KeyError, match="not in this store"):
        campaign_status(snap, "nope")
