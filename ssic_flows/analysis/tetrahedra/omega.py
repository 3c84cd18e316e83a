"""ω (eq. 5), θ filtering and the densities ρ(θ), ρ(ω) of tetrahedral angles.

Units: time in fs, angles in deg, angular velocities in deg/fs, filter cutoffs in cm^-1
(wavenumber; ν̃[cm^-1] = f[1/fs] × 1e15 / c[cm/s]).

ω (eq. 5) is the forward difference [θ(t + dt) − θ(t)] / dt of the (optionally low-pass
filtered, :func:`~ssic_flows.analysis.filters.lowpass_zero_phase`) θ series, with dt the
spacing of the *stored* frames.

ρ(ω) grid of a filtered ω (:func:`filtered_omega_grid`): a θ(t) low-passed at f_c is
band-limited, so (Bernstein) |ω| ≤ 2π f_c · max|θ − c| ≤ 2π f_c · 90° (θ ∈ [0°, 180°]):
the range is that bound (+10 %), and the bin is 2π f_c · Δθ/2, the angular velocity of an
oscillation at the cutoff whose amplitude is half a θ bin. At 5 cm⁻¹ and Δθ = 1° that is
4.7 × 10⁻⁴ deg/fs over ±0.093 deg/fs (396 bins): a filtered ω spread of ±0.01 deg/fs, which
the study's 0.005 deg/fs bins cut into 2–4 bins, spans ~40. The grid depends only on the
filter and Δθ, so every run of an ensemble shares it (ensemble means and distances need
one grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssic_flows.analysis.filters import lowpass_zero_phase
from ssic_flows.analysis.units import FS_INV_TO_CM_INV
from ssic_flows.analysis.tetrahedra.angles import ThetaResult
from ssic_flows.analysis.tetrahedra.detect import TetrahedraError

__all__ = ["AngleDensity", "OmegaResult", "angular_velocity", "filter_theta", "filtered_omega_grid",
           "omega_density", "theta_density"]

#: ρ(ω) bin of an unfiltered ω (the study's), deg/fs, over ±1 deg/fs.
UNFILTERED_OMEGA_BIN_DEG_PER_FS: float = 0.005


@dataclass(frozen=True, eq=False)
class AngleDensity:
    """Histogram probability density of θ (deg) or ω (deg/fs) on a fixed grid.

    Attributes
    ----------
    bin_edges:
        Grid edges, shape (B + 1,), in ``unit``.
    bin_centers:
        Shape (B,), in ``unit``.
    density:
        ρ per ``unit``, shape (B,); Σ ρ Δ = 1 over the samples inside the grid.
    unit:
        ``"deg"`` (θ) or ``"deg/fs"`` (ω).
    n_samples:
        Samples inside the grid.
    fraction_outside:
        Fraction of samples that fell outside the grid (not in ``density``).
    """

    bin_edges: np.ndarray
    bin_centers: np.ndarray
    density: np.ndarray
    unit: str
    n_samples: int
    fraction_outside: float

    @property
    def peak(self) -> float:
        """Centre of the most populated bin, in ``unit``."""
        return float(self.bin_centers[int(np.argmax(self.density))])

    def to_dict(self) -> dict:
        return {
            "unit": self.unit, "bin_edges": self.bin_edges.tolist(), "bin_centers": self.bin_centers.tolist(),
            "density": self.density.tolist(), "n_samples": self.n_samples,
            "fraction_outside": self.fraction_outside,
        }


def _density(values: np.ndarray, lo: float, hi: float, width: float, unit: str) -> AngleDensity:
    if not (hi > lo) or not (width > 0):
        raise TetrahedraError(f"density grid needs hi > lo and bin width > 0, got [{lo}, {hi}], width {width}")
    nb = int(round((hi - lo) / width))
    if nb < 1 or not np.isclose(nb * width, hi - lo, rtol=1e-9, atol=1e-12):
        raise TetrahedraError(f"range {hi - lo} {unit} is not a whole number of bins of {width} {unit}")
    edges = np.linspace(lo, hi, nb + 1)
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise TetrahedraError("no finite samples to histogram")
    counts, _ = np.histogram(v, bins=edges)
    n_in = int(counts.sum())
    if n_in == 0:
        raise TetrahedraError(
            f"all {v.size} samples ({v.min():.3g}…{v.max():.3g} {unit}) lie outside the grid [{lo}, {hi}] {unit}; "
            "widen the range")
    return AngleDensity(
        bin_edges=edges, bin_centers=0.5 * (edges[1:] + edges[:-1]), density=counts / (n_in * width),
        unit=unit, n_samples=n_in, fraction_outside=1.0 - n_in / v.size,
    )


def theta_density(
    theta: ThetaResult | np.ndarray, *, range_deg: tuple[float, float] = (0.0, 180.0), bin_width_deg: float = 0.5
) -> AngleDensity:
    """ρ(θ): histogram density of all θ samples (all frames, all columns), per deg."""
    v = theta.theta_deg if isinstance(theta, ThetaResult) else theta
    return _density(v, range_deg[0], range_deg[1], bin_width_deg, "deg")


def filtered_omega_grid(cutoff_cm1: float, theta_bin_deg: float = 1.0,
                        margin: float = 1.1) -> tuple[tuple[float, float], float]:
    """ρ(ω) grid ``((lo, hi), width)`` in deg/fs for ω of θ low-passed at ``cutoff_cm1``.

    Width 2π f_c · Δθ/2, range ± ``margin`` × 2π f_c · 90° rounded up to whole bins (module
    docstring: why).

    Examples
    --------
    >>> (lo, hi), w = filtered_omega_grid(5.0)
    >>> round(w, 6), round(hi, 4), int(round((hi - lo) / w))
    (0.000471, 0.0932, 396)
    """
    if not (cutoff_cm1 > 0) or not (theta_bin_deg > 0):
        raise TetrahedraError(f"need cutoff_cm1 > 0 and theta_bin_deg > 0, got {cutoff_cm1}, {theta_bin_deg}")
    w_c = 2.0 * np.pi * float(cutoff_cm1) / FS_INV_TO_CM_INV  # rad/fs
    width = w_c * 0.5 * float(theta_bin_deg)
    n = int(np.ceil(margin * 90.0 / (0.5 * float(theta_bin_deg)) - 1e-9))
    return (-n * width, n * width), width


def omega_density(
    omega: OmegaResult | np.ndarray,
    *,
    range_deg_per_fs: tuple[float, float] | None = None,
    bin_width_deg_per_fs: float | None = None,
    cutoff_cm1: float | None = None,
    theta_bin_deg: float = 1.0,
) -> AngleDensity:
    """ρ(ω): histogram density of all ω samples, per (deg/fs).

    Grid: as given; else, for ω of a filtered θ (``omega.filter_cutoff_cm1`` or
    ``cutoff_cm1``), :func:`filtered_omega_grid` (so the filtered distribution is resolved);
    else bins of :data:`UNFILTERED_OMEGA_BIN_DEG_PER_FS` over ±1 deg/fs.
    """
    v = omega.omega_deg_per_fs if isinstance(omega, OmegaResult) else omega
    if cutoff_cm1 is None and isinstance(omega, OmegaResult):
        cutoff_cm1 = omega.filter_cutoff_cm1
    if cutoff_cm1 is not None:
        rng, width = filtered_omega_grid(cutoff_cm1, theta_bin_deg)
    else:
        rng, width = (-1.0, 1.0), UNFILTERED_OMEGA_BIN_DEG_PER_FS
    rng = rng if range_deg_per_fs is None else range_deg_per_fs
    width = width if bin_width_deg_per_fs is None else bin_width_deg_per_fs
    return _density(v, rng[0], rng[1], width, "deg/fs")


def filter_theta(theta: ThetaResult, cutoff_cm1: float = 5.0, *, method: str = "fft") -> ThetaResult:
    """θ(t) low-pass filtered at ``cutoff_cm1`` (cm^-1) with :func:`lowpass_zero_phase`."""
    if theta.filter_cutoff_cm1 is not None:
        raise TetrahedraError("theta is already filtered; pass the raw ThetaResult from tetrahedral_angles")
    f = lowpass_zero_phase(theta.theta_deg, theta.timestep_fs, cutoff_cm1, axis=0, method=method)
    return ThetaResult(
        theta_deg=f, times_fs=theta.times_fs, tetrahedron=theta.tetrahedron, angle_slot=theta.angle_slot,
        reference_angle_deg=theta.reference_angle_deg, label=theta.label, timestep_fs=theta.timestep_fs,
        filter_cutoff_cm1=float(cutoff_cm1),
    )


@dataclass(frozen=True, eq=False)
class OmegaResult:
    """ω(t) series (eq. 5), one column per θ column.

    Attributes
    ----------
    omega_deg_per_fs:
        [θ(t + dt) − θ(t)] / dt, shape (F − 1, M), deg/fs.
    times_fs:
        t of each forward difference (left point), shape (F − 1,), fs.
    tetrahedron, angle_slot:
        As in :class:`ThetaResult`.
    label:
        Unit name.
    timestep_fs:
        dt, the spacing of the stored frames, fs.
    filter_cutoff_cm1:
        Low-pass cutoff of θ before differencing, cm^-1, or None.
    """

    omega_deg_per_fs: np.ndarray
    times_fs: np.ndarray
    tetrahedron: np.ndarray
    angle_slot: np.ndarray
    label: str
    timestep_fs: float
    filter_cutoff_cm1: float | None

    def to_dict(self) -> dict:
        return {
            "label": self.label, "timestep_fs": self.timestep_fs, "filter_cutoff_cm1": self.filter_cutoff_cm1,
            "omega_deg_per_fs": self.omega_deg_per_fs.tolist(), "times_fs": self.times_fs.tolist(),
            "tetrahedron": self.tetrahedron.tolist(), "angle_slot": self.angle_slot.tolist(),
        }


def angular_velocity(
    theta: ThetaResult, *, cutoff_cm1: float | None = 5.0, method: str = "fft"
) -> OmegaResult:
    """ω(t) by eq. 5: forward difference of θ over the frame spacing, deg/fs.

    Parameters
    ----------
    theta:
        Raw θ from :func:`tetrahedral_angles` (or an already filtered one, with
        ``cutoff_cm1=None``).
    cutoff_cm1:
        θ is low-pass filtered (zero phase, :func:`lowpass_zero_phase`) at this wavenumber
        before differencing, cm^-1; the study's methods state 5 cm^-1. Differencing and
        filtering are linear and commute, so this equals filtering ω. None: no filter.
        Note: the ω spreads quoted in the study (±0.2 deg/fs in α-AgI, ±0.5 deg/fs in SbS4)
        are of the size of the *unfiltered* librational ω; compare both.
    method:
        ``"fft"`` or ``"butterworth"`` (see :func:`lowpass_zero_phase`).
    """
    if theta.n_frames < 2:
        raise TetrahedraError("ω needs at least 2 frames")
    th = theta
    if cutoff_cm1 is not None:
        th = filter_theta(theta, cutoff_cm1, method=method)
    om = np.diff(th.theta_deg, axis=0) / theta.timestep_fs
    return OmegaResult(
        omega_deg_per_fs=om, times_fs=theta.times_fs[:-1], tetrahedron=theta.tetrahedron,
        angle_slot=theta.angle_slot, label=theta.label, timestep_fs=theta.timestep_fs,
        filter_cutoff_cm1=th.filter_cutoff_cm1,
    )
