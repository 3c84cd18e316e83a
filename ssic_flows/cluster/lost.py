"""Lost runs: RUNNING fireworks whose worker died (SLURM job gone, process gone, no heartbeat).

:func:`detect_lost` marks them FIZZLED and reruns them; an MD job rerun resumes from its
last checkpoint. Workers record where they run (``ssic_host``, ``ssic_pid``,
``ssic_slurm_job_id`` in the FWorker ``env``, see :func:`ssic_flows.cluster.launch.worker_env`).

>>> found = detect_lost(lp, expiration_secs=4 * 3600, campaign_id="demo")  # doctest: +SKIP
>>> found.rerun_fw_ids, found.reasons                                       # doctest: +SKIP
([7], {12: 'SLURM job 4711 is no longer queued or running'})
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable

from ssic_flows.cluster.status import launch_slurm_job_id
from ssic_flows.cluster.submit import campaign_fireworks

__all__ = ["LostRuns", "detect_lost", "slurm_alive_jobs"]


@dataclass
class LostRuns:
    """What :func:`detect_lost` found: launches and fireworks, and which were rerun."""

    launch_ids: list[int] = field(default_factory=list)
    fw_ids: list[int] = field(default_factory=list)
    rerun_fw_ids: list[int] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)


def slurm_alive_jobs() -> set[str] | None:
    """SLURM job ids that are pending or running (``squeue``), or ``None`` without SLURM."""
    squeue = shutil.which("squeue")
    if squeue is None:
        return None
    try:
        out = subprocess.run([squeue, "-h", "-o", "%i %T"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    alive = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] not in ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT",
                                                "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY"):
            alive.add(parts[0])
    return alive


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def detect_lost(lp, expiration_secs: float = 4 * 3600, rerun: bool = True, *,
                campaign_id: str | None = None,
                alive_jobs: Callable[[], set[str] | None] | None = slurm_alive_jobs,
                ) -> LostRuns:
    """Find RUNNING fireworks whose worker is gone; mark them FIZZLED and (``rerun``) rerun.

    A launch is lost when (a) its SLURM job (recorded by ``ssic cluster rlaunch``, or the
    reservation id of FireWorks' ``qlaunch -r``) is no longer listed by ``squeue``, (b) it was started outside SLURM on this host by a
    process that no longer exists, or (c) FireWorks' own ``detect_lostruns``: no heartbeat
    for ``expiration_secs`` (FireWorks pings every ``PING_TIME_SECS``; keep
    ``expiration_secs`` well above it). A rerun MD job resumes from its last checkpoint.
    ``alive_jobs=None`` disables the SLURM check.
    """
    query = None
    fw_ids_scope: list[int] | None = None
    if campaign_id is not None:
        fw_ids_scope = [f["fw_id"] for f in campaign_fireworks(lp, campaign_id)]
        query = {"fw_id": {"$in": fw_ids_scope}}
    found = LostRuns()

    # (a) + (b): dead worker, no need to wait for the heartbeat to expire
    launch_q: dict[str, Any] = {"state": "RUNNING"}
    if fw_ids_scope is not None:
        launch_q["fw_id"] = {"$in": fw_ids_scope}
    alive: set[str] | None = None
    alive_checked = False
    host = socket.gethostname()
    for ld in list(lp.launches.find(launch_q, {"launch_id": 1, "fw_id": 1, "fworker": 1,
                                               "state_history": 1})):
        env = ((ld.get("fworker") or {}).get("env") or {})
        reason = None
        job_id = launch_slurm_job_id(ld)  # our worker's env, or `qlaunch -r`'s reservation id
        if job_id:
            if not alive_checked:
                alive, alive_checked = (alive_jobs() if alive_jobs else None), True
            if alive is not None and str(job_id) not in alive:
                reason = f"SLURM job {job_id} is no longer queued or running"
        elif env.get("ssic_host") == host and env.get("ssic_pid"):
            if not _pid_alive(int(env["ssic_pid"])):
                reason = f"worker process {env['ssic_pid']} on {host} is gone"
        if reason:
            found.launch_ids.append(ld["launch_id"])
            found.reasons[ld["launch_id"]] = reason
    for lid in found.launch_ids:
        fw_id = lp.launches.find_one({"launch_id": lid}, {"fw_id": 1})["fw_id"]
        fw = lp.fireworks.find_one({"fw_id": fw_id}, {"state": 1, "launches": 1})
        if fw and fw["state"] == "RUNNING":
            found.fw_ids.append(fw_id)
        if rerun:
            lp.mark_fizzled(lid)
    # (c): FireWorks' heartbeat-based detection
    l_ids, f_ids, _ = lp.detect_lostruns(expiration_secs=expiration_secs, fizzle=False,
                                         rerun=False, query=query)
    for lid in l_ids:
        if lid not in found.launch_ids:
            found.launch_ids.append(lid)
            found.reasons[lid] = f"no heartbeat for {expiration_secs:.0f} s"
            if rerun:
                lp.mark_fizzled(lid)
    for fid in f_ids:
        if fid not in found.fw_ids:
            found.fw_ids.append(fid)
    if rerun:
        for fw_id in found.fw_ids:
            state = lp.fireworks.find_one({"fw_id": fw_id}, {"state": 1})["state"]
            if state in ("FIZZLED", "RUNNING"):
                lp.rerun_fw(fw_id)
                found.rerun_fw_ids.append(fw_id)
    return found
