"""Force validation of an MLFF against reference single points (the study's Figs. S1/S5/S17).

:class:`ForceValidationMaker` picks ``n_snapshots`` frames of a reference MD trajectory at
random (seeded, without replacement; only after ``skip_fs`` and never frame 0, the start
structure an MLFF's training shares), gets reference forces (eV/Å) for them, predicts them
with the MLFF and reports per-element component-wise RMSE/MAE (meV/Å) with bootstrap 95 %
intervals through :func:`ssic_flows.analysis.forces.force_errors`. Where the MLFF engine
gives a σ per force component (``predict_with_sigma``; linear ACE: its exact posterior), the
same frames check that estimate against the true error
(:func:`ssic_flows.analysis.forces.error_estimate_check`: fraction within 1σ and 2σ, and
the per-frame Spearman of the BEEF against the largest atom error, with its 95 % interval).

Reference forces: frames of a reference MD trajectory already carry the reference engine's
forces, which *are* a single point at that geometry (same engine, same settings). With
``reuse_reference_forces=True`` (default) they are used when present; otherwise (or when the
trajectory has no forces) the frames go through the reference engine's static maker as their
own job (on a cluster, a separate DFT job) before the comparison.

Example
-------
>>> m = ForceValidationMaker(mlff="gap", n_snapshots=10, seed=1)
>>> m.n_boot
1000
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jobflow import Flow, Maker, Response, job

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError
from ssic_flows.engines.common.outputs import require
from ssic_flows.schemas import EngineProvenance, TrainOutput, ValidationOutput

__all__ = ["ForceValidationMaker", "compare_forces", "pick_snapshots", "validate_forces"]


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def pick_snapshots(traj: Trajectory, n_snapshots: int, seed: int, skip_fs: float = 0.0) -> Trajectory:
    """``n_snapshots`` distinct frames of ``traj`` chosen with ``default_rng(seed)``, in order.

    Only frames at t > ``skip_fs`` (fs) and never frame 0: the first frame is the built start
    structure, which an MLFF's training also starts from (its seed MD's first frame), so a
    validation on it would test the model on its own training data.
    """
    if n_snapshots < 1:
        raise EngineError(f"n_snapshots must be >= 1, got {n_snapshots}")
    pool = np.flatnonzero(traj.times_fs > max(float(skip_fs), 0.0))
    if pool.size < n_snapshots:
        raise EngineError(
            f"the reference trajectory has {pool.size} frames after {skip_fs:g} fs (frame 0 "
            f"excluded) < n_snapshots={n_snapshots}; lower n_snapshots or store more frames "
            "(smaller save_every)")
    idx = np.sort(np.random.default_rng(seed).choice(pool, n_snapshots, replace=False))
    return traj[idx]


@job(data=ValidationOutput.DATA_FIELDS)
def compare_forces(labelled: Trajectory, model: TrainOutput, mlff: str, mlff_settings: dict,
                   n_boot: int = 1000, seed: int = 0, details: dict | None = None) -> ValidationOutput:
    """Per-element force errors (meV/Å) of the MLFF on frames carrying reference forces."""
    from ssic_flows.analysis.forces import error_estimate_check, force_errors
    from ssic_flows.engines.registry import get_mlff_engine

    frames = require(labelled, Trajectory, "labelled frames", "pass static_job.output.forces")
    if frames.forces is None:
        raise EngineError("the frames carry no reference forces; run the reference static "
                          "maker on them first (reuse_reference_forces=False)")
    eng = get_mlff_engine(mlff, **(mlff_settings or {}))
    pred, sigma, beef = eng.predict_with_sigma(model, frames)
    pred = np.asarray(pred, dtype=float)
    res = force_errors(frames.species, pred, frames.forces, n_boot=n_boot, seed=seed)
    if sigma is None:
        check = {"reason": f"not determined: the {mlff} engine gives no σ per force component"}
    else:
        check = error_estimate_check(frames.species, pred, frames.forces, sigma, beef)
    per = res.per_element
    prov = eng.provenance()
    prov = EngineProvenance.model_validate(prov) if isinstance(prov, dict) else prov
    return ValidationOutput(
        provenance=prov, n_snapshots=frames.n_frames,
        rmse_meV_A={k: v.rmse_meV_A for k, v in per.items()},
        mae_meV_A={k: v.mae_meV_A for k, v in per.items()},
        # too few frames for an interval: None ("not determined"), never NaN/inf in a document
        ci95_rmse_meV_A={k: [_finite(v.rmse_ci95_lo_meV_A), _finite(v.rmse_ci95_hi_meV_A)]
                         for k, v in per.items()},
        ref_force_std_meV_A={k: v.ref_spread_meV_A for k, v in per.items()},
        parity_data={"species": list(frames.species), "units": "eV/A",
                     "predicted_eV_A": pred.tolist(), "reference_eV_A": frames.forces.tolist()},
        error_estimate=check,
        details={"overall_rmse_meV_A": res.overall.rmse_meV_A,
                 "overall_mae_meV_A": res.overall.mae_meV_A, "n_boot": n_boot, "seed": seed,
                 "frame_steps": frames.steps.tolist(), "model_path": model.model_path,
                 "reference_engine": frames.metadata.get("engine"),
                 "reference_stands_in_for_dft": frames.metadata.get("stands_in_for_dft"),
                 **(details or {})},
    )


@job
def validate_forces(reference_trajectory: Trajectory, model: TrainOutput, mlff: str, mlff_settings: dict,
                    n_snapshots: int, seed: int, n_boot: int, reuse_reference_forces: bool,
                    reference_static_maker: Any = None, skip_fs: float = 0.0,
                    independence: str = "") -> Any:
    """Pick snapshots; compare directly (reused forces) or label them first (own job)."""
    traj = require(reference_trajectory, Trajectory, "reference_trajectory",
                   "pass reference_md.output.trajectory")
    snaps = pick_snapshots(traj, n_snapshots, seed, skip_fs)
    base = {"snapshots_after_fs": float(skip_fs), "independence": independence or (
        "snapshots from the reference trajectory given, frame 0 (the start structure) excluded; "
        "independence from the training data not recorded by the caller")}
    if reuse_reference_forces and snaps.forces is not None:
        inner = compare_forces(snaps, model, mlff, mlff_settings, n_boot, seed,
                               {"reference_forces": "reused from the reference MD frames", **base})
        inner.name = "compare forces"
        return Response(replace=inner)
    if reference_static_maker is None:
        raise EngineError("reference single points are needed but no reference_static_maker was "
                          "given; pass reference_engine.static_maker() to ForceValidationMaker")
    bare = snaps.replace(forces=None, energies=None)
    label = reference_static_maker.make(bare)
    label.name = "validation single points"
    label.update_metadata({"role": "label"})
    cmp_ = compare_forces(label.output.forces, model, mlff, mlff_settings, n_boot, seed,
                          {"reference_forces": "recomputed by the reference static maker", **base})
    cmp_.name = "compare forces"
    return Response(replace=Flow([label, cmp_], output=cmp_.output))


@dataclass
class ForceValidationMaker(Maker):
    """``make(reference_trajectory, model)`` → Job → ValidationOutput.

    mlff: MLFF engine name in the registry ('gap', 'vasp-mlff'); mlff_settings: its
    constructor settings. n_snapshots: frames compared. seed: frame choice and bootstrap.
    n_boot: bootstrap replicas. reuse_reference_forces: use the forces stored in the
    reference MD frames (a single point at that geometry) when present. reference_static_maker:
    the reference engine's static maker, used when forces must be recomputed. skip_fs:
    snapshots only after this time (fs; frame 0 is always excluded). independence: a sentence
    stating why the snapshots are unseen by the training (seeds, trajectories), copied into
    ``ValidationOutput.details["independence"]``.
    """

    name: str = "force validation"
    mlff: str = "gap"
    mlff_settings: dict = field(default_factory=dict)
    n_snapshots: int = 20
    seed: int = 0
    n_boot: int = 1000
    reuse_reference_forces: bool = True
    reference_static_maker: Any = None
    skip_fs: float = 0.0
    independence: str = ""

    def __post_init__(self):
        if self.n_snapshots < 1:
            raise EngineError(f"n_snapshots must be >= 1, got {self.n_snapshots}")
        if self.n_boot < 100:
            raise EngineError(f"n_boot must be >= 100 for a 95 % interval, got {self.n_boot}")
        if not self.reuse_reference_forces and self.reference_static_maker is None:
            raise EngineError("reuse_reference_forces=False needs reference_static_maker="
                              "reference_engine.static_maker()")

    def make(self, reference_trajectory, model):
        j = validate_forces(reference_trajectory, model, self.mlff, self.mlff_settings,
                            self.n_snapshots, self.seed, self.n_boot,
                            self.reuse_reference_forces, self.reference_static_maker,
                            self.skip_fs, self.independence)
        j.name = self.name
        j.update_metadata({"role": "validate"})
        return j
