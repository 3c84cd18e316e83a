"""Partial radial distribution functions, reference vs MLMD (study Fig. 2b, 5b, 8a)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from matplotlib.figure import Figure

from ssic_flows.plots._base import (
    figure_function,
    PALETTE, axis, band, documents, ensemble, get, mean_std, new_figure, require, role_label,
    save_figure, title,
)

__all__ = ["default_pairs", "plot_rdf"]


def _mobile(summary: dict, curves: dict) -> list[str]:
    mob = list((summary or {}).get("mobile_species") or [])
    if not mob:
        for d in documents(curves, "reference") + documents(curves, "mlmd"):
            mob = list(d.get("mobile_species") or [])
            if mob:
                break
    return mob


def default_pairs(summary: dict, curves: dict, max_pairs: int = 4) -> list[str]:
    """Pairs shown by default: those with a mobile species first, then the rest."""
    g = get(ensemble(curves, "reference"), "rdf", "g") or get(ensemble(curves, "mlmd"), "rdf", "g") or {}
    pairs = list(g)
    mob = _mobile(summary, curves)
    pairs.sort(key=lambda p: (not any(m in p.split("-") for m in mob), p))
    return pairs[:max_pairs]


@figure_function
def plot_rdf(summary: dict, curves: dict, out: str | Path | None = None, *,
             pairs: Sequence[str] | None = None, roles: Sequence[str] = ("reference", "mlmd"),
             r_max_A: float | None = None) -> Figure:
    """g(r) per pair: reference curve and MLMD ensemble mean ± std (one panel per pair).

    Parameters
    ----------
    pairs : "A-B" keys of the rdf documents (default :func:`default_pairs`).
    roles : roles drawn (any of reference, mlmd, transfer, mlmd_hot).
    r_max_A : crop the r axis, Å.
    """
    pairs = list(pairs or default_pairs(summary, curves))
    require(pairs, "no g(r) curves in this result (no 'rdf' in the reference/MLMD documents)")
    fig, axes = new_figure(len(pairs), 1, height_in=1.15 * len(pairs) + 0.5, sharex=True)
    drawn = 0
    for ax, pair in zip(axes[:, 0], pairs):
        for role in roles:
            rdf = get(ensemble(curves, role), "rdf")
            if not rdf or pair not in (rdf.get("g") or {}):
                continue
            r = axis(rdf["r_A"])
            m, s = mean_std(rdf["g"][pair])
            ls = "-" if role != "reference" else "--"
            band(ax, r, m, s, PALETTE.get(role, "C0"), role_label(role, summary), ls=ls)
            drawn += 1
        ax.axhline(1.0, color="0.7", lw=0.5, zorder=0)
        ax.set_ylabel(f"g(r) {pair}")
        if r_max_A:
            ax.set_xlim(0, r_max_A)
    require(drawn, f"none of the pairs {pairs} has a g(r) for roles {list(roles)}")
    axes[-1, 0].set_xlabel("r (Å)")
    axes[0, 0].legend(loc="upper right")
    axes[0, 0].set_title(title(summary, "partial g(r)"))
    save_figure(fig, out)
    return fig

