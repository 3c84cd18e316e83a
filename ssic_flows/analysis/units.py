"""Physical constants and unit conversions of the analysis room, from ``scipy.constants``.

The analysis works in Å, fs, eV, K; results are reported in cm²/s, S/cm and cm⁻¹ as the
study does. Every conversion factor is derived here from CODATA values (SI, exact since
2019 for c, e and k_B) instead of being retyped in the modules that use it.

Example
-------
>>> round(FS_INV_TO_CM_INV, 3)  # 1/fs in cm⁻¹
33356.41
>>> A2_PER_FS_TO_CM2_PER_S
0.1
>>> round(float(wavenumber_cm1_to_frequency_per_fs(5.0)) * 1e6, 3)  # 5 cm⁻¹ in 1/fs × 1e6
149.896
"""

from __future__ import annotations

import numpy as np
from scipy import constants as _c

__all__ = ["SPEED_OF_LIGHT_CM_S", "FS_INV_TO_CM_INV", "A2_PER_FS_TO_CM2_PER_S",
           "ELEMENTARY_CHARGE_C", "KB_J_PER_K", "KB_EV_PER_K",
           "wavenumber_cm1_to_frequency_per_fs", "frequency_per_fs_to_wavenumber_cm1"]

SPEED_OF_LIGHT_CM_S: float = _c.c / _c.centi
"""Speed of light, cm/s (2.99792458e10)."""

FS_INV_TO_CM_INV: float = _c.peta / SPEED_OF_LIGHT_CM_S
"""1/fs expressed in cm⁻¹: ν̃ = f / c (10¹⁵ s⁻¹ / c in cm/s)."""

A2_PER_FS_TO_CM2_PER_S: float = (_c.angstrom / _c.centi) ** 2 / _c.femto
"""1 Å²/fs in cm²/s: 10⁻¹⁶ cm² / 10⁻¹⁵ s = 0.1."""

ELEMENTARY_CHARGE_C: float = _c.e
"""Elementary charge, C."""

KB_J_PER_K: float = _c.k
"""Boltzmann constant, J/K."""

KB_EV_PER_K: float = KB_J_PER_K / ELEMENTARY_CHARGE_C
"""Boltzmann constant, eV/K."""


def wavenumber_cm1_to_frequency_per_fs(nu_cm1: float | np.ndarray) -> float | np.ndarray:
    """ν̃ [cm^-1] → f [1/fs] = ν̃ × c[cm/s] × 1e-15."""
    return np.asarray(nu_cm1) * SPEED_OF_LIGHT_CM_S * _c.femto


def frequency_per_fs_to_wavenumber_cm1(f_per_fs: float | np.ndarray) -> float | np.ndarray:
    """f [1/fs] → ν̃ [cm^-1] = f × 1e15 / c[cm/s]."""
    return np.asarray(f_per_fs) * _c.peta / SPEED_OF_LIGHT_CM_S
