"""Engine-independent job inputs and outputs: coercion of what a job receives (settings,
structures, frames) and the :class:`~ssic_flows.schemas.MDOutput` of an ASE MD run.

A job input may arrive as the object, as its ``as_dict()``/``asdict()`` (FireWorks
serialises job arguments) or, for frames, as an MDOutput holding them.

Example
-------
>>> as_md_settings({"temperature_K": 600.0, "n_steps": 10}).n_steps
10
"""

from __future__ import annotations

from typing import Any

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings
from ssic_flows.schemas import EngineProvenance, MDOutput, plain_structure_dict

__all__ = ["as_md_settings", "as_structure", "as_trajectory", "md_output_from_trajectory"]


def as_md_settings(settings: MDSettings | dict) -> MDSettings:
    """:class:`MDSettings` from itself or its dict (``@``-keys of a serialised one ignored)."""
    if isinstance(settings, MDSettings):
        return settings
    if isinstance(settings, dict):
        return MDSettings(**{k: v for k, v in settings.items() if not k.startswith("@")})
    raise EngineError(f"MD settings must be MDSettings or a dict, got {type(settings).__name__}")


def as_structure(s: Any):
    """A pymatgen ``Structure`` from itself, its ``as_dict()`` or ASE ``Atoms``."""
    from pymatgen.core import Structure

    if isinstance(s, Structure):
        return s
    if isinstance(s, dict):
        return Structure.from_dict(s)
    if hasattr(s, "get_chemical_symbols"):  # ASE Atoms
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(s)
    raise EngineError(
        f"expected a pymatgen Structure (or its dict / ASE Atoms), got {type(s).__name__}")


def as_trajectory(frames: Any, what: str = "static single points") -> Trajectory:
    """A :class:`Trajectory` from itself, its dict, or an MDOutput (object or dict) holding one.

    ``what`` names the caller in the error (e.g. ``"CP2K single points"``).
    """
    if isinstance(frames, Trajectory):
        return frames
    if isinstance(frames, dict):
        if "positions" in frames:
            return Trajectory.from_dict({k: v for k, v in frames.items()
                                         if not k.startswith("@")})
        if isinstance(frames.get("trajectory"), (Trajectory, dict)):  # an MDOutput dict
            return as_trajectory(frames["trajectory"], what)
    traj = getattr(frames, "trajectory", None)  # an MDOutput
    if isinstance(traj, Trajectory):
        return traj
    raise EngineError(
        f"{what} need a Trajectory of frames, got {type(frames).__name__}; pass e.g. "
        "md_job.output.trajectory")


def md_output_from_trajectory(traj: Trajectory, settings: MDSettings,
                              provenance: EngineProvenance) -> MDOutput:
    """Wrap a :func:`~ssic_flows.engines.common.ase_md.run_md` trajectory in an MDOutput.

    Temperatures K, timestep fs, wall times s; ``n_steps`` is the last MD step reached.
    """
    from pymatgen.core import Composition

    meta = traj.metadata
    return MDOutput(
        provenance=provenance,
        formula=Composition("".join(traj.species)).reduced_formula,
        n_atoms=traj.n_atoms, temperature_K=settings.temperature_K,
        timestep_fs=settings.timestep_fs, n_steps=int(meta.get("last_step", settings.n_steps)),
        save_every=settings.save_every, seed=settings.seed, n_frames=traj.n_frames,
        wall_time_s=float(meta.get("wall_time_s", 0.0)),
        seconds_per_step=float(meta.get("seconds_per_step", 0.0)),
        resumed_from_step=int(meta.get("resumed_from_step", 0)),
        trajectory=traj, final_structure=plain_structure_dict(traj.to_structure(-1)),
        metadata={"thermostat": meta.get("thermostat"),
                  "thermostat_time_fs": meta.get("thermostat_time_fs"),
                  "stopped_early": meta.get("stopped_early", False)},
    )
