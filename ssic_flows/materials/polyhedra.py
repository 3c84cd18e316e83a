"""Polyhedral units (AX4, AX6, ...) of a host framework, found with pymatgen's CrystalNN.

For every framework cation A (not a mobile species, positive oxidation state) the
CrystalNN neighbours are taken; when all are one anion X, A is the centre of an AX_n unit.
Mobile species are removed first (they would otherwise enter S/O coordination shells of
nothing, and they are what moves around the units). A disordered site counts for each of its
species.

Only tetrahedra (n = 4) feed the θ/ω/ρ(r, φ) analysis (its angles are the 12 face angles
of a tetrahedron, :mod:`ssic_flows.analysis.tetrahedra`); other units (e.g. FeO6 octahedra)
are found and recorded, not analysed.

Example
-------
>>> from pymatgen.core import Lattice, Structure
>>> s = Structure.from_spacegroup("F-43m", Lattice.cubic(5.4), ["Zn", "S"], [[0, 0, 0], [.25, .25, .25]])
>>> detect_polyhedra(s, mobile=(), oxidation_states={"Zn": 2, "S": -2})
(Polyhedron(centre='Zn', ligand='S', coordination=4, count=4),)
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pymatgen.core import Structure

__all__ = ["Polyhedron", "detect_polyhedra", "tetrahedral_units"]


@dataclass(frozen=True)
class Polyhedron:
    """A framework unit: ``count`` centres ``centre`` with ``coordination`` ligands ``ligand``."""

    centre: str
    ligand: str
    coordination: int
    count: int

    @property
    def label(self) -> str:
        """``"PS4"``, ``"FeO6"``."""
        return f"{self.centre}{self.ligand}{self.coordination}"


def detect_polyhedra(structure: Structure, mobile: Iterable[str],
                     oxidation_states: Mapping[str, float]) -> tuple[Polyhedron, ...]:
    """Units of ``structure``'s framework, most common first (ties: by label).

    Parameters
    ----------
    structure
        Cell (ordered or not) of the host.
    mobile
        Mobile species, removed before the analysis.
    oxidation_states
        Per-element charges (e): centres are positive, ligands negative.
    """
    from pymatgen.analysis.local_env import CrystalNN

    mobile = set(mobile)
    fw = structure.copy()
    for i, site in enumerate(fw):
        major = max(site.species.items(), key=lambda kv: (kv[1], kv[0].symbol))[0].symbol
        fw.replace(i, major, properties={"all": tuple(sp.symbol for sp in site.species)})
    fw.remove_sites([i for i, s in enumerate(fw) if s.specie.symbol in mobile])
    found: Counter = Counter()
    cnn = CrystalNN()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, site in enumerate(fw):
            if oxidation_states.get(site.specie.symbol, 0) <= 0:
                continue
            shell = cnn.get_nn_info(fw, i)
            ligands, nn = {n["site"].specie.symbol for n in shell}, len(shell)
            if len(ligands) == 1 and oxidation_states.get(next(iter(ligands)), 0) < 0:
                for centre in site.properties["all"]:
                    if centre not in mobile:
                        found[(centre, next(iter(ligands)), nn)] += 1
    units = [Polyhedron(c, lig, n, k) for (c, lig, n), k in found.items()]
    return tuple(sorted(units, key=lambda u: (-u.count, u.label)))


def tetrahedral_units(polyhedra: Iterable[Polyhedron]) -> dict[str, str]:
    """Centre -> ligand of the AX4 units (the ones θ/ω/ρ(r, φ) analyse)."""
    return {p.centre: p.ligand for p in polyhedra if p.coordination == 4}
