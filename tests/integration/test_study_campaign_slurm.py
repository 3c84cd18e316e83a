"""The real study campaign (workflows/ci.yaml: AgI, every role) through the production path:
`ssic submit` to the MongoDB LaunchPad (twice: added once), CPU and GPU-class workers under
SLURM, `ssic results` from the server. Dynamic jobs (on-the-fly training) run on workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster_helpers import TIMINGS, squeue_ids, wait_slurm_idle

pytestmark = [pytest.mark.mongo, pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def ssic(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ssic_flows.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd, env=os.environ)


def _qlaunch(site, rc: str, qadapter) -> None:
    """One SLURM worker of class ``rc`` if that class has READY work (exit 3: nothing to do)."""
    r = subprocess.run(site.cluster_cmd("qlaunch", "-q", str(qadapter), "-w",
                                        str(site.workers[f"fworker_{rc}"]), "--launch-dir",
                                        str(site.launch_dir), "--loglvl", "ERROR", "singleshot"),
                       capture_output=True, text=True, timeout=120, cwd=site.dir)
    assert r.returncode in (0, 3), f"qlaunch failed:\n{r.stdout}\n{r.stderr}"


def test_ci_campaign_submit_qlaunch_results(site):
    campaign = REPO / "workflows" / "ci.yaml"
    t0 = time.perf_counter()
    first = ssic("submit", campaign, "--db-config", site.db_config)
    TIMINGS["ssic_submit_ci_campaign_s"] = round(time.perf_counter() - t0, 2)
    assert first.returncode == 0 and "submitted campaign ci" in first.stdout, first.stderr
    second = ssic("submit", campaign, "--db-config", site.db_config)
    assert second.returncode == 0 and "nothing added" in second.stdout
    assert site.lp.workflows.count_documents({"metadata.campaign_id": "ci"}) == 1

    # reference jobs on the CPU class, MLFF jobs on the GPU class: one worker each. The
    # local cluster has no GPUs, so the GPU-class worker's SLURM script drops --gres.
    import yaml

    gpu_q = yaml.safe_load(Path(site.workers["qadapter_gpu"]).read_text())
    gpu_q.pop("gres", None)
    gpu_nogres = site.dir / "qadapter_gpu_nogres.yaml"
    gpu_nogres.write_text(yaml.safe_dump(gpu_q))
    # A worker's `rlaunch rapidfire` stops when nothing of its class is READY or about to
    # be; with two classes feeding each other a user (or cron) runs qlaunch again, as here.
    t0 = time.perf_counter()
    rounds = 0
    while True:
        states = site.fw_states("ci")
        if all(v in ("COMPLETED", "FIZZLED") for v in states.values()):
            break
        assert time.perf_counter() - t0 < 900, f"campaign not done: {states}\n{site.tail_logs()}"
        if not squeue_ids():
            rounds += 1
            assert rounds <= 12, f"no progress after {rounds} qlaunch rounds: {states}"
            for rc, q in (("cpu", site.workers["qadapter_cpu"]), ("gpu", gpu_nogres)):
                _qlaunch(site, rc, q)
        time.sleep(2)
    TIMINGS["ci_campaign_qlaunch_rounds"] = rounds
    TIMINGS["ci_campaign_on_slurm_s"] = round(time.perf_counter() - t0, 1)
    assert set(states.values()) == {"COMPLETED"}, f"{states}\n{site.tail_logs()}"
    # MLMD ran on the gpu-class worker, reference MD on the cpu-class one
    for fw in site.lp.fireworks.find({"name": {"$regex": "^agi:(mlmd|reference_md)"}}):
        launch = site.lp.launches.find_one({"launch_id": fw["launches"][-1]})
        want = "gpu" if ":mlmd" in fw["name"] else "cpu"
        assert want in launch["fworker"]["name"], (fw["name"], launch["fworker"]["name"])

    res = ssic("results", "--campaign", "ci", "--observable", "diffusion", "--json",
               "--db-config", site.db_config)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    ag = {r["role"]: r for r in rows if r["species"] == "Ag"}
    assert ag["mlmd"]["n"] in (0, 2)  # runs whose D was determined (0 or both here)
    for role in ("reference", "mlmd"):  # 0.24-ps test runs: a D only where the MSD is diffusive
        r = ag[role]
        assert (r["D_cm2_s"] is None and r["D_status"].startswith("not determined (")) or (
            r["D_cm2_s"] > 0 and r["D_status"] == "determined"), r
    verdicts = json.loads(ssic("results", "--campaign", "ci", "--observable", "verdicts",
                               "--json", "--db-config", site.db_config).stdout)
    assert {v["comparison"] for v in verdicts} == {"reference vs mlmd", "transfer vs mlmd",
                                                   "mlmd_hot vs mlmd"}
    wait_slurm_idle(timeout=60)
