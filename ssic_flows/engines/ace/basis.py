"""The linear ACE basis: its size chosen from the data, its inner (core) cutoffs from the data.

A *linear* ACE model gives each atom i the energy E_i = E0(Z_i) + Σ_k c_{Z_i,k} B_k(i), with
B_k the ACE basis functions (products of radial functions × spherical harmonics over the
neighbours within ``cutoff_A``, body orders 2, 3, 4 … as set by ``nradmax_by_orders``).
In pyace that is a Finnis–Sinclair embedding with one density and exponent 1 (F(ρ) = ρ).

Basis size. Too large a basis for the data is worse than a small one (measured: 2892
functions on 30 frames gave 5× the held-out error of 368), so :func:`basis_size_for` picks
the largest of :data:`BASIS_LADDER` whose number of coefficients is at most
``rows_per_coefficient`` times smaller than the number of force rows (3 × atoms in the
training data, summed over frames), and at most ``max_coefficients``.

Inner cutoff. Below ``r_in`` (per element pair) ACE is switched off over ``dcut_in_A`` and a
ZBL screened-nuclear repulsion takes over, so MD cannot collapse where there is no data;
``r_in`` is a fraction (0.6) of the shortest distance of that pair in the training data.

Example
-------
>>> n_functions(["Ag", "I"], BASIS_LADDER[3])
368
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

__all__ = ["BASIS_LADDER", "basis_config", "basis_size_for", "min_pair_distances_A",
           "n_functions"]

#: Basis sizes, smallest first: body-order radial and angular limits per element.
#: Coefficients for 2 / 3 / 4 elements: tiny 72 / 198 / 416, angular 112 / 324 / 704,
#: compact 178 / 561 / 1304, small 368 / 1320 / 3392, medium 1460 / 6165 / 17664
#: (:func:`n_functions`). ``angular`` is tiny with three-body angles up to l = 3, which a
#: tetrahedral bend needs (l ≤ 1 cannot tell 109.5° from other angles): measured by
#: ``benchmarks/mlff.py accuracy`` on LGPS and W-doped Na3SbS4 (4 elements, 40 frames,
#: where it replaces tiny), held-out force RMSE at T 72 → 64 and 99 → 84 meV/Å.
BASIS_LADDER: tuple[dict[str, Any], ...] = (
    {"name": "tiny", "nradmax_by_orders": [8, 2], "lmax_by_orders": [0, 1]},
    {"name": "angular", "nradmax_by_orders": [8, 2], "lmax_by_orders": [0, 3]},
    {"name": "compact", "nradmax_by_orders": [8, 3, 1], "lmax_by_orders": [0, 2, 1]},
    {"name": "small", "nradmax_by_orders": [8, 4, 2], "lmax_by_orders": [0, 2, 1]},
    {"name": "medium", "nradmax_by_orders": [10, 5, 3], "lmax_by_orders": [0, 3, 2]},
)


def _quiet() -> None:
    logging.getLogger("pyace").setLevel(logging.WARNING)


def basis_config(elements: list[str], size: dict[str, Any], cutoff_A: float = 5.0,
                 r_in_A: dict[tuple[str, str], float] | None = None, dcut_in_A: float = 0.2):
    """A pyace ``BBasisConfiguration`` for a linear ACE over ``elements`` (zero coefficients).

    cutoff_A: neighbour cutoff, Å. size: an entry of :data:`BASIS_LADDER`. r_in_A: inner
    cutoff per sorted element pair, Å (ZBL below it); pairs not given get 0.6 × the sum
    of covalent radii. dcut_in_A: width of the switch from ACE to ZBL, Å.
    """
    _quiet()
    from ase.data import atomic_numbers, covalent_radii
    from pyace import create_multispecies_basis_config
    from pyace.generalfit import setup_zbl_inner_core_repulsion

    els = sorted(set(elements))
    cfg = {
        "deltaSplineBins": 0.001,
        "elements": els,
        "embeddings": {"ALL": {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1],
                               "ndensity": 1, "rho_core_cut": 1e6, "drho_core_cut": 1.0}},
        "bonds": {"ALL": {"radbase": "SBessel", "radparameters": [5.25], "rcut": float(cutoff_A),
                          "dcut": 0.01, "NameOfCutoffFunction": "cos"}},
        "functions": {"ALL": {"nradmax_by_orders": list(size["nradmax_by_orders"]),
                              "lmax_by_orders": list(size["lmax_by_orders"])}},
    }
    bconf = create_multispecies_basis_config(cfg)
    r_in = dict(r_in_A or {})
    mu = {e: i for i, e in enumerate(els)}
    table = {}
    for a in els:
        for b in els:
            key = tuple(sorted((a, b)))
            default = 0.6 * (covalent_radii[atomic_numbers[a]] + covalent_radii[atomic_numbers[b]])
            table[(mu[key[0]], mu[key[1]])] = float(r_in.get(key, default))
    # rho_cut large: the linear embedding is never switched off by the density core cutoff
    setup_zbl_inner_core_repulsion(bconf, table, dr_in=float(dcut_in_A), rho_cut=1e6,
                                   drho_cut=1.0)
    return bconf


_N_FUNCTIONS: dict[tuple, int] = {}


def n_functions(elements: list[str], size: dict[str, Any]) -> int:
    """Number of linear coefficients of the basis ``size`` over ``elements`` (cached)."""
    from pyace import ACEBBasisSet

    from ssic_flows.engines.ace.design import function_offsets

    key = (tuple(sorted(set(elements))), size["name"], tuple(size["nradmax_by_orders"]),
           tuple(size["lmax_by_orders"]))
    if key not in _N_FUNCTIONS:
        _N_FUNCTIONS[key] = function_offsets(ACEBBasisSet(basis_config(elements, size)))[0]
    return _N_FUNCTIONS[key]


def basis_size_for(elements: list[str], n_force_rows: int, rows_per_coefficient: float = 8.0,
                   max_coefficients: int = 1500,
                   ladder: tuple[dict[str, Any], ...] = BASIS_LADDER) -> dict[str, Any]:
    """The largest basis of ``ladder`` with at most n_force_rows / rows_per_coefficient and
    at most ``max_coefficients`` coefficients (the exact BEEF costs O(coefficients²) per
    force component); the smallest basis when even it exceeds the budget.

    >>> basis_size_for(["Ag", "I"], n_force_rows=30 * 32 * 3)["name"]
    'compact'
    """
    budget = min(n_force_rows / float(rows_per_coefficient), float(max_coefficients))
    chosen = ladder[0]
    for size in ladder:  # smallest first: stop at the first over budget (larger ones are larger)
        if n_functions(elements, size) > budget:
            break
        chosen = size
    return dict(chosen)


def min_pair_distances_A(frames: list, cutoff_A: float) -> dict[tuple[str, str], float]:
    """Shortest distance (Å) of every sorted element pair within ``cutoff_A`` over ``frames``."""
    from ase.neighborlist import neighbor_list

    out: dict[tuple[str, str], float] = {}
    for at in frames:
        sym = np.array(at.get_chemical_symbols())
        i, j, d = neighbor_list("ijd", at, float(cutoff_A))
        if len(d) == 0:
            continue
        a, b = sym[i], sym[j]
        lo = np.where(a < b, a, b)
        hi = np.where(a < b, b, a)
        for key in set(zip(lo.tolist(), hi.tolist())):
            m = (lo == key[0]) & (hi == key[1])
            out[key] = min(out.get(key, np.inf), float(d[m].min()))
    return out
