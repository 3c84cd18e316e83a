"""FireWorks' own, unmodified executables (``qlaunch``, ``rlaunch``, ``lpad``) run our campaigns
after ``ssic cluster init``, on the local SLURM cluster and the nx-27017 wire server.

Campaigns are submitted with :func:`ssic_flows.cluster.submit.submit_campaign`, the function
``ssic submit`` composes, with the small jobs of ``tests/cluster_jobs.py`` (a campaign file
would build a whole study, minutes of work). Everything after it is FireWorks' CLI in
subprocesses with only ``FW_CONFIG_FILE`` and ``JOBFLOW_CONFIG_FILE`` exported, as a user
would type it, plus ``ssic status``.

What a real MongoDB needs: nothing beyond the files ``ssic cluster init`` writes. What only
the nx-27017 test server needs (both reach the executables through configuration, none is
patched into FireWorks): (1) the ``query: '{"$or": [{"fw_id": {"$exists": true}}]}'`` line
that ``init`` writes into ``my_fworker*.yaml`` for ``mongo_compat: nx27017`` (nx-27017
ignores a top-level ``$or``'s sibling fields in writes; with the guard FireWorks builds an
``$and``); (2) the LaunchPad database initialised by ``ssic cluster init`` (our
``get_launchpad``, which drops the indexes nx-27017 mishandles) instead of ``lpad reset``,
which must never be run against nx-27017 (nor ``lpad admin tuneup``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from cluster_helpers import SECRET, TIMINGS, wait_slurm_idle
from jobflow import Flow

pytestmark = [pytest.mark.mongo, pytest.mark.slurm]

BIN = Path(sys.executable).parent


def _init(site) -> dict[str, str]:
    """``ssic cluster init`` for the site's database; the environment its exports give."""
    d = site.dir / "fw_config"
    r = subprocess.run([sys.executable, "-m", "ssic_flows", "cluster", "init", str(d),
                        "--db-config", str(site.db_config)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr  # the URI is never printed
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", r.stdout, re.M))
    assert exports == {"FW_CONFIG_FILE": str(d / "FW_config.yaml"),
                       "JOBFLOW_CONFIG_FILE": str(d / "jobflow.yaml")}
    for name in ("my_launchpad.yaml", "jobflow.yaml"):
        assert (d / name).stat().st_mode & 0o777 == 0o600
    # what a user edits: the SLURM fields of the queue adapters, one FireWorks setting
    for q in d.glob("my_qadapter*.yaml"):
        qa = yaml.safe_load(q.read_text())
        qa.update(queue="debug", walltime="00:05:00")
        q.write_text(yaml.safe_dump(qa, sort_keys=False))
    with open(d / "FW_config.yaml", "a") as fh:
        fh.write("QUEUE_UPDATE_INTERVAL: 1\n")  # s between qlaunch submissions (default 5)
    env = dict(os.environ, **exports)
    env.pop("SSIC_DB_CONFIG", None)
    return env


def _fw(env, site, exe: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    r = subprocess.run([str(BIN / exe), *args], env=env, cwd=site.launch_dir,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{exe} {' '.join(args)}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert SECRET not in r.stdout + r.stderr
    return r


def _status(site, campaign: str) -> str:
    r = subprocess.run([sys.executable, "-m", "ssic_flows", "status", "--campaign", campaign,
                        "--db-config", str(site.db_config)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_plain_qlaunch_fizzle_fix_lpad_rerun_completes(site, tmp_path):
    from cluster_jobs import sqrt_of_input
    from flow_jobs import add

    from ssic_flows.cluster.submit import submit_campaign

    env = _init(site)
    inp = tmp_path / "input.txt"
    inp.write_text("-4\n")  # the job made to fail
    s = sqrt_of_input(str(inp))
    s.name = "fc-sqrt"
    s.update_metadata({"study": "agi", "role": "reference_md"})
    child = add(s.output, 1)
    child.name = "fc-child"
    child.update_metadata({"study": "agi", "role": "analyze"})
    submit_campaign(site.lp, Flow([s, child]), "camp-fwcli")

    t0 = time.perf_counter()
    _fw(env, site, "qlaunch", "-r", "rapidfire", "--sleep", "1")  # returns once nothing can run
    site.wait(lambda: site.fw_states("camp-fwcli")["fc-sqrt"] == "FIZZLED", 120, "fc-sqrt to fizzle")
    assert site.fw_states("camp-fwcli")["fc-child"] == "WAITING"
    ids = _fw(env, site, "lpad", "get_fws", "-s", "FIZZLED", "-d", "ids").stdout
    fw_id = site.lp.fireworks.find_one({"name": "fc-sqrt"})["fw_id"]
    assert str(fw_id) in ids
    st = _status(site, "camp-fwcli")
    assert "FIZZLED 1" in st.splitlines()[0] and "WAITING 1" in st.splitlines()[0]
    assert f"FIZZLED fw {fw_id} fc-sqrt (reference_md): ValueError: " in st
    assert "value must be >= 0, got -4.0" in st and f"lpad rerun_fws -i {fw_id}" in st
    wait_slurm_idle(timeout=60)

    inp.write_text("16\n")  # fixed
    _fw(env, site, "lpad", "rerun_fws", "-s", "FIZZLED")
    assert site.fw_states("camp-fwcli")["fc-sqrt"] == "READY"
    _fw(env, site, "qlaunch", "-r", "rapidfire", "--sleep", "1")
    states = site.wait_done("camp-fwcli", timeout=120)
    TIMINGS["fw_cli_fizzle_fix_rerun_s"] = round(time.perf_counter() - t0, 2)
    assert states == {"fc-sqrt": "COMPLETED", "fc-child": "COMPLETED"}, site.tail_logs()
    assert {d["name"]: d["output"] for d in site.job_docs()} == {"fc-sqrt": 4.0, "fc-child": 5.0}
    # qlaunch -r put each SLURM job id into the launch (what `ssic status` shows)
    for la in site.lp.launches.find({}):
        assert any(h.get("reservation_id") for h in la["state_history"]), la["state_history"]
    assert "COMPLETED 2" in _status(site, "camp-fwcli").splitlines()[0]
    # the URI reached no job file, SLURM script or log
    for p in site.launch_dir.rglob("*"):
        if p.is_file():
            assert SECRET not in p.read_text(errors="replace"), p
    wait_slurm_idle(timeout=60)


def test_sigkilled_md_lpad_detect_lostruns_resumes_every_step_once(site, tmp_path):
    from cluster_jobs import md_checkpointed, md_reference
    from monty.json import MontyDecoder

    from ssic_flows.cluster.submit import submit_campaign
    from ssic_flows.store.jobstore import get_jobstore

    env = _init(site)
    n_steps, every = 120, 10
    progress = tmp_path / "progress.txt"
    md = md_checkpointed(n_steps, 3, checkpoint_every=every, sleep_per_frame=0.04,
                         progress_file=str(progress))
    md.name = "fc-md"
    md.update_metadata({"study": "agi", "role": "reference_md"})
    submit_campaign(site.lp, Flow([md]), "camp-fwmd")
    _fw(env, site, "qlaunch", "-r", "singleshot")

    def steps_done() -> int:
        lines = progress.read_text().split("\n") if progress.exists() else []
        return int(lines[-2].split()[1]) if len(lines) > 1 else 0

    site.wait(lambda: steps_done() >= 45, 120, "the MD job to pass step 45", poll=0.1)
    fw = site.lp.fireworks.find_one({"name": "fc-md"})
    launch = site.lp.launches.find_one({"launch_id": fw["launches"][-1]})
    job_id = next(h["reservation_id"] for h in launch["state_history"] if h.get("reservation_id"))
    st = _status(site, "camp-fwmd")  # what runs where
    assert f"RUNNING fw {fw['fw_id']} fc-md (reference_md) on {launch['host']}, SLURM job {job_id}; " \
           "last heartbeat" in st, st
    killed_at = steps_done()
    t_kill = time.perf_counter()
    subprocess.run(["scancel", "--full", "--signal=KILL", str(job_id)], check=True, timeout=30)
    wait_slurm_idle([str(job_id)], timeout=60)
    assert site.fw_states("camp-fwmd")["fc-md"] == "RUNNING"  # nobody told FireWorks
    # `ssic rerun --lost` knows at once: the reservation's SLURM job left squeue
    from ssic_flows.cluster.lost import detect_lost

    found = detect_lost(site.lp, expiration_secs=3600, rerun=False, campaign_id="camp-fwmd")
    assert found.reasons == {launch["launch_id"]: f"SLURM job {job_id} is no longer queued or running"}
    time.sleep(1.5)  # the last heartbeat is older than --time 1
    _fw(env, site, "lpad", "detect_lostruns", "--time", "1", "--rerun")
    assert site.fw_states("camp-fwmd")["fc-md"] == "READY"
    _fw(env, site, "qlaunch", "-r", "singleshot")
    site.wait_done("camp-fwmd", timeout=120)
    TIMINGS["fw_cli_md_kill_to_resumed_completed_s"] = round(time.perf_counter() - t_kill, 2)
    assert site.fw_states("camp-fwmd") == {"fc-md": "COMPLETED"}, site.tail_logs()

    # resumed from the last checkpoint at or before the kill, every step exactly once
    runs = [tuple(map(int, ln.split())) for ln in progress.read_text().split("\n") if ln]
    pids = list(dict.fromkeys(p for p, _ in runs))
    assert len(pids) == 2, "expected one killed and one resumed process"
    first_2nd = next(s for p, s in runs if p == pids[1])
    assert 0 < first_2nd <= killed_at + every and first_2nd % every == 1, (first_2nd, killed_at)
    store = get_jobstore(site.cfg)
    store.connect()
    out = store.get_output(site.job_docs(name="fc-md")[0]["uuid"], load=True)
    store.close()
    traj = MontyDecoder().process_decoded(out["trajectory"])
    # the last checkpoint before the kill (the frame hook runs before that step's checkpoint
    # is written, so a kill right after step k*every may leave checkpoint (k-1)*every)
    assert (killed_at // every - 1) * every <= out["resumed_from_step"] <= killed_at + every
    assert out["resumed_from_step"] > 0 and first_2nd == out["resumed_from_step"] + 1
    np.testing.assert_array_equal(np.asarray(traj.steps), np.arange(n_steps + 1))
    ref = md_reference(n_steps, 3, checkpoint_every=every)
    np.testing.assert_allclose(np.asarray(traj.positions), np.asarray(ref.positions),
                               rtol=0, atol=1e-9)
    wait_slurm_idle(timeout=60)
