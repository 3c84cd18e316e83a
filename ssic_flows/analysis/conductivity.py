"""Nernst–Einstein conductivity and Arrhenius fits.

Nernst–Einstein (uncorrelated carriers; divide by a Haven ratio H_R for correlated ones)::

    σ = n (z e)² D / (k_B T H_R)

with n = N_carriers / V the carrier number density. Units: n in cm⁻³ (V in Å³ × 10⁻²⁴),
e in C, D in cm²/s, k_B T in J  →  C² cm⁻³ cm² s⁻¹ J⁻¹ = S/cm.

Arrhenius: X(T) = X0 exp(-Ea / (k_B T)); a straight-line fit of ln X against 1/T gives
Ea (eV) and X0. For conductivities the usual form is σT = A exp(-Ea/k_B T)
(``multiply_by_T=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ssic_flows.analysis.units import ELEMENTARY_CHARGE_C, KB_EV_PER_K, KB_J_PER_K

__all__ = ["ConductivityResult", "ArrheniusResult", "nernst_einstein", "arrhenius_fit"]


@dataclass(frozen=True)
class ConductivityResult:
    """Nernst–Einstein conductivity.

    Attributes
    ----------
    sigma_S_cm : ionic conductivity, S/cm.
    D_cm2_s, T_K, charge_e, n_carriers, volume_A3, haven_ratio : the inputs.
    number_density_cm3 : carriers per cm³.
    """

    sigma_S_cm: float
    D_cm2_s: float
    T_K: float
    charge_e: float
    n_carriers: int
    volume_A3: float
    number_density_cm3: float
    haven_ratio: float = 1.0

    def to_dict(self) -> dict:
        return {k: float(v) for k, v in self.__dict__.items()}


def nernst_einstein(D_cm2_s: float, n_carriers: int, volume_A3: float, T_K: float,
                    charge_e: float = 1.0, haven_ratio: float = 1.0) -> ConductivityResult:
    """σ = n (z e)² D / (k_B T H_R), S/cm.

    Parameters
    ----------
    D_cm2_s : tracer diffusion coefficient, cm²/s.
    n_carriers : number of mobile ions in the cell.
    volume_A3 : cell volume, Å³ (e.g. ``traj.volumes_A3.mean()``).
    T_K : temperature, K.
    charge_e : carrier charge in units of e (Li⁺: 1).
    haven_ratio : H_R (1 = uncorrelated).
    """
    for name, v in (("D_cm2_s", D_cm2_s), ("volume_A3", volume_A3), ("T_K", T_K),
                    ("haven_ratio", haven_ratio)):
        if not np.isfinite(v) or (v <= 0 and name != "D_cm2_s") or v < 0:
            raise ValueError(f"{name} must be finite and positive, got {v}")
    if n_carriers <= 0:
        raise ValueError(f"n_carriers must be > 0, got {n_carriers}")
    n_cm3 = n_carriers / (volume_A3 * 1e-24)
    q = charge_e * ELEMENTARY_CHARGE_C
    sigma = n_cm3 * q * q * D_cm2_s / (KB_J_PER_K * T_K * haven_ratio)
    return ConductivityResult(sigma_S_cm=float(sigma), D_cm2_s=float(D_cm2_s), T_K=float(T_K),
                              charge_e=float(charge_e), n_carriers=int(n_carriers),
                              volume_A3=float(volume_A3), number_density_cm3=float(n_cm3),
                              haven_ratio=float(haven_ratio))


@dataclass(frozen=True)
class ArrheniusResult:
    """Arrhenius fit X = X0 exp(-Ea / k_B T).

    Attributes
    ----------
    Ea_eV, Ea_stderr_eV : activation energy and its standard error, eV (stderr 0 for 2 points).
    prefactor : X0 in the units of the fitted quantity (× K when ``multiply_by_T``).
    T_K, values : the data fitted.
    multiply_by_T : whether X·T was fitted (σT form).
    """

    Ea_eV: float
    Ea_stderr_eV: float
    prefactor: float
    T_K: tuple
    values: tuple
    multiply_by_T: bool

    def predict(self, T_K: float | np.ndarray) -> np.ndarray:
        """The fitted quantity at temperature(s) T_K (divided by T again if σT was fitted)."""
        T = np.asarray(T_K, float)
        y = self.prefactor * np.exp(-self.Ea_eV / (KB_EV_PER_K * T))
        return y / T if self.multiply_by_T else y

    def to_dict(self) -> dict:
        return {"Ea_eV": self.Ea_eV, "Ea_stderr_eV": self.Ea_stderr_eV,
                "prefactor": self.prefactor, "T_K": list(self.T_K), "values": list(self.values),
                "multiply_by_T": self.multiply_by_T}


def arrhenius_fit(T_K: Sequence[float], values: Sequence[float],
                  multiply_by_T: bool = False) -> ArrheniusResult:
    """Fit ln X (or ln X·T) = ln X0 - Ea/(k_B T).

    Parameters
    ----------
    T_K : temperatures, K (at least 2 distinct).
    values : D (cm²/s) or σ (S/cm), all > 0.
    multiply_by_T : fit σT instead of σ.
    """
    T = np.asarray(T_K, float)
    y = np.asarray(values, float)
    if T.shape != y.shape or T.ndim != 1:
        raise ValueError(f"T_K and values must be 1-D of equal length, got {T.shape}, {y.shape}")
    if np.unique(T).size < 2:
        raise ValueError("an Arrhenius fit needs at least two distinct temperatures")
    if np.any(y <= 0) or np.any(T <= 0):
        raise ValueError("Arrhenius fit needs positive temperatures and values (no D = 0 runs)")
    z = np.log(y * T if multiply_by_T else y)
    x = 1.0 / (KB_EV_PER_K * T)
    A = np.vstack([x, np.ones_like(x)]).T
    coef, *_ = np.linalg.lstsq(A, z, rcond=None)
    resid = z - A @ coef
    if T.size > 2:
        se = float(np.sqrt(resid @ resid / (T.size - 2) / ((x - x.mean()) ** 2).sum()))
    else:
        se = 0.0
    return ArrheniusResult(Ea_eV=float(-coef[0]), Ea_stderr_eV=se, prefactor=float(np.exp(coef[1])),
                           T_K=tuple(map(float, T)), values=tuple(map(float, y)),
                           multiply_by_T=multiply_by_T)
