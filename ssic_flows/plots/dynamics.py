"""Mean squared displacements and van Hove correlation maps (study Fig. 2d, 4, 5d, 6, 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from ssic_flows.plots._base import (
    figure_function,
    COLUMN_WIDTH_IN, PALETTE, axis, band, documents, ensemble, get, mean_std, new_figure, require,
    role_label, save_figure, title,
)
from ssic_flows.plots.structure import _mobile

__all__ = ["plot_msd", "plot_vanhove"]


def _fmt_D(st) -> str:
    if isinstance(st, dict) and st.get("status"):  # a non-diffusive MSD: no D to quote
        return "D not determined"
    if not isinstance(st, dict) or st.get("mean") is None:
        return ""
    s = f"D = {st['mean']:.2e}"
    if st.get("std"):
        s += f" ± {st['std']:.1e}"
    return s + " cm²/s"


@figure_function
def plot_msd(summary: dict, curves: dict, out: str | Path | None = None, *,
             species: Sequence[str] | None = None,
             roles: Sequence[str] = ("reference", "mlmd"), show_runs: bool = True) -> Figure:
    """MSD(t) of the mobile species: reference run, MLMD seeds, MLMD mean ± std band.

    The legend quotes each role's D (linear fit, mean ± std over runs) from the summary's
    scalars when present.

    Parameters
    ----------
    species : species drawn, one panel each (default the mobile species).
    roles : roles drawn; a role with several runs is drawn as mean ± std.
    show_runs : also draw every run of a multi-run role as a thin line.
    """
    species = list(species or _mobile(summary, curves))
    if not species:
        m = get(ensemble(curves, "reference"), "msd", "msd_A2") or {}
        species = list(m)[:1]
    require(species, "no MSD in this result")
    fig, axes = new_figure(len(species), 1, height_in=1.9 * len(species) + 0.4, sharex=True)
    drawn = 0
    for ax, sp in zip(axes[:, 0], species):
        for role in roles:
            ens = get(ensemble(curves, role), "msd")
            if not ens or sp not in (ens.get("msd_A2") or {}):
                continue
            t_ps = axis(ens["t_fs"]) / 1000.0
            color = PALETTE.get(role, "C0")
            runs = documents(curves, role)
            if show_runs and len(runs) > 1:
                for d in runs:
                    y = get(d, "msd", "msd_A2", sp)
                    if y is not None:
                        tr = np.asarray(d["msd"]["t_fs"], float) / 1000.0
                        ax.plot(tr, y, color=color, lw=0.4, alpha=0.5)
            m, s = mean_std(ens["msd_A2"][sp])
            D = get(summary, "scalars", role, "D_cm2_s", sp)
            lab = role_label(role, summary) + (f" ×{len(runs)}" if len(runs) > 1 else "")
            lab += f"\n{_fmt_D(D)}" if _fmt_D(D) else ""
            band(ax, t_ps, m, s, color, lab, ls="--" if role == "reference" else "-")
            drawn += 1
        ax.set_ylabel(f"MSD {sp} (Å²)")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left")
    require(drawn, f"no MSD of {species} for roles {list(roles)}")
    axes[-1, 0].set_xlabel("t (ps)")
    axes[0, 0].set_title(title(summary, "mean squared displacement"))
    save_figure(fig, out)
    return fig


@figure_function
def plot_vanhove(summary: dict, curves: dict, out: str | Path | None = None, *,
                 species: str | None = None, roles: Sequence[str] = ("reference", "mlmd"),
                 radial: bool = True) -> Figure:
    """Van Hove maps: rows = roles, columns = self part Gs and distinct part Gd, over (r, Δt).

    Parameters
    ----------
    species : mobile species (default the first mobile species with a van Hove document).
    radial : draw Gs as the radial probability density 4πr²Gs (Å⁻¹) instead of Gs (Å⁻³).
        Colour scales are shared between roles; the Δt = 0 row of Gs (a δ peak at r = 0) is
        left out of the Gs colour range.
    """
    vh = {r: get(ensemble(curves, r), "vanhove") for r in roles}
    vh = {r: v for r, v in vh.items() if v}
    require(vh, "no van Hove functions in this result")
    if species is None:
        mob = _mobile(summary, curves)
        have = [s for v in vh.values() for s in v]
        species = next((s for s in mob if s in have), have[0] if have else None)
    vh = {r: v[species] for r, v in vh.items() if species in v}
    require(vh, f"no van Hove function of {species}")
    rows = list(vh)
    fig, axes = new_figure(len(rows), 2, width_in=2 * COLUMN_WIDTH_IN,
                           height_in=1.9 * len(rows) + 0.5, sharex="col", sharey=True)
    maps = {}
    for role, v in vh.items():
        r = axis(v["r_A"])
        rs = axis(v["r_self_A"]) if "r_self_A" in v else r  # Gs: its own axis (no minimum image)
        lags_ps = axis(v["lags_fs"]) / 1000.0
        gs, _ = mean_std(v.get("Gs_A-3"))
        gd, _ = mean_std(v.get("Gd"))
        if gs is not None and radial:
            gs = 4.0 * np.pi * rs[None, :] ** 2 * gs
        maps[role] = (r, lags_ps, gs, gd, rs)

    def limits(idx, skip_first):
        vals = [m[idx][1:] if skip_first and m[idx].shape[0] > 1 else m[idx]
                for m in maps.values() if m[idx] is not None]
        if not vals:
            return None
        hi = max(float(np.nanpercentile(v, 99.5)) for v in vals)
        return Normalize(0.0, hi if hi > 0 else 1.0)

    norms = {2: limits(2, True), 3: limits(3, False)}
    gs_lab = "4πr²Gs (Å⁻¹)" if radial else "Gs (Å⁻³)"
    for i, role in enumerate(rows):
        r, lags_ps, gs, gd, rs = maps[role]
        for j, (arr, lab, x) in enumerate(((gs, gs_lab, rs), (gd, "Gd", r))):
            ax = axes[i, j]
            if arr is None:
                ax.text(0.5, 0.5, f"no {lab.split()[0]} for {role}", ha="center", va="center",
                        transform=ax.transAxes)
                continue
            mesh = ax.pcolormesh(x, lags_ps, arr, shading="nearest", cmap="viridis",
                                 norm=norms[2 + j])
            fig.colorbar(mesh, ax=ax, pad=0.01).set_label(lab)
            ax.set_title(f"{role_label(role, summary)}: {'Gs' if j == 0 else 'Gd'} {species}")
        axes[i, 0].set_ylabel("Δt (ps)")
    for ax in axes[-1]:
        ax.set_xlabel("r (Å)")
    fig.suptitle(title(summary, f"van Hove correlation of {species}"), fontsize=8)
    save_figure(fig, out)
    return fig
