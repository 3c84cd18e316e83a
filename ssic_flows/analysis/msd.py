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
*one* framework per trajectory, the species not in ``mobile`` (as pymatgen-analysis-diffusion
does; the thermostat lets the whole cell wander in AIMD), from every species, the framework
species included (a static sublattice among diffusing ions then has MSD 0, not the mobile
ions' centre-of-mass wander); ``"all"`` that of all atoms, ``"none"`` nothing. Every atom is
unwrapped once: the drift R(t) is removed afterwards exactly, since for the atoms i of a
species with mean position X(t)::

    <|Δx_i − ΔR|²> = <|Δx_i|²> − 2 ΔX·ΔR + |ΔR|²     (Δ over each origin and lag)

and the two correction terms are cross-correlations of three-component series (FFT).

Diffusion coefficients (3-D; per direction: MSD_x = 2 D_x t), in cm²/s using
1 Å²/fs = 10⁻¹⁶ cm² / 10⁻¹⁵ s = 0.1 cm²/s, reported only for a species whose MSD passes
the diffusive-regime test of :mod:`ssic_flows.analysis.msd_regime` (linear over the fit
window, growing beyond its vibrational plateau, enough ions × displacement); otherwise
``None`` with the reason in ``D_status``:

* ``D_final`` — the study's eq. 7, D = MSD(t_max) / (6 t_max), t_max the last lag;
* ``D_fit`` — least-squares slope of MSD(t) = 6 D t + b over the diffusive regime, by
  default lags between 10 % and 60 % of t_max (short lags are ballistic/vibrational, long
  lags have few independent origins and are noisy). Its uncertainty is the seed-to-seed
  spread of an ensemble (an OLS error over correlated lags would be far too small, so none
  is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ssic_flows.analysis.geometry import RowUnwrapper, atom_positions, unwrapped_positions
from ssic_flows.analysis.msd_regime import DIFFUSIVE, classify_msd, window_mask
from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.analysis.units import A2_PER_FS_TO_CM2_PER_S

__all__ = ["MSDResult", "msd", "msd_fft_sums", "com_drift_A", "framework_drift_A", "linear_diffusion_fit"]


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


def framework_drift_A(traj: Trajectory, mobile: Sequence[str], drift: str = "framework") -> np.ndarray | None:
    """The drift :func:`msd` removes, (F, 3) Å from frame 0, for other observables (van Hove Gs).

    ``"framework"``: centre of mass of the one framework, the species not in ``mobile`` (all
    atoms when every species is mobile); ``"all"``: of all atoms; ``"none"``: None.
    """
    if drift == "none":
        return None
    fw = [e for e in traj.elements if e not in set(mobile)] if drift == "framework" else []
    idx = np.concatenate([traj.indices(e) for e in (fw or traj.elements)])
    return com_drift_A(traj, np.sort(idx))


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
                         window: tuple[float, float]) -> tuple[float, float]:
    """Slope fit MSD = 2·dim·D·t + b over a fractional window of the time axis.

    Returns
    -------
    (D_A2_per_fs, intercept_A2)
    """
    m = window_mask(t_fs, window)
    if m.sum() < 3:
        raise TrajectoryError(f"fit window {window} holds {m.sum()} lags; need >= 3 (longer run)")
    slope, b = np.polyfit(t_fs[m], msd_A2[m], 1)
    return float(slope) / (2 * dim), float(b)


@dataclass(frozen=True)
class MSDResult:
    """MSD per species and diffusion coefficients.

    Attributes
    ----------
    t_fs : (F,) lag times, fs.
    msd_A2 : ``{species: (F,) array}`` 3-D MSD, Å².
    msd_xyz_A2 : ``{species: (F, 3) array}`` per-direction MSD, Å² (when ``per_direction``).
    D_fit_cm2_s : ``{species: float | None}`` slope fit over ``fit_window``, cm²/s; None
        where the MSD is not diffusive (``D_status`` says why).
    D_final_cm2_s : ``{species: float | None}`` eq. 7, MSD(t_max)/(6 t_max), cm²/s; None
        likewise.
    D_regime : ``{species: str}`` "diffusive", "not diffusing", "ballistic", "sub-linear"
        "too few displacements" or "too short" (:func:`ssic_flows.analysis.msd_regime.classify_msd`).
    D_status : ``{species: str}`` one line: the regime and the numbers behind it.
    D_xyz_fit_cm2_s : ``{species: [Dx, Dy, Dz] | None}`` per-direction fit, cm²/s.
    fit_window : (lo, hi) fraction of t_max used by the fit.
    drift : drift-removal mode used ("framework", "all", "none").
    mobile, framework : the mobile species and the one framework (species whose centre of
        mass is removed from every species; empty unless ``drift="framework"``).
    """

    t_fs: np.ndarray
    msd_A2: dict
    D_fit_cm2_s: dict
    D_final_cm2_s: dict
    D_regime: dict
    D_status: dict
    fit_window: tuple
    drift: str
    mobile: tuple = ()
    framework: tuple = ()
    msd_xyz_A2: dict | None = None
    D_xyz_fit_cm2_s: dict | None = None

    def to_dict(self) -> dict:
        def num(v):
            return None if v is None else float(v)

        d = {
            "t_fs": self.t_fs.tolist(),
            "msd_A2": {k: v.tolist() for k, v in self.msd_A2.items()},
            "D_fit_cm2_s": {k: num(v) for k, v in self.D_fit_cm2_s.items()},
            "D_final_cm2_s": {k: num(v) for k, v in self.D_final_cm2_s.items()},
            "D_regime": dict(self.D_regime),
            "D_status": dict(self.D_status),
            "fit_window": [float(x) for x in self.fit_window],
            "drift": self.drift,
            "mobile": list(self.mobile),
            "framework": list(self.framework),
        }
        if self.msd_xyz_A2 is not None:
            d["msd_xyz_A2"] = {k: v.tolist() for k, v in self.msd_xyz_A2.items()}
            d["D_xyz_fit_cm2_s"] = {k: None if v is None else [float(x) for x in v]
                                    for k, v in self.D_xyz_fit_cm2_s.items()}
        return d


def msd(traj: Trajectory, species: Sequence[str] | None = None, drift: str = "framework",
        mobile: Sequence[str] | None = None, fit_window: tuple[float, float] = (0.1, 0.6),
        per_direction: bool = False, chunk_atoms: int | None = None,
        regime: dict | None = None) -> MSDResult:
    """MSD per species (FFT, all origins) with D from eq. 7 and from a linear fit.

    Parameters
    ----------
    traj : trajectory (wrapped or unwrapped positions, Å; timestep fs).
    species : species to analyse (default all).
    drift : "framework" | "all" | "none" (see module docstring). "framework" with no
        framework species left (every species mobile, or one species) falls back to "all".
    mobile : the mobile species (the material's, e.g. ``MaterialInfo.mobile_species``); the
        one framework is every other species, used for every analysed species. Default:
        the species with the largest undrifted MSD over the fit window (stated in
        ``MSDResult.mobile``).
    fit_window : fractions of t_max bounding the linear fit (default 10 %..60 %).
    per_direction : also return per-direction MSD and D_x, D_y, D_z.
    chunk_atoms : atoms per FFT batch; the default keeps a batch near 10⁶ numbers
        (16 atoms for 20 000 frames), so the scratch space stays small and cache-resident.
    regime : keyword arguments for :func:`~ssic_flows.analysis.msd_regime.classify_msd`
        (``max_slope_ratio``, ``min_total_sq_displacement_A2``).

    Returns
    -------
    MSDResult

    Examples
    --------
    A static sublattice among random walkers has MSD 0 in the framework frame:

    >>> rng = np.random.default_rng(0)
    >>> walk = rng.normal(scale=0.3, size=(200, 20, 3)).cumsum(0)
    >>> still = np.broadcast_to(rng.random((1, 4, 3)) * 10, (200, 4, 3))
    >>> tr = Trajectory(["Li"] * 20 + ["S"] * 4, np.concatenate([walk, still], 1), np.eye(3) * 10, 2.0)
    >>> m = msd(tr, mobile=["Li"])
    >>> float(np.abs(m.msd_A2["S"]).max()) < 1e-9, m.D_regime["S"]
    (True, 'not diffusing')
    """
    if drift not in ("framework", "all", "none"):
        raise ValueError(f"drift must be 'framework', 'all' or 'none', got {drift!r}")
    nf = traj.n_frames
    if nf < 5:
        raise TrajectoryError(f"MSD needs at least 5 frames, got {nf}")
    species = traj.elements if species is None else list(species)
    for s in [*species, *(mobile or [])]:
        traj.indices(s)  # validates
    if chunk_atoms is None:  # about 10⁶ numbers per chunk: the scratch stays in cache
        chunk_atoms = max(4, min(256, 10**6 // (3 * nf)))
    if chunk_atoms < 1:
        raise ValueError(f"chunk_atoms must be >= 1, got {chunk_atoms}")
    t = traj.times_fs
    masses = traj.masses_amu
    window_mask(t, fit_window)  # validates the window before any work

    # the framework: one list for every species; a default mobile set needs every
    # species' raw MSD first, so then every species goes through the FFT pass
    guess = drift == "framework" and mobile is None
    fft_species = list(traj.elements) if guess else list(species)
    needed = list(traj.elements) if drift != "none" else list(species)

    # one pass: every needed atom unwrapped once, a chunk at a time, straight into the
    # zero-padded rows the FFT reads; per species the FFT sums (if asked for), the summed
    # position X_sum(t) and the mass-weighted sum M_sum(t)
    nfft = _fft_length(nf)
    chunk_atoms = min(chunk_atoms, max(traj.indices(e).size for e in needed))
    buf = np.zeros((3 * chunk_atoms, nfft))  # columns >= F stay zero: the FFT padding
    unwrap = RowUnwrapper(traj.positions, traj.cells, chunk_atoms)
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
            if e in fft_species:
                p, q = _power_and_squares(rows, nf)
                pw += p
                sq += q
            y = rows[:, :nf].reshape(sl.size, 3, nf)
            xsum[e] += y.sum(axis=0).T
            msum[e] += np.einsum("nkf,n->fk", y, masses[sl])
        if e in fft_species:
            raw[e] = _msd_from_power(pw, sq, nfft)
    if guess:
        w = window_mask(t, fit_window)
        mobile = [max(raw, key=lambda e: float(raw[e][w].sum(axis=1).mean()) / traj.indices(e).size)]
    framework: list[str] = []
    used = drift
    if drift == "framework":
        framework = [e for e in traj.elements if e not in set(mobile)]
        if not framework:
            used = "all"  # nothing outside the mobile set: all atoms, as documented
    ref_species = framework if used == "framework" else list(traj.elements) if used == "all" else []
    R = None
    if ref_species:
        mtot = sum(float(masses[traj.indices(e)].sum()) for e in ref_species)
        R = sum(msum[e] for e in ref_species) / mtot  # the one framework's COM, (F, 3)
        RR = cross_displacement_sums(R, R)
    lag_count = (nf - np.arange(nf))[:, None]
    crit = dict(regime or {})

    msd3, msdxyz, dfit, dfin, dxyz, reg, status = {}, {}, {}, {}, {}, {}, {}
    for sp in species:
        n_sp = traj.indices(sp).size
        acc = raw[sp] / n_sp
        if R is not None:
            X = xsum[sp] / n_sp
            acc = acc + (RR - 2.0 * cross_displacement_sums(X, R)) / lag_count
        acc[0] = 0.0
        m3 = acc.sum(axis=1)
        msd3[sp] = m3
        r = classify_msd(t, m3, n_sp, fit_window, **crit)
        reg[sp], status[sp] = r.regime, r.reason
        ok = r.regime == DIFFUSIVE
        D = linear_diffusion_fit(t, m3, 3, fit_window)[0] if ok else None
        dfit[sp] = None if D is None else D * A2_PER_FS_TO_CM2_PER_S
        dfin[sp] = m3[-1] / (6.0 * t[-1]) * A2_PER_FS_TO_CM2_PER_S if ok else None
        if per_direction:
            msdxyz[sp] = acc
            dxyz[sp] = ([linear_diffusion_fit(t, acc[:, k], 1, fit_window)[0] * A2_PER_FS_TO_CM2_PER_S
                         for k in range(3)] if ok else None)
    return MSDResult(t_fs=t, msd_A2=msd3, D_fit_cm2_s=dfit, D_final_cm2_s=dfin, D_regime=reg,
                     D_status=status, fit_window=tuple(fit_window), drift=used,
                     mobile=tuple(mobile or ()), framework=tuple(framework if used == "framework" else ()),
                     msd_xyz_A2=msdxyz if per_direction else None,
                     D_xyz_fit_cm2_s=dxyz if per_direction else None)
