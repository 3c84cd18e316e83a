"""Paper-size figures of a study's results (matplotlib, Agg): one function per figure.

Each ``plot_*(summary, curves, out=None, **options)`` draws from a
:class:`~ssic_flows.schemas.StudySummary` dict and its curves (data store), returns the
Figure and writes ``out.png`` + ``out.svg`` when ``out`` is given. Missing data raise
:class:`FigureSkipped`. :func:`plot_all` draws every figure that the data allow.

================================  =====================================  ==================
function                          shows                                  study figure
================================  =====================================  ==================
:func:`plot_beef`                 BEEF vs training step                  2a, 5a
:func:`plot_rdf`                  partial g(r), reference vs MLMD        2b, 5b, 8a
:func:`plot_vdos`                 VDOS per species (smoothing window)    2c, 5c, 8b
:func:`plot_msd`                  MSD, MLMD mean ± std and reference     2d, 5d, 9a
:func:`plot_theta_series`         θ(t) raw and Fourier-filtered          3a
:func:`plot_theta_density`        ρ(θ) ± std                             3b, 7, 10
:func:`plot_omega_density`        ρ(ω) ± std                             3c, 7, 10
:func:`plot_vanhove`              Gs, Gd maps, reference and MLMD        4, 6, 9b,c
:func:`plot_rphi`                 ρ(r, φ) maps                           7c,f, 10c,f
:func:`plot_force_parity`         per-element force parity, RMSE         S1, S5, S17
:func:`plot_size_comparison`      study cell vs 2×2×2 cell               S4
:func:`plot_hot_comparison`       normal vs hot-retrained MLFF           S3
================================  =====================================  ==================
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt

from ssic_flows.plots._base import (
    COLUMN_WIDTH_IN, DPI, PALETTE, FigureSkipped, curves_from_documents, save_figure,
)
from ssic_flows.plots.compare import plot_hot_comparison, plot_size_comparison
from ssic_flows.plots.dynamics import plot_msd, plot_vanhove
from ssic_flows.plots.structure import plot_rdf
from ssic_flows.plots.tetrahedra import (
    plot_omega_density, plot_rphi, plot_theta_density, plot_theta_series,
)
from ssic_flows.plots.training import plot_beef, plot_force_parity
from ssic_flows.plots.vibrations import plot_vdos

__all__ = [
    "COLUMN_WIDTH_IN", "DPI", "FIGURES", "FigureSkipped", "PALETTE", "curves_from_documents",
    "plot_all", "plot_beef", "plot_force_parity", "plot_hot_comparison", "plot_msd",
    "plot_omega_density", "plot_rdf", "plot_rphi", "plot_size_comparison", "plot_theta_density",
    "plot_theta_series", "plot_vanhove", "plot_vdos", "save_figure",
]

#: Figure name → (function, caption), in report order.
FIGURES: dict[str, tuple[Callable, str]] = {
    "beef": (plot_beef, "Error estimate of forces during on-the-fly training (cf. Fig. 2a/5a): "
                        "VASP's/ACE's Bayesian estimate (BEEF), for GAP a variance-based proxy "
                        "with a calibrated constant."),
    "rdf": (plot_rdf, "Partial g(r): reference (dashed) vs MLMD mean ± std over seeds (cf. Fig. 2b/5b/8a)."),
    "vdos": (plot_vdos, "VDOS per species; dotted lines: band centres (eq. 3) (cf. Fig. 2c/5c/8b)."),
    "msd": (plot_msd, "MSD of the mobile species; thin lines: single MLMD seeds (cf. Fig. 2d/5d/9a)."),
    "theta_series": (plot_theta_series, "θ(t) raw and Fourier-filtered (cf. Fig. 3a)."),
    "theta_density": (plot_theta_density, "ρ(θ), mean ± std over seeds (cf. Fig. 3b/7/10)."),
    "omega_density": (plot_omega_density, "ρ(ω), mean ± std over seeds (cf. Fig. 3c/7/10)."),
    "vanhove": (plot_vanhove, "Van Hove self (Gs) and distinct (Gd) parts (cf. Fig. 4/6/9b,c)."),
    "rphi": (plot_rphi, "ρ(r, φ) of cations around the polyanions (cf. Fig. 7c,f/10c,f)."),
    "force_parity": (plot_force_parity, "MLFF vs reference forces per element (cf. Fig. S1/S5/S17)."),
    "size_comparison": (plot_size_comparison, "Study cell vs 2×2×2 cell with the same MLFF (cf. Fig. S4)."),
    "hot_comparison": (plot_hot_comparison, "Normal vs hot-retrained MLFF (cf. Fig. S3)."),
}


def plot_all(summary: dict, curves: dict, outdir: str | Path, *,
             only: list[str] | None = None) -> tuple[dict[str, list[Path]], dict[str, str]]:
    """Draw every figure the data allow into ``outdir/<name>.{png,svg}``.

    Returns
    -------
    (written, skipped): name → files, and name → reason for each figure not drawn.
    """
    outdir = Path(outdir)
    written: dict[str, list[Path]] = {}
    skipped: dict[str, str] = {}
    for name, (fn, _) in FIGURES.items():
        if only is not None and name not in only:
            continue
        try:
            fig = fn(summary, curves, outdir / name)
        except FigureSkipped as exc:
            skipped[name] = str(exc)
            continue
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            skipped[name] = f"could not draw ({type(exc).__name__}: {exc})"
            plt.close("all")
            continue
        written[name] = [outdir / f"{name}.png", outdir / f"{name}.svg"]
        plt.close(fig)
    return written, skipped
