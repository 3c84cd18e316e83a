"""Jobs for the cluster integration tests (importable: FireWorks workers re-import them).

``md_checkpointed`` runs the project's real ASE MD driver (EMT copper, Nosé–Hoover, so it is
deterministic) with a checkpoint under ``ssic_home()/checkpoints/<job uuid>_<index>``, slowed
by ``sleep_per_frame`` so a test can kill it mid-run. ``wait_then_add`` sleeps (to let a
test stop the database under a running job). ``record_run`` appends one line per execution
to a file, to count how many times each job really ran.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
from jobflow import job

from ssic_flows.analysis.trajectory import Trajectory


def md_reference(n_steps: int, seed: int, checkpoint_every: int = 10) -> Trajectory:
    """The uninterrupted trajectory that :func:`md_checkpointed` must reproduce."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from ssic_flows.engines.common.ase_md import run_md
    from ssic_flows.engines.base import MDSettings

    settings = MDSettings(temperature_K=300.0, timestep_fs=2.0, n_steps=n_steps, save_every=1,
                          seed=seed, thermostat="nose-hoover", checkpoint_every=checkpoint_every)
    return run_md(bulk("Cu", cubic=True) * (2, 2, 2), EMT(), settings, checkpoint_dir=None)


@job(data=Trajectory)
def md_checkpointed(n_steps: int, seed: int, checkpoint_every: int = 10,
                    sleep_per_frame: float = 0.0, progress_file: str | None = None) -> dict:
    """MD that checkpoints every ``checkpoint_every`` steps and resumes after a kill."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from ssic_flows.engines.common.ase_md import checkpoint_dir_for_current_job, run_md
    from ssic_flows.engines.base import MDSettings

    settings = MDSettings(temperature_K=300.0, timestep_fs=2.0, n_steps=n_steps, save_every=1,
                          seed=seed, thermostat="nose-hoover", checkpoint_every=checkpoint_every)
    ckdir = checkpoint_dir_for_current_job()

    def on_frame(step: int, atoms) -> None:
        if progress_file:
            with open(progress_file, "a") as fh:
                fh.write(f"{os.getpid()} {step}\n")
        if sleep_per_frame:
            time.sleep(sleep_per_frame)

    traj = run_md(bulk("Cu", cubic=True) * (2, 2, 2), EMT(), settings, checkpoint_dir=ckdir,
                  on_frame=on_frame)
    return {"trajectory": traj, "n_frames": int(len(traj.steps)),
            "resumed_from_step": int(traj.metadata.get("resumed_from_step", 0) or 0),
            "checkpoint_dir": str(ckdir)}


@job
def wait_then_add(a: float, b: float, seconds: float, started_file: str | None = None) -> float:
    """``a + b`` after ``seconds`` (touches ``started_file`` first)."""
    if started_file:
        Path(started_file).write_text(f"{socket.gethostname()} {os.getpid()}\n")
    time.sleep(seconds)
    return a + b


@job
def record_run(i: int, log_file: str, seconds: float = 0.0) -> dict:
    """Append ``i pid slurm_job`` to ``log_file`` (one line per real execution), then sleep."""
    with open(log_file, "a") as fh:
        fh.write(f"{i} {os.getpid()} {os.environ.get('SLURM_JOB_ID', '-')}\n")
    time.sleep(seconds)
    return {"i": i, "pid": os.getpid(), "slurm_job_id": os.environ.get("SLURM_JOB_ID")}


@job
def sqrt_of_input(input_file: str) -> float:
    """sqrt of the number in ``input_file``; a negative number fails with a clear message."""
    value = float(Path(input_file).read_text().strip())
    if value < 0:
        raise ValueError(f"{input_file}: value must be >= 0, got {value}; fix it and rerun")
    return float(np.sqrt(value))
