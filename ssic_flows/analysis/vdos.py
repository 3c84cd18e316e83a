"""Vibrational density of states per species (the study's eqs. 2 and 3).

Wiener–Khinchin: the Fourier transform of the velocity autocorrelation equals the power
spectrum of the velocities. Each velocity component is zero-padded to ``nfft >= 2F`` (so
the correlation is linear, not circular) and the spectrum is::

    P_i(ν) = dt/F · < Σ_xyz |FFT[v_ij](ν)|² >_j          (Å²/fs per unit of 1/fs)

which is the (one-sided, ν ≥ 0) transform of the biased time-averaged VACF
⟨v(t0)·v(t0+t)⟩. Mass weighting as in eq. 2::

    VDOS_i(ν) = N_i m_i / V · P_i(ν)

with N_i the number of atoms of species i, m_i its mass (amu) and V the mean cell volume
(Å³); ``normalize="unit_area"`` instead scales each species to ∫VDOS dν̃ = 1 (cm).

Frequency axis: wavenumber ν̃ = ν / c in cm⁻¹. ``numpy.fft.rfftfreq(nfft, dt_fs)`` gives ν
in 1/fs; 1 fs⁻¹ = 10¹⁵ s⁻¹ and c = 2.99792458 × 10¹⁰ cm/s, so
ν̃ [cm⁻¹] = ν [fs⁻¹] × 10¹⁵ / c = ν [fs⁻¹] × 33356.41 cm⁻¹.

Band centre (eq. 3): ω_avg,i = ∫ ν̃ VDOS_i dν̃ / ∫ VDOS_i dν̃, always from the UNsmoothed
spectrum, over ``band_range_cm1`` (default 0 .. the Nyquist wavenumber).

Smoothing: Savitzky–Golay with the window given in cm⁻¹ (the study: 15 cm⁻¹), converted to
an odd number of points of the padded grid; polynomial order 3 by default. When the
window is narrower than ``polyorder + 2`` grid points the spectrum is left unsmoothed and
``smoothing_window_cm-1`` in the result is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError

__all__ = ["VDOSResult", "vdos", "FS_INV_TO_CM_INV", "band_center_cm1"]

#: 1/fs expressed in cm⁻¹ (10¹⁵ s⁻¹ / c, c in cm/s).
FS_INV_TO_CM_INV: float = 1e15 / 2.99792458e10


@dataclass(frozen=True)
class VDOSResult:
    """VDOS per species.

    Attributes
    ----------
    freq_cm1 : (K,) wavenumber axis, cm⁻¹.
    vdos : ``{species: (K,) array}`` unsmoothed VDOS, units ``vdos_units``.
    vdos_smoothed : ``{species: (K,) array}`` Savitzky–Golay smoothed copy (same units).
    band_center_cm1 : ``{species: float}`` eq. 3 from the unsmoothed spectrum, cm⁻¹.
    band_range_cm1 : (lo, hi) range used for the band centre, cm⁻¹.
    smoothing_window_cm1 : applied window, cm⁻¹ (0 = unsmoothed).
    vdos_units : description of the intensity unit.
    """

    freq_cm1: np.ndarray
    vdos: dict
    vdos_smoothed: dict
    band_center_cm1: dict
    band_range_cm1: tuple
    smoothing_window_cm1: float
    vdos_units: str

    @property
    def total(self) -> np.ndarray:
        """Sum over species of the unsmoothed VDOS."""
        return np.sum(list(self.vdos.values()), axis=0)

    def to_dict(self) -> dict:
        return {
            "freq_cm-1": self.freq_cm1.tolist(),
            "vdos": {k: v.tolist() for k, v in self.vdos.items()},
            "vdos_smoothed": {k: v.tolist() for k, v in self.vdos_smoothed.items()},
            "band_center_cm-1": {k: float(v) for k, v in self.band_center_cm1.items()},
            "band_range_cm-1": [float(x) for x in self.band_range_cm1],
            "smoothing_window_cm-1": float(self.smoothing_window_cm1),
            "vdos_units": self.vdos_units,
        }


def band_center_cm1(freq_cm1: np.ndarray, spectrum: np.ndarray,
                    band_range_cm1: tuple[float, float] | None = None) -> float:
    """Eq. 3: spectral mean ∫ν̃ S dν̃ / ∫ S dν̃ over ``band_range_cm1``, cm⁻¹."""
    lo, hi = (0.0, float(freq_cm1[-1])) if band_range_cm1 is None else band_range_cm1
    m = (freq_cm1 >= lo) & (freq_cm1 <= hi)
    if m.sum() < 2:
        raise ValueError(f"band range {lo}..{hi} cm⁻¹ holds fewer than 2 grid points; widen it")
    x, s = freq_cm1[m], spectrum[m]
    den = np.trapezoid(s, x)
    if den <= 0:
        raise ValueError("VDOS integrates to zero over the band range; no motion in the data?")
    return float(np.trapezoid(x * s, x) / den)


def _power_spectrum(v: np.ndarray, nfft: int, dt_fs: float, chunk_atoms: int) -> np.ndarray:
    """dt/F · mean over atoms of Σ_xyz |rfft(v)|², chunked over atoms (Å²/fs)."""
    nf, na, _ = v.shape
    acc = np.zeros(nfft // 2 + 1)
    for a0 in range(0, na, chunk_atoms):
        vf = np.fft.rfft(v[:, a0:a0 + chunk_atoms], n=nfft, axis=0)
        acc += np.einsum("kaj,kaj->k", vf.real, vf.real) + np.einsum("kaj,kaj->k", vf.imag, vf.imag)
    return acc * dt_fs / (nf * na)


def vdos(traj: Trajectory, species: Sequence[str] | None = None, smooth_window_cm1: float = 15.0,
         polyorder: int = 3, band_range_cm1: tuple[float, float] | None = None,
         normalize: str = "study", pad_factor: int = 2, max_freq_cm1: float | None = None,
         chunk_atoms: int = 64) -> VDOSResult:
    """VDOS per species from the velocity power spectrum.

    Parameters
    ----------
    traj : trajectory with ``velocities`` (Å/fs).
    species : species to compute (default all).
    smooth_window_cm1 : Savitzky–Golay window, cm⁻¹ (0 disables).
    polyorder : Savitzky–Golay polynomial order.
    band_range_cm1 : (lo, hi) cm⁻¹ for the band centre; default (0, Nyquist).
    normalize : ``"study"`` (eq. 2 prefactor N_i m_i / V, units amu·Å⁻¹·fs⁻¹) or
        ``"unit_area"`` (each species integrates to 1 over cm⁻¹).
    pad_factor : zero-pad to ``next_pow2(pad_factor × F)`` points (≥ 2).
    max_freq_cm1 : crop the returned arrays above this wavenumber (band centre is computed
        before cropping).
    chunk_atoms : atoms per FFT batch (memory).

    Returns
    -------
    VDOSResult
    """
    if traj.velocities is None:
        raise TrajectoryError(
            "VDOS needs velocities but this trajectory has none. Re-read it from a file that "
            "stores velocities, or explicitly call traj.with_finite_difference_velocities() "
            "(central differences; aliases motion faster than the frame spacing).")
    if traj.n_frames < 4:
        raise TrajectoryError(f"VDOS needs at least 4 frames, got {traj.n_frames}")
    if normalize not in ("study", "unit_area"):
        raise ValueError(f"normalize must be 'study' or 'unit_area', got {normalize!r}")
    if pad_factor < 2:
        raise ValueError("pad_factor must be >= 2 (linear, not circular, correlation)")
    species = traj.elements if species is None else list(species)
    nf = traj.n_frames
    nfft = 1 << int(np.ceil(np.log2(pad_factor * nf)))
    dt = traj.timestep_fs
    freq = np.fft.rfftfreq(nfft, d=dt) * FS_INV_TO_CM_INV
    vol = float(traj.volumes_A3.mean())
    masses = traj.masses_amu
    out, smoothed, centres = {}, {}, {}
    dnu = freq[1] - freq[0]
    win = int(round(smooth_window_cm1 / dnu)) if smooth_window_cm1 > 0 else 0
    if win % 2 == 0:
        win += 1
    apply_smooth = smooth_window_cm1 > 0 and win >= polyorder + 2
    for s in species:
        idx = traj.indices(s)
        p = _power_spectrum(traj.velocities[:, idx], nfft, dt, chunk_atoms)
        if normalize == "study":
            spec = idx.size * float(masses[idx[0]]) / vol * p
        else:
            area = np.trapezoid(p, freq)
            if area <= 0:
                raise TrajectoryError(f"species {s}: velocities are all zero; VDOS undefined")
            spec = p / area
        centres[s] = band_center_cm1(freq, spec, band_range_cm1)
        if apply_smooth:
            from scipy.signal import savgol_filter

            sm = savgol_filter(spec, win, polyorder, mode="interp")
        else:
            sm = spec.copy()
        out[s], smoothed[s] = spec, sm
    rng = (0.0, float(freq[-1])) if band_range_cm1 is None else tuple(map(float, band_range_cm1))
    if max_freq_cm1 is not None:
        keep = freq <= max_freq_cm1
        freq = freq[keep]
        out = {k: v[keep] for k, v in out.items()}
        smoothed = {k: v[keep] for k, v in smoothed.items()}
    units = ("amu/(Å·fs) [N_i m_i / V × ∫VACF e^{-2πiνt} dt]" if normalize == "study"
             else "cm (unit area over cm⁻¹)")
    return VDOSResult(freq_cm1=freq, vdos=out, vdos_smoothed=smoothed, band_center_cm1=centres,
                      band_range_cm1=rng, smoothing_window_cm1=win * dnu if apply_smooth else 0.0,
                      vdos_units=units)
