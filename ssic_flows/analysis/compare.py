"""Similarity of two ensembles of analysis documents (e.g. AIMD vs MLMD), per observable.

Inputs are documents from :func:`ssic_flows.analysis.report_json.analyze_trajectory`
(one per run). For each observable present on both sides a *distance* d(a, b) ≥ 0 is
defined (0 = identical):

=====================  ==========================================================  =======
observable             metric                                                      unit
=====================  ==========================================================  =======
``D`` / ``D_final``    relative difference |a - b| / ((|a| + |b|)/2)                 1
``band_center``        relative difference                                          1
``g(r) A-B``           Wasserstein-1 between the pair-distance distributions         Å
                       ∝ r² g(r) on the common r grid
``vdos X``             1 - spectral overlap ∫ min(p, q) dν̃ of unit-area spectra      1
``Gs X``               Wasserstein-1 between ∝ r² Gs(r, Δt), mean over lags Δt > 0   Å
``<section> <name>``   Jensen–Shannon distance (base 2) of any ``{"density": [...],    1
                       <axis>: [...]}`` distribution found in optional sections
                       (ρ(θ), ρ(ω) of the tetrahedra module, ...)
=====================  ==========================================================  =======

``value`` is the mean of d over all cross pairs (reference member, test member).

Noise floor: the same metric between members of one process. When a side has ≥ 2
members, the mean of d over all within-side pairs (pooled over both sides) is used
(``noise_source="seed-to-seed"``). When each side has a single run, pass the two halves
of each trajectory (``ref_halves`` / ``test_halves``, see :func:`half_documents`); the
floor is then the mean of d(first half, second half) over the runs
(``noise_source="half-split"``; halves are shorter than a full run, so this floor is
conservative, i.e. larger).

Verdict: ``"agrees within noise"`` when ``value <= tolerance × noise_floor`` (default
tolerance 2: the cross-pair mean of one process has the same expectation as the
within-pair mean, and with ~5 members the floor itself scatters by tens of %), otherwise
``"differs"``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations, product
from typing import Callable, Sequence

import numpy as np

__all__ = ["Comparison", "compare_ensembles", "half_documents", "relative_difference",
           "wasserstein_1d", "spectral_distance", "js_distance", "AGREES", "DIFFERS"]

AGREES = "agrees within noise"
DIFFERS = "differs"
_DIST_AXES = ("theta_deg", "omega_deg_per_fs", "phi_deg", "r_A", "x", "bin_centers")


@dataclass(frozen=True)
class Comparison:
    """One observable's verdict.

    Attributes
    ----------
    observable : e.g. ``"D Li"``, ``"g(r) Ag-I"``.
    metric : name of the distance (unit in brackets).
    value : mean cross-ensemble distance.
    noise_floor : mean within-process distance.
    verdict : ``"agrees within noise"`` or ``"differs"``.
    noise_source : ``"seed-to-seed"`` or ``"half-split"``.
    n_ref, n_test : ensemble sizes.
    """

    observable: str
    metric: str
    value: float
    noise_floor: float
    verdict: str
    noise_source: str
    n_ref: int
    n_test: int

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------ metrics
def relative_difference(a: float, b: float) -> float:
    """|a - b| / ((|a| + |b|) / 2); 0 when both are 0."""
    s = 0.5 * (abs(a) + abs(b))
    return 0.0 if s == 0 else abs(a - b) / s


def _norm_density(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 0, None)
    s = np.trapezoid(p, x)
    if s <= 0:
        raise ValueError("distribution integrates to zero; nothing to compare")
    return p / s


def wasserstein_1d(x: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """W1 = ∫|CDF_p - CDF_q| dx for two non-negative densities on one grid (units of x)."""
    x = np.asarray(x, float)
    w = np.gradient(x)
    P = np.cumsum(np.clip(p, 0, None) * w)
    Q = np.cumsum(np.clip(q, 0, None) * w)
    if P[-1] <= 0 or Q[-1] <= 0:
        return 0.0 if P[-1] == Q[-1] else float(x[-1] - x[0])
    return float(np.sum(np.abs(P / P[-1] - Q / Q[-1]) * w))


def spectral_distance(x: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """1 - ∫min(p̂, q̂) dx for unit-area spectra p̂, q̂ (0 identical, 1 disjoint)."""
    return float(1.0 - np.trapezoid(np.minimum(_norm_density(x, p), _norm_density(x, q)), x))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) of two histograms on one grid."""
    from scipy.spatial.distance import jensenshannon

    p = np.clip(np.asarray(p, float), 0, None)
    q = np.clip(np.asarray(q, float), 0, None)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0 if p.sum() == q.sum() else 1.0
    return float(jensenshannon(p, q, base=2))


# ------------------------------------------------------------------ observables
def _observables(doc: dict) -> dict[str, tuple[str, Callable]]:
    """{name: (metric label, extractor(doc) -> comparable payload)} available in ``doc``."""
    out: dict[str, tuple[str, Callable]] = {}
    for key, label in (("D_cm2_s", "D"), ("D_final_cm2_s", "D_final"),
                       ("band_center_cm-1", "band_center")):
        for s, v in (doc.get(key, {}) or {}).items():
            if v is None or not np.isfinite(v):  # undetermined here (e.g. an atom that never moves)
                continue
            out[f"{label} {s}"] = ("relative difference [1]",
                                   lambda d, key=key, s=s: d[key][s])
    rdf = doc.get("rdf")
    if rdf:
        for pair, g in rdf["g"].items():
            if not np.any(np.asarray(g, float) > 0):  # no pair within r_max in this run
                continue
            out[f"g(r) {pair}"] = ("Wasserstein-1 of r²g(r) [Å]",
                                   lambda d, pair=pair: (d["rdf"]["r_A"], d["rdf"]["g"][pair]))
    vd = doc.get("vdos")
    if vd:
        for s in vd["vdos"]:
            out[f"vdos {s}"] = ("1 - spectral overlap [1]",
                                lambda d, s=s: (d["vdos"]["freq_cm-1"], d["vdos"]["vdos"][s]))
    for s, vh in (doc.get("vanhove") or {}).items():
        out[f"Gs {s}"] = ("Wasserstein-1 of r²Gs, mean over Δt>0 [Å]",
                          lambda d, s=s: (d["vanhove"][s]["r_A"], d["vanhove"][s]["lags_fs"],
                                          d["vanhove"][s]["Gs_A-3"]))
    for sec in ("tetrahedra", "forces", "distributions"):
        for path, node in _find_distributions(doc.get(sec), sec):
            out[path] = ("Jensen-Shannon distance [1]",
                         lambda d, path=path: _lookup(d, path.split(" ")))
    return out


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
    return node["density"]


def _distance(name: str, a, b) -> float:
    if name.startswith(("D ", "D_final ", "band_center ")):
        return relative_difference(float(a), float(b))
    if name.startswith("g(r) "):
        r = np.asarray(a[0]); ga, gb = np.asarray(a[1]), np.asarray(b[1])
        _same_axis(name, r, b[0])
        return wasserstein_1d(r, ga * r ** 2, gb * r ** 2)
    if name.startswith("vdos "):
        _same_axis(name, a[0], b[0])
        return spectral_distance(np.asarray(a[0]), np.asarray(a[1]), np.asarray(b[1]))
    if name.startswith("Gs "):
        r = np.asarray(a[0])
        _same_axis(name, r, b[0])
        _same_axis(name + " lags", a[1], b[1])
        ga, gb = np.asarray(a[2]), np.asarray(b[2])
        lags = np.asarray(a[1])
        ws = [wasserstein_1d(r, ga[i] * r ** 2, gb[i] * r ** 2) for i in range(lags.size) if lags[i] > 0]
        return float(np.mean(ws)) if ws else 0.0
    return js_distance(np.asarray(a), np.asarray(b))


def _same_axis(name: str, x, y) -> None:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or not np.allclose(x, y):
        raise ValueError(f"{name}: the two runs use different grids; analyse both with the same "
                         "bins / timestep / lags (analyze_trajectory settings)")


def _mean_pairs(name: str, ext: Callable, pairs) -> float:
    vals = [_distance(name, ext(a), ext(b)) for a, b in pairs]
    return float(np.mean(vals))


def compare_ensembles(ref: Sequence[dict], test: Sequence[dict],
                      ref_halves: Sequence[tuple[dict, dict]] | None = None,
                      test_halves: Sequence[tuple[dict, dict]] | None = None,
                      tolerance: float = 2.0, observables: Sequence[str] | None = None
                      ) -> list[Comparison]:
    """Compare two ensembles of analysis documents observable by observable.

    Parameters
    ----------
    ref, test : documents of the reference (e.g. AIMD) and test (e.g. MLMD) runs.
    ref_halves, test_halves : ``[(first_half_doc, second_half_doc), ...]`` per run, used for
        the noise floor only when no side has >= 2 members (see :func:`half_documents`).
    tolerance : verdict threshold as a multiple of the noise floor.
    observables : restrict to these names (e.g. ``["D Li", "g(r) Li-S"]``).

    Returns
    -------
    list of :class:`Comparison`, one per observable present in every document.
    """
    ref, test = list(ref), list(test)
    if not ref or not test:
        raise ValueError("both ensembles need at least one analysis document")
    within = [p for side in (ref, test) if len(side) >= 2 for p in combinations(side, 2)]
    halves = [tuple(h) for hs in (ref_halves or [], test_halves or []) for h in hs]
    if within:
        noise_pairs, source = within, "seed-to-seed"
    elif halves:
        noise_pairs, source = halves, "half-split"
    else:
        raise ValueError("no noise floor: each side has one run. Pass ref_halves/test_halves "
                         "(half_documents(traj) for each trajectory) or more runs per side")
    common = None
    for d in ref + test + [x for p in noise_pairs for x in p]:
        names = set(_observables(d))
        common = names if common is None else common & names
    spec = _observables(ref[0])
    names = sorted(common) if observables is None else [o for o in observables if o in common]
    out = []
    for name in names:
        metric, ext = spec[name]
        value = _mean_pairs(name, ext, product(ref, test))
        floor = _mean_pairs(name, ext, noise_pairs)
        verdict = AGREES if value <= tolerance * floor else DIFFERS
        out.append(Comparison(observable=name, metric=metric, value=value, noise_floor=floor,
                              verdict=verdict, noise_source=source, n_ref=len(ref),
                              n_test=len(test)))
    return out


def half_documents(traj, **analyze_kw) -> tuple[dict, dict]:
    """Analysis documents of the first and second halves of ``traj`` (for the noise floor).

    Keyword arguments go to :func:`analyze_trajectory`; fix binning-related ones (``r_max_A``,
    ``vanhove_lags``) so both halves share grids.
    """
    from ssic_flows.analysis.report_json import analyze_trajectory

    h = traj.n_frames // 2
    if h < 5:
        raise ValueError(f"trajectory too short to split ({traj.n_frames} frames)")
    return analyze_trajectory(traj[:h], **analyze_kw), analyze_trajectory(traj[h:2 * h], **analyze_kw)
