"""Mean, standard deviation and standard error over N independent runs.

Works generically on ``.to_dict()`` outputs (or whole ``analyze_trajectory`` documents),
recursing through nested dicts:

* numeric scalar in every member → ``{"mean", "std", "sem", "n"}``;
* equal-length numeric lists (curves) → the same keys, elementwise lists;
* axis arrays (keys in :data:`AXIS_KEYS`, e.g. ``r_A``, ``freq_cm-1``, ``t_fs``) → kept as
  is after checking that every member has the same axis (else a clear error: resample
  onto a common axis first, or pass ``truncate=True`` for curves that only differ in
  length, e.g. MSDs of runs of different duration);
* strings / booleans / None → kept when identical, else the list of member values.

``std`` is the sample standard deviation (ddof = 1) and ``sem = std / sqrt(n)``; both are
``None`` for n = 1 (undefined; JSON has no NaN).
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

__all__ = ["AXIS_KEYS", "ensemble_stats", "EnsembleError"]

#: Keys whose arrays are coordinates shared by all members rather than data.
AXIS_KEYS: frozenset[str] = frozenset({
    "r_A", "freq_cm-1", "t_fs", "lags_fs", "theta_deg", "omega_deg_per_fs", "phi_deg",
    "bin_centers", "x", "edges", "r_edges_A", "phi_edges_deg", "theta_edges_deg",
    "omega_edges_deg_per_fs", "band_range_cm-1", "fit_window", "T_K", "n_origins", "r_self_A",
})


class EnsembleError(ValueError):
    """Members of an ensemble cannot be combined; the message names the key and the fix."""


def _is_num(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_numeric_array(x: Any) -> bool:
    if not isinstance(x, (list, tuple, np.ndarray)):
        return False
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        return False
    return a.size > 0


def _stats(a: np.ndarray) -> dict:
    n = a.shape[0]
    mean = a.mean(axis=0)
    if n > 1:
        std = a.std(axis=0, ddof=1)
        sem = std / np.sqrt(n)
        to = (lambda v: v.tolist()) if a.ndim > 1 else float
        return {"mean": to(mean), "std": to(std), "sem": to(sem), "n": n}
    to = (lambda v: v.tolist()) if a.ndim > 1 else float
    return {"mean": to(mean), "std": None, "sem": None, "n": n}


def _combine(values: list, path: str, truncate: bool) -> Any:
    key = path.rsplit(".", 1)[-1]
    v0 = values[0]
    if all(isinstance(v, dict) for v in values):
        keys = [k for k in v0 if all(k in v for v in values)]
        return {k: _combine([v[k] for v in values], f"{path}.{k}" if path else k, truncate)
                for k in keys}
    if all(_is_num(v) for v in values):
        return _stats(np.asarray(values, float))
    if all(v is None or _is_num(v) for v in values) and any(_is_num(v) for v in values):
        # a scalar some runs could not determine (e.g. no g(r) peak): stats over the others
        out = _stats(np.asarray([v for v in values if v is not None], float))
        out["n_missing"] = sum(v is None for v in values)
        return out
    if all(v is None or isinstance(v, (str, bool)) for v in values):
        return v0 if all(v == v0 for v in values) else list(values)
    if all(_is_numeric_array(v) for v in values):
        arrs = [np.asarray(v, float) for v in values]
        shapes = {a.shape for a in arrs}
        if len(shapes) > 1:
            if not truncate or len({a.shape[1:] for a in arrs}) > 1:
                raise EnsembleError(
                    f"'{path}': members have different shapes {sorted(shapes)}; put the runs on a "
                    "common axis (same length / bins) or pass truncate=True to cut curves to the "
                    "shortest member")
            nmin = min(a.shape[0] for a in arrs)
            arrs = [a[:nmin] for a in arrs]
        if key in AXIS_KEYS:
            for a in arrs[1:]:
                if not np.allclose(a, arrs[0], rtol=1e-6, atol=1e-9):
                    raise EnsembleError(
                        f"axis '{path}' differs between members; recompute with identical "
                        "binning / timestep (or resample onto a common axis)")
            return arrs[0].tolist()
        return _stats(np.stack(arrs))
    if all(isinstance(v, (list, tuple)) for v in values):  # e.g. lists of strings
        return v0 if all(v == v0 for v in values) else list(values)
    raise EnsembleError(f"'{path}': cannot combine values of types "
                        f"{sorted({type(v).__name__ for v in values})}")


def ensemble_stats(members: Sequence[dict], truncate: bool = False) -> dict:
    """Elementwise mean / std / sem over N result dicts (see module docstring).

    Parameters
    ----------
    members : ``[result.to_dict(), ...]`` from N runs (same observable, same settings).
    truncate : cut curves of different lengths to the shortest member.

    Returns
    -------
    dict mirroring the members' structure; keys present in only some members are dropped.
    """
    members = list(members)
    if not members:
        raise EnsembleError("ensemble_stats needs at least one member")
    if not all(isinstance(m, dict) for m in members):
        raise EnsembleError("ensemble members must be dicts (use result.to_dict())")
    return _combine(members, "", truncate)
