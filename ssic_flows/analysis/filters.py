"""Zero-phase low-pass filtering of sampled time series (no time shift of any component).

Units: sampling interval in fs, cutoffs in cm^-1 (wavenumber; f[1/fs] = ν̃ × c × 1e-15,
:mod:`ssic_flows.analysis.units`). Generic: used for the θ(t) series of the tetrahedra
analysis (the study's 5 cm^-1 "Fourier filter") and usable for any (F, ...) series.

Example
-------
>>> import numpy as np
>>> t = np.arange(8000) * 5.0  # fs, 40 ps
>>> slow = np.sin(2 * np.pi * t / 20000.0)  # 1.7 cm^-1: kept
>>> fast = 0.3 * np.sin(2 * np.pi * t / 500.0)  # 67 cm^-1: removed
>>> y = lowpass_zero_phase(slow + fast, 5.0, 5.0)
>>> bool(np.abs(y - slow)[2000:-2000].max() < 1e-3)  # away from the ends (one cutoff period)
True
"""

from __future__ import annotations

import numpy as np

from ssic_flows.analysis.units import frequency_per_fs_to_wavenumber_cm1, wavenumber_cm1_to_frequency_per_fs

__all__ = ["FilterError", "lowpass_zero_phase"]


class FilterError(ValueError):
    """Bad input to a filter; the message names the problem and the fix."""


def _edge_pivots(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Slow level of (F, m) series at both ends: a quadratic least-squares fit over the
    first/last ``window`` samples, evaluated at the end sample.

    Reflecting through this level (rather than through the end sample itself) keeps fast,
    to-be-removed components from leaking a step into the padding.
    """
    w = int(min(max(window, 3), x.shape[0]))
    s = np.arange(w, dtype=float) / w
    vander = np.vander(s, 3)
    lo = np.linalg.lstsq(vander, x[:w], rcond=None)[0]
    hi = np.linalg.lstsq(vander, x[-w:], rcond=None)[0]
    return vander[0] @ lo, vander[-1] @ hi


def _odd_pad(x: np.ndarray, window: int) -> tuple[np.ndarray, int]:
    """Point-reflect (F, m) series through the edge pivots on both ends (F − 1 samples each)."""
    p = x.shape[0] - 1
    lo, hi = _edge_pivots(x, window)
    left = 2.0 * lo[None] - x[p:0:-1]
    right = 2.0 * hi[None] - x[-2:-p - 2:-1]
    return np.concatenate([left, x, right], axis=0), p


def _fft_lowpass_2d(x: np.ndarray, dt_fs: float, fc_per_fs: float, window: int) -> np.ndarray:
    """Brick-wall FFT low-pass along axis 0 of (F, m), with odd-reflection padding and tapering."""
    from scipy import fft as sfft

    n = x.shape[0]
    mu = x.mean(axis=0, keepdims=True)
    y, p = _odd_pad(x - mu, window)
    w = 0.5 * (1.0 - np.cos(np.pi * np.arange(p) / p))[:, None]
    y[:p] *= w
    y[-p:] *= w[::-1]
    nfft = sfft.next_fast_len(y.shape[0], real=True)
    spec = sfft.rfft(y, n=nfft, axis=0)
    spec[sfft.rfftfreq(nfft, dt_fs) > fc_per_fs] = 0.0
    return sfft.irfft(spec, n=nfft, axis=0)[p:p + n] + mu


def lowpass_zero_phase(
    x: np.ndarray,
    dt_fs: float,
    cutoff_cm1: float,
    *,
    axis: int = 0,
    method: str = "fft",
    order: int = 4,
    max_block_bytes: int = 64 * 2**20,
) -> np.ndarray:
    """Zero-phase low-pass filter of time series (no time shift of any component).

    Parameters
    ----------
    x:
        Series, time along ``axis``, sampled every ``dt_fs`` fs (any unit; returned in it).
    dt_fs:
        Sampling interval, fs.
    cutoff_cm1:
        Cutoff wavenumber, cm^-1 (study: 5 cm^-1); f_c[1/fs] = ν̃ × c × 1e-15.
    method:
        ``"fft"`` (default, the study's "Fourier filter"): brick-wall mask of the real FFT
        (components above f_c set to 0, those below kept exactly). The series is first
        extended on both ends by a point reflection through its slow end level (quadratic
        fit over one cutoff period 1/f_c), cosine-tapered to the mean, so that the periodic
        FFT sees no jump. ``"butterworth"``: forward–backward (``scipy.signal.sosfiltfilt``)
        Butterworth of ``order``, gain 1/(1 + (f/f_c)^(2·order)), with the same padding.
        Both are real and symmetric in frequency, hence zero phase. Within about one cutoff
        period 1/f_c (6.7 ps at 5 cm^-1) of either end the result carries edge effects of a
        few % of the removed amplitude (unavoidable for a finite series); a straight line is
        kept to ~1e-4 of its span ("fft") or exactly ("butterworth").
    order:
        Butterworth order.
    max_block_bytes:
        Columns are filtered in blocks of at most about this much memory.

    Returns
    -------
    np.ndarray
        Filtered series, same shape as ``x``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 0 or x.shape[axis] < 3:
        raise FilterError(f"need at least 3 samples along axis {axis} to filter, got shape {x.shape}")
    if not (dt_fs > 0):
        raise FilterError(f"dt_fs must be > 0, got {dt_fs}")
    nyq_cm1 = float(frequency_per_fs_to_wavenumber_cm1(0.5 / dt_fs))
    if not (0 < cutoff_cm1 < nyq_cm1):
        raise FilterError(
            f"cutoff_cm1={cutoff_cm1} must be in (0, Nyquist = {nyq_cm1:.1f} cm^-1) for dt = {dt_fs} fs")
    if not np.all(np.isfinite(x)):
        raise FilterError("series contains NaN/inf; filter finite data only")
    fc = float(wavenumber_cm1_to_frequency_per_fs(cutoff_cm1))
    xt = np.moveaxis(x, axis, 0)
    shp = xt.shape
    x2 = xt.reshape(shp[0], -1)
    out = np.empty_like(x2)
    window = int(round(1.0 / (fc * dt_fs)))  # one cutoff period, samples
    block = max(1, int(max_block_bytes // (3 * shp[0] * 8 * 4)))
    if method == "fft":
        for j in range(0, x2.shape[1], block):
            out[:, j:j + block] = _fft_lowpass_2d(x2[:, j:j + block], dt_fs, fc, window)
    elif method == "butterworth":
        from scipy.signal import butter, sosfiltfilt

        sos = butter(int(order), fc, btype="low", fs=1.0 / dt_fs, output="sos")
        for j in range(0, x2.shape[1], block):
            y, p = _odd_pad(x2[:, j:j + block], window)
            out[:, j:j + block] = sosfiltfilt(sos, y, axis=0, padtype=None)[p:p + shp[0]]
    else:
        raise FilterError(f"method must be 'fft' or 'butterworth', got {method!r}")
    return np.moveaxis(out.reshape(shp), 0, axis)
