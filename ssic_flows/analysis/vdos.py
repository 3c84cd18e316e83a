"""Vibrational density of states per species (the study's eqs. 2 and 3).

Wiener–Khinchin: the Fourier transform of the velocity autocorrelation equals the power
spectrum of the velocities. Each velocity component is zero-padded to ``nfft >= 2F`` (so
the correlation is linear, not circular) and the spectrum is::

    P_i(ν) = dt/F · < Σ_xyz |FFT[v_ij](ν)|² >_j          (Å²/fs per unit of 1/fs)

which is the (one-sided, ν ≥ 0) transform of the biased time-averaged VACF
⟨v(t0)·v(t0+t)⟩. By default that VACF is tapered with a half-Hann lag window before the
transform (``window="hann"``; see :func:`_power_spectrum`) to suppress leakage tails.
Mass weighting as in eq. 2::

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

Velocities derived from positions (:meth:`Trajectory.with_finite_difference_velocities`,
marked in ``metadata["velocities_derived"]``): central differences over Δt multiply each
Fourier component of v by sin(2πνΔt)/(2πνΔt), so the power spectrum by
R(ν) = sinc²(2πνΔt). The spectrum is divided by max(R, :data:`FD_RESPONSE_FLOOR`): exact
(a linear filter) wherever R ≥ 0.1, i.e. below 0.8 × the Nyquist frequency 1/(2Δt); the
correction is capped at 10× above that, where a well-sampled run has no weight anyway.
The result's ``velocities`` says which velocities were used, and
``weight_above_half_nyquist`` (per species, fraction of the spectrum above 1/(4Δt)) flags
under-sampled motion (aliasing; large values mean the band centre is not determined).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.analysis.units import FS_INV_TO_CM_INV

__all__ = ["FD_RESPONSE_FLOOR", "VDOSResult", "vdos", "band_center_cm1", "fd_power_response"]

#: Smallest central-difference power response divided out (caps the correction at 10×).
FD_RESPONSE_FLOOR: float = 0.1


def fd_power_response(freq_cm1: np.ndarray, timestep_fs: float) -> np.ndarray:
    """sinc²(2πνΔt): power response of central differences over ``timestep_fs`` (fs).

    Examples
    --------
    >>> round(float(fd_power_response(np.array([400.0]), 2.0)[0]), 4)  # 400 cm⁻¹, Δt = 2 fs
    0.9925
    """
    x = 2.0 * np.pi * np.asarray(freq_cm1, float) / FS_INV_TO_CM_INV * float(timestep_fs)
    return np.sinc(x / np.pi) ** 2


@dataclass(frozen=True)
class VDOSResult:
    """VDOS per species.

    Attributes
    ----------
    freq_cm1 : (K,) wavenumber axis, cm⁻¹.
    vdos : ``{species: (K,) array}`` unsmoothed VDOS, units ``vdos_units``.
    vdos_smoothed : ``{species: (K,) array}`` Savitzky–Golay smoothed copy (same units).
    band_center_cm1 : ``{species: float}`` eq. 3 from the unsmoothed spectrum, cm⁻¹ (NaN,
        stored as None, when the species has no weight in ``band_range_cm1``).
    band_range_cm1 : (lo, hi) range used for the band centre, cm⁻¹.
    smoothing_window_cm1 : applied window, cm⁻¹ (0 = unsmoothed).
    vdos_units : description of the intensity unit.
    velocities : ``"engine"`` or a sentence naming the derivation and its correction.
    weight_above_half_nyquist : ``{species: float}`` fraction of ∫VDOS above ν_Nyquist/2.
    """

    freq_cm1: np.ndarray
    vdos: dict
    vdos_smoothed: dict
    band_center_cm1: dict
    band_range_cm1: tuple
    smoothing_window_cm1: float
    vdos_units: str
    velocities: str = "engine"
    weight_above_half_nyquist: dict = field(default_factory=dict)

    @property
    def total(self) -> np.ndarray:
        """Sum over species of the unsmoothed VDOS."""
        return np.sum(list(self.vdos.values()), axis=0)

    def to_dict(self) -> dict:
        return {
            "freq_cm-1": self.freq_cm1.tolist(),
            "vdos": {k: v.tolist() for k, v in self.vdos.items()},
            "vdos_smoothed": {k: v.tolist() for k, v in self.vdos_smoothed.items()},
            "band_center_cm-1": {k: (float(v) if np.isfinite(v) else None)
                                 for k, v in self.band_center_cm1.items()},
            "band_range_cm-1": [float(x) for x in self.band_range_cm1],
            "smoothing_window_cm-1": float(self.smoothing_window_cm1),
            "vdos_units": self.vdos_units,
            "velocities": self.velocities,
            "weight_above_half_nyquist": {k: float(v) for k, v in self.weight_above_half_nyquist.items()},
        }


def band_center_cm1(freq_cm1: np.ndarray, spectrum: np.ndarray,
                    band_range_cm1: tuple[float, float] | None = None) -> float:
    """Eq. 3: spectral mean ∫ν̃ S dν̃ / ∫ S dν̃ over ``band_range_cm1``, cm⁻¹.

    NaN when the spectrum has no (positive) weight in the range.
    """
    lo, hi = (0.0, float(freq_cm1[-1])) if band_range_cm1 is None else band_range_cm1
    m = (freq_cm1 >= lo) & (freq_cm1 <= hi)
    if m.sum() < 2:
        raise ValueError(f"band range {lo}..{hi} cm⁻¹ holds fewer than 2 grid points; widen it")
    x, s = freq_cm1[m], spectrum[m]
    den = np.trapezoid(s, x)
    if not den > 0:
        return float("nan")  # no spectral weight in this range
    return float(np.trapezoid(x * s, x) / den)


def _power_spectrum(v: np.ndarray, nfft: int, dt_fs: float, chunk_atoms: int,
                    window: str) -> np.ndarray:
    """One-sided FT of the atom-averaged VACF Σ_xyz ⟨v(t0)·v(t0+t)⟩, (Å/fs)² fs.

    The VACF is obtained by Wiener–Khinchin (|rfft|² summed over atoms, one irfft); with
    ``window="hann"`` its unbiased form (each lag divided by its number of origins) is
    tapered with a half-Hann lag window (w(0) = 1, so the area ∫P dν = ⟨v²⟩ is kept; smooth
    at t = 0 and t = T, so no 1/ν² tails) and cosine-transformed back. Next to very sharp
    lines the tapered spectrum can dip slightly below zero (Hann side lobes, ≲3 % of the
    line height). With ``window="none"`` this is
    exactly dt/F · ⟨|FFT v|²⟩ (the periodogram), whose sinc² leakage tails bias the band
    centre upwards by ~1 % on ps-long runs; the taper removes that bias.
    """
    nf, na, _ = v.shape
    acc = np.zeros(nfft // 2 + 1)
    for a0 in range(0, na, chunk_atoms):
        vf = np.fft.rfft(v[:, a0:a0 + chunk_atoms], n=nfft, axis=0)
        acc += np.einsum("kaj,kaj->k", vf.real, vf.real) + np.einsum("kaj,kaj->k", vf.imag, vf.imag)
    if window == "none":
        return acc * dt_fs / (nf * na)
    # unbiased VACF (÷ number of origins per lag): the biased one carries the triangle
    # (1 - |t|/T), whose kink at t = 0 alone produces 1/ν² tails
    acf = np.fft.irfft(acc, n=nfft)[:nf] / (na * (nf - np.arange(nf)))
    acf *= 0.5 * (1.0 + np.cos(np.pi * np.arange(nf) / nf))
    sym = np.zeros(nfft)
    sym[:nf] = acf
    sym[nfft - nf + 1:] = acf[1:][::-1]
    return np.fft.rfft(sym).real * dt_fs


def vdos(traj: Trajectory, species: Sequence[str] | None = None, smooth_window_cm1: float = 15.0,
         polyorder: int = 3, band_range_cm1: tuple[float, float] | None = None,
         normalize: str = "study", pad_factor: int = 2, max_freq_cm1: float | None = None,
         window: str = "hann", chunk_atoms: int = 64) -> VDOSResult:
    """VDOS per species from the velocity power spectrum.

    Parameters
    ----------
    traj : trajectory with ``velocities`` (Å/fs); derived ones
        (``metadata["velocities_derived"]``) are corrected for the central-difference
        response (module docstring).
    species : species to compute (default all).
    smooth_window_cm1 : Savitzky–Golay window, cm⁻¹ (0 disables).
    polyorder : Savitzky–Golay polynomial order.
    band_range_cm1 : (lo, hi) cm⁻¹ for the band centre; default (0, Nyquist).
    normalize : ``"study"`` (eq. 2 prefactor N_i m_i / V, units amu·Å⁻¹·fs⁻¹) or
        ``"unit_area"`` (each species integrates to 1 over cm⁻¹).
    pad_factor : zero-pad to ``next_pow2(pad_factor × F)`` points (≥ 2).
    max_freq_cm1 : crop the returned arrays above this wavenumber (band centre is computed
        before cropping).
    window : lag window on the VACF before the transform: ``"hann"`` (default, half-Hann
        taper, suppresses leakage) or ``"none"`` (raw periodogram, finest resolution).
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
    if window not in ("hann", "none"):
        raise ValueError(f"window must be 'hann' or 'none', got {window!r}")
    if pad_factor < 2:
        raise ValueError("pad_factor must be >= 2 (linear, not circular, correlation)")
    species = traj.elements if species is None else list(species)
    nf = traj.n_frames
    nfft = 1 << int(np.ceil(np.log2(pad_factor * nf)))
    dt = traj.timestep_fs
    freq = np.fft.rfftfreq(nfft, d=dt) * FS_INV_TO_CM_INV
    vol = float(traj.volumes_A3.mean())
    masses = traj.masses_amu
    derived = traj.metadata.get("velocities_derived")
    if derived:
        dtd = float(derived.get("timestep_fs", dt))
        resp = np.maximum(fd_power_response(freq, dtd), FD_RESPONSE_FLOOR)
        vel_note = (f"derived: {derived.get('method', 'finite differences')}, Δt = {dtd:g} fs; "
                    f"spectrum divided by sinc²(2πνΔt) (≥ {FD_RESPONSE_FLOOR:g})")
    else:
        resp, vel_note = None, "engine"
    out, smoothed, centres, high = {}, {}, {}, {}
    dnu = freq[1] - freq[0]
    win = int(round(smooth_window_cm1 / dnu)) if smooth_window_cm1 > 0 else 0
    if win % 2 == 0:
        win += 1
    apply_smooth = smooth_window_cm1 > 0 and win >= polyorder + 2
    for s in species:
        idx = traj.indices(s)
        p = _power_spectrum(traj.velocities[:, idx], nfft, dt, chunk_atoms, window)
        if resp is not None:
            p = p / resp
        tot = np.trapezoid(p, freq)
        hi_part = freq >= 0.5 * freq[-1]
        high[s] = float(np.trapezoid(p[hi_part], freq[hi_part]) / tot) if tot > 0 else float("nan")
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
                      vdos_units=units, velocities=vel_note, weight_above_half_nyquist=high)
