"""A whole study's analysis: every observable per run, ensemble statistics, comparisons.

Pure composition of the per-trajectory analysis
(:func:`ssic_flows.analysis.report_json.analyze_trajectory`), ensemble statistics
(:func:`ssic_flows.analysis.ensemble.ensemble_stats`) and the noise-floor comparison
(:func:`ssic_flows.analysis.compare.compare_ensembles`). No jobflow, no database.

Choices (stated, since the study is silent):

- Equilibration: the first ``equilibration_ps`` of every run (all roles) is cut before any
  observable; every run starts from the ideal built structure.
- Values per role (``documents``, ``ensemble``, ``scalars``) come from the *full* runs
  (after equilibration): the MLMD ensemble is not shortened to the reference's length.
  Only the verdicts compare runs cut to a common number of frames (the shorter side of
  each comparison) so spectra, van Hove lags and MSD windows share one grid; the scalars at
  that length are in ``scalars_compared`` (per comparison, with its ``n_frames``).
- A D (and its σ) is reported for a role only when every run of it determined one (a
  diffusive MSD, :mod:`ssic_flows.analysis.msd_regime`); otherwise its entry carries
  ``status``, the reason, and no number.
- g(r) uses one ``r_max_A`` for all runs: half the smallest perpendicular width among
  the compared cells; Gs one radial range covering every run's displacements.
- Comparisons: reference vs MLMD ensemble; 128 vs 1024 (transfer run vs MLMD ensemble);
  normal vs hot-retrained MLFF (hot run vs MLMD ensemble), each with the calibrated
  verdicts of :mod:`ssic_flows.analysis.compare` (seed-to-seed and within-run block noise).
  ``verdict_calibration`` is their false-"differs" rate measured on two halves of the MLMD
  seeds (:func:`~ssic_flows.analysis.compare.false_differs_rate`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ssic_flows.analysis.compare import block_documents, compare_ensembles, false_differs_rate
from ssic_flows.analysis.ensemble import ensemble_stats
from ssic_flows.analysis.geometry import perpendicular_widths_A
from ssic_flows.analysis.msd import framework_drift_A, msd
from ssic_flows.analysis.report_json import analyze_trajectory
from ssic_flows.analysis.tetrahedra.report import HostLattice
from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.analysis.vanhove import self_range_A

__all__ = ["SCALAR_KEYS", "analyze_study", "equilibrated", "scalar_table"]

#: Top-level maps of scalars that the summary carries per role and species.
SCALAR_KEYS = ("D_cm2_s", "D_final_cm2_s", "band_center_cm-1", "gr_first_peak_A", "sigma_S_cm")
#: Scalars that exist only for a diffusive MSD (``D_status`` says why not).
_D_KEYS = ("D_cm2_s", "D_final_cm2_s", "sigma_S_cm")


def equilibrated(traj: Trajectory, equilibration_ps: float) -> Trajectory:
    """``traj`` without its first ``equilibration_ps`` (frames with t < equilibration).

    >>> import numpy as np
    >>> t = Trajectory(["Li"], np.zeros((100, 1, 3)), np.eye(3) * 5, 10.0)
    >>> equilibrated(t, 0.2).n_frames    # 20 frames of 10 fs cut
    80
    """
    if equilibration_ps < 0:
        raise ValueError(f"equilibration_ps must be >= 0, got {equilibration_ps}")
    n0 = int(np.ceil(equilibration_ps * 1000.0 / traj.timestep_fs - 1e-9))
    if traj.n_frames - n0 < 5:
        raise TrajectoryError(
            f"equilibration_ps = {equilibration_ps:g} ps leaves {max(traj.n_frames - n0, 0)} of "
            f"{traj.n_frames} frames ({traj.times_fs[-1] / 1000:g} ps run); need >= 5: lower it "
            "or run longer")
    return traj[n0:]


def _stats(values: Sequence[float]) -> dict:
    a = np.asarray([v for v in values if v is not None and np.isfinite(v)], float)
    if a.size == 0:
        return {"mean": None, "std": None, "sem": None, "n": 0}
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return {"mean": float(a.mean()), "std": std, "sem": std / np.sqrt(a.size), "n": int(a.size)}


def _undetermined(docs: Sequence[dict], key: str, name: str) -> str | None:
    """Why D-like scalar ``key`` of species ``name`` is not determined in every run, or None."""
    missing = [d for d in docs if (d.get(key) or {}).get(name) is None]
    if not missing:
        return None
    why = ((missing[0].get("D_status") or {}).get(name)
           or (missing[0].get("skipped") or {}).get("msd") or "no MSD")
    return why if len(docs) == 1 else f"in {len(missing)} of {len(docs)} runs: {why}"


def scalar_table(docs: Sequence[dict]) -> dict:
    """``{key: {species_or_pair: {mean, std, sem, n}}}`` over runs for the scalar maps.

    D, D_final and σ of a species get no mean unless every run determined them; their entry
    then carries ``status`` (why, e.g. "ballistic MSD over 0.24 ps (...); needs ≥ 1.4 ps").
    """
    out: dict[str, dict] = {}
    for key in SCALAR_KEYS:
        names = sorted({n for d in docs for n in (d.get(key) or {})})
        out[key] = {}
        for n in names:
            why = _undetermined(docs, key, n) if key in _D_KEYS else None
            out[key][n] = (dict(_stats([]), status=why) if why
                           else _stats([(d.get(key) or {}).get(n) for d in docs]))
    return out


def _gs_range_A(runs: Sequence[Trajectory], mobile: Sequence[str], drift: str) -> float:
    """One Gs radial range (Å) covering every displacement of the mobile species in ``runs``."""
    return max(self_range_A(t, s, framework_drift_A(t, mobile, drift)) for t in runs for s in mobile)


def analyze_study(
    reference: Trajectory,
    mlmd: Sequence[Trajectory],
    *,
    mobile: Sequence[str] | None = None,
    transfer: Trajectory | None = None,
    hot: Sequence[Trajectory] | None = None,
    analysis_settings: dict[str, Any] | None = None,
    host: HostLattice | None = None,
    charges: Mapping[str, float] | None = None,
    equilibration_ps: float = 0.0,
) -> dict:
    """Analyse a study's runs and compare them.

    Parameters
    ----------
    reference : the reference (AIMD or stand-in) trajectory.
    mlmd : the MLMD production runs (independent seeds).
    mobile : mobile species (van Hove, σ; every other species is the framework whose drift is
        removed); default: the species with the largest MSD in the reference run.
    transfer : MLMD of the same model on the 2×2×2 cell, if run.
    hot : MLMD runs with the hot-retrained model, if run.
    analysis_settings : extra keyword arguments for ``analyze_trajectory``.
    host, charges : the material's host lattice and carrier charges (e), as data (from
        ``ssic_flows.materials.analysis_inputs``); see ``analyze_trajectory``.
    equilibration_ps : cut from the start of every run before any observable, ps.

    Returns
    -------
    dict with ``documents`` (per role: list of per-run analysis docs of the full runs),
    ``ensemble`` (per role: elementwise mean/std of every observable), ``scalars`` (per role:
    mean/std/sem of D, band centre, g(r) peak, σ over the full runs; ``scalars_basis`` says
    so), ``comparisons`` (per comparison: list of verdicts at its ``n_frames``),
    ``scalars_compared`` (per comparison: ``n_frames`` and per role the scalars of the runs
    cut to it), ``verdict_calibration`` (measured false-"differs" rate) and
    ``equilibration_ps``.
    """
    if not mlmd:
        raise ValueError("analyze_study needs at least one MLMD trajectory")
    hot = list(hot or [])
    roles: dict[str, list[Trajectory]] = {"reference": [reference], "mlmd": list(mlmd)}
    if transfer is not None:
        roles["transfer"] = [transfer]
    if hot:
        roles["mlmd_hot"] = hot
    roles = {role: [equilibrated(t, equilibration_ps) for t in ts] for role, ts in roles.items()}
    reference, mlmd = roles["reference"][0], roles["mlmd"]
    all_runs = [t for ts in roles.values() for t in ts]
    n_main = min(t.n_frames for t in [reference, *mlmd])
    widths = min(float(perpendicular_widths_A(t.cells).min()) for t in all_runs)
    kw = {"r_max_A": 0.5 * widths, **(analysis_settings or {}), "host": host, "charges": charges}

    # mobile species: decided once, from the reference run, so every run reports the same
    drift = kw.get("drift", "framework")
    if mobile is None:
        mobile = list(msd(reference, drift=drift, fit_window=kw.get("fit_window", (0.1, 0.6))).mobile)
    mobile = list(mobile)
    kw["species"] = mobile
    if kw.get("vanhove_self_r_max_A") is None:  # one Gs grid for every run and block
        kw["vanhove_self_r_max_A"] = _gs_range_A(all_runs, mobile, drift)
    # whole-run documents: the values of each role; reused wherever a run is not cut
    whole = {role: [analyze_trajectory(t, **kw) for t in ts] for role, ts in roles.items()}

    cache: dict[tuple[str, int], list[dict]] = {}

    def docs_at(role: str, n: int) -> list[dict]:
        if (role, n) not in cache:
            cache[role, n] = [
                w if n >= t.n_frames else analyze_trajectory(t[:n], **kw)
                for t, w in zip(roles[role], whole[role])]
        return cache[role, n]

    block_cache: dict[tuple[str, int], list[list[dict]]] = {}

    def blocks_at(role: str, n: int) -> list[list[dict]]:  # within-run noise of the verdicts
        if (role, n) not in block_cache:
            block_cache[role, n] = [block_documents(t[:n], **kw) for t in roles[role]]
        return block_cache[role, n]

    length = {role: min(n_main, min(t.n_frames for t in ts)) for role, ts in roles.items()}
    full_frames = {role: [t.n_frames for t in ts] for role, ts in roles.items()}
    # an ensemble of runs of unequal length is averaged at the shortest (one grid)
    ens_docs = {role: whole[role] if len(set(nf)) == 1 else docs_at(role, min(nf))
                for role, nf in full_frames.items()}
    ensemble = {role: ensemble_stats(ds) if len(ds) > 1 else ds[0] for role, ds in ens_docs.items()}
    scalars = {role: scalar_table(ds) for role, ds in whole.items()}
    scalars_compared: dict[str, dict] = {}

    comparisons: dict[str, list[dict]] = {}
    pairs = [("reference vs mlmd", "reference", "mlmd"),
             ("transfer vs mlmd", "transfer", "mlmd"),
             ("mlmd_hot vs mlmd", "mlmd_hot", "mlmd")]
    for label, a, b in pairs:
        if a not in roles:
            continue
        n = min(length[a], length[b])
        res = compare_ensembles(docs_at(a, n), docs_at(b, n), blocks_at(a, n), blocks_at(b, n))
        comparisons[label] = [dict(c.to_dict(), n_frames=n) for c in res]
        scalars_compared[label] = {"n_frames": int(n), a: scalar_table(docs_at(a, n)),
                                   b: scalar_table(docs_at(b, n))}
    n = min(length["reference"], length["mlmd"])
    calibration = dict(false_differs_rate(docs_at("mlmd", n), blocks_at("mlmd", n)), n_frames=n)
    return {
        "mobile_species": mobile,
        "equilibration_ps": float(equilibration_ps),
        "n_frames_compared": int(n_main),
        "n_frames_by_role": {k: int(min(v)) for k, v in full_frames.items()},
        "analysis_settings": {k: v for k, v in kw.items() if k not in ("species", "host", "charges")},
        "documents": whole,
        "ensemble": ensemble,
        "scalars": scalars,
        "scalars_basis": (f"full runs after {equilibration_ps:g} ps equilibration; the verdicts "
                          "use runs cut to a common length (scalars_compared)"),
        "scalars_compared": scalars_compared,
        "comparisons": comparisons,
        "verdict_calibration": calibration,
    }
