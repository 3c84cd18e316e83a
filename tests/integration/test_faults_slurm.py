"""Faults on the production path: a killed MD job resumes from its checkpoint; two workers
run every job exactly once; the database going away fails a job cleanly and a rerun after
it returns completes."""

from __future__ import annotations

import subprocess
import time
from collections import Counter

import numpy as np
import pytest
from cluster_helpers import TIMINGS, squeue_ids, wait_slurm_idle
from jobflow import Flow

pytestmark = [pytest.mark.mongo, pytest.mark.slurm]


def _running_launch(site, fw_name: str):
    fw = site.lp.fireworks.find_one({"name": fw_name}, {"launches": 1, "state": 1})
    if not fw or fw["state"] != "RUNNING" or not fw["launches"]:
        return None
    return site.lp.launches.find_one({"launch_id": fw["launches"][-1]})


def test_killed_md_job_resumes_from_checkpoint(site, tmp_path):
    from cluster_jobs import md_checkpointed, md_reference
    from monty.json import MontyDecoder

    from ssic_flows.cluster.lost import detect_lost
    from ssic_flows.cluster.submit import submit_campaign
    from ssic_flows.store.jobstore import get_jobstore

    n_steps, every = 120, 10
    progress = tmp_path / "progress.txt"
    md = md_checkpointed(n_steps, 3, checkpoint_every=every, sleep_per_frame=0.04,
                         progress_file=str(progress))
    md.name = "md-kill"
    md.update_metadata({"role": "reference_md"})
    submit_campaign(site.lp, Flow([md]), "camp-md")
    site.qlaunch("cpu", "singleshot")

    def steps_done():
        if not progress.exists():
            return 0
        lines = progress.read_text().split("\n")
        return int(lines[-2].split()[1]) if len(lines) > 1 else 0

    site.wait(lambda: steps_done() >= 45, 120, "the MD job to pass step 45", poll=0.1)
    launch = _running_launch(site, "md-kill")
    job_id = launch["fworker"]["env"]["ssic_slurm_job_id"]
    killed_at = steps_done()
    subprocess.run(["scancel", "--full", "--signal=KILL", job_id], check=True, timeout=30)
    t_kill = time.perf_counter()
    wait_slurm_idle([job_id], timeout=60)
    assert site.fw_states("camp-md")["md-kill"] == "RUNNING"  # nobody told FireWorks

    # detection: the launch's SLURM job is gone (no need to wait for a heartbeat to expire)
    lost = site.wait(lambda: detect_lost(site.lp, expiration_secs=3600, rerun=True).fw_ids,
                     30, "detect_lost to find the killed job", poll=0.5, slurm_grace=None)
    t_detect = time.perf_counter() - t_kill
    assert site.fw_states("camp-md")["md-kill"] == "READY"
    site.qlaunch("cpu", "singleshot")
    site.wait_done("camp-md", timeout=120)
    TIMINGS["md_kill_to_detected_s"] = round(t_detect, 2)
    TIMINGS["md_kill_to_resumed_completed_s"] = round(time.perf_counter() - t_kill, 2)
    assert site.fw_states("camp-md") == {"md-kill": "COMPLETED"}, site.tail_logs()
    assert len(lost) == 1

    # the second process started from the last checkpoint at or before the kill
    runs = [tuple(map(int, ln.split())) for ln in progress.read_text().split("\n") if ln]
    pids = list(dict.fromkeys(p for p, _ in runs))
    assert len(pids) == 2, "expected one killed and one resumed process"
    first_step_2nd = next(s for p, s in runs if p == pids[1])
    ck = (killed_at // every) * every
    assert 0 < first_step_2nd <= killed_at + every and first_step_2nd % every == 1, \
        (first_step_2nd, killed_at)

    store = get_jobstore(site.cfg)
    store.connect()
    doc = site.job_docs(name="md-kill")[0]
    out = store.get_output(doc["uuid"], load=True)
    store.close()
    traj = MontyDecoder().process_decoded(out["trajectory"])
    assert out["resumed_from_step"] >= ck > 0
    ref = md_reference(n_steps, 3, checkpoint_every=every)
    # continuous: every step once, in order, positions identical to the uninterrupted run
    np.testing.assert_array_equal(np.asarray(traj.steps), np.arange(n_steps + 1))
    np.testing.assert_allclose(np.asarray(traj.positions), np.asarray(ref.positions),
                               rtol=0, atol=1e-9)
    fw = site.lp.fireworks.find_one({"name": "md-kill"})
    assert len(fw["archived_launches"]) == 1 and len(fw["launches"]) == 1  # killed + resumed


def test_two_workers_run_every_job_exactly_once(site, tmp_path):
    from cluster_jobs import record_run

    from ssic_flows.cluster.submit import submit_campaign

    log = tmp_path / "runs.log"
    n = 16
    jobs = []
    for i in range(n):
        j = record_run(i, str(log), 0.4)
        j.name = f"rec-{i}"
        jobs.append(j)
    submit_campaign(site.lp, Flow(jobs), "camp-conc")
    t0 = time.perf_counter()
    # one qlaunch call, two SLURM jobs, each an rlaunch rapidfire loop on the same LaunchPad
    site.qlaunch("cpu", "rapidfire", "--nlaunches", "2", "--sleep", "0")
    states = site.wait_done("camp-conc", timeout=180)
    TIMINGS["two_workers_16_jobs_s"] = round(time.perf_counter() - t0, 2)
    assert set(states.values()) == {"COMPLETED"}, site.tail_logs()
    lines = [ln.split() for ln in log.read_text().splitlines()]
    counts = Counter(int(ln[0]) for ln in lines)
    assert counts == Counter(range(n)), f"jobs not run exactly once: {counts}"
    workers = Counter(ln[2] for ln in lines)
    assert len(workers) == 2, f"both SLURM workers should have run jobs: {workers}"
    for fw in site.lp.fireworks.find({}, {"launches": 1, "archived_launches": 1, "name": 1}):
        assert len(fw["launches"]) == 1 and not fw.get("archived_launches"), fw
    assert len(site.job_docs()) == n
    wait_slurm_idle(timeout=60)


def test_database_outage_fails_cleanly_and_rerun_completes(site, tmp_path, cluster):
    from cluster_jobs import wait_then_add
    from flow_jobs import add

    from ssic_flows.cluster.lost import detect_lost
    from ssic_flows.cluster.submit import submit_campaign

    started = tmp_path / "started"
    a = add(1, 2)
    a.name = "out-a"
    b = wait_then_add(a.output, 1, 4.0, str(started))
    b.name = "out-b"
    submit_campaign(site.lp, Flow([a, b]), "camp-outage")
    site.qlaunch("cpu", "singleshot")
    site.wait(started.exists, 120, "out-b to start", poll=0.2)
    assert [d["output"] for d in site.job_docs(name="out-a")] == [3]
    job_id = _running_launch(site, "out-b")["fworker"]["env"]["ssic_slurm_job_id"]

    r = cluster.mongo("stop")
    assert r.returncode == 0, r.stderr
    try:
        t0 = time.perf_counter()
        wait_slurm_idle([job_id], timeout=120)  # the worker gives up on its own
        TIMINGS["db_outage_worker_exit_s"] = round(time.perf_counter() - t0, 2)
    finally:
        r = cluster.mongo("start")
        assert r.returncode == 0, r.stderr
    err = "\n".join(p.read_text(errors="replace") for p in site.launch_dir.rglob("*.error"))
    assert "ServerSelectionTimeoutError" in err or "AutoReconnect" in err, err[-3000:]

    # nothing stored was lost
    assert [d["output"] for d in site.job_docs(name="out-a")] == [3]
    assert site.fw_states("camp-outage")["out-a"] == "COMPLETED"
    assert site.fw_states("camp-outage")["out-b"] in ("RUNNING", "FIZZLED")
    lost = detect_lost(site.lp, expiration_secs=3600, rerun=True)
    if site.fw_states("camp-outage")["out-b"] == "FIZZLED":
        from ssic_flows.cluster.submit import rerun_failed
        rerun_failed(site.lp, "camp-outage")
    else:
        assert lost.rerun_fw_ids, lost
    assert site.fw_states("camp-outage")["out-b"] == "READY"
    site.qlaunch("cpu", "singleshot")
    states = site.wait_done("camp-outage", timeout=120)
    assert states == {"out-a": "COMPLETED", "out-b": "COMPLETED"}, site.tail_logs()
    assert sorted(d["output"] for d in site.job_docs()) == [3, 4]
    assert squeue_ids() == [] or wait_slurm_idle(timeout=60) >= 0
