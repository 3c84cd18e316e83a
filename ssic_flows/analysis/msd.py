"""Mean-squared displacement over all time origins by FFT, and diffusion coefficients.

Algorithm (the standard O(F log F) one, e.g. Calandrini et al. / Kneller's nMOLDYN): for one
coordinate series x(t), t = 0..F-1, and lag m::

    MSD(m) = S1(m) - 2 S2(m)
    S1(m)  = 1/(F-m) Σ_{t=0}^{F-m-1} [x(t)² + x(t+m)²]      (running sums)
    S2(m)  = 1/(F-m) Σ_{t=0}^{F-m-1} x(t) x(t+m)             (autocorrelation via rfft, 2F pad)

Because the average over atoms and Cartesian components is linear, the squares and the
power spectra are summed over atoms *before* the recursion and the single inverse FFT, so
memory beyond the trajectory itself is a few chunks of atoms (``chunk_atoms``) plus O(F).

Positions are unwrapped atom-chunk by atom-chunk (:class:`~ssic_flows.analysis.geometry.RowUnwrapper`:
fractional steps brought into [-0.5, 0.5), accumulated, mapped with each frame's cell;
NPT-safe), never all at once.

Drift: ``drift="framework"`` subtracts the (mass-weighted) centre-of-mass displacement of
the framework species (every species not in ``mobile``; the thermostat lets the whole
cell wander in AIMD), ``"all"`` that of all atoms, ``"none"`` nothing. Every atom is
unwrapped once: the drift R(t) is removed afterwards exactly, since for the atoms i of a
species with mean position X(t)::

    <|Δx_i − ΔR|²> = <|Δx_i|²> − 2 ΔX·ΔR + |ΔR|²     (Δ over each origin and lag)

and the two correction terms are cross-correlations of three-component series (FFT).

Diffusion coefficients (3-D; per direction: MSD_x = 2 D_x t), in cm²/s using
1 Å²/fs = 10⁻¹⁶ cm² / 10⁻¹⁵ s = 0.1 cm²/s:

* ``D_final`` — the study's eq. 7, D = MSD(t_max) / (6 t_max), t_max the last lag;
* ``D_fit`` — least-squares slope of MSD(t) = 6 D t + b over the diffusive regime, by
  default lags between 10 % and 60 % of t_max (short lags are ballistic/vibrational, long
  lags have few independent origins and are noisy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ssic_flows.analysis.geometry import RowUnwrapper, atom_positions, unwrapped_positions
from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.analysis.units import A2_PER_FS_TO_CM2_PER_S

__all__ = ["MSDResult", "msd", "msd_fft_sums", "com_drift_A", "linear_diffusion_fit"]


def _power_and_squares(rows: np.ndarray, nf: int) -> tuple[np.ndarray, np.ndarray]:
    """FFT pieces of the MSD for one chunk of zero-padded rows (3·n, nfft).

    Returns
    -------
    (pw, sq): pw (3, nfft//2 + 1) Σ_atoms |X(ν)|² per component; sq (F, 3) Σ_atoms x(t)²,
    Å² (the data occupy the first F columns of each row; the rest must be zeros).
    """
    from scipy.fft import rfft

    n = rows.shape[0] // 3
    y = rows[:, :nf].reshape(n, 3, nf)
    sq = np.einsum("nkf,nkf->fk", y, y)
    v = rfft(rows, axis=-1).view(np.float64).reshape(n, 3, -1)  # re, im interleaved
    p2 = np.einsum("nkf,nkf->kf", v, v)  # Σ_atoms re², im² without temporaries
    return p2[:, 0::2] + p2[:, 1::2], sq


def _msd_from_power(pw: np.ndarray, sq: np.ndarray, nfft: int) -> np.ndarray:
    """Σ_atoms MSD per component (F, 3), Å², from summed power spectra and squares.

    MSD(m)·(F − m) = Σ_{t<F−m} [x(t)² + x(t+m)²] − 2 Σ_t x(t) x(t+m); the last sum is the
    inverse FFT of the power spectrum of the zero-padded series (nfft ≥ 2F, no wrap-around).
    """
    from scipy.fft import irfft

    nf = sq.shape[0]
    ac = irfft(pw, n=nfft, axis=-1)[:, :nf].T  # (F, 3) Σ_t x(t)x(t+m)
    csum = np.concatenate([np.zeros((1, 3)), np.cumsum(sq, axis=0)])  # csum[k] = Σ_{t<k}
    m = np.arange(nf)
    return (csum[nf - m] + (csum[nf] - csum[m]) - 2.0 * ac) / (nf - m)[:, None]


def _fft_length(nf: int) -> int:
    from scipy.fft import next_fast_len

    return next_fast_len(2 * nf, real=True)


def com_drift_A(traj: Trajectory, idx: np.ndarray, chunk_atoms: int = 256) -> np.ndarray:
    """Mass-weighted centre-of-mass displacement of atoms ``idx`` from frame 0, (F, 3), Å."""
    m = traj.masses_amu[idx]
    acc = np.zeros((traj.n_frames, 3))
    for a0 in range(0, idx.size, chunk_atoms):
        sl = idx[a0:a0 + chunk_atoms]
        x = unwrapped_positions(atom_positions(traj.positions, sl),
                                traj.cells[0] if traj.constant_cell else traj.cells)
        acc += np.einsum("fnk,n->fk", x - x[:1], m[a0:a0 + chunk_atoms])
    return acc / m.sum()


def msd_fft_sums(x: np.ndarray) -> np.ndarray:
    """Per-component MSD summed over atoms, by FFT over all time origins.

    Parameters
    ----------
    x : (F, n, 3) continuous positions, Å.

    Returns
    -------
    (F, 3) array: Σ_atoms MSD per Cartesian component at lags 0..F-1, Å².

    Examples
    --------
    >>> x = np.arange(4.0)[:, None, None] * np.ones((1, 1, 3))  # one atom, 1 Å per frame
    >>> np.round(msd_fft_sums(x)[:, 0], 12).tolist()
    [0.0, 1.0, 4.0, 9.0]
    """
    x = np.asarray(x, float)
    nf, n = x.shape[:2]
    rows = np.zeros((3 * n, _fft_length(nf)))
    rows[:, :nf] = x.reshape(nf, 3 * n).T
    pw, sq = _power_and_squares(rows, nf)
    return _msd_from_power(pw, sq, rows.shape[1])


def cross_displacement_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_t [a(t+m) − a(t)]·[b(t+m) − b(t)] per component, for lags m = 0..F-1.

    Parameters
    ----------
    a, b : (F, 3) series (Å).

    Returns
    -------
    (F, 3) array of sums over the F − m origins (not yet divided by F − m), Å².
    """
    from scipy.fft import irfft, next_fast_len, rfft

    nf = a.shape[0]
    nfft = next_fast_len(2 * nf, real=True)
    fa, fb = rfft(a, n=nfft, axis=0), rfft(b, n=nfft, axis=0)
    cab = irfft(fa.conj() * fb, n=nfft, axis=0)[:nf]  # Σ_t a(t) b(t+m)
    cba = irfft(fb.conj() * fa, n=nfft, axis=0)[:nf]  # Σ_t b(t) a(t+m)
    cs = np.concatenate([np.zeros((1, a.shape[1])), np.cumsum(a * b, axis=0)])
    m = np.arange(nf)
    return cs[nf - m] + (cs[nf] - cs[m]) - cab - cba


def linear_diffusion_fit(t_fs: np.ndarray, msd_A2: np.ndarray, dim: int,
                         window: tuple[float, float]) -> tuple[float, float, float]:
    """Slope fit MSD = 2·dim·D·t + b over a fractional window of the time axis.

    Returns
    -------
    (D_A2_per_fs, intercept_A2, slope_stderr_A2_per_fs)
    """
    lo, hi = window
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"fit window must satisfy 0 <= lo < hi <= 1 (fractions of t_max), got {window}")
    tmax = t_fs[-1]
    m = (t_fs >= lo * tmax) & (t_fs <= hi * tmax)
    if m.sum() < 3:
        raise TrajectoryError(f"fit window {window} holds {m.sum()} lags; need >= 3 (longer run)")
    t, y = t_fs[m], msd_A2[m]
    A = np.vstack([t, np.ones_like(t)]).T
    coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
    n = t.size
    resid = y - A @ coef
    s2 = float(resid @ resid) / max(n - 2, 1)
    se = np.sqrt(s2 / float(((t - t.mean()) ** 2).sum()))
    return coef[0] / (2 * dim), float(coef[1]), se / (2 * dim)


@dataclass(frozen=True)
class MSDResult:
    """MSD per species and diffusion coefficients.

    Attributes
    ----------
    t_fs : (F,) lag times, fs.
    msd_A2 : ``{species: (F,) array}`` 3-D MSD, Å².
    msd_xyz_A2 : ``{species: (F, 3) array}`` per-direction MSD, Å² (when ``per_direction``).
    D_fit_cm2_s : ``{species: float}`` slope fit over ``fit_window``, cm²/s.
    D_fit_stderr_cm2_s : ``{species: float}`` standard error of the slope, cm²/s.
    D_final_cm2_s : ``{species: float}`` eq. 7, MSD(t_max)/(6 t_max), cm²/s.
    D_xyz_fit_cm2_s : ``{species: [Dx, Dy, Dz]}`` per-direction fit, cm²/s (when requested).
    fit_window : (lo, hi) fraction of t_max used by the fit.
    drift : drift-removal mode used ("framework", "all", "none").
    """

    t_fs: np.ndarray
    msd_A2: dict
    D_fit_cm2_s: dict
    D_fit_stderr_cm2_s: dict
    D_final_cm2_s: dict
    fit_window: tuple
    drift: str
    msd_xyz_A2: dict | None = None
    D_xyz_fit_cm2_s: dict | None = None

    def to_dict(self) -> dict:
        d = {
            "t_fs": self.t_fs.tolist(),
            "msd_A2": {k: v.tolist() for k, v in self.msd_A2.items()},
            "D_fit_cm2_s": {k: float(v) for k, v in self.D_fit_cm2_s.items()},
            "D_fit_stderr_cm2_s": {k: float(v) for k, v in self.D_fit_stderr_cm2_s.items()},
            "D_final_cm2_s": {k: float(v) for k, v in self.D_final_cm2_s.items()},
            "fit_window": [float(x) for x in self.fit_window],
            "drift": self.drift,
        }
        if self.msd_xyz_A2 is not None:
            d["msd_xyz_A2"] = {k: v.tolist() for k, v in self.msd_xyz_A2.items()}
            d["D_xyz_fit_cm2_s"] = {k: [float(x) for x in v] for k, v in self.D_xyz_fit_cm2_s.items()}
        return d


def msd(traj: Trajectory, species: Sequence[str] | None = None, drift: str = "framework",
        mobile: Sequence[str] | None = None, fit_window: tuple[float, float] = (0.1, 0.6),
        per_direction: bool = False, chunk_atoms: int | None = None) -> MSDResult:
    """MSD per species (FFT, all origins) with D from eq. 7 and from a linear fit.

    Parameters
    ----------
    traj : trajectory (wrapped or unwrapped positions, Å; timestep fs).
    species : species to analyse (default all).
    drift : "framework" | "all" | "none" (see module docstring). "framework" with no
        framework species left (e.g. a one-species system) falls back to "all".
    mobile : species treated as mobile when ``drift="framework"``; the framework is every
        other species. Default: for each analysed species, the framework is every species
        except that one (e.g. for Ag in AgI, the I sublattice).
    fit_window : fractions of t_max bounding the linear fit (default 10 %..60 %).
    per_direction : also return per-direction MSD and D_x, D_y, D_z.
    chunk_atoms : atoms per FFT batch; the default keeps a batch near 10⁶ numbers
        (16 atoms for 20 000 frames), so the scratch space stays small and cache-resident.

    Returns
    -------
    MSDResult
    """
    if drift not in ("framework", "all", "none"):
        raise ValueError(f"drift must be 'framework', 'all' or 'none', got {drift!r}")
    nf = traj.n_frames
    if nf < 5:
        raise TrajectoryError(f"MSD needs at least 5 frames, got {nf}")
    species = traj.elements if species is None else list(species)
    for s in species:
        traj.indices(s)  # validates
    if chunk_atoms is None:  # about 10⁶ numbers per chunk: the scratch stays in cache
        chunk_atoms = max(4, min(256, 10**6 // (3 * nf)))
    if chunk_atoms < 1:
        raise ValueError(f"chunk_atoms must be >= 1, got {chunk_atoms}")
    t = traj.times_fs
    masses = traj.masses_amu

    def framework_of(sp: str) -> list[str]:
        if drift == "none":
            return []
        if drift == "framework":
            mob = set(mobile) if mobile is not None else {sp}
            fw = [e for e in traj.elements if e not in mob]
            if fw:
                return fw
        return list(traj.elements)  # "all", or a framework with nothing in it

    used = "none" if drift == "none" else drift
    if drift == "framework" and any(set(framework_of(sp)) == set(traj.elements) for sp in species):
        used = "all"  # nothing outside the mobile set: fall back to all atoms, as documented
    needed = list(dict.fromkeys([*species, *(e for sp in species for e in framework_of(sp))]))

    # one pass: every needed atom unwrapped once, a chunk at a time, straight into the
    # zero-padded rows the FFT reads; per species the FFT sums (if asked for), the summed
    # position X_sum(t) and the mass-weighted sum M_sum(t)
    nfft = _fft_length(nf)
    chunk_atoms = min(chunk_atoms, max(traj.indices(e).size for e in needed))
    buf = np.zeros((3 * chunk_atoms, nfft))  # columns >= F stay zero: the FFT padding
    unwrap = RowUnwrapper(traj.positions, traj.cells, chunk_atoms)
    want_x = {sp for sp in species if framework_of(sp)}  # X(t) for the cross term
    want_m = {e for sp in species for e in framework_of(sp)}  # framework COM R(t)
    raw: dict[str, np.ndarray] = {}
    xsum: dict[str, np.ndarray] = {}
    msum: dict[str, np.ndarray] = {}
    for e in needed:
        idx = traj.indices(e)
        pw, sq = np.zeros((3, nfft // 2 + 1)), np.zeros((nf, 3))
        xsum[e] = np.zeros((nf, 3))
        msum[e] = np.zeros((nf, 3))
        for a0 in range(0, idx.size, chunk_atoms):
            sl = idx[a0:a0 + chunk_atoms]
            rows = buf[:3 * sl.size]
            unwrap.into(sl, rows[:, :nf])
            if e in species:
                p, q = _power_and_squares(rows, nf)
                pw += p
                sq += q
            y = rows[:, :nf].reshape(sl.size, 3, nf)
            if e in want_x:
                xsum[e] += y.sum(axis=0).T
            if e in want_m:
                msum[e] += np.einsum("nkf,n->fk", y, masses[sl])
        if e in species:
            raw[e] = _msd_from_power(pw, sq, nfft)
    mtot = {e: float(masses[traj.indices(e)].sum()) for e in needed}
    lag_count = (nf - np.arange(nf))[:, None]

    msd3, msdxyz, dfit, dse, dfin, dxyz = {}, {}, {}, {}, {}, {}
    for sp in species:
        n_sp = traj.indices(sp).size
        acc = raw[sp] / n_sp
        fw = framework_of(sp)
        if fw:
            R = sum(msum[e] for e in fw) / sum(mtot[e] for e in fw)  # COM of the framework
            X = xsum[sp] / n_sp
            acc = acc + (cross_displacement_sums(R, R) - 2.0 * cross_displacement_sums(X, R)) / lag_count
        acc[0] = 0.0
        m3 = acc.sum(axis=1)
        msd3[sp] = m3
        D, _, se = linear_diffusion_fit(t, m3, 3, fit_window)
        dfit[sp] = D * A2_PER_FS_TO_CM2_PER_S
        dse[sp] = se * A2_PER_FS_TO_CM2_PER_S
        dfin[sp] = m3[-1] / (6.0 * t[-1]) * A2_PER_FS_TO_CM2_PER_S
        if per_direction:
            msdxyz[sp] = acc
            dxyz[sp] = [linear_diffusion_fit(t, acc[:, k], 1, fit_window)[0] * A2_PER_FS_TO_CM2_PER_S
                        for k in range(3)]
    return MSDResult(t_fs=t, msd_A2=msd3, D_fit_cm2_s=dfit, D_fit_stderr_cm2_s=dse,
                     D_final_cm2_s=dfin, fit_window=tuple(fit_window), drift=used,
                     msd_xyz_A2=msdxyz if per_direction else None,
                     D_xyz_fit_cm2_s=dxyz if per_direction else None)
