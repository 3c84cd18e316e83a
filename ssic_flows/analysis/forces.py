"""Per-element force errors of a force field against reference (DFT) forces.

Units: inputs in eV/Å, results in meV/Å.

Definitions (component-wise, as in VASP/MLFF force-error reports and the study's Figs. S1,
S5, S17): for the atoms of element Z over all frames, with e = F_pred − F_ref taken per
Cartesian component (3 per atom and frame, n = 3 · N_Z · F values),

* RMSE_Z = sqrt( Σ e² / n ),
* MAE_Z = Σ |e| / n,
* spread_Z = standard deviation (ddof = 0) of the reference components F_ref (the error a
  model predicting the mean force would make); a useful model has RMSE_Z < spread_Z.

95 % confidence intervals come from a nonparametric percentile bootstrap that resamples
(atom, frame) samples with replacement, the 3 components of one atom staying together
(they share one local environment). Forces of one atom in consecutive MD frames are
correlated; pass well-separated frames (e.g. the MLFF's training/validation snapshots) for
honest intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["ForceErrorInputError", "ElementForceError", "ForceErrorResult", "force_errors"]


class ForceErrorInputError(ValueError):
    """Bad input to :func:`force_errors`; the message names the problem and the fix."""


@dataclass(frozen=True)
class ElementForceError:
    """Force errors of one element (or ``"all"``), meV/Å.

    Attributes
    ----------
    element:
        Element symbol, or ``"all"`` for every atom pooled.
    n_samples:
        Number of (atom, frame) samples (each has 3 components).
    rmse_meV_A, mae_meV_A:
        Component-wise RMSE and MAE, meV/Å.
    rmse_ci95_lo_meV_A, rmse_ci95_hi_meV_A, mae_ci95_lo_meV_A, mae_ci95_hi_meV_A:
        Bootstrap 95 % percentile interval bounds, meV/Å.
    ref_spread_meV_A:
        Standard deviation of the reference force components, meV/Å.
    """

    element: str
    n_samples: int
    rmse_meV_A: float
    mae_meV_A: float
    rmse_ci95_lo_meV_A: float
    rmse_ci95_hi_meV_A: float
    mae_ci95_lo_meV_A: float
    mae_ci95_hi_meV_A: float
    ref_spread_meV_A: float

    @property
    def rmse_below_spread(self) -> bool:
        """True when the whole RMSE interval lies below the reference spread."""
        return self.rmse_ci95_hi_meV_A < self.ref_spread_meV_A

    def to_dict(self) -> dict:
        return {
            "element": self.element, "n_samples": self.n_samples, "rmse_meV_A": self.rmse_meV_A,
            "mae_meV_A": self.mae_meV_A, "rmse_ci95_lo_meV_A": self.rmse_ci95_lo_meV_A,
            "rmse_ci95_hi_meV_A": self.rmse_ci95_hi_meV_A, "mae_ci95_lo_meV_A": self.mae_ci95_lo_meV_A,
            "mae_ci95_hi_meV_A": self.mae_ci95_hi_meV_A, "ref_spread_meV_A": self.ref_spread_meV_A,
            "rmse_below_spread": self.rmse_below_spread,
        }


@dataclass(frozen=True)
class ForceErrorResult:
    """Per-element and overall force errors.

    Attributes
    ----------
    per_element:
        Element → :class:`ElementForceError`, in order of first appearance.
    overall:
        All atoms pooled (element ``"all"``).
    n_frames:
        Number of frames compared.
    n_boot:
        Bootstrap replicas.
    seed:
        Seed of the bootstrap generator.
    """

    per_element: dict[str, ElementForceError]
    overall: ElementForceError
    n_frames: int
    n_boot: int
    seed: int

    @property
    def elements(self) -> list[str]:
        return list(self.per_element)

    def rmse_meV_A(self) -> dict[str, float]:
        """Element → RMSE, meV/Å (compare with e.g. the study's force_rmse_meV_per_A)."""
        return {k: v.rmse_meV_A for k, v in self.per_element.items()}

    def to_dict(self) -> dict:
        return {
            "per_element": {k: v.to_dict() for k, v in self.per_element.items()},
            "overall": self.overall.to_dict(), "n_frames": self.n_frames, "n_boot": self.n_boot,
            "seed": self.seed,
        }


def _check_forces(name: str, f: np.ndarray, n_atoms: int) -> np.ndarray:
    a = np.asarray(f, dtype=float)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1:] != (n_atoms, 3):
        raise ForceErrorInputError(
            f"{name} must have shape ({n_atoms}, 3) or (frames, {n_atoms}, 3) in eV/Å to match "
            f"{n_atoms} species, got {np.shape(f)}")
    if not np.all(np.isfinite(a)):
        raise ForceErrorInputError(f"{name} contains NaN/inf; drop the frames whose forces are missing")
    return a


def _bootstrap_means(
    values: np.ndarray, n_boot: int, rng: np.random.Generator, max_block: int = 4_000_000
) -> np.ndarray:
    """Means of ``n_boot`` resamples-with-replacement of the rows of (n, k) ``values`` → (n_boot, k)."""
    n = values.shape[0]
    out = np.empty((n_boot, values.shape[1]))
    per = max(1, max_block // n)
    for b in range(0, n_boot, per):
        m = min(per, n_boot - b)
        draw = rng.integers(0, n, size=(m, n))
        out[b:b + m] = values[draw].mean(axis=1)
    return out


def _summarise(
    element: str, err: np.ndarray, ref: np.ndarray, n_boot: int, rng: np.random.Generator
) -> ElementForceError:
    """err, ref: (n, 3) eV/Å."""
    per_sample = np.stack([np.mean(err**2, axis=1), np.mean(np.abs(err), axis=1)], axis=1)  # (n, 2)
    boot = _bootstrap_means(per_sample, n_boot, rng)
    rmse_b = np.sqrt(boot[:, 0]) * 1e3
    mae_b = boot[:, 1] * 1e3
    lo_r, hi_r = np.percentile(rmse_b, [2.5, 97.5])
    lo_m, hi_m = np.percentile(mae_b, [2.5, 97.5])
    return ElementForceError(
        element=element, n_samples=int(err.shape[0]),
        rmse_meV_A=float(np.sqrt(np.mean(err**2)) * 1e3), mae_meV_A=float(np.mean(np.abs(err)) * 1e3),
        rmse_ci95_lo_meV_A=float(lo_r), rmse_ci95_hi_meV_A=float(hi_r),
        mae_ci95_lo_meV_A=float(lo_m), mae_ci95_hi_meV_A=float(hi_m),
        ref_spread_meV_A=float(np.std(ref) * 1e3),
    )


def force_errors(
    species: Sequence[str],
    f_pred_eV_A: np.ndarray,
    f_ref_eV_A: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
) -> ForceErrorResult:
    """Per-element component-wise RMSE and MAE of predicted vs reference forces.

    Parameters
    ----------
    species:
        Element symbol per atom, length N.
    f_pred_eV_A:
        Predicted (MLFF) forces, shape (N, 3) or (F, N, 3), eV/Å.
    f_ref_eV_A:
        Reference (DFT) forces on the same configurations, same shape, eV/Å.
    n_boot:
        Bootstrap replicas for the 95 % intervals (>= 100).
    seed:
        Seed of ``numpy.random.default_rng``; equal seeds give identical intervals.

    Returns
    -------
    ForceErrorResult
        Errors in meV/Å, per element and overall.

    Raises
    ------
    ForceErrorInputError
        Shape mismatch, non-finite forces, unknown element symbols, too few replicas.
    """
    from ase.data import atomic_numbers

    species = [str(s) for s in species]
    if not species:
        raise ForceErrorInputError("species is empty; pass one element symbol per atom")
    unknown = sorted({s for s in species if s not in atomic_numbers or s == "X"})
    if unknown:
        raise ForceErrorInputError(
            f"unknown element symbol(s) {unknown}; pass chemical symbols such as 'Li', 'S', 'Ag'")
    n = len(species)
    pred = _check_forces("f_pred_eV_A", f_pred_eV_A, n)
    ref = _check_forces("f_ref_eV_A", f_ref_eV_A, n)
    if pred.shape != ref.shape:
        raise ForceErrorInputError(
            f"f_pred_eV_A has {pred.shape[0]} frames but f_ref_eV_A has {ref.shape[0]}; pass forces of the "
            "same configurations")
    if int(n_boot) < 100:
        raise ForceErrorInputError(f"n_boot must be >= 100 for a 95 % interval, got {n_boot}")
    rng = np.random.default_rng(seed)
    err = pred - ref
    sp = np.asarray(species)
    per: dict[str, ElementForceError] = {}
    for el in dict.fromkeys(species):
        m = sp == el
        per[el] = _summarise(el, err[:, m].reshape(-1, 3), ref[:, m].reshape(-1, 3), int(n_boot), rng)
    overall = _summarise("all", err.reshape(-1, 3), ref.reshape(-1, 3), int(n_boot), rng)
    return ForceErrorResult(per_element=per, overall=overall, n_frames=int(pred.shape[0]),
                            n_boot=int(n_boot), seed=int(seed))
