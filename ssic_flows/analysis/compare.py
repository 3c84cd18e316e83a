"""Calibrated verdicts: does a test ensemble (e.g. MLMD) reproduce a reference (e.g. AIMD)?

Inputs are documents of :func:`ssic_flows.analysis.report_json.analyze_trajectory`, one
per run, and optionally the documents of equal *blocks* of each run
(:func:`block_documents`). Every observable present gets one of three verdicts, or
``"not determined"`` when a run could not determine it (e.g. D of a non-diffusive MSD):

* ``"agrees"`` — agrees within the stated tolerance τ: ``value + uncertainty < τ``;
* ``"differs"`` — the difference is larger than noise explains: Holm-adjusted p < α;
* ``"inconclusive"`` — neither (the uncertainty is too large for either claim).

Procedure, per observable (α = :data:`ALPHA` = 0.05):

1. **Noise of one run.** Two estimates of the covariance Σ of one run's value:
   *seed-to-seed* (residuals of each run about its side's mean, pooled over both sides,
   ν = N - 2 dof; under "same process" both sides share Σ) and *within-run* (batch means:
   the spread of the run's :data:`N_BLOCKS` block values / (B (B - 1)), averaged over runs,
   ν = N (B - 1); and the same with consecutive blocks merged in pairs, which guards against
   blocks shorter than the correlation time, Flyvbjerg & Petersen, J. Chem. Phys. 91, 461
   (1989)). The one giving the largest uncertainty is used (conservative). Within-run blocks
   see no run-to-run difference beyond a run's own fluctuations (e.g. a seed trapped in
   another configuration): with one run a side that is all the procedure can see. Block curves on another grid
   (VDOS of a shorter block) are interpolated onto the run's grid; a block that cannot be
   aligned (van Hove lags) or did not determine the value contributes no within-run term.
   With no estimate at all the verdict is ``"inconclusive"``.
2. **Scalars** (D, D_final, band centre): value = |mean_test - mean_ref|, standard error
   SE = sqrt(Σ (1/n_ref + 1/n_test)), two-sided Student-t p-value with ν dof, and
   uncertainty = t_{1-α, ν} SE, so ``value + uncertainty < τ`` is the two one-sided tests
   (TOST) equivalence test at level α.
   **Curves** (g(r), VDOS, Gs, distributions): value = the distance between the two
   ensemble-mean curves (:mod:`ssic_flows.analysis.distances`). Its null distribution is
   drawn by perturbing the pooled mean curve with multivariate-t noise of covariance
   Σ (1/n_ref + 1/n_test) built from the residual curves (so bin-to-bin correlations are
   kept; ν dof for the estimated Σ); p = the fraction of :data:`N_DRAWS` null distances ≥
   value, uncertainty = the null's (1 - α) quantile. The distances are metrics, so by the
   triangle inequality ``value + uncertainty`` bounds the true distance at level ≈ 1 - α.
3. **Multiple comparisons.** "differs" is controlled family-wise: Holm–Bonferroni over the
   determined observables of one comparison (e.g. all of "reference vs mlmd" of a study),
   family-wise error ≤ α, so on two ensembles of one process the expected fraction of
   observables called "differs" is ≤ α / m ≤ 5 %. "agrees" is a per-observable TOST at
   level α (not adjusted: it is the conservative claim). A difference that is significant
   but provably smaller than τ is reported as "agrees" (within tolerance).

``noise_floor`` is what noise alone gives: SE for scalars, the median null distance for
curves. :func:`false_differs_rate` measures the false-"differs" rate of this procedure on
a campaign's own MLMD ensemble by splitting its seeds into two halves.

Tolerances (:data:`TOLERANCES`, τ = max(absolute, relative × |reference mean|)):

==============  ==================  ===========================================================
kind            τ                   why
==============  ==================  ===========================================================
D, D_final      30 % of D_ref,      D of a 10–100 ps AIMD run is known to ±20–30 % (He et al.,
                ≥ 1e-7 cm²/s        npj Comput. Mater. 4, 18 (2018)); a factor that matters for
                                    σ is larger; below 1e-7 cm²/s no AIMD run resolves D
band centre     5 % of the ref.     about the 15 cm⁻¹ smoothing window at a 300 cm⁻¹ band:
                                    shifts below it are not resolved by the spectra
g(r)            0.05 Å (W1 of       a 0.05 Å shift of a coordination shell (2.5 bins of 0.02 Å);
                r²g(r))             bond-length errors of good MLFFs are ≤ 0.02 Å
VDOS            0.10 (1 - overlap)  10 % of the spectral weight displaced
Gs              0.15 Å (W1 of       ≈ 5 % of a 3 Å jump length; a 30 % change of D moves the
                r²Gs, mean over Δt)  Gs width by ≈ 14 % (√1.3)
distribution    0.10 (JS distance)  ρ(θ), ρ(ω), ...: JS 0.1 ≈ 1 % of the information shared
==============  ==================  ===========================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from ssic_flows.analysis.distances import js_distance, spectral_distance, wasserstein_1d

__all__ = ["ALPHA", "N_BLOCKS", "N_DRAWS", "TOLERANCES", "Tolerance", "Comparison",
           "AGREES", "DIFFERS", "INCONCLUSIVE", "NOT_DETERMINED", "PROCEDURE",
           "compare_ensembles", "block_documents", "false_differs_rate", "holm"]

AGREES, DIFFERS, INCONCLUSIVE, NOT_DETERMINED = "agrees", "differs", "inconclusive", "not determined"
ALPHA = 0.05
N_BLOCKS = 4
N_DRAWS = 2000
SCALAR_KINDS = ("D", "band_center")
_DIST_AXES = ("theta_deg", "omega_deg_per_fs", "phi_deg", "r_A", "x", "bin_centers")

#: The procedure in three sentences, for reports.
PROCEDURE = (
    "Each observable's difference between the two ensembles is compared with its uncertainty, "
    "taken as the larger of the seed-to-seed spread and the within-run spread of "
    f"{N_BLOCKS} block averages per run (Student-t for scalars, a resampled null distribution "
    "of the curve distance for curves). "
    "\"agrees\" means the difference plus its one-sided 95 % uncertainty is below the stated "
    "tolerance (an equivalence test at 5 %); \"differs\" means noise explains the difference "
    "with Holm-adjusted p < 0.05 over all observables of the comparison (family-wise error "
    "≤ 5 %). "
    "Otherwise the verdict is \"inconclusive\": the uncertainty is too large for either claim, "
    "and an observable not determined in a run (e.g. a non-diffusive D) gets no verdict.")


@dataclass(frozen=True)
class Tolerance:
    """τ = max(absolute, relative × |reference mean|), in the metric's unit."""

    relative: float = 0.0
    absolute: float = 0.0

    def of(self, ref_value: float | None = None) -> float:
        return max(self.absolute, self.relative * abs(ref_value or 0.0))


#: One place for the tolerances (justified in the module docstring).
TOLERANCES: dict[str, Tolerance] = {
    "D": Tolerance(relative=0.30, absolute=1e-7),
    "band_center": Tolerance(relative=0.05),
    "g(r)": Tolerance(absolute=0.05),
    "vdos": Tolerance(absolute=0.10),
    "Gs": Tolerance(absolute=0.15),
    "distribution": Tolerance(absolute=0.10),
}


@dataclass(frozen=True)
class Comparison:
    """One observable's verdict (see the module docstring for every field's meaning).

    ``value``, ``noise_floor``, ``uncertainty`` and ``tolerance`` share the metric's unit;
    ``p_value`` is unadjusted, ``p_holm`` Holm-adjusted within the comparison; ``dof`` is
    the degrees of freedom of the noise estimate used (``noise_source``). Values are None
    for ``"not determined"`` (then ``reason`` says why) and p/uncertainty are None when no
    noise estimate exists.
    """

    observable: str
    metric: str
    value: float | None
    noise_floor: float | None
    verdict: str
    noise_source: str
    n_ref: int
    n_test: int
    kind: str = ""
    tolerance: float | None = None
    uncertainty: float | None = None
    p_value: float | None = None
    p_holm: float | None = None
    dof: float | None = None
    n_blocks: int = 0
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------ observables
@dataclass(frozen=True)
class _Spec:
    kind: str
    metric: str
    get: Callable[[dict], tuple[np.ndarray | None, tuple]]  # doc -> (value, axes)


def _scalar_getter(key: str, s: str):
    def get(d):
        v = (d.get(key) or {}).get(s)
        ok = v is not None and np.isfinite(v)
        return (np.asarray(float(v)) if ok else None), ()
    return get


def _specs(doc: dict) -> dict[str, _Spec]:
    """{name: spec} of the observables in ``doc`` (scalars also when undetermined)."""
    out: dict[str, _Spec] = {}
    for key, label, kind, unit in (("D_cm2_s", "D", "D", "cm²/s"), ("D_final_cm2_s", "D_final", "D", "cm²/s"),
                                   ("band_center_cm-1", "band_center", "band_center", "cm⁻¹")):
        for s in doc.get(key) or {}:
            out[f"{label} {s}"] = _Spec(kind, f"|difference of means| [{unit}]", _scalar_getter(key, s))
    rdf = doc.get("rdf")
    for pair, g in ((rdf or {}).get("g") or {}).items():
        if np.any(np.asarray(g, float) > 0):  # else no pair within r_max in this run
            out[f"g(r) {pair}"] = _Spec("g(r)", "Wasserstein-1 of r²g(r) [Å]", lambda d, p=pair: (
                np.asarray(d["rdf"]["g"][p], float), (np.asarray(d["rdf"]["r_A"], float),)))
    for s in ((doc.get("vdos") or {}).get("vdos") or {}):
        out[f"vdos {s}"] = _Spec("vdos", "1 - spectral overlap [1]", lambda d, s=s: (
            np.asarray(d["vdos"]["vdos"][s], float), (np.asarray(d["vdos"]["freq_cm-1"], float),)))
    for s in doc.get("vanhove") or {}:
        out[f"Gs {s}"] = _Spec("Gs", "Wasserstein-1 of r²Gs, mean over Δt>0 [Å]", lambda d, s=s: (
            np.asarray(d["vanhove"][s]["Gs_A-3"], float),
            (np.asarray(d["vanhove"][s].get("r_self_A", d["vanhove"][s]["r_A"]), float),
             np.asarray(d["vanhove"][s]["lags_fs"], float))))
    for sec in ("tetrahedra", "forces", "distributions"):
        for path, node in _find_distributions(doc.get(sec), sec):
            out[path] = _Spec("distribution", "Jensen-Shannon distance [1]",
                              lambda d, path=path: _lookup(d, path.split(" ")))
    return out


def _get_or_none(spec: _Spec, doc: dict) -> tuple[np.ndarray | None, tuple]:
    """``spec.get(doc)``, or (None, ()) where a (short block's) document lacks the section."""
    try:
        return spec.get(doc)
    except (KeyError, TypeError, StopIteration):
        return None, ()


def _find_distributions(node, path: str):
    if isinstance(node, dict):
        if "density" in node and any(a in node for a in _DIST_AXES):
            yield path, node
            return
        for k, v in node.items():
            yield from _find_distributions(v, f"{path} {k}")


def _lookup(doc: dict, keys: list[str]):
    node = doc
    for k in keys:
        node = node[k]
    ax = next(a for a in _DIST_AXES if a in node)
    return np.asarray(node["density"], float), (np.asarray(node[ax], float),)


def _distance(kind: str, axes: tuple, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of curves ``a`` and ``b`` (broadcast over leading axes)."""
    if kind in SCALAR_KINDS:
        return np.abs(a - b)
    if kind == "g(r)":
        r = axes[0]
        return wasserstein_1d(r, a * r ** 2, b * r ** 2)
    if kind == "vdos":
        return spectral_distance(axes[0], a, b)
    if kind == "Gs":
        r, lags = axes
        sel = lags > 0
        if not sel.any():
            return np.zeros(np.broadcast_shapes(a.shape, b.shape)[:-2])
        return np.mean(wasserstein_1d(r, a[..., sel, :] * r ** 2, b[..., sel, :] * r ** 2), axis=-1)
    return js_distance(a, b)


def _common_r_grid(got: list[list[tuple]]) -> list[list[tuple]]:
    """Gs of every run on the longest run's r grid (Gs = 0 beyond a run's largest displacement)."""
    r = max((ax[0] for side in got for _, ax in side), key=lambda x: x[-1] if x.size else 0.0)

    def put(v, ax):
        if ax[0].shape == r.shape and np.allclose(ax[0], r):
            return v, (r, ax[1])
        return np.stack([np.interp(r, ax[0], g, right=0.0) for g in v]), (r, ax[1])
    return [[put(v, ax) for v, ax in side] for side in got]


def _same_axes(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.allclose(x, y) for x, y in zip(a, b))


def _align_block(value: np.ndarray, axes: tuple, run_axes: tuple) -> np.ndarray | None:
    """A block's value on the run's grid: as is, interpolated (1-D curves), or None."""
    if _same_axes(axes, run_axes):
        return value
    if len(axes) == 1 and value.ndim == 1 and axes[0].size == value.size:
        return np.interp(run_axes[0], axes[0], value)
    return None


# ------------------------------------------------------------------ noise estimates
def _noise_sources(runs: list[list[np.ndarray]], blocks: list[list[list[np.ndarray]] | None]
                   ) -> list[tuple[str, np.ndarray, float, int]]:
    """[(name, R, dof, n_blocks)] with Σ_run = Rᵀ R (R rows flattened) for each estimate."""
    out = []
    res = [v - np.mean(side, axis=0) for side in runs if len(side) >= 2 for v in side]
    dof = sum(len(side) - 1 for side in runs if len(side) >= 2)
    if dof >= 1:
        out.append(("seed-to-seed", np.stack(res).reshape(len(res), -1) / np.sqrt(dof), float(dof), 0))
    per_run = [b for side in blocks if side for b in side if b is not None and len(b) >= 2]
    # blocking (Flyvbjerg & Petersen 1989): B blocks and, from the same data, B/2 blocks of
    # twice the length; blocks shorter than the correlation time make the first too small
    for label, merge in (("block averages", 1), ("block averages (merged pairs)", 2)):
        runs_b = [[np.mean(b[i:i + merge], axis=0) for i in range(0, len(b) - merge + 1, merge)]
                  for b in per_run]
        runs_b = [b for b in runs_b if len(b) >= 2]
        if not runs_b or (merge > 1 and all(len(b) == len(o) for b, o in zip(runs_b, per_run))):
            continue
        rows = []
        for b in runs_b:
            B = len(b)
            scale = 1.0 / np.sqrt(len(runs_b) * B * (B - 1))
            rows += [(x - np.mean(b, axis=0)) * scale for x in b]
        out.append((label, np.stack(rows).reshape(len(rows), -1),
                    float(sum(len(b) - 1 for b in runs_b)), int(max(len(b) for b in runs_b))))
    return out


def _null_distances(kind: str, axes: tuple, centre: np.ndarray, R: np.ndarray, dof: float,
                    k: float, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Distances d(centre, centre + Z), Z ~ multivariate t_ν(0, k RᵀR), in chunks."""
    out = []
    for start in range(0, n_draws, 250):
        m = min(250, n_draws - start)
        z = rng.standard_normal((m, R.shape[0])) @ R * np.sqrt(k)
        z /= np.sqrt(rng.chisquare(dof, size=(m, 1)) / dof)
        out.append(_distance(kind, axes, centre, centre + z.reshape((m,) + centre.shape)))
    return np.concatenate(out)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(p, float)
    m = p.size
    order = np.argsort(p)
    adj = np.empty(m)
    adj[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adj


# ------------------------------------------------------------------ comparison
def _one(name: str, spec: _Spec, ref: list[dict], test: list[dict], ref_blocks, test_blocks,
         tol: Tolerance, alpha: float, n_draws: int, rng: np.random.Generator) -> dict:
    base = {"observable": name, "metric": spec.metric, "kind": spec.kind, "n_ref": len(ref),
            "n_test": len(test)}
    got = [[spec.get(d) for d in side] for side in (ref, test)]
    missing = sum(v is None or not np.all(np.isfinite(v)) for side in got for v, _ in side)
    if missing:  # None, or a curve with undefined (null / NaN) points
        return dict(base, value=None, noise_floor=None, verdict=NOT_DETERMINED, noise_source="none",
                    reason=f"not determined in {missing} of {len(ref) + len(test)} runs")
    if spec.kind == "Gs":
        got = _common_r_grid(got)
    axes = got[0][0][1]
    for side in got:
        for _, ax in side:
            if not _same_axes(ax, axes):
                raise ValueError(f"{name}: the runs use different grids; analyse all with the "
                                 "same bins / timestep / lags (analyze_trajectory settings)")
    runs = [[v for v, _ in side] for side in got]
    blocks = []
    for side_docs, side_blocks in ((ref, ref_blocks), (test, test_blocks)):
        per = []
        for i in range(len(side_docs)):
            bl = (side_blocks or [None] * len(side_docs))[i] or []
            vals = [_get_or_none(spec, b) for b in bl]
            al = [None if v is None or not np.all(np.isfinite(v)) else _align_block(v, ax, axes)
                  for v, ax in vals]
            per.append(al if al and all(a is not None and a.shape == runs[0][0].shape for a in al) else None)
        blocks.append(per)
    m_ref, m_test = np.mean(runs[0], axis=0), np.mean(runs[1], axis=0)
    value = float(_distance(spec.kind, axes, m_ref, m_test))
    tau = tol.of(float(m_ref) if spec.kind in SCALAR_KINDS else None)
    k = 1.0 / len(ref) + 1.0 / len(test)
    sources = _noise_sources(runs, blocks)
    out = dict(base, value=value, tolerance=tau)
    if not sources:
        return dict(out, noise_floor=None, verdict=INCONCLUSIVE, noise_source="none",
                    reason="no noise estimate: one run a side and no usable blocks")
    if spec.kind in SCALAR_KINDS:
        def bound(s):  # t_{1-α,ν} × sqrt(Σ): the uncertainty each estimate gives
            return stats.t.ppf(1 - alpha, s[2]) * np.sqrt(np.sum(s[1] ** 2))
        src, R, dof, nb = max(sources, key=bound)
        se = float(np.sqrt(np.sum(R ** 2) * k))
        if se == 0:
            p, unc = (1.0 if value == 0 else 0.0), 0.0
        else:
            p = float(2 * stats.t.sf(value / se, dof))
            unc = float(stats.t.ppf(1 - alpha, dof) * se)
        return dict(out, noise_floor=se, uncertainty=unc, p_value=p, noise_source=src, dof=dof,
                    n_blocks=nb)
    centre = np.mean(runs[0] + runs[1], axis=0)
    best = None
    for src, R, dof, nb in sources:
        null = _null_distances(spec.kind, axes, centre, R, dof, k, n_draws, rng)
        q = float(np.quantile(null, 1 - alpha))
        if best is None or q > best[1]:
            best = (src, q, null, dof, nb)
    src, unc, null, dof, nb = best
    p = float((1 + np.sum(null >= value)) / (null.size + 1))
    return dict(out, noise_floor=float(np.median(null)), uncertainty=unc, p_value=p,
                noise_source=src, dof=dof, n_blocks=nb)


def compare_ensembles(ref: Sequence[dict], test: Sequence[dict],
                      ref_blocks: Sequence[Sequence[dict]] | None = None,
                      test_blocks: Sequence[Sequence[dict]] | None = None, *,
                      alpha: float = ALPHA, tolerances: dict[str, Tolerance] | None = None,
                      observables: Sequence[str] | None = None, n_draws: int = N_DRAWS,
                      seed: int = 0) -> list[Comparison]:
    """Verdict per observable for two ensembles (procedure: module docstring).

    Parameters
    ----------
    ref, test : per-run analysis documents of the reference (e.g. AIMD) and test (MLMD).
    ref_blocks, test_blocks : per run, the documents of its blocks (:func:`block_documents`),
        for the within-run noise; None: seed-to-seed noise only.
    alpha : family-wise error of "differs" and level of the equivalence test.
    tolerances : per kind, overrides :data:`TOLERANCES`.
    observables : restrict to these names (e.g. ``["D Li", "g(r) Li-S"]``).
    n_draws, seed : null draws per curve observable and their random seed (reproducible).

    Returns
    -------
    list of :class:`Comparison`, sorted by observable name.

    Examples
    --------
    >>> from ssic_flows.analysis.compare import compare_ensembles
    >>> a = [{"D_cm2_s": {"Li": x}} for x in (1.00e-5, 1.05e-5, 0.95e-5)]
    >>> b = [{"D_cm2_s": {"Li": x}} for x in (2.00e-5, 2.10e-5, 1.90e-5)]
    >>> compare_ensembles(a, b)[0].verdict
    'differs'
    """
    ref, test = list(ref), list(test)
    if not ref or not test:
        raise ValueError("both ensembles need at least one analysis document")
    tol = {**TOLERANCES, **(tolerances or {})}
    all_specs = [_specs(d) for d in ref + test]
    # curves: present in every run; scalars: in any run (a run without it: "not determined")
    names = {n for n, sp in all_specs[0].items()
             if sp.kind not in SCALAR_KINDS and all(n in s for s in all_specs)}
    names |= {n for s in all_specs for n, sp in s.items() if sp.kind in SCALAR_KINDS}
    spec_of = {n: next(s[n] for s in all_specs if n in s) for n in names}
    wanted = sorted(names) if observables is None else [o for o in observables if o in names]
    rng = np.random.default_rng(seed)
    rows = [_one(n, spec_of[n], ref, test, ref_blocks, test_blocks, tol[spec_of[n].kind], alpha,
                 n_draws, rng) for n in wanted]
    tested = [r for r in rows if r.get("p_value") is not None]
    for r, pa in zip(tested, holm([r["p_value"] for r in tested]) if tested else []):
        r["p_holm"] = float(pa)
        if r["value"] + r["uncertainty"] < r["tolerance"]:
            r["verdict"] = AGREES
        elif pa < alpha:
            r["verdict"] = DIFFERS
        else:
            r["verdict"] = INCONCLUSIVE
            r["reason"] = "uncertainty too large for either claim"
    return [Comparison(**r) for r in rows]


def block_documents(traj, n_blocks: int = N_BLOCKS, **analyze_kw) -> list[dict]:
    """Analysis documents of ``n_blocks`` equal consecutive blocks of ``traj`` ([] if < 5 frames each).

    Keyword arguments go to :func:`analyze_trajectory`; fix the binning ones (``r_max_A``)
    so blocks and runs share grids.
    """
    from ssic_flows.analysis.report_json import analyze_trajectory

    n = traj.n_frames // n_blocks if n_blocks >= 2 else 0
    if n < 5:
        return []
    return [analyze_trajectory(traj[k * n:(k + 1) * n], **analyze_kw) for k in range(n_blocks)]


def false_differs_rate(docs: Sequence[dict], blocks: Sequence[Sequence[dict]] | None = None, *,
                       max_splits: int = 10, **compare_kw) -> dict:
    """Fraction of observables called "differs" between two halves of one ensemble.

    The seeds are split into two halves (sizes ⌊n/2⌋ and ⌈n/2⌉) in up to ``max_splits``
    distinct ways (splits share seeds, so they are not independent repeats); each split is
    compared with :func:`compare_ensembles`. Both halves come from one process, so every
    "differs" is false. Needs n ≥ 4 (two runs a half for a seed-to-seed estimate).

    Returns
    -------
    ``{"rate", "n_differs", "n_tests", "n_splits", "n_seeds", "observables_differing",
    "reason"}``; ``rate`` is None (and ``reason`` says why) when it cannot be measured.
    """
    docs = list(docs)
    n = len(docs)
    out = {"n_seeds": n, "n_splits": 0, "n_tests": 0, "n_differs": 0, "rate": None,
           "observables_differing": [], "reason": None}
    if n < 4:
        return dict(out, reason=f"cannot be measured: needs >= 4 seeds to split into two halves "
                                f"of >= 2 runs, have {n}")
    splits = []
    for a in combinations(range(n), n // 2):
        b = tuple(i for i in range(n) if i not in a)
        if (b, a) not in splits:
            splits.append((a, b))
    splits = splits[:max_splits]
    bl = list(blocks) if blocks is not None else None
    differing: set[str] = set()
    for a, b in splits:
        res = compare_ensembles([docs[i] for i in a], [docs[i] for i in b],
                                None if bl is None else [bl[i] for i in a],
                                None if bl is None else [bl[i] for i in b], **compare_kw)
        judged = [c for c in res if c.verdict != NOT_DETERMINED]
        out["n_tests"] += len(judged)
        out["n_differs"] += sum(c.verdict == DIFFERS for c in judged)
        differing |= {c.observable for c in judged if c.verdict == DIFFERS}
    out.update(n_splits=len(splits), observables_differing=sorted(differing),
               rate=out["n_differs"] / out["n_tests"] if out["n_tests"] else None)
    if out["rate"] is None:
        out["reason"] = "cannot be measured: no observable determined in every seed"
    return out
