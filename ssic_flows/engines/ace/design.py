"""Design-matrix rows of a linear ACE: how energy, forces and stress depend on the coefficients.

For a linear model every observable is linear in the coefficient vector c (length P):

- total energy      E = e · c + Σ_i E0(Z_i)          e_k = Σ_i B_k(i)        (eV)
- force on atom a   F_aα = D_aα · c                   D_aα,k = -∂e_k/∂r_aα    (eV/Å)
- stress            σ_v = s_v · c                     s_v,k = (1/V) ∂e_k/∂ε_v (eV/Å³)

``e`` and ``D`` come from pyace (``compute_projections``/``compute_b_grad``); ``s`` (ASE's
convention and Voigt order xx, yy, zz, yz, xz, xy) from central differences of ``e`` under
a symmetric strain of ±``strain`` (error O(strain²), ~1e-8 relative at 1e-4).

The same rows give the posterior variance of every force component exactly
(:mod:`ssic_flows.engines.ace.blr`), which is the BEEF of this engine.

Example
-------
>>> ev = DesignEvaluator(basis)            # doctest: +SKIP
>>> rows = ev.rows(atoms)                  # doctest: +SKIP
>>> rows.forces.shape                      # (N, 3, P)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DesignEvaluator", "FrameRows", "PRIOR_GROUPINGS", "function_offsets", "prior_groups",
           "smoothness_weights"]

#: How :func:`prior_groups` can group the coefficients for the grouped (ARD) prior.
PRIOR_GROUPINGS = ("none", "element_order")


def function_offsets(basis) -> tuple[int, list[int]]:
    """(total number of coefficients P, first column of each element's block)."""
    shift, n = [], 0
    for br1, br in zip(basis.basis_rank1, basis.basis):
        shift.append(n)
        n += len(br1) + len(br)
    return n, shift


def smoothness_weights(basis, power: float) -> np.ndarray:
    """Relative prior precision of every coefficient, (1 + Σ_t (n_t² + l_t²))^power over the
    radial (n) and angular (l) indices of the function's factors: an algebraic smoothness
    prior (as in ACEpotentials.jl) that shrinks rough, high-index functions most, so the
    model extrapolates gently where there is no data. power 0 → all ones."""
    w = []
    for br1, br in zip(basis.basis_rank1, basis.basis):
        for f in list(br1) + list(br):
            w.append((1.0 + sum(n * n for n in f.ns) + sum(l * l for l in f.ls)) ** power)
    return np.asarray(w, dtype=float)


def prior_groups(basis, grouping: str) -> np.ndarray | None:
    """A group index per coefficient for the grouped prior of :func:`~.blr.fit_evidence`:
    ``"element_order"``: one group per (central element, body order) — e.g. Ag 2-body,
    Ag 3-body, …, I 4-body; ``"none"``: None (one shared prior precision).

    >>> prior_groups(None, "none") is None
    True
    """
    if grouping not in PRIOR_GROUPINGS:
        raise ValueError(f"unknown prior grouping {grouping!r}; choose one of {PRIOR_GROUPINGS}")
    if grouping == "none":
        return None
    keys = []
    for ie, (br1, br) in enumerate(zip(basis.basis_rank1, basis.basis)):
        keys += [(ie, len(f.ns)) for f in list(br1) + list(br)]
    uniq = sorted(set(keys))
    return np.array([uniq.index(k) for k in keys], dtype=int)


@dataclass
class FrameRows:
    """Rows of one frame: ``energy`` (P,) total-energy row (eV per unit coefficient),
    ``forces`` (N, 3, P) eV/Å, ``stress`` (6, P) eV/Å³ or None, ``n_atoms``; and the
    coefficient-independent part of the model (the ZBL core repulsion below the inner
    cutoff): ``core_energy_eV``, ``core_forces_eV_A`` (N, 3), ``core_stress_eV_A3`` (6,)."""

    energy: np.ndarray
    forces: np.ndarray | None
    stress: np.ndarray | None
    n_atoms: int
    core_energy_eV: float = 0.0
    core_forces_eV_A: np.ndarray | None = None
    core_stress_eV_A3: np.ndarray | None = None


class DesignEvaluator:
    """Evaluates design rows for ASE ``Atoms`` with one pyace B-basis (zero coefficients).

    Keeps the pyace evaluator and calculator alive together (a calculator whose evaluator
    was garbage-collected crashes the process).
    """

    def __init__(self, basis):
        from pyace import ACEBEvaluator, ACECalculator

        self.basis = basis
        self._evaluator = ACEBEvaluator(basis)
        self._calc = ACECalculator(self._evaluator)
        self.n_coef, self.offsets = function_offsets(basis)
        self.elements = list(basis.elements_name)
        self._map = basis.elements_to_index_map
        self.cutoff_A = float(basis.cutoffmax)

    def _env(self, atoms):
        from pyace.atomicenvironment import aseatoms_to_atomicenvironment

        unknown = set(atoms.get_chemical_symbols()) - set(self.elements)
        if unknown:
            raise ValueError(f"elements {sorted(unknown)} are not in the ACE basis "
                             f"{self.elements}; refit with frames that contain them")
        return aseatoms_to_atomicenvironment(atoms, cutoff=self.cutoff_A,
                                             elements_mapper_dict=self._map)

    def _energy_row(self, env) -> np.ndarray:
        row = np.zeros(self.n_coef)
        for s, proj in zip(env.species_type, self._calc.projections):
            o = self.offsets[s]
            row[o:o + len(proj)] += proj
        return row

    def energy_row(self, atoms) -> tuple[np.ndarray, float]:
        """Total-energy row e (P,) of ``atoms`` and its core-repulsion energy, eV."""
        env = self._env(atoms)
        self._calc.compute(env, compute_projections=True)
        return self._energy_row(env), float(self._calc.energy)

    def rows(self, atoms, forces: bool = True, stress: bool = False,
             strain: float = 1e-4) -> FrameRows:
        """Energy, force (and stress) rows of ``atoms``."""
        env = self._env(atoms)
        self._calc.compute(env, compute_projections=True, compute_b_grad=bool(forces))
        e = self._energy_row(env)
        core_e = float(self._calc.energy)  # zero coefficients: only the core repulsion
        core_f = np.asarray(self._calc.forces, dtype=float).reshape(len(atoms), 3).copy()
        f = None
        if forces:
            f = np.asarray(self._calc.forces_bfuncs, dtype=float).transpose(0, 2, 1).copy()
        s = core_s = None
        if stress:
            s, core_s = self.stress_rows(atoms, strain)
        return FrameRows(energy=e, forces=f, stress=s, n_atoms=len(atoms), core_energy_eV=core_e,
                         core_forces_eV_A=core_f, core_stress_eV_A3=core_s)

    def stress_rows(self, atoms, strain: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
        """Stress rows (6, P) and core-repulsion stress (6,), eV/Å³, by central differences."""
        if not all(atoms.pbc):
            raise ValueError("stress needs a periodic cell in all three directions")
        cell0 = np.array(atoms.cell)
        vol = abs(np.linalg.det(cell0))
        out = np.empty((6, self.n_coef))
        core = np.empty(6)
        voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
        for v, (i, j) in enumerate(voigt):
            rows, cores = [], []
            for sgn in (1.0, -1.0):
                eps = np.zeros((3, 3))
                eps[i, j] += 0.5 * sgn * strain
                eps[j, i] += 0.5 * sgn * strain
                a = atoms.copy()
                a.set_cell(cell0 @ (np.eye(3) + eps), scale_atoms=True)
                r, c = self.energy_row(a)
                rows.append(r)
                cores.append(c)
            out[v] = (rows[0] - rows[1]) / (2.0 * strain) / vol
            core[v] = (cores[0] - cores[1]) / (2.0 * strain) / vol
        return out, core
