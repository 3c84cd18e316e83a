"""Tiny jobs for store/runner tests (importable module: FireWorks re-imports job functions)."""

from __future__ import annotations

import numpy as np
from jobflow import job

from ssic_flows.analysis.trajectory import Trajectory


@job
def add(a: float, b: float) -> float:
    return a + b


@job(data=Trajectory)
def make_traj(n_frames: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    t = Trajectory(species=["Ag", "I"], positions=rng.random((n_frames, 2, 3)),
                   cells=np.eye(3) * 5.0, timestep_fs=2.0, metadata={"seed": seed})
    return {"trajectory": t, "n_frames": n_frames}


@job
def fail_if(flag: bool) -> str:
    if flag:
        raise RuntimeError("injected failure")
    return "ok"


@job
def stamp(seconds: float, tag: str) -> dict:
    """Sleep ``seconds`` and report when and where (pid) it ran."""
    import os
    import time

    t0 = time.time()
    time.sleep(seconds)
    return {"tag": tag, "start": t0, "end": time.time(), "pid": os.getpid()}


@job
def grow(n: int):
    """A dynamic job: replaced by a job adding 1 to n (jobflow Response → FireWorks detour)."""
    from jobflow import Response

    nxt = add(n, 1)
    return Response(replace=nxt)
