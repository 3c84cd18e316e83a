"""Is an MSD diffusive? The test a D must pass before it is reported.

A diffusion coefficient is read off an MSD only where the MSD is that of diffusion,
MSD(t) ≈ P + 6 D t (P: the vibrational plateau the MSD reaches within the first
picosecond). Over the fit window [lo, hi]·t_max (default 10 %..60 % of the last lag) the
MSD is classified, in this order:

1. **not diffusing** — the linear fit MSD ≈ b + s·t over the window grows by less than the
   vibrational amplitude: s·(t_hi − t_lo) ≤ max(b, 0). A vibrating species that does not
   diffuse (a bounded plateau) has s ≈ 0 and b ≈ P; then D ≈ 0 is reported as "not
   diffusing" with the bound D ≲ P / (6 (t_hi − t_lo)) (a larger D would have raised the MSD
   by more than P over the window), never as a number.
2. **ballistic / super-linear** or **sub-linear** — the least-squares slopes of the window's
   two halves, s1 over [lo, mid] and s2 over [mid, hi], must agree: 1/1.5 ≤ s2/s1 ≤ 1.5
   (``max_slope_ratio``). A linear MSD with any offset has s2/s1 = 1 (measured on a real
   20 ps LGPS AIMD run: 1.28, accepted); a ballistic MSD ∝ t² has s2/s1 = (mid + hi)/(lo +
   mid) = 2.1 over 10–60 % (rejected); MSD ∝ t^1.5 gives 1.47. The log-log slope is not
   used: with a plateau P it is far below 1 while the MSD is linear (0.4 on the LGPS run).
   A rejected MSD is still in its ballistic or caging regime at 60 % of the run, so the
   crossover time is at least ~hi·t_max and a run needs t_max ≳ (hi/lo)·t_max_now for the
   window to start past it: that length is quoted as "needs ≥ X ps".
3. **too few displacements** — the total diffusive squared displacement N·6D·t_max
   (N ions of the species; He et al., npj Comput. Mater. 4, 18 (2018): the statistical
   error of D is set by the number of diffusion events, i.e. by ions × MSD) must reach
   ``min_total_sq_displacement_A2`` (default 50 Å²: about 8 hops of 2.5 Å; with fewer
   events D is uncertain by ≳ 35 %). The run length that would reach it is quoted.

Only an MSD that passes all three is **diffusive** and yields D.

Examples
--------
>>> import numpy as np
>>> t = np.arange(1000.0)                       # fs
>>> classify_msd(t, 0.3 + 6e-3 * t, n_atoms=20).regime   # plateau + 6Dt, D = 1e-3 Å²/fs
'diffusive'
>>> classify_msd(t, 1e-4 * t ** 2, n_atoms=20).regime    # ballistic
'ballistic'
>>> classify_msd(t, 0.3 * (1 - np.cos(0.2 * t)), n_atoms=20).regime   # an oscillator
'not diffusing'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssic_flows.analysis.units import A2_PER_FS_TO_CM2_PER_S

__all__ = ["DIFFUSIVE", "MSDRegime", "classify_msd", "window_mask"]

DIFFUSIVE = "diffusive"


@dataclass(frozen=True)
class MSDRegime:
    """Outcome of :func:`classify_msd`.

    Attributes
    ----------
    regime : "diffusive" | "not diffusing" | "ballistic" | "sub-linear" | "too few displacements"
        | "too short" (fewer than 6 lags in the window).
    reason : one line for tables and JSON (``D_status``), with the numbers behind it.
    slope_ratio : s2/s1 of the window's halves (None if a half slope is ≤ 0 or not tested).
    total_sq_displacement_A2 : N·6D·t_max from the window's slope, Å².
    """

    regime: str
    reason: str
    slope_ratio: float | None
    total_sq_displacement_A2: float

    @property
    def diffusive(self) -> bool:
        return self.regime == DIFFUSIVE


def window_mask(t_fs: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Lags inside ``window`` (fractions of the last lag), after checking the window."""
    lo, hi = window
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"fit window must satisfy 0 <= lo < hi <= 1 (fractions of t_max), got {window}")
    tmax = t_fs[-1]
    return (t_fs >= lo * tmax) & (t_fs <= hi * tmax)


def _slope(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    s, b = np.polyfit(t, y, 1)
    return float(s), float(b)


def classify_msd(t_fs: np.ndarray, msd_A2: np.ndarray, n_atoms: int,
                 window: tuple[float, float] = (0.1, 0.6), max_slope_ratio: float = 1.5,
                 min_total_sq_displacement_A2: float = 50.0, dim: int = 3) -> MSDRegime:
    """Classify one MSD curve (see the module docstring for the test and its numbers).

    Parameters
    ----------
    t_fs : (F,) lags, fs (t_fs[0] = 0).
    msd_A2 : (F,) MSD, Å² (3-D, or one direction with ``dim=1``).
    n_atoms : ions of the species averaged into the MSD.
    window : fit window, fractions of the last lag.
    max_slope_ratio : accepted band of s2/s1 is [1/max_slope_ratio, max_slope_ratio].
    min_total_sq_displacement_A2 : least N·2·dim·D·t_max, Å².
    dim : dimensions in the MSD (MSD = 2·dim·D·t).
    """
    t_fs, y = np.asarray(t_fs, float), np.asarray(msd_A2, float)
    m = window_mask(t_fs, window)
    tmax = float(t_fs[-1])
    if m.sum() < 6:
        return MSDRegime("too short", f"too short: the fit window {window} of {tmax / 1000:.3g} ps "
                                      f"holds {m.sum()} lags; needs >= 6", None, 0.0)
    tw, yw = t_fs[m], y[m]
    s, b = _slope(tw, yw)
    span = float(tw[-1] - tw[0])
    growth = s * span
    plateau = max(b, 0.0)
    tsd = n_atoms * s * tmax
    lo, hi = window
    ps = tmax / 1000.0
    if growth <= plateau:
        if plateau <= 0:
            return MSDRegime("not diffusing", f"not diffusing over {ps:.3g} ps: the MSD does not "
                                              "grow (a static species)", None, tsd)
        bound = plateau / (2 * dim * span) * A2_PER_FS_TO_CM2_PER_S
        return MSDRegime("not diffusing",
                         f"not diffusing over {ps:.3g} ps: MSD grows {max(growth, 0.0):.2g} Å² over "
                         f"the fit window, less than its vibrational plateau {plateau:.2g} Å² "
                         f"(D ≲ {bound:.1g} cm²/s)", None, tsd)
    h = tw.size // 2
    s1, _ = _slope(tw[:h + 1], yw[:h + 1])
    s2, _ = _slope(tw[h:], yw[h:])
    ratio = s2 / s1 if s1 > 0 and s2 > 0 else None
    need = hi / lo * ps if lo > 0 else 10 * ps
    if ratio is None or ratio > max_slope_ratio or ratio < 1.0 / max_slope_ratio:
        kind = "ballistic" if ratio is not None and ratio > max_slope_ratio else "sub-linear"
        what = (f"half-window slopes {s1:.2g}, {s2:.2g} Å²/fs" if ratio is None
                else f"half-window slopes differ {ratio:.2f}×, outside "
                     f"[{1 / max_slope_ratio:.2f}, {max_slope_ratio:.2f}]")
        return MSDRegime(kind, f"{kind} MSD over {ps:.3g} ps ({what}); needs ≥ {need:.2g} ps",
                         ratio, tsd)
    if tsd < min_total_sq_displacement_A2:
        need = ps * min_total_sq_displacement_A2 / tsd
        return MSDRegime("too few displacements",
                         f"too few displacements over {ps:.3g} ps: ions × 6Dt = {tsd:.3g} Å² < "
                         f"{min_total_sq_displacement_A2:g} Å²; needs ≥ {need:.2g} ps", ratio, tsd)
    return MSDRegime(DIFFUSIVE, f"diffusive (half-window slope ratio {ratio:.2f}, ions × 6Dt = "
                                f"{tsd:.3g} Å²)", ratio, tsd)
