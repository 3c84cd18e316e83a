"""CHGNet jobs and Makers (module level, so FireWorks can re-import them).

- :func:`chgnet_md` → :class:`~ssic_flows.schemas.MDOutput` (trajectory → data store;
  checkpointed through :mod:`ssic_flows.engines.common.ase_md`, so a rerun resumes).
- :func:`chgnet_static` → :class:`~ssic_flows.schemas.StaticOutput` (a copy of the frames
  holding ``forces`` eV/Å and ``energies`` eV → data store).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from jobflow import Maker, job

from ssic_flows.engines.base import MDSettings
from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.common.outputs import md_output_from_trajectory, require
from ssic_flows.engines.embedded.calculator import (
    DEFAULT_MODEL, chgnet_calculator, chgnet_provenance, chgnet_single_points,
)
from ssic_flows.schemas import MDOutput, StaticOutput

__all__ = ["EmbeddedMDMaker", "EmbeddedStaticMaker", "chgnet_md", "chgnet_static"]


@job(data=MDOutput.DATA_FIELDS)
def chgnet_md(structure: Any, settings: dict, model_name: str = DEFAULT_MODEL,
              torch_threads: int = 1) -> MDOutput:
    """NVT MD with CHGNet (stand-in for AIMD); resumes from its checkpoint when rerun."""
    from ssic_flows.engines.common.ase_md import checkpoint_dir_for_current_job, run_md

    s = MDSettings(**settings)
    prov = chgnet_provenance(model_name, torch_threads)
    traj = run_md(structure, chgnet_calculator(model_name, torch_threads), s,
                  checkpoint_dir_for_current_job(),
                  metadata={"engine": "chgnet", "engine_version": prov.engine_version,
                            "stands_in_for_dft": True})
    return md_output_from_trajectory(traj, s, prov)


@job(data=StaticOutput.DATA_FIELDS)
def chgnet_static(frames: Trajectory, model_name: str = DEFAULT_MODEL,
                  torch_threads: int = 1) -> StaticOutput:
    """CHGNet single points: energies (eV) and forces (eV/Å) for every frame."""
    traj = require(frames, Trajectory, "CHGNet single points' frames", "pass e.g. md_job.output.trajectory")
    t0 = time.perf_counter()
    energies, forces = chgnet_single_points(traj, model_name, torch_threads)
    prov = chgnet_provenance(model_name, torch_threads)
    meta = dict(traj.metadata, engine="chgnet", engine_version=prov.engine_version,
                stands_in_for_dft=True, labelled_by="chgnet static")
    out = traj.replace(forces=forces, energies=energies, metadata=meta)
    return StaticOutput(
        provenance=prov, n_structures=traj.n_frames, energies_eV=[float(e) for e in energies],
        forces=out, wall_time_s=time.perf_counter() - t0)


@dataclass
class EmbeddedMDMaker(Maker):
    """Maker of a CHGNet NVT MD job: ``make(structure)`` → Job → MDOutput."""

    name: str = "chgnet md"
    settings: MDSettings = field(default_factory=lambda: MDSettings(temperature_K=300.0))
    model_name: str = DEFAULT_MODEL
    torch_threads: int = 1

    def make(self, structure):
        j = chgnet_md(structure, asdict(self.settings), self.model_name, self.torch_threads)
        j.name = self.name
        return j


@dataclass
class EmbeddedStaticMaker(Maker):
    """Maker of CHGNet single points: ``make(frames: Trajectory)`` → Job → StaticOutput."""

    name: str = "chgnet static"
    model_name: str = DEFAULT_MODEL
    torch_threads: int = 1

    def make(self, frames):
        j = chgnet_static(frames, self.model_name, self.torch_threads)
        j.name = self.name
        return j
