"""On-the-fly training and validation: BEEF vs step (study Fig. 2a, 5a) and per-element
force parity plots with the RMSE (Fig. S1, S5, S17).

``curves["parity"]`` (from :class:`~ssic_flows.schemas.ValidationOutput.parity_data`) holds
``species`` (one per atom, or one per force row) and predicted / reference force components
in eV/Å under ``predicted_eV_A`` / ``reference_eV_A`` (``predicted`` / ``reference``
accepted), shaped (N, 3) or (frames, N, 3). The RMSE printed in each panel is the
summary's ``force_rmse_meV_A`` (not recomputed here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from ssic_flows.plots._base import (
    figure_function,
    COLUMN_WIDTH_IN, PALETTE, new_figure, require, role_label, save_figure, title,
)

__all__ = ["beef_label", "parity_arrays", "plot_beef", "plot_force_parity"]


def beef_label(training: dict | None) -> str:
    """What a training history's force-error estimate is, for axis labels and the report.

    ``training["beef_kind"]`` (TrainOutput.metadata) names it; GAP's is a variance-based
    proxy c·√(local-energy variance) with a calibrated constant (not VASP's BEEF), ACE's the
    exact Bayesian posterior of its linear model, VASP's its own BEEF.

    Examples
    --------
    >>> beef_label({"engine": "gap"})
    "GAP error estimate (variance-based proxy, calibrated constant; not VASP's BEEF)"
    """
    t = training or {}
    kind, eng = t.get("beef_kind"), str(t.get("engine") or "")
    if eng == "gap" or (kind and "variance" in kind):
        return "GAP error estimate (variance-based proxy, calibrated constant; not VASP's BEEF)"
    if kind:
        return f"BEEF ({kind})"
    return "BEEF (VASP)" if eng.startswith("vasp") else "BEEF"


def _beef(d: dict | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float | None] | None:
    if not d or not d.get("beef_step") or not d.get("beef_max_eV_A"):
        return None
    step = np.asarray(d["beef_step"], float)
    mx = np.asarray(d["beef_max_eV_A"], float)
    mean = d.get("beef_mean_eV_A")
    mean = np.asarray(mean, float) if mean and len(mean) == len(step) else None
    return step, mx, mean, d.get("beef_threshold_eV_A")


@figure_function
def plot_beef(summary: dict, curves: dict, out: str | Path | None = None, *,
              log: bool = True) -> Figure:
    """Error estimate of forces (max over atoms; mean when stored) per training step, with the
    retraining threshold; the hot (800 K) training is drawn too when present. Labelled by
    :func:`beef_label`: GAP's is a variance-based proxy, not a BEEF."""
    main = _beef((curves or {}).get("beef")) or _beef((summary or {}).get("training"))
    hot = _beef((summary or {}).get("hot_training"))
    require(main or hot, "no BEEF history in this result (no on-the-fly training recorded)")
    fig, axes = new_figure(1, 1, height_in=2.4)
    ax = axes[0, 0]
    eng = ((summary or {}).get("training") or {}).get("engine") or \
        ((summary or {}).get("mlff_engine") or {}).get("engine") or "MLFF"
    thresholds = set()
    for data, role, lab in ((main, "mlmd", f"{eng} training"), (hot, "mlmd_hot", f"{eng} hot retraining")):
        if data is None:
            continue
        step, mx, mean, thr = data
        ax.plot(step, mx, color=PALETTE[role], marker="o", ms=2, label=f"{lab}: max")
        if mean is not None:
            ax.plot(step, mean, color=PALETTE[role], ls=":", label=f"{lab}: mean")
        if thr:
            thresholds.add(float(thr))
    for thr in sorted(thresholds):
        ax.axhline(thr, color=PALETTE["threshold"], ls="--", lw=0.8, label=f"threshold {thr:g} eV/Å")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("training MD step")
    label = beef_label((summary or {}).get("training") or (curves or {}).get("beef"))
    proxy = "proxy" in label
    ax.set_ylabel(("force-error proxy" if proxy else "BEEF of forces") + " (eV/Å)")
    ax.legend(loc="upper right")
    ax.set_title(title(summary, label if proxy else "Bayesian error estimate"))
    save_figure(fig, out)
    return fig


def parity_arrays(parity: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Element → (reference, predicted) force components (flattened), eV/Å."""
    def pick(*names):
        for n in names:
            if parity.get(n) is not None:
                return np.asarray(parity[n], float)
        return None

    pred = pick("predicted_eV_A", "predicted", "pred_eV_A", "pred")
    ref = pick("reference_eV_A", "reference", "ref_eV_A", "ref")
    sp = parity.get("species")
    if pred is None or ref is None or sp is None:
        raise ValueError("parity data need 'species', 'predicted_eV_A' and 'reference_eV_A'")
    pred, ref = pred.reshape(-1, 3), ref.reshape(-1, 3)
    sp = np.asarray(sp, str)
    if pred.shape != ref.shape or pred.shape[0] % sp.size:
        raise ValueError(f"parity arrays {pred.shape} / {ref.shape} do not match {sp.size} species")
    sp = np.tile(sp, pred.shape[0] // sp.size)
    return {e: (ref[sp == e].ravel(), pred[sp == e].ravel()) for e in dict.fromkeys(sp.tolist())}


@figure_function
def plot_force_parity(summary: dict, curves: dict, out: str | Path | None = None, *,
                      elements: Sequence[str] | None = None, ncols: int = 2) -> Figure:
    """MLFF vs reference force components, one panel per element, with the summary's RMSE."""
    parity = (curves or {}).get("parity")
    require(parity, "no force parity data in this result (validation did not store forces)")
    arrs = parity_arrays(parity)
    elements = [e for e in (elements or arrs) if e in arrs]
    require(elements, "no element of the parity data selected")
    nrows = int(np.ceil(len(elements) / ncols))
    ncols = min(ncols, len(elements))
    fig, axes = new_figure(nrows, ncols, width_in=COLUMN_WIDTH_IN, height_in=1.75 * nrows + 0.35)
    rmse = (summary or {}).get("force_rmse_meV_A") or {}
    for ax in axes.ravel()[len(elements):]:
        ax.set_visible(False)
    for k, (ax, e) in enumerate(zip(axes.ravel(), elements)):
        ref, pred = arrs[e]
        lim = float(np.max(np.abs(np.concatenate([ref, pred])))) * 1.05 or 1.0
        ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=0.6, zorder=0)
        ax.scatter(ref, pred, s=2, color=PALETTE["mlmd"], alpha=0.5, lw=0, rasterized=True)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(e + (f": RMSE {rmse[e]:.1f} meV/Å" if rmse.get(e) is not None else ""))
        ax.set_xlabel("reference F (eV/Å)")
        if k % ncols == 0:
            ax.set_ylabel("MLFF F (eV/Å)")
    ml = ((summary or {}).get("mlff_engine") or {}).get("engine") or "MLFF"
    fig.suptitle(title(summary, f"force parity, {ml} vs {role_label('reference', summary)}"), fontsize=8)
    save_figure(fig, out)
    return fig
