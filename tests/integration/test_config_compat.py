"""Credentials never leak; CPU/GPU routing by role; the SLURM qadapter; the nx27017 shims."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cluster_helpers import SECRET, wait_slurm_idle
from jobflow import Flow

pytestmark = [pytest.mark.mongo]


def _all_documents(cfg) -> str:
    """Every LaunchPad and JobStore document of a database as text, GridFS blobs included."""
    from bson import json_util
    from pymongo import MongoClient

    from ssic_flows.store.jobstore import get_jobstore

    c = MongoClient(cfg.uri(), serverSelectionTimeoutMS=5000)
    db = c[cfg.database]
    parts = []
    for name in db.list_collection_names():
        # GridFS collections (nx-27017 names them *_files / *_chunks) are read below
        if name.endswith(("files", "chunks")):
            continue
        parts.extend(json_util.dumps(d) for d in db[name].find({}))
    c.close()
    store = get_jobstore(cfg)
    store.connect()
    parts.extend(json_util.dumps(d) for d in store.query({}, load=True))
    store.close()
    return "\n".join(parts)


@pytest.mark.slurm
def test_uri_secret_never_stored_in_documents_specs_or_logs(site, tmp_path, cluster):
    from cluster_jobs import sqrt_of_input
    from flow_jobs import add, make_traj

    from ssic_flows.cluster.submit import submit_campaign

    assert SECRET in site.svc.uri  # the URI the workers really use carries the secret
    bad = tmp_path / "bad.txt"
    bad.write_text("-1")
    jobs = [add(2, 3), make_traj(2, 1), sqrt_of_input(str(bad))]  # one fails: error logs too
    submit_campaign(site.lp, Flow(jobs), "camp-secret")
    site.qlaunch("cpu", "singleshot")
    site.wait_done("camp-secret", timeout=120)
    wait_slurm_idle(timeout=60)
    states = sorted(site.fw_states("camp-secret").values())
    assert states == ["COMPLETED", "COMPLETED", "FIZZLED"]

    text = _all_documents(site.cfg)
    # the dump really holds the documents, GridFS data included
    assert '"fw_id"' in text and '"uuid"' in text and '"positions"' in text
    assert SECRET not in text, "the URI secret is stored in a LaunchPad/JobStore document"
    # every file of this test: db config, rendered worker configs, SLURM scripts, FW.json,
    # SLURM stdout/stderr, launcher logs
    files = [p for p in site.dir.rglob("*") if p.is_file()]
    assert any(p.name == "FW_submit.script" for p in files)
    assert any(p.name == "FW.json" for p in files)
    assert any(p.suffix == ".error" for p in files)
    for p in files:
        assert SECRET not in p.read_text(errors="replace"), f"URI secret leaked into {p}"
    # the SLURM daemons' logs
    import os
    from pathlib import Path
    slurm_dir = Path(os.environ["SLURM_CONF"]).parent
    for p in slurm_dir.rglob("*.log"):
        assert SECRET not in p.read_text(errors="replace"), f"URI secret leaked into {p}"
    # and nothing tracked in the repository
    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run(["git", "-C", str(repo), "grep", "-l", SECRET.replace("-", "[-]"),
                        "--", ":!tests/integration/*", ":!scripts/mongo_server.sh"],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "", f"secret in tracked files: {r.stdout}"


def test_jobs_routed_to_cpu_and_gpu_workers_by_role(site):
    from flow_jobs import add

    from ssic_flows.cluster.submit import campaign_fireworks, submit_campaign

    ref = add(1, 1)
    ref.name = "ref"
    ref.update_metadata({"role": "reference_md"})
    ml = add(2, 2)
    ml.name = "ml"
    ml.update_metadata({"role": "mlmd"})
    res = submit_campaign(site.lp, Flow([ref, ml]), "camp-route")
    assert res.categories == {"cpu": 1, "gpu": 1}
    cats = {f["name"]: f["category"] for f in campaign_fireworks(site.lp, "camp-route")}
    assert cats == {"ref": "cpu", "ml": "gpu"}

    def rlaunch(rc):
        r = subprocess.run(site.cluster_cmd("rlaunch", "-w", str(site.workers[f"fworker_{rc}"]),
                                            "--loglvl", "ERROR", "rapidfire", "--max-loops", "1"),
                           capture_output=True, text=True, timeout=120, cwd=site.launch_dir)
        assert r.returncode == 0, r.stderr[-3000:]

    rlaunch("cpu")  # a CPU node runs the reference job only
    assert site.fw_states("camp-route") == {"ref": "COMPLETED", "ml": "READY"}
    rlaunch("gpu")
    assert site.fw_states("camp-route") == {"ref": "COMPLETED", "ml": "COMPLETED"}
    names = {la["fw_id"]: la["fworker"]["name"] for la in site.lp.launches.find({})}
    by_name = {f["name"]: names[f["fw_id"]] for f in campaign_fireworks(site.lp, "camp-route")}
    assert by_name == {"ref": "ssic-cpu", "ml": "ssic-gpu"}


def test_rendered_qadapter_is_a_valid_slurm_script(site):
    from ssic_flows.cluster.workers import qadapter_for, write_worker_configs

    paths = write_worker_configs(site.dir / "w2", site.db_config, qadapter_overrides={
        "account": "proj123", "queue": "compute", "walltime": "02:00:00", "ntasks": 4})
    cpu = qadapter_for(paths["qadapter_cpu"]).get_script_str(str(site.launch_dir))
    gpu = qadapter_for(paths["qadapter_gpu"]).get_script_str(str(site.launch_dir))
    for s in (cpu, gpu):
        assert s.startswith("#!/bin/bash")
        for line in ("#SBATCH --account=proj123", "#SBATCH --partition=compute",
                     "#SBATCH --time=02:00:00", "#SBATCH --ntasks=4", "#SBATCH --nodes=1"):
            assert line in s, (line, s)
        assert f"{sys.executable} -m ssic_flows cluster rlaunch -c {site.db_config}" in s
        assert f"export SSIC_DB_CONFIG={site.db_config}" in s
        assert "None" not in s and "@" not in s.replace("%j", "")
    assert "#SBATCH --gres=gpu:1" in gpu and "--gres" not in cpu
    assert "my_fworker_gpu.yaml" in gpu and "my_fworker_cpu.yaml" in cpu
    # the unrendered template is refused with the fix in the message
    with pytest.raises(ValueError, match="configure"):
        qadapter_for()
    # sbatch accepts the CPU script (test-only: --test-only validates without queueing)
    script = site.dir / "check.sh"
    script.write_text(qadapter_for(paths["qadapter_cpu"], account=None, queue="debug",
                                   ntasks=1).get_script_str(str(site.launch_dir)))
    r = subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "to start at" in (r.stdout + r.stderr), r.stderr


def _wf_with_waiting_child(lp):
    from fireworks import Firework, ScriptTask, Workflow

    fw1 = Firework(ScriptTask.from_str("true"), name="parent")
    fw2 = Firework(ScriptTask.from_str("true"), name="child", parents=[fw1])
    lp.add_wf(Workflow([fw1, fw2]))


def test_compat_none_double_checks_out_waiting_fw_on_nx27017(cluster, tmp_path):
    """Why the shim exists: without it, nx-27017 hands out a WAITING firework."""
    from fireworks import FWorker
    from pymongo.errors import BulkWriteError

    from ssic_flows.testing.nx27017 import drop_unsupported_indexes
    from ssic_flows.store.config import StoreConfig
    from ssic_flows.store.launchpad import get_launchpad

    cfg = StoreConfig(mode="server", database="it_compat_none", mongo_compat="none")
    lp = get_launchpad(cfg)  # reset + FireWorks' tuneup indexes, no shim
    with pytest.raises(BulkWriteError):  # the compound (state, _id) index breaks inserts
        _wf_with_waiting_child(lp)
    drop_unsupported_indexes(lp.db)  # even with the indexes gone ...
    _wf_with_waiting_child(lp)
    got = [lp.checkout_fw(FWorker(), str(tmp_path))[0] for _ in range(3)]
    names = [fw.name if fw else None for fw in got]
    assert "child" in names  # ... the `$or` checkout reserves the WAITING child
    lp.connection.drop_database("it_compat_none")


def test_compat_nx27017_checks_out_only_ready_fws(cluster, tmp_path):
    from fireworks import FWorker

    from ssic_flows.store.config import StoreConfig
    from ssic_flows.store.launchpad import get_launchpad

    cfg = StoreConfig(mode="server", database="it_compat_nx", mongo_compat="nx27017")
    lp = get_launchpad(cfg)
    _wf_with_waiting_child(lp)
    got = [lp.checkout_fw(FWorker(), str(tmp_path))[0] for _ in range(3)]
    assert [fw.name if fw else None for fw in got] == ["parent", None, None]
    states = {d["name"]: d["state"] for d in lp.fireworks.find({}, {"name": 1, "state": 1})}
    assert states == {"parent": "RUNNING", "child": "WAITING"}
    # a plain FWorker from our worker config carries the guard too (plain `rlaunch -w`)
    from ssic_flows.cluster.workers import fworker_for
    q = fworker_for("cpu", compat="nx27017").query
    assert "$or" not in q and q["spec._category"] == "cpu" and len(q["$and"]) == 2
    lp.connection.drop_database("it_compat_nx")
