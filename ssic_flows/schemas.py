"""Output documents of every job role, in one place (pydantic).

Big arrays never sit in these documents: a :class:`~ssic_flows.analysis.Trajectory` field is
moved by jobflow to the ``data`` additional store (jobs declare ``@job(data=Trajectory)``),
and curves go in ``*_data`` dicts that jobs route there too. Units are in the field names.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ssic_flows.analysis.trajectory import Trajectory

__all__ = [
    "as_job_output", "plain_structure_dict",
    "EngineProvenance", "MDOutput", "ROLES", "StaticOutput", "TrainOutput", "ValidationOutput",
]

#: Roles of jobs in a study flow (job metadata ``role``).
ROLES = ("build", "reference_md", "train_mlff", "validate", "mlmd", "transfer",
         "retrain_hot", "mlmd_hot", "analyze", "label", "fit", "explore")


def as_job_output(doc) -> dict:
    """A schema document as a job's return value whose Trajectory fields reach the data store.

    jobflow serialises a pydantic document with ``model_dump()``, which turns the
    :class:`Trajectory` dataclass into a plain dict; the ``data=Trajectory`` routing then
    never sees it and megabytes of arrays land in the main document. This returns the same
    document as a dict carrying ``@module``/``@class`` (so jobflow decodes it back into the
    schema class when a later job resolves the reference) with Trajectory objects kept as
    objects (so the JobStore moves them to the ``data`` store).
    """
    out = {"@module": type(doc).__module__, "@class": type(doc).__name__}
    names = list(type(doc).model_fields) + list(doc.model_extra or {})
    for k in names:
        out[k] = getattr(doc, k)
    return out


def plain_structure_dict(structure) -> dict:
    """``Structure.as_dict()`` without ``@module``/``@class``, so that jobflow's decoder keeps it
    a dict (``MDOutput.final_structure`` is typed ``dict``); ``Structure.from_dict`` reads it."""
    return {k: v for k, v in structure.as_dict().items() if not k.startswith("@")}


class _Doc(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="allow")


class EngineProvenance(_Doc):
    """Which engine made a result, and whether it stands in for DFT."""

    engine: str = Field(..., description="engine name, e.g. 'chgnet', 'cp2k', 'vasp', 'gap'")
    engine_version: str = ""
    kind: Literal["reference", "mlff"] = "reference"
    stands_in_for_dft: bool = Field(
        False, description="True when a universal ML potential replaces DFT as reference")
    settings: dict[str, Any] = Field(default_factory=dict)


class MDOutput(_Doc):
    """Result of an MD run (reference or MLFF)."""

    provenance: EngineProvenance
    formula: str
    n_atoms: int
    temperature_K: float
    timestep_fs: float = Field(..., description="MD integration step, fs")
    n_steps: int
    save_every: int = 1
    seed: int
    n_frames: int
    wall_time_s: float = 0.0
    seconds_per_step: float = 0.0
    resumed_from_step: int = Field(0, description="MD step the run resumed from (0 = fresh)")
    trajectory: Trajectory | None = Field(None, description="moved to the data store")
    final_structure: dict | None = Field(None, description="pymatgen Structure.as_dict()")
    metadata: dict[str, Any] = Field(default_factory=dict)


class StaticOutput(_Doc):
    """Single-point energies (eV) and forces (eV/Å) for a set of structures."""

    provenance: EngineProvenance
    n_structures: int
    energies_eV: list[float]
    forces: Trajectory | None = Field(None, description="structures+forces, in the data store")
    wall_time_s: float = 0.0


class TrainOutput(_Doc):
    """A trained MLFF and its training history."""

    provenance: EngineProvenance
    model_path: str = Field(..., description="path of the model file on the shared filesystem")
    model_sha256: str = ""
    n_training_structures: int
    n_iterations: int
    converged: bool
    beef_threshold_eV_A: float
    beef_step: list[int] = Field(default_factory=list, description="MD step of each BEEF value")
    beef_max_eV_A: list[float] = Field(
        default_factory=list,
        description="error estimate of forces (max over atoms), eV/Å: VASP's BEEF (vasp_mlff), the "
                    "exact Bayesian posterior (ace), or for gap a variance-based proxy "
                    "c·sqrt(local-energy variance) with a calibrated constant c, not VASP's BEEF; "
                    "metadata['beef_kind'] says which")
    beef_mean_eV_A: list[float] = Field(default_factory=list)
    temperature_K: float = 0.0
    training_data: Trajectory | None = Field(None, description="labelled frames, data store")
    wall_time_s: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)


class ValidationOutput(_Doc):
    """Per-element force errors of an MLFF against reference single points (meV/Å)."""

    provenance: EngineProvenance
    n_snapshots: int
    rmse_meV_A: dict[str, float]
    mae_meV_A: dict[str, float]
    ci95_rmse_meV_A: dict[str, list[float]] = Field(default_factory=dict)
    ref_force_std_meV_A: dict[str, float] = Field(default_factory=dict)
    parity_data: dict[str, Any] | None = Field(
        None, description="species, predicted and reference force components (eV/Å); data store")
    details: dict[str, Any] = Field(default_factory=dict)


class StudySummary(_Doc):
    """One study's results: what the README table and the report show.

    Scalars here; every curve (g(r), VDOS, MSD, θ, ω, van Hove, ρ(r, φ), ensembles) is in
    ``curves`` which jobs route to the data store.
    """

    campaign_id: str
    study: str
    material: str
    formula: str = ""
    n_atoms: int
    temperature_K: float
    reference_engine: dict[str, Any] = Field(default_factory=dict)
    mlff_engine: dict[str, Any] = Field(default_factory=dict)
    mobile_species: list[str] = Field(default_factory=list)
    n_mlmd_runs: int = 0
    n_frames_compared: int = 0
    scalars: dict[str, Any] = Field(
        default_factory=dict,
        description="role → key (D_cm2_s, D_final_cm2_s, band_center_cm-1, gr_first_peak_A, "
                    "sigma_S_cm) → species/pair → {mean, std, sem, n}")
    equilibration_ps: float = Field(0.0, description="ps cut from the start of every run before analysis")
    scalars_basis: str = Field("", description="what ``scalars`` are computed over (full runs after "
                                                "equilibration)")
    scalars_compared: dict[str, Any] = Field(
        default_factory=dict,
        description="comparison label → n_frames and, per role, the scalars of the runs cut to that "
                    "common length (what the verdicts compare)")
    comparisons: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict,
        description="label → [{observable, metric, value, noise_floor, uncertainty, tolerance, "
                    "p_value, p_holm, noise_source, verdict: agrees | differs | inconclusive | "
                    "not determined, reason}] (ssic_flows.analysis.compare)")
    verdict_calibration: dict[str, Any] = Field(
        default_factory=dict,
        description="false-'differs' rate of the verdicts measured on two halves of the MLMD seeds: "
                    "{rate, n_differs, n_tests, n_splits, n_seeds, reason}")
    force_rmse_meV_A: dict[str, float] = Field(default_factory=dict)
    force_mae_meV_A: dict[str, float] = Field(default_factory=dict)
    ref_force_std_meV_A: dict[str, float] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict, description="n structures, BEEF curve, converged")
    hot_training: dict[str, Any] | None = None
    curves: dict[str, Any] | None = Field(None, description="all curves; data store")
