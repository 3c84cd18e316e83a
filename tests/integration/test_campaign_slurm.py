"""Submit → qlaunch → SLURM → COMPLETED; idempotent submission; results via raw pymongo;
a failed job is FIZZLED with its error, fixed, rerun with `lpad rerun_fws` + qlaunch."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
import time

import pytest
from jobflow import Flow

from cluster_helpers import TIMINGS, squeue_ids, wait_slurm_idle

pytestmark = [pytest.mark.mongo, pytest.mark.slurm]


def _flow(tag: str, n: int = 3):
    from cluster_jobs import record_run  # noqa: F401  (import check for workers)
    from flow_jobs import add, make_traj

    a = add(1, 2)
    a.name = f"{tag}-a"
    a.update_metadata({"role": "reference_md"})
    b = add(a.output, 10)
    b.name = f"{tag}-b"
    b.update_metadata({"role": "analyze"})
    t = make_traj(n, 7)
    t.name = f"{tag}-traj"
    t.update_metadata({"role": "reference_md"})
    return Flow([a, b, t], name=tag)


def test_submit_qlaunch_complete_and_query(site):
    from pymongo import MongoClient

    from ssic_flows.cluster.submit import campaign_states, submit_campaign

    t0 = time.perf_counter()
    res = submit_campaign(site.lp, _flow("c1"), "camp-1", {"study": "it"})
    TIMINGS["campaign_submit_3_jobs_s"] = round(time.perf_counter() - t0, 3)
    assert res.added and res.n_jobs == 3 and res.categories == {"cpu": 3}
    again = submit_campaign(site.lp, _flow("c1"), "camp-1", {"study": "it"})
    assert not again.added and again.fw_id == res.fw_id
    assert site.lp.workflows.count_documents({"metadata.campaign_id": "camp-1"}) == 1
    assert site.lp.fireworks.count_documents({}) == 3

    t0 = time.perf_counter()
    site.qlaunch("cpu", "singleshot")
    states = site.wait_done("camp-1", timeout=120)
    TIMINGS["qlaunch_to_3_jobs_completed_s"] = round(time.perf_counter() - t0, 2)
    assert set(states.values()) == {"COMPLETED"}, f"{states}\n{site.tail_logs()}"
    assert campaign_states(site.lp, "camp-1") == {"COMPLETED": 3}

    # results with plain pymongo: job documents carry the campaign metadata
    c = MongoClient(site.svc.uri, serverSelectionTimeoutMS=5000)
    db = c[site.cfg.database]
    docs = {d["name"]: d for d in db.outputs.find({"metadata.campaign_id": "camp-1"})}
    assert set(docs) == {"c1-a", "c1-b", "c1-traj"}
    assert docs["c1-a"]["output"] == 3 and docs["c1-b"]["output"] == 13
    # the trajectory went to GridFS (the "data" store), the doc holds a reference
    ref = docs["c1-traj"]["output"]["trajectory"]
    assert ref["@class"] == "Trajectory" and "blob_uuid" in ref
    from ssic_flows.store.jobstore import get_jobstore

    store = get_jobstore(site.cfg)
    store.connect()
    out = store.get_output(docs["c1-traj"]["uuid"], load=True)
    from monty.json import MontyDecoder

    traj = MontyDecoder().process_decoded(out["trajectory"])
    assert traj.positions.shape == (3, 2, 3)
    store.close()
    # a launch per firework, one each
    for fw in site.lp.fireworks.find({}):
        assert len(fw["launches"]) == 1, fw["name"]
    c.close()
    # per-job overhead: launch wall time minus the job's own run time
    runs = [la["runtime_secs"] for la in site.lp.launches.find({}, {"runtime_secs": 1})]
    TIMINGS["fireworks_launch_runtime_mean_s"] = round(sum(runs) / len(runs), 3)
    wait_slurm_idle(timeout=60)


def test_concurrent_submission_is_deduplicated(site):
    from ssic_flows.cluster.submit import submit_campaign
    from ssic_flows.store.launchpad import get_launchpad

    results = []
    barrier = threading.Barrier(3)

    def submit():
        lp = get_launchpad(site.cfg)  # own client, as a second `ssic submit` would have
        barrier.wait()
        results.append(submit_campaign(lp, _flow("dup"), "camp-dup"))

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 3
    assert sum(r.added for r in results) == 1, results
    assert len({r.fw_id for r in results}) == 1
    assert site.lp.workflows.count_documents({"metadata.campaign_id": "camp-dup"}) == 1
    assert site.lp.fireworks.count_documents({}) == 3


def test_failed_job_fizzles_then_lpad_rerun_completes(site, tmp_path):
    from cluster_jobs import sqrt_of_input
    from flow_jobs import add

    from ssic_flows.cluster.submit import rerun_failed
    from ssic_flows.cluster.fw_config import write_launchpad_file

    inp = tmp_path / "input.txt"
    inp.write_text("-4\n")  # bad input
    s = sqrt_of_input(str(inp))
    s.name = "fx-sqrt"
    child = add(s.output, 1)
    child.name = "fx-child"
    from ssic_flows.cluster.submit import submit_campaign
    submit_campaign(site.lp, Flow([s, child]), "camp-fix")
    site.qlaunch("cpu", "singleshot")
    site.wait(lambda: site.fw_states("camp-fix")["fx-sqrt"] == "FIZZLED", 120,
              "fx-sqrt to fizzle")
    assert site.fw_states("camp-fix")["fx-child"] == "WAITING"
    fw = site.lp.fireworks.find_one({"name": "fx-sqrt"})
    launch = site.lp.launches.find_one({"launch_id": fw["launches"][-1]})
    err = launch["action"]["stored_data"]["_exception"]
    assert "value must be >= 0, got -4.0" in err["_stacktrace"]
    # SLURM says the job COMPLETED although the firework FIZZLED: look at fireworks, not SLURM
    wait_slurm_idle(timeout=60)

    inp.write_text("16\n")  # fix the input
    # FireWorks' own CLI on a launchpad file outside the repo (mode 0600)
    lpf = write_launchpad_file(site.cfg, tmp_path / "my_launchpad.yaml")
    assert oct(lpf.stat().st_mode & 0o777) == "0o600"
    lpad = subprocess.run([str(Path(sys.executable).parent / "lpad"), "-l", str(lpf), "rerun_fws", "-s", "FIZZLED"],
                          capture_output=True, text=True, timeout=120)
    assert lpad.returncode == 0, lpad.stderr
    assert site.fw_states("camp-fix")["fx-sqrt"] == "READY"
    assert rerun_failed(site.lp, "camp-fix") == []  # nothing FIZZLED is left
    site.qlaunch("cpu", "singleshot")
    states = site.wait_done("camp-fix", timeout=120)
    assert states == {"fx-sqrt": "COMPLETED", "fx-child": "COMPLETED"}, site.tail_logs()
    docs = {d["name"]: d["output"] for d in site.job_docs()}
    assert docs == {"fx-sqrt": 4.0, "fx-child": 5.0}
    assert squeue_ids() == [] or wait_slurm_idle(timeout=60) >= 0


def test_stale_submission_claim_is_taken_over(site):
    from ssic_flows.cluster.submit import CLAIMS, submit_campaign

    # a submitter that died after claiming, 10 minutes ago, never added its workflow
    site.lp.db[CLAIMS].insert_one({"_id": "camp-stale", "token": "dead", "at": time.time() - 600,
                                   "state": "claimed"})
    res = submit_campaign(site.lp, _flow("st"), "camp-stale")
    assert res.added and res.n_jobs == 3
    assert site.lp.db[CLAIMS].find_one({"_id": "camp-stale"})["state"] == "added"
