"""Vibrational densities of states per species (study Fig. 2c, 5c, 8b)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from matplotlib.figure import Figure

from ssic_flows.plots._base import (
    figure_function,
    PALETTE, axis, band, ensemble, get, mean_std, new_figure, require, role_label, save_figure,
    title,
)

__all__ = ["plot_vdos"]


@figure_function
def plot_vdos(summary: dict, curves: dict, out: str | Path | None = None, *,
              species: Sequence[str] | None = None, roles: Sequence[str] = ("reference", "mlmd"),
              smoothed: bool = True, max_freq_cm1: float | None = None) -> Figure:
    """VDOS per species: reference vs MLMD mean ± std, with each role's band centre (eq. 3).

    The Savitzky–Golay smoothing window stored with the spectra is printed in the title.

    Parameters
    ----------
    species : species drawn, one panel each (default every species with a spectrum).
    smoothed : draw the smoothed spectra (``vdos_smoothed``) rather than the raw ones.
    max_freq_cm1 : crop the wavenumber axis, cm⁻¹.
    """
    key = "vdos_smoothed" if smoothed else "vdos"
    vd = {r: get(ensemble(curves, r), "vdos") for r in roles}
    vd = {r: v for r, v in vd.items() if v and v.get(key)}
    require(vd, "no VDOS in this result (trajectories without velocities are skipped by the analysis)")
    if species is None:
        species = list(dict.fromkeys(s for v in vd.values() for s in v[key]))
    fig, axes = new_figure(len(species), 1, height_in=1.1 * len(species) + 0.55, sharex=True)
    window = None
    for ax, sp in zip(axes[:, 0], species):
        for role, v in vd.items():
            if sp not in v[key]:
                continue
            f = axis(v["freq_cm-1"])
            m, s = mean_std(v[key][sp])
            color = PALETTE.get(role, "C0")
            band(ax, f, m, s, color, role_label(role, summary), ls="--" if role == "reference" else "-")
            bc, _ = mean_std(get(v, "band_center_cm-1", sp))
            if bc is not None and bc.ndim == 0:
                ax.axvline(float(bc), color=color, lw=0.6, ls=":")
            w, _ = mean_std(v.get("smoothing_window_cm-1"))
            window = float(w) if w is not None else window
        ax.set_ylabel(f"VDOS {sp}\n(arb. units)")
        ax.set_ylim(bottom=0)
    if max_freq_cm1:
        axes[-1, 0].set_xlim(0, max_freq_cm1)
    else:
        axes[-1, 0].set_xlim(left=0)
    axes[-1, 0].set_xlabel("wavenumber (cm⁻¹)")
    axes[0, 0].legend(loc="upper right")
    what = "VDOS" + (f", smoothing window {window:g} cm⁻¹" if smoothed and window else "")
    axes[0, 0].set_title(title(summary, what))
    save_figure(fig, out)
    return fig
