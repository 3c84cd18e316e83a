"""Embedded reference engine: CHGNet (universal ML potential) standing in for DFT.

No DFT code is needed to run the whole study on a laptop: CHGNet 0.3.0 (weights ship in the
``chgnet`` wheel, loaded offline) gives energies (eV) and forces (eV/Å) for the reference MD
and for labelling on-the-fly training frames. Every document it produces says
``stands_in_for_dft=True`` and names chgnet + torch versions, so such results are never
mistaken for AIMD.

Jobs (module level, so FireWorks can re-import them):

- :func:`chgnet_md` → :class:`~ssic_flows.schemas.MDOutput` (trajectory → data store;
  checkpointed through :mod:`ssic_flows.engines.common.ase_md`, so a rerun resumes).
- :func:`chgnet_static` → :class:`~ssic_flows.schemas.StaticOutput` (a copy of the frames
  holding ``forces`` eV/Å and ``energies`` eV → data store).

Example
-------
>>> eng = EmbeddedReference()
>>> eng.provenance()["stands_in_for_dft"]
True
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from jobflow import Maker, job

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings, ReferenceEngine
from ssic_flows.engines.common.outputs import (
    as_md_settings, as_trajectory, md_output_from_trajectory,
)
from ssic_flows.schemas import EngineProvenance, StaticOutput, as_job_output

__all__ = [
    "DEFAULT_MODEL", "EmbeddedMDMaker", "EmbeddedReference", "EmbeddedStaticMaker",
    "chgnet_calculator", "chgnet_md", "chgnet_provenance", "chgnet_static", "load_chgnet",
]

DEFAULT_MODEL = "0.3.0"
_MODELS: dict[str, Any] = {}


def _set_threads(torch_threads: int) -> None:
    import torch

    if torch_threads < 1:
        raise EngineError(f"torch_threads must be >= 1, got {torch_threads}")
    if torch.get_num_threads() != torch_threads:
        torch.set_num_threads(int(torch_threads))


def load_chgnet(model_name: str = DEFAULT_MODEL, torch_threads: int = 1):
    """The CHGNet model (cached per process), loaded offline from the installed wheel."""
    try:
        from chgnet.model import CHGNet
    except ImportError as exc:
        raise EngineError(
            "the embedded reference needs chgnet and torch: pip install 'ssic-flows[ml]'"
        ) from exc
    _set_threads(torch_threads)
    if model_name not in _MODELS:
        try:
            _MODELS[model_name] = CHGNet.load(model_name=model_name, use_device="cpu",
                                              verbose=False)
        except Exception as exc:  # noqa: BLE001
            raise EngineError(
                f"cannot load CHGNet model {model_name!r} ({exc}); use model_name='0.3.0', whose "
                "weights ship in the chgnet wheel"
            ) from exc
    return _MODELS[model_name]


def chgnet_calculator(model_name: str = DEFAULT_MODEL, torch_threads: int = 1):
    """An ASE calculator (energy eV, forces eV/Å) around the cached CHGNet model."""
    from chgnet.model.dynamics import CHGNetCalculator

    return CHGNetCalculator(model=load_chgnet(model_name, torch_threads), use_device="cpu",
                            on_isolated_atoms="warn")


def chgnet_provenance(model_name: str = DEFAULT_MODEL, torch_threads: int = 1,
                      **settings: Any) -> EngineProvenance:
    """Provenance of a CHGNet result: engine 'chgnet', versions, stands_in_for_dft=True."""
    import chgnet
    import torch

    return EngineProvenance(
        engine="chgnet", engine_version=f"chgnet {chgnet.__version__}", kind="reference",
        stands_in_for_dft=True,
        settings={"model_name": model_name, "torch_version": torch.__version__,
                  "torch_threads": torch_threads, "device": "cpu", **settings})


@job(data=Trajectory)
def chgnet_md(structure: Any, settings: dict, model_name: str = DEFAULT_MODEL,
              torch_threads: int = 1) -> dict:
    """NVT MD with CHGNet (stand-in for AIMD); resumes from its checkpoint when rerun."""
    from ssic_flows.engines.common.ase_md import checkpoint_dir_for_current_job, run_md

    s = as_md_settings(settings)
    prov = chgnet_provenance(model_name, torch_threads)
    traj = run_md(structure, chgnet_calculator(model_name, torch_threads), s,
                  checkpoint_dir_for_current_job(),
                  metadata={"engine": "chgnet", "engine_version": prov.engine_version,
                            "stands_in_for_dft": True})
    return as_job_output(md_output_from_trajectory(traj, s, prov))


@job(data=Trajectory)
def chgnet_static(frames: Any, model_name: str = DEFAULT_MODEL,
                  torch_threads: int = 1) -> dict:
    """CHGNet single points: energies (eV) and forces (eV/Å) for every frame."""
    traj = as_trajectory(frames)
    t0 = time.perf_counter()
    energies, forces = chgnet_single_points(traj, model_name, torch_threads)
    prov = chgnet_provenance(model_name, torch_threads)
    meta = dict(traj.metadata, engine="chgnet", engine_version=prov.engine_version,
                stands_in_for_dft=True, labelled_by="chgnet static")
    out = traj.replace(forces=forces, energies=energies, metadata=meta)
    return as_job_output(StaticOutput(
        provenance=prov, n_structures=traj.n_frames, energies_eV=[float(e) for e in energies],
        forces=out, wall_time_s=time.perf_counter() - t0))


def chgnet_single_points(traj: Trajectory, model_name: str = DEFAULT_MODEL,
                         torch_threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Energies (F,) eV and forces (F, N, 3) eV/Å of every frame of ``traj``."""
    calc = chgnet_calculator(model_name, torch_threads)
    energies = np.empty(traj.n_frames)
    forces = np.empty((traj.n_frames, traj.n_atoms, 3))
    for i in range(traj.n_frames):
        at = traj.to_ase(i)
        at.calc = calc
        energies[i] = at.get_potential_energy()
        forces[i] = at.get_forces()
    if not (np.isfinite(energies).all() and np.isfinite(forces).all()):
        raise EngineError("CHGNet returned non-finite energies/forces; check the structures "
                          "(overlapping atoms?)")
    return energies, forces


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


class EmbeddedReference(ReferenceEngine):
    """CHGNet as the reference engine (``stands_in_for_dft=True``).

    model_name: CHGNet weights shipped in the wheel ('0.3.0'). torch_threads: intra-op
    threads (1 by default: several workers usually share the cores).
    """

    name = "chgnet"
    stands_in_for_dft = True

    def __init__(self, model_name: str = DEFAULT_MODEL, torch_threads: int = 1):
        if torch_threads < 1:
            raise EngineError(f"torch_threads must be >= 1, got {torch_threads}")
        self.model_name = model_name
        self.torch_threads = int(torch_threads)

    def md_maker(self, settings: MDSettings) -> EmbeddedMDMaker:
        return EmbeddedMDMaker(settings=as_md_settings(settings), model_name=self.model_name,
                               torch_threads=self.torch_threads)

    def static_maker(self) -> EmbeddedStaticMaker:
        return EmbeddedStaticMaker(model_name=self.model_name, torch_threads=self.torch_threads)

    def calculator(self):
        """The ASE calculator (used by benchmarks and tests)."""
        return chgnet_calculator(self.model_name, self.torch_threads)

    def provenance(self) -> dict[str, Any]:
        return chgnet_provenance(self.model_name, self.torch_threads).model_dump()

    def check_available(self) -> None:
        load_chgnet(self.model_name, self.torch_threads)
