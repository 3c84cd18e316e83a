"""Engine-independent job inputs and outputs: the one-shape check of what a job receives
(:func:`require`), structures from pymatgen/ASE (:func:`as_structure`) and the
:class:`~ssic_flows.schemas.MDOutput` of an ASE MD run.

Settings reach jobs as ``dataclasses.asdict(MDSettings)`` (``MDSettings(**settings)``),
frames as a :class:`Trajectory`, models as a :class:`~ssic_flows.schemas.TrainOutput`.
"""

from __future__ import annotations

from typing import Any

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings
from ssic_flows.schemas import EngineProvenance, MDOutput, plain_structure_dict

__all__ = ["as_structure", "md_output_from_trajectory", "require"]


def require(value: Any, cls: type, what: str, hint: str) -> Any:
    """``value`` itself when it is a ``cls``; else :class:`EngineError` naming the one shape.

    Jobs take one input shape each (a :class:`Trajectory` of frames, a
    :class:`~ssic_flows.schemas.TrainOutput` model): jobflow hands a job the documents
    themselves when it resolves ``job.output`` references.

    >>> require(3, int, "n", "pass an int")
    3
    """
    if not isinstance(value, cls):
        raise EngineError(f"{what} must be a {cls.__name__}, got {type(value).__name__}; {hint}")
    return value


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
