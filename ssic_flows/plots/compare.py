"""Side-by-side comparisons of MLMD variants: small vs large cell (study Fig. S4) and
normal vs hot-retrained MLFF (Fig. S3)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ssic_flows.plots._base import (
    figure_function,
    PALETTE, axis, band, ensemble, get, mean_std, new_figure, require, role_label, save_figure,
    title,
)
from ssic_flows.plots.structure import _mobile, default_pairs
from ssic_flows.plots.tetrahedra import _section, tetra_units

__all__ = ["plot_hot_comparison", "plot_size_comparison"]


def _atoms(curves: dict, role: str) -> str:
    n = get(ensemble(curves, role), "n_atoms")
    n = mean_std(n)[0] if isinstance(n, dict) else n
    return f", {int(n)} atoms" if n is not None else ""


def _msd_panel(ax, summary, curves, roles, sp) -> int:
    k = 0
    for role in roles:
        m = get(ensemble(curves, role), "msd")
        if not m or sp not in (m.get("msd_A2") or {}):
            continue
        mean, std = mean_std(m["msd_A2"][sp])
        band(ax, axis(m["t_fs"]) / 1000.0, mean, std, PALETTE[role],
             role_label(role, summary) + _atoms(curves, role))
        k += 1
    ax.set_xlabel("t (ps)")
    ax.set_ylabel(f"MSD {sp} (Å²)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    return k


@figure_function
def plot_size_comparison(summary: dict, curves: dict, out: str | Path | None = None, *,
                         pair: str | None = None, species: str | None = None) -> Figure:
    """Same MLFF on the study cell (MLMD ensemble, mean ± std) and on the 2×2×2 cell
    (``transfer`` run): g(r) of one pair and the MSD of the mobile species."""
    require(ensemble(curves, "transfer"), "no large-cell (transfer) run in this result")
    roles = ("mlmd", "transfer")
    pair = pair or (default_pairs(summary, curves) or [None])[0]
    sp = species or (_mobile(summary, curves) or [None])[0]
    fig, axes = new_figure(2, 1, height_in=3.9)
    ax = axes[0, 0]
    k = 0
    for role in roles:
        rdf = get(ensemble(curves, role), "rdf")
        if rdf and pair in (rdf.get("g") or {}):
            m, s = mean_std(rdf["g"][pair])
            band(ax, axis(rdf["r_A"]), m, s, PALETTE[role], role_label(role, summary) + _atoms(curves, role))
            k += 1
    ax.set_xlabel("r (Å)")
    ax.set_ylabel(f"g(r) {pair}")
    ax.legend(loc="upper right")
    k += _msd_panel(axes[1, 0], summary, curves, roles, sp)
    require(k, "neither g(r) nor MSD available for the size comparison")
    axes[0, 0].set_title(title(summary, "cell-size transfer"))
    save_figure(fig, out)
    return fig


@figure_function
def plot_hot_comparison(summary: dict, curves: dict, out: str | Path | None = None, *,
                        unit: str | None = None, species: str | None = None) -> Figure:
    """MLMD with the normally trained vs the hot-retrained MLFF: ρ(θ) (when tetrahedra were
    analysed) and the MSD of the mobile species."""
    require(ensemble(curves, "mlmd_hot"), "no hot-retrained MLMD run in this result")
    roles = ("mlmd", "mlmd_hot")
    dens = {r: {u: _section(s, "theta_density") for u, s in tetra_units(ensemble(curves, r)).items()}
            for r in roles}
    units = [u for u in dens["mlmd_hot"] if isinstance(dens["mlmd_hot"][u], dict)]
    if unit:
        units = [u for u in units if u == unit]
    sp = species or (_mobile(summary, curves) or [None])[0]
    n = 2 if units else 1
    fig, axes = new_figure(n, 1, height_in=2.0 * n + 0.2)
    k = 0
    if units:
        ax, u = axes[0, 0], units[0]
        for role in roles:
            d = dens[role].get(u)
            if isinstance(d, dict) and d.get("density") is not None:
                m, s = mean_std(d["density"])
                band(ax, axis(d["bin_centers"]), m, s, PALETTE[role], role_label(role, summary))
                k += 1
        ax.set_xlabel("θ (deg)")
        ax.set_ylabel(f"ρ(θ) {u} (deg⁻¹)")
        ax.legend(loc="upper right")
    k += _msd_panel(axes[-1, 0], summary, curves, roles, sp)
    axes[-1, 0].legend(loc="upper left")
    require(k, "neither ρ(θ) nor MSD available for the hot-retraining comparison")
    axes[0, 0].set_title(title(summary, "normal vs hot-retrained MLFF"))
    save_figure(fig, out)
    return fig
