"""Helpers shared by the integration tests (imported by conftest and the test modules)."""

from __future__ import annotations

import subprocess
import time

#: The stand-in secret in the test server's URI (scripts/mongo_server.sh); must never leak.
SECRET = "s3cr3t-TOKEN"
#: Measured timings, written to a JSON file at the end of the session (see conftest).
TIMINGS: dict[str, float] = {}


def squeue_ids() -> list[str]:
    r = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30)
    return r.stdout.split()


def wait_slurm_idle(job_ids: list[str] | None = None, timeout: float = 120) -> float:
    """Wait until the given SLURM jobs (or all) left the queue; returns seconds waited."""
    t0 = time.perf_counter()
    while True:
        ids = squeue_ids()
        if not (set(ids) & set(job_ids) if job_ids is not None else ids):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise AssertionError(f"SLURM jobs still queued after {timeout} s: {ids}")
        time.sleep(0.3)
