"""Shared plotting machinery: palette, paper-size style, saving, reading analysis documents.

Every figure function of :mod:`ssic_flows.plots` has the signature
``plot_x(summary, curves, out=None, **options) -> Figure`` where

* ``summary`` is a :class:`~ssic_flows.schemas.StudySummary` as a dict (scalars, training,
  force errors; ``{}`` is accepted by figures that need none of it);
* ``curves`` is the summary's data-store part: ``{"documents": {role: [per-run analysis
  document, ...]}, "ensemble": {role: ensemble document}, "beef": {...}, "parity": {...}}``
  (:meth:`ssic_flows.results.Results.curves`; :func:`curves_from_documents` builds it from
  bare ``analyze_trajectory`` documents);
* ``out`` is a path stem: ``out.png`` and ``out.svg`` are written when given.

The backend is not forced: headless processes get matplotlib's Agg fallback, notebooks
their inline backend. Figures never compute physics: they draw the curves and scalars of the analysis documents.
A figure whose data are absent raises :class:`FigureSkipped` naming what is missing.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "COLUMN_WIDTH_IN", "DPI", "FigureSkipped", "figure_function", "PALETTE", "ROLE_LABELS", "curves_from_documents",
    "documents", "ensemble", "mean_std", "new_figure", "paper_style", "role_label", "save_figure",
]

#: One colour per engine role, used by every figure (colour-blind safe, Okabe–Ito).
PALETTE: dict[str, str] = {
    "reference": "#000000",   # AIMD or its stand-in
    "mlmd": "#0072B2",        # MLMD ensemble
    "transfer": "#D55E00",    # MLMD on the larger cell
    "mlmd_hot": "#CC79A7",    # MLMD with the hot-retrained MLFF
    "raw": "#999999",         # unfiltered series
    "filtered": "#E69F00",    # Fourier-filtered series
    "threshold": "#009E73",   # BEEF threshold and other limits
}

ROLE_LABELS: dict[str, str] = {
    "reference": "reference", "mlmd": "MLMD", "transfer": "MLMD, large cell",
    "mlmd_hot": "MLMD, hot-retrained",
}

#: Single-column width of a journal page, inches; figures are readable at this size.
COLUMN_WIDTH_IN = 3.3
#: Raster resolution of the PNGs; a figure of w × h inches is (w·DPI) × (h·DPI) pixels.
DPI = 200

_RC = {
    "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "legend.frameon": False, "lines.linewidth": 1.0,
    "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "svg.fonttype": "none", "figure.dpi": DPI, "savefig.dpi": DPI,
}


class FigureSkipped(LookupError):
    """The data a figure needs are not in this result; the message says what is missing."""


@contextmanager
def paper_style() -> Iterator[None]:
    """Matplotlib settings for paper-size figures (fonts ≥ 8 pt)."""
    with plt.rc_context(_RC):
        yield


def figure_function(fn):
    """Decorator: run a figure function under :func:`paper_style` (rc settings apply to the
    artists created inside, e.g. line widths and label fonts)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with paper_style():
            return fn(*args, **kwargs)
    return wrapper


def new_figure(nrows: int = 1, ncols: int = 1, *, width_in: float = COLUMN_WIDTH_IN,
               height_in: float | None = None, **kw) -> tuple[Figure, np.ndarray]:
    """A figure of fixed physical size with constrained layout; axes always a 2-D array."""
    height_in = height_in if height_in is not None else 2.4 * nrows
    with paper_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(width_in, height_in), squeeze=False,
                                 layout="constrained", **kw)
    return fig, axes


def save_figure(fig: Figure, out: str | Path | None) -> list[Path]:
    """Write ``out.png`` and ``out.svg`` (exact figure size; no tight cropping)."""
    if out is None:
        return []
    stem = Path(out)
    if stem.suffix.lower() in (".png", ".svg"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with paper_style():
        for ext in ("png", "svg"):
            p = stem.with_name(f"{stem.name}.{ext}")
            fig.savefig(p, format=ext, dpi=DPI)
            paths.append(p)
    return paths


def role_label(role: str, summary: dict | None = None) -> str:
    """Legend label of a role, naming its engine when the summary knows it."""
    base = ROLE_LABELS.get(role, role)
    summary = summary or {}
    eng = (summary.get("reference_engine") if role == "reference" else summary.get("mlff_engine")) or {}
    name = eng.get("engine")
    return f"{base} ({name})" if name else base


# ------------------------------------------------------------------ reading the documents
def curves_from_documents(docs: dict[str, Sequence[dict]] | Sequence[dict], role: str = "reference") -> dict:
    """The ``curves`` layout from bare per-run documents (no statistics recomputed here:
    a role with several runs gets its ensemble from :func:`~ssic_flows.analysis.ensemble.ensemble_stats`).
    """
    from ssic_flows.analysis.ensemble import ensemble_stats

    if not isinstance(docs, dict):
        docs = {role: list(docs)}
    docs = {r: list(v) for r, v in docs.items() if v}
    return {"documents": docs,
            "ensemble": {r: (ensemble_stats(v) if len(v) > 1 else v[0]) for r, v in docs.items()}}


def documents(curves: dict | None, role: str) -> list[dict]:
    """Per-run documents of ``role`` (may be empty)."""
    return list(((curves or {}).get("documents") or {}).get(role) or [])


def ensemble(curves: dict | None, role: str) -> dict | None:
    """Ensemble document of ``role`` (or its single run), None if the role did not run."""
    ens = ((curves or {}).get("ensemble") or {}).get(role)
    if ens is not None:
        return ens
    d = documents(curves, role)
    return d[0] if len(d) == 1 else None


def mean_std(x: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(mean, std) arrays of an ensemble entry ``{"mean", "std", ...}`` or a bare curve."""
    if x is None:
        return None, None
    if isinstance(x, dict):
        if "mean" not in x:
            return None, None
        m = None if x.get("mean") is None else np.asarray(x["mean"], float)
        s = None if x.get("std") is None else np.asarray(x["std"], float)
        return m, s
    return np.asarray(x, float), None


def axis(x: Any) -> np.ndarray | None:
    """A coordinate array that the ensemble may have kept bare or turned into stats."""
    return mean_std(x)[0]


def get(d: dict | None, *path: str) -> Any:
    """``d[p0][p1]...`` or None."""
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def band(ax, x: np.ndarray, mean: np.ndarray, std: np.ndarray | None, color: str, label: str,
         **kw) -> None:
    """Mean line with a ±std band (band omitted when std is unknown)."""
    n = min(len(x), len(mean))
    ax.plot(x[:n], mean[:n], color=color, label=label, **kw)
    if std is not None:
        s = std[:n]
        ax.fill_between(x[:n], mean[:n] - s, mean[:n] + s, color=color, alpha=0.25, lw=0)


def require(cond: Any, why: str) -> None:
    if not cond:
        raise FigureSkipped(why)


def title(summary: dict | None, what: str) -> str:
    """Panel title: study name, temperature and what is shown."""
    s = summary or {}
    bits = [s.get("study") or s.get("material") or ""]
    if s.get("temperature_K"):
        bits.append(f"{float(s['temperature_K']):.0f} K")
    head = ", ".join(b for b in bits if b)
    return f"{head}: {what}" if head else what
