"""ASE calculator of a linear ACE model, optionally with its Bayesian force errors.

One pyace evaluation gives energy, forces and virial (eV, eV/Å); with ``with_sigma=True``
the same call also returns the B-function gradients — the force rows D of the design
matrix — from which the posterior force σ follows exactly (see :mod:`.model`). MD without
monitoring uses ``with_sigma=False`` (the fast path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ssic_flows.engines.ace.design import function_offsets

__all__ = ["AceCalculator", "FramePrediction"]


@dataclass
class FramePrediction:
    """Energy (eV), forces (N, 3) eV/Å, model force σ (N, 3) eV/Å, per-atom BEEF (N,) eV/Å,
    frame BEEF = max over atoms (eV/Å), predictive σ (N, 3) eV/Å (model ⊕ noise)."""

    energy_eV: float
    forces_eV_A: np.ndarray
    force_sigma_eV_A: np.ndarray
    beef_atoms_eV_A: np.ndarray
    beef_eV_A: float
    predictive_sigma_eV_A: np.ndarray


class AceCalculator(Calculator):
    """``AceCalculator(model, with_sigma=False)``: energy (eV), free_energy, forces (eV/Å),
    stress (eV/Å³, ASE Voigt order); with sigma also ``force_sigma`` (N, 3) eV/Å and
    ``beef`` (max over atoms of the per-atom RMS σ, eV/Å) in ``results``."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "force_sigma", "beef"]

    def __init__(self, model, with_sigma: bool = False, **kwargs):
        """model: an :class:`~ssic_flows.engines.ace.model.AceModel`."""
        super().__init__(**kwargs)
        from pyace import ACEBEvaluator, ACECalculator

        self.model = model
        self.with_sigma = bool(with_sigma)
        self._basis = model.bbasis()
        self._evaluator = ACEBEvaluator(self._basis)  # kept alive with the calculator
        self._ace = ACECalculator(self._evaluator)
        self._map = self._basis.elements_to_index_map
        self._cutoff = float(self._basis.cutoffmax)
        n, _ = function_offsets(self._basis)
        if n != len(model.coefficients):
            raise ValueError(f"model has {len(model.coefficients)} coefficients, basis {n}")
        self._chol = None
        self.last_prediction = None

    def _cholesky(self) -> np.ndarray:
        if self._chol is None:
            cov = np.asarray(self.model.covariance, dtype=float)
            try:
                self._chol = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:  # semi-definite: symmetric square root
                w, v = np.linalg.eigh(cov)
                self._chol = v * np.sqrt(w.clip(min=0.0))
        return self._chol

    def calculate(self, atoms=None, properties=("energy", "forces"), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from pyace.atomicenvironment import aseatoms_to_atomicenvironment

        at = self.atoms
        symbols = at.get_chemical_symbols()
        unknown = set(symbols) - set(self.model.elements)
        if unknown:
            raise ValueError(f"elements {sorted(unknown)} are not in this ACE model "
                             f"({self.model.elements}); train it on frames that contain them")
        env = aseatoms_to_atomicenvironment(at, cutoff=self._cutoff,
                                            elements_mapper_dict=self._map)
        want_sigma = self.with_sigma or "force_sigma" in properties or "beef" in properties
        self._ace.compute(env, compute_projections=want_sigma, compute_b_grad=want_sigma)
        n = len(at)
        energy = float(self._ace.energy) + self.model.e0_total(symbols)
        forces = np.asarray(self._ace.forces, dtype=float).reshape(n, 3)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if at.cell.rank == 3:
            vir = np.asarray(self._ace.virial, dtype=float)  # xx yy zz xy xz yz
            self.results["stress"] = vir[[0, 1, 2, 5, 4, 3]] / at.get_volume()
        if want_sigma:
            D = np.asarray(self._ace.forces_bfuncs, dtype=float)  # (N, P, 3)
            DL = np.einsum("npa,pq->naq", D, self._cholesky(), optimize=True)
            sig = np.sqrt(np.einsum("naq,naq->na", DL, DL))
            beef_atoms = np.sqrt((sig**2).mean(axis=1))
            noise = self.model.noise_per_atom(symbols)[:, None]
            self.results["force_sigma"] = sig
            self.results["beef"] = float(beef_atoms.max())
            self.last_prediction = FramePrediction(
                energy_eV=energy, forces_eV_A=forces, force_sigma_eV_A=sig,
                beef_atoms_eV_A=beef_atoms, beef_eV_A=float(beef_atoms.max()),
                predictive_sigma_eV_A=np.sqrt(sig**2 + noise**2))
