"""Embedded stores: a FireWorks round trip, reading back from a new process, the lock,
resuming after a killed process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from jobflow import Flow

from ssic_flows.runner import run_embedded
from ssic_flows.store.config import StoreConfig, StoreConfigError, load_store_config
from ssic_flows.store.launchpad import EmbeddedBusyError, embedded_lock

TESTS = os.path.dirname(__file__)


def _flow():
    from flow_jobs import add, make_traj

    a = add(1, 2)
    b = add(a.output, 3)
    c = make_traj(7, 3)
    return Flow([a, b, c])


def _py(code: str, home, timeout=120) -> subprocess.CompletedProcess:
    env = dict(os.environ, SSIC_HOME=str(home), PYTHONPATH=TESTS)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_round_trip_read_back_from_new_process(ssic_home):
    rep = run_embedded(_flow(), StoreConfig(), "rt")
    assert rep.states == {"COMPLETED": 3} and rep.launched == 3 and not rep.resumed
    out = _py("""
        import json
        from ssic_flows.store import open_jobstore
        from ssic_flows.store.config import StoreConfig
        from ssic_flows.store.launchpad import get_launchpad
        s = open_jobstore(); s.connect()
        adds = sorted(d["output"] for d in s.query({"name": "add"}))
        from monty.json import MontyDecoder
        t = MontyDecoder().process_decoded(s.get_output(s.query_one({"name": "make_traj"})["uuid"], load=True))["trajectory"]
        lp = get_launchpad(StoreConfig())
        states = [f["state"] for f in lp.fireworks.find({})]
        raw = s.query_one({"name": "make_traj"})["output"]["trajectory"]
        print(json.dumps({"adds": adds, "shape": list(t.positions.shape), "seed": t.metadata["seed"],
                          "states": states, "inline": "positions" in raw}))
    """, ssic_home)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["adds"] == [3, 6]
    assert got["shape"] == [7, 2, 3] and got["seed"] == 3
    assert got["states"] == ["COMPLETED"] * 3
    assert got["inline"] is False  # the array lives in the data store, not the job document


def test_rerun_same_campaign_does_nothing_twice(ssic_home):
    run_embedded(_flow(), StoreConfig(), "again")
    rep = run_embedded(_flow(), StoreConfig(), "again")
    assert rep.resumed and rep.launched == 0 and rep.states == {"COMPLETED": 3}
    from ssic_flows.store.launchpad import get_launchpad

    assert get_launchpad(StoreConfig()).workflows.count_documents({}) == 1


def test_second_embedded_process_is_refused(ssic_home):
    cfg = StoreConfig()
    with embedded_lock(cfg):
        with pytest.raises(EmbeddedBusyError, match="another ssic process"):
            run_embedded(_flow(), cfg, "busy")
        out = _py("""
            from ssic_flows.store.config import StoreConfig
            from ssic_flows.store.launchpad import embedded_lock
            with embedded_lock(StoreConfig()):
                pass
        """, ssic_home)
        assert out.returncode != 0 and "another ssic process" in out.stderr


def test_killed_run_resumes_without_repeating_completed_jobs(ssic_home):
    # a first process runs one job of three and is then killed hard
    out = _py("""
        import os, signal
        from jobflow import Flow
        from flow_jobs import add, make_traj
        from ssic_flows.runner import run_embedded
        from ssic_flows.store.config import StoreConfig
        a = add(1, 2); b = add(a.output, 3); c = make_traj(7, 3)
        flow = Flow([a, b, c])
        run_embedded(flow, StoreConfig(), "kill", max_launches=1)
        os.kill(os.getpid(), signal.SIGKILL)
    """, ssic_home)
    assert out.returncode == -9
    from ssic_flows.store.launchpad import get_launchpad

    lp = get_launchpad(StoreConfig())
    states = sorted(f["state"] for f in lp.fireworks.find({}))
    assert states.count("COMPLETED") == 1
    first_done = lp.fireworks.find_one({"state": "COMPLETED"})["fw_id"]
    launches_before = lp.launches.count_documents({"fw_id": first_done})
    # same flow definition again: the campaign is found, only the rest runs
    rep = run_embedded(_flow(), StoreConfig(), "kill")
    assert rep.resumed and rep.launched == 2 and rep.states == {"COMPLETED": 3}
    lp = get_launchpad(StoreConfig())
    assert lp.launches.count_documents({"fw_id": first_done}) == launches_before


def test_failed_job_is_fizzled_with_its_error(ssic_home):
    from flow_jobs import fail_if

    f = fail_if(True)
    rep = run_embedded(Flow([f]), StoreConfig(), "fz")
    assert rep.failed == ["fail_if"] and rep.states == {"FIZZLED": 1}
    from ssic_flows.store.launchpad import get_launchpad

    lp = get_launchpad(StoreConfig())
    launch = lp.launches.find_one({"state": "FIZZLED"})
    assert "injected failure" in json.dumps(launch["action"], default=str)


def test_store_config_errors(tmp_path, monkeypatch):
    p = tmp_path / "db.yaml"
    p.write_text("mode: server\nbogus: 1\n")
    with pytest.raises(StoreConfigError, match="bogus"):
        load_store_config(p)
    p.write_text("mode: server\nuri_env: SSIC_TEST_NO_SUCH_VAR\n")
    monkeypatch.delenv("SSIC_TEST_NO_SUCH_VAR", raising=False)
    cfg = load_store_config(p)
    with pytest.raises(StoreConfigError, match="export SSIC_TEST_NO_SUCH_VAR"):
        cfg.uri()
    with pytest.raises(StoreConfigError, match="not found"):
        load_store_config(tmp_path / "missing.yaml")


def test_trajectory_npz_and_dict_round_trip(tmp_path):
    from ssic_flows.analysis.trajectory import Trajectory

    rng = np.random.default_rng(0)
    t = Trajectory(["Li", "S"], rng.random((4, 2, 3)), np.eye(3) * 4, 1.5,
                   velocities=rng.random((4, 2, 3)), energies=rng.random(4), metadata={"seed": 1})
    t2 = Trajectory.load(t.save(tmp_path / "t.npz"))
    t3 = Trajectory.from_dict(json.loads(json.dumps(t.as_dict())))
    for u in (t2, t3):
        assert np.allclose(u.positions, t.positions) and np.allclose(u.velocities, t.velocities)
        assert u.forces is None and u.metadata == {"seed": 1} and u.timestep_fs == 1.5


def test_two_workers_run_independent_jobs_at_once_and_keep_the_store_consistent(ssic_home):
    from flow_jobs import add, grow, make_traj, stamp
    from monty.json import MontyDecoder

    from ssic_flows.store.jobstore import get_jobstore

    s1, s2 = stamp(3.0, "a"), stamp(3.0, "b")
    total = add(1, 2)
    dyn = grow(total.output)
    tr = make_traj(5, 1)
    cfg = StoreConfig()
    rep = run_embedded(Flow([s1, s2, total, dyn, tr]), cfg, "pool", workers=2)
    assert rep.launched == 6  # five jobs and the dynamic replacement
    assert rep.failed == [] and set(rep.states) == {"COMPLETED"}
    store = get_jobstore(cfg)
    store.connect()
    a, b = store.get_output(s1.uuid), store.get_output(s2.uuid)
    assert a["pid"] != b["pid"]  # two worker processes
    assert a["start"] < b["end"] and b["start"] < a["end"]  # overlapping in time
    assert store.get_output(dyn.uuid, which="last") == 4  # the dynamic replacement ran
    t = MontyDecoder().process_decoded(store.get_output(tr.uuid, load=True))["trajectory"]
    assert t.positions.shape == (5, 2, 3)
    # re-running resumes: nothing launched twice
    rep2 = run_embedded(Flow([stamp(3.0, "a")]), cfg, "pool", workers=2)  # same campaign id
    assert rep2.resumed and rep2.launched == 0
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_embedded(Flow([add(1, 1)]), cfg, "bad", workers=0)


def test_fireworks_priorities_follow_roles_and_keep_the_category(ssic_home):
    """The training chains run first and long jobs before short ones (FireWorks _priority),
    and a category set for routing survives."""
    from flow_jobs import add

    from ssic_flows.cluster.routing import ROLE_PRIORITY, assign_categories
    from ssic_flows.runner import submit_flow
    from ssic_flows.store.launchpad import ensure_initialized, get_launchpad

    jobs = []
    for role in ("analyze", "mlmd", "train_mlff", "reference_md", None):
        j = add(1, 2)
        j.update_metadata({"role": role})
        jobs.append(j)
    flow = Flow(jobs)
    assign_categories(flow)
    lp = get_launchpad(StoreConfig())
    ensure_initialized(lp)
    submit_flow(lp, flow, "prio")
    spec = {f["spec"]["_tasks"][0]["job"]["metadata"].get("role"): f["spec"]
            for f in lp.fireworks.find({})}
    assert {r: s["_priority"] for r, s in spec.items()} == {
        "analyze": 2, "mlmd": 5, "train_mlff": 8, "reference_md": 6, None: 1}
    assert spec["train_mlff"]["_category"] == "gpu" and spec["analyze"]["_category"] == "cpu"
    assert ROLE_PRIORITY["train_mlff"] > ROLE_PRIORITY["reference_md"] > ROLE_PRIORITY["mlmd"]
    from ssic_flows.launch_pool import launch_order
    from ssic_flows.runner import _wf_fws

    order = [f["priority"] for f in launch_order(_wf_fws(lp, "prio"))]
    assert order == [8, 6, 5, 2, 1]  # what the embedded launcher runs first


def test_launch_order_is_priority_then_fw_id():
    from ssic_flows.launch_pool import launch_order

    fws = [{"fw_id": 1, "state": "READY", "priority": 2}, {"fw_id": 2, "state": "READY", "priority": 8},
           {"fw_id": 3, "state": "WAITING", "priority": 9}, {"fw_id": 4, "state": "READY", "priority": 8},
           {"fw_id": 5, "state": "READY"}]
    assert [f["fw_id"] for f in launch_order(fws)] == [2, 4, 1, 5]


def test_a_half_written_ping_never_fizzles_a_finished_offline_launch(tmp_path):
    from ssic_flows.launch_pool import settle_ping

    (tmp_path / "FW_ping.json").write_text('{"ping_time": "2026-')  # truncated by a race
    assert settle_ping(tmp_path, tries=3, wait_s=0.01) is True
    assert not (tmp_path / "FW_ping.json").exists()
    (tmp_path / "FW_ping.json").write_text('{"ping_time": "2026-12-02T00:00:00"}')
    assert settle_ping(tmp_path) is False and (tmp_path / "FW_ping.json").exists()
    assert settle_ping(tmp_path / "absent") is False


def test_embedded_store_tables_exist_before_workers_write(ssic_home):
    """montydb creates a collection's sqlite table at its first write; two workers' first
    writes raced on it ("no such table: documents"). The parent primes them, leaving no document."""
    import sqlite3
    from pathlib import Path

    from ssic_flows.store.jobstore import get_jobstore, prime_embedded_stores

    cfg = StoreConfig()
    store = get_jobstore(cfg)
    prime_embedded_stores(store)
    dbs = sorted(Path(cfg.data_dir / "jobstore").rglob("*.collection"))
    assert {p.stem for p in dbs} >= {"outputs", "outputs_data"}
    for p in dbs:
        tables = {r[0] for r in sqlite3.connect(p).execute("select name from sqlite_master")}
        assert "documents" in tables
    assert store.docs_store.count() == 0 and store.additional_stores["data"].count() == 0
    prime_embedded_stores(store)  # idempotent
