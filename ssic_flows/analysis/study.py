"""A whole study's analysis: every observable per run, ensemble statistics, comparisons.

Pure composition of the per-trajectory analysis
(:func:`ssic_flows.analysis.report_json.analyze_trajectory`), ensemble statistics
(:func:`ssic_flows.analysis.ensemble.ensemble_stats`) and the noise-floor comparison
(:func:`ssic_flows.analysis.compare.compare_ensembles`). No jobflow, no database.

Choices (stated, since the study is silent):

- Runs compared with each other are cut to a common number of frames (the shorter side of
  each comparison) so spectra, van Hove lags and MSD windows share one grid; reference and
  MLMD are analysed at their common length, the transfer and hot runs at theirs (at most
  that); the full-length scalars of each run are reported too (``full_length``).
- g(r) uses one ``r_max_A`` for all runs: half the smallest perpendicular width among
  the compared cells.
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
from ssic_flows.analysis.report_json import analyze_trajectory
from ssic_flows.analysis.tetrahedra.report import HostLattice
from ssic_flows.analysis.trajectory import Trajectory

__all__ = ["SCALAR_KEYS", "analyze_study"]

#: Top-level maps of scalars that the summary carries per role and species.
SCALAR_KEYS = ("D_cm2_s", "D_final_cm2_s", "band_center_cm-1", "gr_first_peak_A", "sigma_S_cm")


def _scalars(doc: dict) -> dict:
    return {k: doc.get(k, {}) for k in SCALAR_KEYS}


def _stats(values: Sequence[float]) -> dict:
    a = np.asarray([v for v in values if v is not None and np.isfinite(v)], float)
    if a.size == 0:
        return {"mean": None, "std": None, "sem": None, "n": 0}
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return {"mean": float(a.mean()), "std": std, "sem": std / np.sqrt(a.size), "n": int(a.size)}


def scalar_table(docs: Sequence[dict]) -> dict:
    """``{key: {species_or_pair: {mean, std, sem, n}}}`` over runs for the scalar maps."""
    out: dict[str, dict] = {}
    for key in SCALAR_KEYS:
        names = sorted({n for d in docs for n in (d.get(key) or {})})
        out[key] = {n: _stats([(d.get(key) or {}).get(n) for d in docs]) for n in names}
    return out


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
) -> dict:
    """Analyse a study's runs and compare them.

    Parameters
    ----------
    reference : the reference (AIMD or stand-in) trajectory.
    mlmd : the MLMD production runs (independent seeds).
    mobile : mobile species (van Hove, σ); default: the species with the largest D.
    transfer : MLMD of the same model on the 2×2×2 cell, if run.
    hot : MLMD runs with the hot-retrained model, if run.
    analysis_settings : extra keyword arguments for ``analyze_trajectory``.
    host, charges : the material's host lattice and carrier charges (e), as data (from
        ``ssic_flows.materials.analysis_inputs``); see ``analyze_trajectory``.

    Returns
    -------
    dict with ``documents`` (per role: list of per-run analysis docs), ``ensemble`` (per
    role: elementwise mean/std of every observable), ``scalars`` (per role: mean/std/sem of
    D, band centre, g(r) peak, σ), ``comparisons`` (per comparison: list of verdicts),
    ``verdict_calibration`` (measured false-"differs" rate) and ``full_length`` (per role:
    scalars of the uncut runs).
    """
    if not mlmd:
        raise ValueError("analyze_study needs at least one MLMD trajectory")
    hot = list(hot or [])
    roles: dict[str, list[Trajectory]] = {"reference": [reference], "mlmd": list(mlmd)}
    if transfer is not None:
        roles["transfer"] = [transfer]
    if hot:
        roles["mlmd_hot"] = hot
    all_runs = [t for ts in roles.values() for t in ts]
    n_main = min(t.n_frames for t in [reference, *mlmd])
    widths = min(float(perpendicular_widths_A(t.cells).min()) for t in all_runs)
    kw = {"r_max_A": 0.5 * widths, **(analysis_settings or {}), "host": host, "charges": charges}

    # mobile species: decided once, from the reference run, so every run reports the same
    given = mobile is not None
    full_ref = analyze_trajectory(reference, species=mobile, **kw)
    mobile = list(mobile or full_ref["mobile_species"])
    kw["species"] = mobile
    # whole-run documents with the final settings, reused wherever a run is not cut
    # (the reference's first one only if it already had these species)
    whole: dict[str, list[dict | None]] = {"reference": [full_ref if given else None]}
    full = {"reference": [_scalars(full_ref)]}
    for role, ts in roles.items():
        if role != "reference":
            whole[role] = [analyze_trajectory(t, **kw) for t in ts]
            full[role] = [_scalars(d) for d in whole[role]]

    cache: dict[tuple[str, int], list[dict]] = {}

    def docs_at(role: str, n: int) -> list[dict]:
        if (role, n) not in cache:
            cache[role, n] = [
                w if w is not None and n >= t.n_frames else analyze_trajectory(t[:n], **kw)
                for t, w in zip(roles[role], whole[role])]
        return cache[role, n]

    block_cache: dict[tuple[str, int], list[list[dict]]] = {}

    def blocks_at(role: str, n: int) -> list[list[dict]]:  # within-run noise of the verdicts
        if (role, n) not in block_cache:
            block_cache[role, n] = [block_documents(t[:n], **kw) for t in roles[role]]
        return block_cache[role, n]

    length = {role: min(n_main, min(t.n_frames for t in ts)) for role, ts in roles.items()}
    docs = {role: docs_at(role, n) for role, n in length.items()}
    ensemble = {role: ensemble_stats(ds) if len(ds) > 1 else ds[0] for role, ds in docs.items()}
    scalars = {role: scalar_table(ds) for role, ds in docs.items()}

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
    n = min(length["reference"], length["mlmd"])
    calibration = dict(false_differs_rate(docs_at("mlmd", n), blocks_at("mlmd", n)), n_frames=n)
    return {
        "mobile_species": mobile,
        "n_frames_compared": int(n_main),
        "n_frames_by_role": {k: int(v) for k, v in length.items()},
        "analysis_settings": {k: v for k, v in kw.items() if k not in ("species", "host", "charges")},
        "documents": docs,
        "ensemble": ensemble,
        "scalars": scalars,
        "full_length": {role: scalar_table(v) for role, v in full.items()},
        "comparisons": comparisons,
        "verdict_calibration": calibration,
    }
