"""Tetrahedral angles θ(t), ρ(θ), ρ(ω) and ρ(r, φ) maps (study Fig. 3, 7, 10, S3).

Reads the ``tetrahedra`` section that
:func:`ssic_flows.analysis.tetrahedra.report.analyze_for_report` adds to each analysis document
(the ensemble document mirrors it with ``{"mean", "std", ...}`` for each numeric array)::

    doc["tetrahedra"] = {
        "cutoff_cm-1": 5.0,
        "units": {"<label, e.g. PS4 or AgI4>": {
            "rho_theta": AngleDensity.to_dict(),             # ρ(θ), per deg
            "rho_omega": AngleDensity.to_dict(),             # ρ(ω) of the filtered θ, per deg/fs
            "rho_omega_unfiltered": AngleDensity.to_dict(),
            "theta_series": {"times_fs": [F], "raw_deg": [[k × F]], "filtered_deg": [[k × F]]},
        }, ...},
        "rphi": {"cation": "Li", "maps": {"PS4": RPhiResult.to_dict(), ...}},
    }

Also accepted: ``theta_density`` / ``omega_density`` for the densities, series stored
frame-major (F × k), and ``doc["rphi"] = {label: RPhiResult dict}``.
"""

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

__all__ = ["plot_omega_density", "plot_rphi", "plot_theta_density", "plot_theta_series",
           "rphi_sections", "tetra_units"]

_SYN = {
    "theta_density": ("rho_theta", "theta_density"),
    "omega_density": ("rho_omega", "omega_density"),
    "omega_unfiltered": ("rho_omega_unfiltered",),
    "theta_series": ("theta_series", "series"),
}


def tetra_units(doc: dict | None) -> dict[str, dict]:
    """Unit label → tetrahedra section of one (per-run or ensemble) document."""
    t = (doc or {}).get("tetrahedra")
    if not isinstance(t, dict):
        return {}
    if isinstance(t.get("units"), dict):
        t = t["units"]
    return {k: v for k, v in t.items() if isinstance(v, dict)}


def _section(sec: dict, what: str):
    for k in _SYN.get(what, (what,)):
        if k in sec:
            return sec[k]
    return None


def rphi_sections(doc: dict | None) -> dict[str, dict]:
    """Unit label → ρ(r, φ) dict (``density_per_A_deg``, ``r_edges_A``, ``phi_edges_deg``)."""
    out: dict[str, dict] = {}
    cands = dict((doc or {}).get("rphi") or {})
    hook = get(doc, "tetrahedra", "rphi")
    if isinstance(hook, dict):
        cat = hook.get("cation")
        for lab, v in (hook.get("maps") or {}).items():
            cands.setdefault(f"{lab}–{cat}" if isinstance(cat, str) else lab, v)
    for lab, sec in tetra_units(doc).items():
        if "rphi" in sec:
            cands.setdefault(lab, sec["rphi"])
    for lab, v in cands.items():
        if isinstance(v, dict) and "density_per_A_deg" in v:
            out[lab] = v
        elif isinstance(v, dict):  # {cation: RPhiResult dict}
            for cat, w in v.items():
                if isinstance(w, dict) and "density_per_A_deg" in w:
                    out[f"{lab}–{cat}"] = w
    return out


def _frame_major(a: np.ndarray | None, n_t: int) -> np.ndarray | None:
    """Series as (frames, k), whether stored (k, frames) or (frames, k)."""
    if a is None:
        return None
    a = np.asarray(a, float)
    if a.ndim == 1:
        return a[:, None]
    return a.T if a.shape[0] != n_t and a.shape[1] == n_t else a


def _series(sec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float | None] | None:
    s = _section(sec, "theta_series")
    if isinstance(s, dict):
        t = s.get("t_fs", s.get("times_fs"))
        raw = s.get("raw_deg", s.get("theta_deg"))
        filt = s.get("filtered_deg", s.get("theta_filtered_deg"))
        if t is not None and raw is not None:
            cut, _ = mean_std(s.get("filter_cutoff_cm1"))
            t = np.asarray(axis(t), float)
            return (t, _frame_major(axis(raw), t.size),
                    None if filt is None else _frame_major(axis(filt), t.size),
                    None if cut is None else float(cut))
    raw, filt = sec.get("theta_raw"), sec.get("theta_filtered")
    if isinstance(raw, dict) and "theta_deg" in raw:
        return (np.asarray(raw["times_fs"], float), np.asarray(raw["theta_deg"], float),
                None if not isinstance(filt, dict) else np.asarray(filt["theta_deg"], float),
                None if not isinstance(filt, dict) else filt.get("filter_cutoff_cm1"))
    return None


@figure_function
def plot_theta_series(summary: dict, curves: dict, out: str | Path | None = None, *,
                      role: str = "reference", unit: str | None = None, n_series: int = 3,
                      run: int = 0) -> Figure:
    """θ(t) of selected tetrahedral angles: raw (grey) and Fourier-filtered (colour).

    Parameters
    ----------
    role, run : which run's series (series are per run; they are not averaged).
    unit : tetrahedron label (default the first one with a series).
    n_series : number of angle series drawn (the first ``n_series`` stored columns).
    """
    runs = documents(curves, role)
    require(len(runs) > run, f"no {role} run #{run} in this result")
    units = {k: v for k, v in tetra_units(runs[run]).items() if _series(v) is not None}
    require(units, f"no θ(t) series in the {role} analysis document (tetrahedra not analysed)")
    unit = unit or next(iter(units))
    require(unit in units, f"no θ(t) series of {unit}; have {sorted(units)}")
    t_fs, raw, filt, cutoff = _series(units[unit])
    if cutoff is None:
        c, _ = mean_std(get(runs[run], "tetrahedra", "cutoff_cm-1"))
        cutoff = None if c is None else float(c)
    k = min(n_series, raw.shape[1])
    fig, axes = new_figure(k, 1, height_in=1.0 * k + 0.6, sharex=True)
    t_ps = t_fs[: raw.shape[0]] / 1000.0
    for i, ax in enumerate(axes[:, 0][:k]):
        ax.plot(t_ps, raw[:, i], color=PALETTE["raw"], lw=0.5, label="raw")
        if filt is not None:
            f = filt
            lab = "filtered" + (f" (< {float(cutoff):g} cm⁻¹)" if cutoff else "")
            ax.plot(t_ps[: f.shape[0]], f[:, i], color=PALETTE["filtered"], lw=1.0, label=lab)
        ax.set_ylabel("θ (deg)")
    axes[0, 0].legend(loc="upper right", ncol=2)
    axes[-1, 0].set_xlabel("t (ps)")
    axes[0, 0].set_title(title(summary, f"θ(t) of {unit}, {role_label(role, summary)}"))
    save_figure(fig, out)
    return fig


def _plot_density(summary, curves, out, what, xlabel, ylabel, name, roles, units):
    per_role = {r: tetra_units(ensemble(curves, r)) for r in roles}
    per_role = {r: {u: _section(s, what) for u, s in us.items() if isinstance(_section(s, what), dict)}
                for r, us in per_role.items()}
    per_role = {r: v for r, v in per_role.items() if v}
    require(per_role, f"no {name} in this result (tetrahedra not analysed for roles {list(roles)})")
    units = list(units or dict.fromkeys(u for v in per_role.values() for u in v))
    fig, axes = new_figure(len(units), 1, height_in=1.5 * len(units) + 0.5)
    for ax, u in zip(axes[:, 0], units):
        for role, secs in per_role.items():
            d = secs.get(u)
            if not d:
                continue
            x = axis(d.get("bin_centers"))
            m, s = mean_std(d.get("density"))
            if x is None or m is None:
                continue
            band(ax, x, m, s, PALETTE.get(role, "C0"), role_label(role, summary),
                 ls="--" if role == "reference" else "-")
        ax.set_ylabel(f"{ylabel} {u}")
        ax.set_ylim(bottom=0)
        ax.set_xlabel(xlabel)
    axes[0, 0].legend(loc="upper right")
    axes[0, 0].set_title(title(summary, name))
    save_figure(fig, out)
    return fig


@figure_function
def plot_theta_density(summary: dict, curves: dict, out: str | Path | None = None, *,
                       roles: Sequence[str] = ("reference", "mlmd"),
                       units: Sequence[str] | None = None) -> Figure:
    """ρ(θ) per tetrahedron type: reference vs MLMD mean ± std over seeds."""
    return _plot_density(summary, curves, out, "theta_density", "θ (deg)", "ρ(θ) (deg⁻¹)",
                         "ρ(θ)", roles, units)


@figure_function
def plot_omega_density(summary: dict, curves: dict, out: str | Path | None = None, *,
                       roles: Sequence[str] = ("reference", "mlmd"),
                       units: Sequence[str] | None = None, unfiltered: bool = False) -> Figure:
    """ρ(ω) per tetrahedron type: reference vs MLMD mean ± std over seeds.

    ``unfiltered``: ω of the raw θ(t) instead of the Fourier-filtered one (eq. 5).
    """
    what = "omega_unfiltered" if unfiltered else "omega_density"
    name = "ρ(ω), unfiltered θ" if unfiltered else "ρ(ω)"
    return _plot_density(summary, curves, out, what, "ω (deg/fs)", "ρ(ω) (fs/deg)", name,
                         roles, units)


@figure_function
def plot_rphi(summary: dict, curves: dict, out: str | Path | None = None, *,
              roles: Sequence[str] = ("reference", "mlmd"),
              units: Sequence[str] | None = None) -> Figure:
    """ρ(r, φ) maps of cations around each polyanion type: rows = units, columns = roles.

    Colour scales are shared along each row so reference and MLMD compare directly.
    """
    per_role = {r: rphi_sections(ensemble(curves, r)) for r in roles}
    per_role = {r: v for r, v in per_role.items() if v}
    require(per_role, "no ρ(r, φ) in this result (polyanion analysis not run)")
    cols = list(per_role)
    units = list(units or dict.fromkeys(u for v in per_role.values() for u in v))
    fig, axes = new_figure(len(units), len(cols), width_in=max(COLUMN_WIDTH_IN, 2.2 * len(cols)),
                           height_in=1.9 * len(units) + 0.4, sharex=True, sharey=True)
    for i, u in enumerate(units):
        dens = {r: mean_std(per_role[r][u]["density_per_A_deg"])[0] for r in cols if u in per_role[r]}
        hi = max((float(np.nanmax(d)) for d in dens.values() if d is not None), default=1.0)
        norm = Normalize(0.0, hi if hi > 0 else 1.0)
        for j, role in enumerate(cols):
            ax = axes[i, j]
            if u not in per_role[role]:
                ax.text(0.5, 0.5, f"no {u}", ha="center", va="center", transform=ax.transAxes)
                continue
            d = per_role[role][u]
            mesh = ax.pcolormesh(axis(d["r_edges_A"]), axis(d["phi_edges_deg"]), dens[role].T,
                                 cmap="magma", norm=norm, shading="flat")
            ax.set_title(f"{role_label(role, summary)}: {u}")
            if j == len(cols) - 1:
                fig.colorbar(mesh, ax=axes[i, :].tolist(), pad=0.01).set_label("ρ(r, φ) (Å⁻¹ deg⁻¹)")
        axes[i, 0].set_ylabel("φ (deg)")
    for ax in axes[-1]:
        ax.set_xlabel("r cation–S (Å)")
    fig.suptitle(title(summary, "ρ(r, φ)"), fontsize=8)
    save_figure(fig, out)
    return fig
