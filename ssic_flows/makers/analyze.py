"""The ``analyze`` job: a thin wrapper over :func:`ssic_flows.analysis.study.analyze_study`."""

from __future__ import annotations

from typing import Any

import numpy as np
from jobflow import job

from ssic_flows.schemas import MDOutput, StudySummary, TrainOutput, ValidationOutput

__all__ = ["analyze_study_job", "otf_checks", "split_left_domain"]


def _train_summary(t: TrainOutput | None) -> dict[str, Any]:
    if t is None:
        return {}
    return {"engine": t.provenance.engine, "n_training_structures": t.n_training_structures,
            "n_iterations": t.n_iterations, "converged": t.converged,
            "beef_threshold_eV_A": t.beef_threshold_eV_A, "beef_step": t.beef_step,
            "beef_max_eV_A": t.beef_max_eV_A, "beef_mean_eV_A": t.beef_mean_eV_A,
            "beef_kind": t.metadata.get("beef_kind"),
            "temperature_K": t.temperature_K, "model_path": t.model_path,
            "explore_temperature_K": t.metadata.get("explore_temperature_K"),
            "model_sha256": t.model_sha256, "wall_time_s": t.wall_time_s,
            "otf_checks": otf_checks(t.metadata.get("iterations") or [])}


def otf_checks(iterations: list[dict]) -> dict[str, Any]:
    """The on-the-fly loop's own checks pooled: each iteration's labels measured the previous
    model's true largest atom error (eV/Å) on the candidates its BEEF (eV/Å) selected.
    {n_frames, beef_eV_A, true_max_eV_A, median_true_over_beef}; n_frames 0 when no
    iteration labelled candidates after a first fit."""
    beef, true = [], []
    for it in iterations:
        c = it.get("estimate_check") or {}
        b, e = c.get("beef_eV_A") or [], c.get("true_max_atom_rmse_eV_A") or []
        if len(b) == len(e):  # candidates and their labels, in order
            beef += [float(x) for x in b]
            true += [float(x) for x in e]
    ratio = [e / b for b, e in zip(beef, true) if b > 0]
    return {"n_frames": len(beef), "beef_eV_A": beef, "true_max_eV_A": true,
            "median_true_over_beef": float(np.median(ratio)) if ratio else None}


def split_left_domain(mlmd: list[MDOutput], transfer: MDOutput | None = None,
                      hot: MDOutput | None = None) -> tuple[list[MDOutput], list[dict[str, Any]]]:
    """(MLMD runs the ensemble uses, records of runs that left the training domain).

    An MLMD run the MLFF's guard stopped (``metadata.left_training_domain``) is left out of
    the ensemble while at least one run completed: its kept frames are valid but it is
    shorter, and keeping it would bias the ensemble towards configurations the model still
    knew. When every run stopped, all are used (``used=True``) and the record says so.
    Transfer and hot runs are single runs: used as they are, and recorded.
    """
    def rec(role: str, o: MDOutput, used: bool) -> dict[str, Any]:
        lt = (o.metadata or {}).get("left_training_domain") or {}
        return {"role": role, "seed": o.seed, "at_ps": lt.get("at_ps"), "reason": lt.get("reason"),
                "kept_ps": lt.get("kept_ps"), "used": used}

    def stopped(o: MDOutput | None) -> bool:
        return o is not None and bool((o.metadata or {}).get("left_training_domain"))

    complete = [o for o in mlmd if not stopped(o)]
    use = complete or list(mlmd)
    left = [rec("mlmd", o, not complete) for o in mlmd if stopped(o)]
    left += [rec(role, o, True) for role, o in (("transfer", transfer), ("mlmd_hot", hot)) if stopped(o)]
    return use, left


@job(data=StudySummary.DATA_FIELDS)
def analyze_study_job(info: dict, reference: MDOutput, mlmd: list[MDOutput], train: TrainOutput | None = None,
                      validation: ValidationOutput | None = None, transfer: MDOutput | None = None,
                      hot: MDOutput | None = None, hot_train: TrainOutput | None = None) -> StudySummary:
    """Every observable for the reference, the MLMD ensemble, transfer and hot runs.

    The inputs are the engine jobs' documents themselves (jobflow decodes the references).
    """
    from ssic_flows.analysis.study import analyze_study
    from ssic_flows.materials import analysis_inputs

    ref, tr, hot_md, val, trn, htrn = reference, transfer, hot, validation, train, hot_train
    runs, left = split_left_domain(list(mlmd), tr, hot_md)
    mobile = info.get("mobile")
    res = analyze_study(ref.trajectory, [r.trajectory for r in runs],
                        mobile=[mobile] if isinstance(mobile, str) else mobile,
                        transfer=None if tr is None else tr.trajectory,
                        hot=None if hot_md is None else [hot_md.trajectory],
                        equilibration_ps=float(info.get("equilibration_ps") or 0.0),
                        **analysis_inputs(info.get("material_recipe") or info.get("material"),
                                          ref.trajectory.species))
    curves = {k: res[k] for k in ("documents", "ensemble")}
    curves["beef"] = _train_summary(trn)
    if val is not None and val.parity_data is not None:
        curves["parity"] = val.parity_data
    return StudySummary(
        campaign_id=info.get("campaign_id", ""), study=info.get("study", ""),
        material=info.get("material", ""), formula=ref.formula, n_atoms=ref.n_atoms,
        temperature_K=float(info.get("temperature_K", ref.temperature_K)),
        reference_engine=ref.provenance.model_dump(),
        mlff_engine=runs[0].provenance.model_dump() if runs else {},
        mobile_species=res["mobile_species"], n_mlmd_runs=len(runs),
        runs_left_training_domain=left,
        n_frames_compared=res["n_frames_compared"], scalars=res["scalars"],
        equilibration_ps=res["equilibration_ps"], scalars_basis=res["scalars_basis"],
        scalars_compared=res["scalars_compared"], comparisons=res["comparisons"],
        verdict_calibration=res["verdict_calibration"],
        force_rmse_meV_A=dict(val.rmse_meV_A) if val else {},
        force_error_estimate=dict(val.error_estimate) if val else {},
        force_mae_meV_A=dict(val.mae_meV_A) if val else {},
        ref_force_std_meV_A=dict(val.ref_force_std_meV_A) if val else {},
        training=_train_summary(trn), hot_training=_train_summary(htrn) if htrn else None,
        curves=curves,
    )
