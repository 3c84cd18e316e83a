"""What every on-the-fly MLFF engine shares: labelled frames as ASE Atoms, the seed reference MD.

Example
-------
>>> frames = labelled_atoms(static_output.forces)   # doctest: +SKIP
>>> frames[0].info["energy"], frames[0].arrays["forces"].shape  # doctest: +SKIP
(-123.4, (32, 3))
"""

from __future__ import annotations

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import SEED_MD_OFFSET, EngineError, MDSettings, TrainSettings

__all__ = ["labelled_atoms", "seed_reference_md"]


def labelled_atoms(traj: Trajectory) -> list:
    """ASE Atoms with ``info['energy']`` (eV) and ``arrays['forces']`` (eV/Å) per frame."""
    if traj.forces is None or traj.energies is None:
        raise EngineError("training frames need reference forces and energies; label them "
                          "with the reference engine's static_maker first")
    out = []
    for i in range(traj.n_frames):
        at = traj.to_ase(i)
        at.calc = None
        at.info["energy"] = float(traj.energies[i])
        at.arrays["forces"] = np.array(traj.forces[i])
        out.append(at)
    return out


def seed_reference_md(reference, structure, settings: TrainSettings, stride: int,
                      thermostat: str, thermostat_time_fs: float):
    """The reference MD job whose frames seed a training: ``settings.n_seed_frames`` frames
    ``stride`` steps apart, at the training temperature, with the seed offset by
    :data:`~ssic_flows.engines.base.SEED_MD_OFFSET` so it never repeats the reference
    production run the validation draws from. Role ``reference_md``."""
    md = reference.md_maker(MDSettings(
        temperature_K=settings.temperature_K, timestep_fs=settings.timestep_fs,
        n_steps=stride * (settings.n_seed_frames - 1) or 1, save_every=stride,
        seed=settings.seed + SEED_MD_OFFSET, thermostat=thermostat,
        thermostat_time_fs=thermostat_time_fs)).make(structure)
    md.name = "seed reference md"
    md.update_metadata({"role": "reference_md"})
    return md
