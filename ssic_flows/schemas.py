"""Output documents of every job role, in one place (pydantic).

Jobs return these documents themselves. Big arrays never sit in the job document: each
document names its big fields in ``DATA_FIELDS`` and its jobs declare them
(``@job(data=MDOutput.DATA_FIELDS)``, as atomate2's ``_FORCEFIELD_DATA_OBJECTS``), so
jobflow's ``JobStore.update`` moves those fields to the ``data`` additional store by key and
puts a ``blob_uuid`` reference in their place. A :class:`~ssic_flows.analysis.Trajectory`
field dumps as its ``as_dict()`` (with ``@module``/``@class``), so a later job that resolves
``md_job.output`` gets an ``MDOutput`` whose ``trajectory`` is a ``Trajectory`` again. Units
are in the field names.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from ssic_flows.analysis.trajectory import Trajectory

__all__ = [
    "plain_structure_dict", "TrajectoryField",
    "EngineProvenance", "MDOutput", "ROLES", "StaticOutput", "StudySummary", "TrainOutput",
    "ValidationOutput",
]

#: Roles of jobs in a study flow (job metadata ``role``).
ROLES = ("build", "reference_md", "train_mlff", "validate", "mlmd", "transfer",
         "retrain_hot", "mlmd_hot", "analyze", "label", "fit", "explore")


def _trajectory_in(v: Any) -> Any:
    return Trajectory.from_dict(v) if isinstance(v, dict) else v


#: A Trajectory field of a document: dumped as ``Trajectory.as_dict()`` (MSON, so it decodes
#: back into a Trajectory), read from a Trajectory or that dict.
TrajectoryField = Annotated[Trajectory, BeforeValidator(_trajectory_in),
                            PlainSerializer(lambda t: t.as_dict(), return_type=dict)]


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
    DATA_FIELDS: ClassVar[list[str]] = ["trajectory"]

    trajectory: TrajectoryField | None = Field(None, description="moved to the data store")
    final_structure: dict | None = Field(None, description="pymatgen Structure.as_dict()")
    metadata: dict[str, Any] = Field(default_factory=dict)


class StaticOutput(_Doc):
    """Single-point energies (eV) and forces (eV/Å) for a set of structures."""

    provenance: EngineProvenance
    n_structures: int
    energies_eV: list[float]
    DATA_FIELDS: ClassVar[list[str]] = ["forces"]

    forces: TrajectoryField | None = Field(None, description="structures+forces, in the data store")
    wall_time_s: float = 0.0


class TrainOutput(_Doc):
    """A trained MLFF and its training history."""

    DATA_FIELDS: ClassVar[list[str]] = ["training_data"]

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
    training_data: TrajectoryField | None = Field(None, description="labelled frames, data store")
    wall_time_s: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)


class ValidationOutput(_Doc):
    """Per-element force errors of an MLFF against reference single points (meV/Å)."""

    DATA_FIELDS: ClassVar[list[str]] = ["parity_data"]

    provenance: EngineProvenance
    n_snapshots: int
    rmse_meV_A: dict[str, float]
    mae_meV_A: dict[str, float]
    ci95_rmse_meV_A: dict[str, list[float | None]] = Field(
        default_factory=dict, description="95 % interval per element; None where too few frames")
    ref_force_std_meV_A: dict[str, float] = Field(default_factory=dict)
    parity_data: dict[str, Any] | None = Field(
        None, description="species, predicted and reference force components (eV/Å); data store")
    error_estimate: dict[str, Any] = Field(
        default_factory=dict,
        description="the MLFF's own force-error estimate checked against the true error on these "
                    "frames (ssic_flows.analysis.forces.error_estimate_check): n_frames, "
                    "within_1sigma / within_2sigma / z_rms per element, frame_spearman "
                    "(BEEF vs true max atom error) with frame_spearman_ci95, or reason where "
                    "the engine gives no σ")
    details: dict[str, Any] = Field(default_factory=dict)


class StudySummary(_Doc):
    """One study's results: what the README table and the report show.

    Scalars here; every curve (g(r), VDOS, MSD, θ, ω, van Hove, ρ(r, φ), ensembles) is in
    ``curves`` which jobs route to the data store.
    """

    DATA_FIELDS: ClassVar[list[str]] = ["curves"]

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
    runs_left_training_domain: list[dict[str, Any]] = Field(
        default_factory=list,
        description="runs that stopped because they left the MLFF's training domain: {role, seed, "
                    "at_ps, reason, kept_ps, used}; MLMD runs among them are left out of the "
                    "ensemble while complete runs remain (used=False)")
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
    force_error_estimate: dict[str, Any] = Field(
        default_factory=dict, description="ValidationOutput.error_estimate: the BEEF checked "
                                          "against the true error on the validation frames")
    ref_force_std_meV_A: dict[str, float] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict, description="n structures, BEEF curve, converged")
    hot_training: dict[str, Any] | None = None
    curves: dict[str, Any] | None = Field(None, description="all curves; data store")
