"""Van Hove correlation functions of one (mobile) species (the study's eqs. 8 and 9).

Self part (eq. 9), from unwrapped positions::

    Gs(r, Δt) = 1/N Σ_i < δ(r - |Δr_i - ΔR|) >_t / (4π r²),   Δr_i = r_i(t+Δt) - r_i(t)

with ΔR the framework's centre-of-mass displacement over the same interval (``drift_A``,
the MSD's drift correction; :func:`ssic_flows.analysis.msd.framework_drift_A`), so Gs and
the MSD see the same motion. Displacements of unwrapped positions need no minimum image,
so Gs has its own radial axis ``r_self_A``, by default out to the largest displacement
(:func:`self_range_A`), not half the cell.

Normalisation: *density form*, Gs in Å⁻³ with Σ_bins Gs · 4/3π(r_hi³ - r_lo³) = 1 at every
Δt (the sum rule ∫4πr² Gs dr = 1), provided ``r_self_max_A`` exceeds every displacement
(the default does); the fraction actually inside is returned as ``self_fraction_in_range``.
At Δt = 0 all weight sits in the first bin (a delta at r = 0).

Distinct part (eq. 8), periodic (all images within ``r_max_A``)::

    Gd(r, Δt) = 1/(N ρ) Σ_i Σ_{j≠i} < δ(r - |r_j(t+Δt) - r_i(t)|) >_t / (4π r²),
    ρ = (N - 1) / V

i.e. divided by the ideal-gas value, so Gd → 1 at large r (and Gd(r, 0) is the
species' own g(r)). V is the cell volume at t+Δt, whose cell also maps the fractional
difference (NPT-safe).

Time origins are subsampled evenly (``n_origins`` per lag, or all when fewer exist).
Everything is vectorised over origins and atoms. A constant cell (orthorhombic or
triclinic) with ``r_max_A`` at most half its smallest width (the usual case) is counted by
:func:`ssic_flows.analysis.neighbours.pair_counts` (dense component-major blocks, or a
periodic k-d tree in large cells); anything else (NPT, larger cutoffs) goes through the
general all-images path of :func:`ssic_flows.analysis.rdf.pair_distances_within`, origins
in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ssic_flows.analysis.geometry import perpendicular_widths_A, unwrapped_displacements
from ssic_flows.analysis.neighbours import pair_counts, single_image
from ssic_flows.analysis.rdf import image_shifts, pair_distances_within
from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError

__all__ = ["VanHoveResult", "self_range_A", "van_hove"]


@dataclass(frozen=True)
class VanHoveResult:
    """Van Hove self and distinct parts on a (lag, r) grid.

    Attributes
    ----------
    species : the species analysed.
    r_A : (B,) bin centres of Gd, Å (up to the periodic cutoff ``r_max_A``).
    lags_fs : (L,) lag times Δt, fs.
    Gs_A3 : (L, Bs) self part on ``r_self_A``, Å⁻³ (density form; Σ Gs·shell volume = 1).
    Gd : (L, B) distinct part, dimensionless (→ 1 at large r).
    r_self_A : (Bs,) bin centres of Gs, Å (up to ``r_self_max_A``; no minimum image).
    drift_corrected : whether the framework drift was removed from the self displacements.
    self_fraction_in_range : (L,) fraction of self displacements below r_max.
    n_origins : (L,) number of time origins averaged per lag.
    """

    species: str
    r_A: np.ndarray
    lags_fs: np.ndarray
    Gs_A3: np.ndarray
    Gd: np.ndarray | None
    self_fraction_in_range: np.ndarray
    n_origins: np.ndarray
    r_self_A: np.ndarray | None = None
    drift_corrected: bool = False

    @property
    def shell_volumes_A3(self) -> np.ndarray:
        """Shell volume of each Gs bin (``r_self_A``), Å³."""
        r = self.r_self_A if self.r_self_A is not None else self.r_A
        dr = r[1] - r[0]
        lo = r - dr / 2
        return 4.0 / 3.0 * np.pi * ((lo + dr) ** 3 - lo ** 3)

    def to_dict(self) -> dict:
        return {
            "species": self.species,
            "r_A": self.r_A.tolist(),
            "r_self_A": (self.r_self_A if self.r_self_A is not None else self.r_A).tolist(),
            "drift_corrected": bool(self.drift_corrected),
            "lags_fs": self.lags_fs.tolist(),
            "Gs_A-3": self.Gs_A3.tolist(),
            "Gd": None if self.Gd is None else self.Gd.tolist(),
            "self_fraction_in_range": self.self_fraction_in_range.tolist(),
            "n_origins": self.n_origins.astype(int).tolist(),
        }


def self_range_A(traj: Trajectory, species: str, drift_A: np.ndarray | None = None,
                 dr_A: float = 0.05) -> float:
    """A radius above every self displacement of ``species`` at any lag, Å.

    2·max_{i,t} |u_i(t) − u_i(0) − (R(t) − R(0))| (triangle inequality), rounded up to a
    whole ``dr_A`` bin; u unwrapped positions, R the drift (``drift_A``, (F, 3) Å).
    """
    u = unwrapped_displacements(traj.positions, traj.cells, traj.indices(species))  # (n, 3, F)
    if drift_A is not None:
        u = u - (np.asarray(drift_A, float) - np.asarray(drift_A, float)[:1]).T[None]
    far = 2.0 * float(np.sqrt((u ** 2).sum(axis=1)).max())
    return dr_A * (np.floor(far / dr_A) + 1.0)


def _origins(nf: int, lag: int, n_origins: int) -> np.ndarray:
    avail = nf - lag
    if avail <= n_origins:
        return np.arange(avail)
    return np.unique(np.linspace(0, avail - 1, n_origins).round().astype(int))


def van_hove(traj: Trajectory, species: str, lags_fs: Sequence[float] | None = None,
             n_lags: int = 10, r_max_A: float | None = None, dr_A: float = 0.05,
             n_origins: int = 200, distinct: bool = True,
             chunk_bytes: int = 64 * 2**20, r_self_max_A: float | None = None,
             drift_A: np.ndarray | None = None) -> VanHoveResult:
    """Self and distinct van Hove functions of ``species``.

    Parameters
    ----------
    traj : trajectory (positions Å, timestep fs).
    species : the (mobile) species, e.g. "Li".
    lags_fs : lag times Δt, fs (rounded to whole frames). Default: ``n_lags`` evenly spaced
        from 0 to half the run.
    n_lags : number of default lags.
    r_max_A : largest r of Gd, Å. Default: half the smallest perpendicular cell width.
    dr_A : bin width, Å (Gs and Gd).
    n_origins : time origins per lag (evenly spaced; all if fewer exist).
    distinct : also compute Gd (O(N²) per origin).
    chunk_bytes : size of the pair buffer per origin chunk, bytes.
    r_self_max_A : largest r of Gs, Å. Default: :func:`self_range_A` (every displacement).
    drift_A : (F, 3) framework centre-of-mass displacement from frame 0, Å, removed from the
        self displacements (as in the MSD); None: no correction.

    Returns
    -------
    VanHoveResult
    """
    idx = traj.indices(species)
    n = idx.size
    nf = traj.n_frames
    dt = traj.timestep_fs
    if lags_fs is None:
        lag_frames = np.unique(np.linspace(0, nf // 2, n_lags).round().astype(int))
    else:
        lag_frames = np.unique(np.round(np.asarray(lags_fs, float) / dt).astype(int))
    if lag_frames.size == 0 or lag_frames.min() < 0 or lag_frames.max() >= nf:
        raise TrajectoryError(f"lags must lie in [0, {(nf - 1) * dt}] fs for this "
                              f"{nf}-frame run; got {lags_fs}")
    if r_max_A is None:
        r_max_A = 0.5 * float(perpendicular_widths_A(traj.cells).min())
    nbins = int(np.ceil(r_max_A / dr_A - 1e-9))
    edges = np.arange(nbins + 1) * dr_A
    if r_self_max_A is None:
        r_self_max_A = self_range_A(traj, species, drift_A, dr_A)
    nself = int(np.ceil(r_self_max_A / dr_A - 1e-9))
    edges_s = np.arange(nself + 1) * dr_A
    shell_s = 4.0 / 3.0 * np.pi * (edges_s[1:] ** 3 - edges_s[:-1] ** 3)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    u = unwrapped_displacements(traj.positions, traj.cells, idx)  # (n, 3, F), one copy of the species' positions
    if drift_A is not None:
        drift_A = np.asarray(drift_A, float)
        if drift_A.shape != (nf, 3):
            raise TrajectoryError(f"drift_A must be (n_frames, 3) = ({nf}, 3), got {drift_A.shape}")
        u -= (drift_A - drift_A[:1]).T[None]
    L = lag_frames.size
    gs = np.zeros((L, nself))
    gd = np.zeros((L, nbins)) if distinct else None
    frac_in = np.zeros(L)
    n_used = np.zeros(L, int)
    if distinct:
        if n < 2:
            raise TrajectoryError(f"Gd needs >= 2 {species} atoms; pass distinct=False")
        inv = np.linalg.inv(traj.cells)
        vols = traj.volumes_A3
        cell0 = traj.cells[0]
        fast = single_image(traj.cells, r_max_A)  # constant cell, minimum image
        box = fast and bool(np.allclose(cell0, np.diag(np.diag(cell0))))
        lengths = np.diag(cell0).copy()
        if not fast:
            shifts = image_shifts(traj.cells, r_max_A)
            offdiag = ~np.eye(n, dtype=bool)

        def frac_at(frames: np.ndarray) -> np.ndarray:
            """Fractional coordinates of the species at ``frames``, (c, n, 3), made per
            chunk (no copy of the whole run is kept)."""
            pos = traj.positions[np.ix_(frames, idx)]
            if box:
                return pos / lengths
            return np.einsum("cnj,cjk->cnk", pos, inv[frames])
        chunk = max(1, int(chunk_bytes // (n * n * 3 * 8 * 3)))
    for li, lag in enumerate(lag_frames):
        o = _origins(nf, int(lag), n_origins)
        n_used[li] = o.size
        r = np.linalg.norm(u[:, :, o + lag] - u[:, :, o], axis=1).ravel()
        b = (r / dr_A).astype(np.int64)
        inside = b < nself
        frac_in[li] = inside.mean()
        gs[li] = np.bincount(b[inside], minlength=nself) / (n * o.size * shell_s)
        if distinct and fast:
            acc = vols[0] * pair_counts(frac_at(o), frac_at(o + lag), cell0, r_max_A, dr_A, nbins,
                                        "distinct")
        elif distinct:
            acc = np.zeros(nbins)
            for c0 in range(0, o.size, chunk):
                oc = o[c0:c0 + chunk]
                fa, fb = frac_at(oc + lag), frac_at(oc)
                d = fa[:, None, :, :] - fb[:, :, None, :]  # (c, i, j, 3)
                d = d[:, offdiag]  # (c, n(n-1), 3)
                rr, flat = pair_distances_within(d, traj.cells[oc + lag], r_max_A, shifts)
                cc = flat // d.shape[1]
                bb = (rr / dr_A).astype(np.int64)
                ok = bb < nbins
                acc += np.bincount(bb[ok], weights=vols[oc + lag][cc[ok]], minlength=nbins)
        if distinct:
            gd[li] = acc / (n * (n - 1) * o.size * shell)
    return VanHoveResult(species=species, r_A=0.5 * (edges[1:] + edges[:-1]),
                         lags_fs=lag_frames * dt, Gs_A3=gs, Gd=gd,
                         self_fraction_in_range=frac_in, n_origins=n_used,
                         r_self_A=0.5 * (edges_s[1:] + edges_s[:-1]), drift_corrected=drift_A is not None)
