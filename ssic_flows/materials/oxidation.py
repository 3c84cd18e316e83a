"""Oxidation states of a user's structure: guessed (bond valence, then composition), overridable.

They are the charges (e) of the Nernst–Einstein conductivity and of the charge-balance check.
:func:`guess_oxidation_states` tries ``Composition.oxi_state_guesses`` (the most probable
neutral assignment, from ICSD statistics) first, then pymatgen's bond-valence analysis
(``BVAnalyzer``, from the geometry); an explicit ``override`` wins per element. Values are per element (a mixed-valence
element gets its mean).

Example
-------
>>> from pymatgen.core import Lattice, Structure
>>> s = Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> guess_oxidation_states(s)[0]
{'Na': 1.0, 'Cl': -1.0}
>>> total_charge({"Na": 3, "Cl": 3}, {"Na": 1, "Cl": -1})
0.0
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from pymatgen.core import Composition, Structure

from .tools import MaterialsError

__all__ = ["ChargeBalanceError", "guess_oxidation_states", "total_charge"]


class ChargeBalanceError(MaterialsError):
    """No charge-neutral set of oxidation states, or a built cell that is not neutral."""


def total_charge(counts: Mapping[str, float], states: Mapping[str, float]) -> float:
    """Sum of ``counts[el] * states[el]`` in e (0 for a neutral cell)."""
    missing = sorted(set(counts) - set(states))
    if missing:
        raise ChargeBalanceError(f"no oxidation state for {missing}; set oxidation_states: "
                                 f"{{{', '.join(f'{m}: q' for m in missing)}}}")
    return float(sum(float(n) * float(states[el]) for el, n in counts.items()))


def guess_oxidation_states(structure: Structure, override: Mapping[str, float] | None = None
                           ) -> tuple[dict[str, float], str]:
    """Per-element oxidation states of an ordered ``structure`` and how they were found.

    Returns
    -------
    (dict, str)
        States in e and the source: ``"composition (pymatgen oxi_state_guesses)"``,
        ``"bond valence (pymatgen BVAnalyzer)"`` or ``"given"``, with ``" + given for
        [..]"`` when ``override`` set some.

    Raises
    ------
    ChargeBalanceError
        If neither method finds a neutral assignment and ``override`` does not cover all
        elements, or the resulting states are not charge neutral.
    """
    override = {str(k): float(v) for k, v in (override or {}).items()}
    els = [el.symbol for el in structure.composition.elements]
    counts = {el.symbol: n for el, n in structure.composition.element_composition.items()}
    unknown = sorted(set(override) - set(els))
    if unknown:
        raise ChargeBalanceError(f"oxidation_states names {unknown}, not in the structure ({els}); "
                                 "remove them")
    states: dict[str, float] | None = None
    source = "given"
    if not set(els) <= set(override):
        states, source = _composition_guess(structure.composition, override)
        if states is None:
            states, source = _bond_valence(structure)
    if states is None and not set(els) <= set(override):
        raise ChargeBalanceError(
            f"no charge-neutral oxidation states for {structure.composition.reduced_formula}; "
            f"give them as oxidation_states: {{{', '.join(f'{e}: q' for e in els)}}}")
    out = {el: override.get(el, (states or {}).get(el)) for el in els}
    if override and source != "given":
        source += f" + given for {sorted(override)}"
    q = total_charge(counts, out)
    if abs(q) > 1e-6:
        raise ChargeBalanceError(
            f"oxidation states {out} leave {structure.composition.reduced_formula} with a net "
            f"charge of {q:+g} e; fix oxidation_states")
    return out, source


def _bond_valence(structure: Structure) -> tuple[dict[str, float] | None, str]:
    from pymatgen.analysis.bond_valence import BVAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            valences = BVAnalyzer().get_valences(structure)
    except (ValueError, KeyError):
        return None, ""
    per: dict[str, list[float]] = {}
    for site, v in zip(structure, valences):
        per.setdefault(site.specie.symbol, []).append(float(v))
    return {el: float(np.mean(v)) for el, v in per.items()}, "bond valence (pymatgen BVAnalyzer)"


def _composition_guess(comp: Composition, override: Mapping[str, float]
                       ) -> tuple[dict[str, float] | None, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guesses = comp.reduced_composition.oxi_state_guesses(oxi_states_override={k: [v] for k, v in override.items()})
    if not guesses:
        return None, ""
    return {k: float(v) for k, v in guesses[0].items()}, "composition (pymatgen oxi_state_guesses)"
