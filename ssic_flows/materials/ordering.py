"""Partial occupancies to one ordered, seeded, reproducible configuration.

Sites are grouped by their species-and-occupancy (a crystallographic orbit, or orbits with
the same occupancy); each group gets ``round(n_sites * occupancy)`` atoms of every species
(largest remainders, never more atoms than sites). Which sites they take:

* **Ewald** (when the number of configurations is at most :data:`EWALD_MAX_CONFIGS`): pymatgen's
  ``OrderDisorderedStructureTransformation`` ranks orderings by Ewald energy of the
  oxidation-state-decorated cell; the seed picks among the orderings within
  :data:`EWALD_TIE_EV_PER_ATOM` of the lowest.
* **Random** otherwise: seeded random sequential assignment per group with no two atoms
  of a group closer than ``min_separation_A`` (split sites); relaxed to 0 Å, and said so,
  if that is impossible.

:func:`order_structure` returns which one was used.

Example
-------
>>> from pymatgen.core import Lattice, Structure
>>> s = Structure(Lattice.cubic(3.0), [{"Na": 0.5}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> s = s.make_supercell((2, 1, 1), in_place=False)
>>> site_counts(s)[0][1]
{'Na': 1}
>>> o, how = order_structure(s, {"Na": 1, "Cl": -1}, seed=0)
>>> o.composition.reduced_formula, how.split(":")[0]
('NaCl2', 'ewald')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
from pymatgen.core import Structure

from .tools import SiteSelectionError, make_rng, select_separated_sites

__all__ = ["EWALD_MAX_CONFIGS", "EWALD_TIE_EV_PER_ATOM", "MIN_SEPARATION_A", "n_configurations",
           "order_structure", "site_counts"]

#: Largest number of orderings ranked by Ewald energy (pymatgen does ~5e6 per minute).
EWALD_MAX_CONFIGS = 100_000
#: Orderings this close (eV/atom) to the lowest Ewald energy count as equally good.
EWALD_TIE_EV_PER_ATOM = 1e-3
#: Default minimum distance (Å) between two atoms drawn on the sites of one group.
MIN_SEPARATION_A = 1.5


def site_counts(structure: Structure) -> list[tuple[list[int], dict[str, int]]]:
    """Disordered site groups: ``[(site indices, {element: atoms}), ...]`` (ordered sites skipped)."""
    groups: dict[tuple, list[int]] = {}
    for i, site in enumerate(structure):
        if site.is_ordered:
            continue
        key = tuple(sorted((sp.symbol, round(float(p), 6)) for sp, p in site.species.items()))
        groups.setdefault(key, []).append(i)
    out = []
    for key, idx in groups.items():
        exact = {el: len(idx) * p for el, p in key}
        counts = {el: int(math.floor(x + 1e-9)) for el, x in exact.items()}
        room = min(len(idx), int(round(sum(exact.values())))) - sum(counts.values())
        for el in sorted(exact, key=lambda e: -(exact[e] - counts[e]))[:max(room, 0)]:
            counts[el] += 1
        out.append((idx, {el: n for el, n in counts.items() if n > 0}))
    return out


def n_configurations(groups: list[tuple[list[int], dict[str, int]]]) -> float:
    """Number of distinct orderings of the groups (product of multinomial coefficients)."""
    log = 0.0
    for idx, counts in groups:
        rest = len(idx) - sum(counts.values())
        log += math.lgamma(len(idx) + 1) - sum(math.lgamma(n + 1) for n in (*counts.values(), rest))
    return math.exp(min(log, 700.0))


def order_structure(structure: Structure, oxidation_states: Mapping[str, float] | None,
                    seed: int | np.random.Generator = 0,
                    min_separation_A: float = MIN_SEPARATION_A) -> tuple[Structure, str]:
    """One ordered configuration of ``structure`` and the method used (see module docstring).

    Parameters
    ----------
    structure
        Possibly disordered cell (not modified).
    oxidation_states
        Per-element charges (e) for the Ewald ranking; None forces the random assignment.
    seed
        Non-negative integer or Generator: same seed, same configuration.
    min_separation_A
        Minimum distance, Å, between two atoms drawn on one group's sites (random method).

    Returns
    -------
    (Structure, str)
        The ordered cell (sorted by electronegativity) and e.g. ``"ordered: nothing to do"``,
        ``"ewald: ..."`` or ``"random: ..."``.
    """
    rng = make_rng(seed)
    if structure.is_ordered:
        return structure.get_sorted_structure(), "ordered: the file has no partial occupancies"
    groups = site_counts(structure)
    n_conf = n_configurations(groups)
    if oxidation_states is not None and n_conf <= EWALD_MAX_CONFIGS:
        return _ewald(structure, groups, oxidation_states, rng, n_conf)
    return _random(structure, groups, rng, min_separation_A, n_conf)


def _with_counts(structure: Structure, groups) -> Structure:
    """``structure`` with each group's occupancies set to its integer counts / n_sites."""
    s = structure.copy()
    for idx, counts in groups:
        occ = {el: n / len(idx) for el, n in counts.items()}
        for i in idx:
            s.replace(i, occ)
    return s


def _ewald(structure, groups, states, rng, n_conf) -> tuple[Structure, str]:
    from pymatgen.transformations.standard_transformations import OrderDisorderedStructureTransformation

    s = _with_counts(structure, groups)
    s.add_oxidation_state_by_element(dict(states))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranked = OrderDisorderedStructureTransformation().apply_transformation(s, return_ranked_list=20)
    e0 = min(r["energy"] for r in ranked)
    n_at = len(ranked[0]["structure"])
    ties = [r for r in ranked if (r["energy"] - e0) / n_at <= EWALD_TIE_EV_PER_ATOM]
    pick = ties[int(rng.integers(len(ties)))]["structure"]
    pick.remove_oxidation_states()
    return pick.get_sorted_structure(), (
        f"ewald: pymatgen OrderDisorderedStructureTransformation over {n_conf:.3g} orderings, "
        f"seed picked 1 of {len(ties)} within {EWALD_TIE_EV_PER_ATOM:g} eV/atom of the lowest Ewald energy")


def _random(structure, groups, rng, min_sep, n_conf) -> tuple[Structure, str]:
    species: dict[int, str | None] = {}
    relaxed = False
    for idx, counts in groups:
        free = list(idx)
        for el in sorted(counts, key=lambda e: (counts[e], e)):
            try:
                chosen = select_separated_sites(structure, free, counts[el], min_sep, rng)
            except SiteSelectionError:
                relaxed = True
                chosen = select_separated_sites(structure, free, counts[el], 0.0, rng)
            species.update({i: el for i in chosen})
            free = [i for i in free if i not in set(chosen)]
        species.update({i: None for i in free})
    keep = [i for i in range(len(structure)) if structure[i].is_ordered or species.get(i)]
    names = [structure[i].species_string if structure[i].is_ordered else species[i] for i in keep]
    out = Structure(structure.lattice, names, structure.frac_coords[keep])
    why = (f"random: seeded assignment ({n_conf:.3g} orderings, more than the "
           f"{EWALD_MAX_CONFIGS:g} an Ewald ranking takes), no two atoms of a site group closer than "
           + ("0 A (the requested %.2f A was impossible)" % min_sep if relaxed else f"{min_sep:g} A"))
    return out.get_sorted_structure(), why
