"""Tetragonal Na3SbS4 and W-doped Na2.94Sb0.94W0.06S4.

Crystallography
---------------
Tetragonal Na3SbS4, space group P-42₁c (No. 114), Z = 2, isotypic with tetragonal Na3PS4
(Jansen & Henseler, J. Solid State Chem. 99, 110 (1992)); a tetragonal distortion
(c/a = 1.018) of the cubic Tl3VS4-type I-43m parent (Graf & Schäfer, Z. Anorg. Allg. Chem.
425, 67 (1976): a = 7.17 Å, Sb 2a, Na 6b, S 8c x = 0.187).

* Lattice: a = 7.16 Å, c = 7.29 Å — the room-temperature values of tetragonal Na3SbS4
  (Banerjee et al., Angew. Chem. Int. Ed. 55, 9634 (2016); Zhang et al., Adv. Sci. 3,
  1600089 (2016); Wang et al., Angew. Chem. Int. Ed. 55, 8551 (2016) report a = 7.14–7.16 Å,
  c = 7.27–7.29 Å), rounded to the common 3 significant digits.
* Sb on 2a (0, 0, 0); Na1 on 2b (0, 0, 1/2); Na2 on 4d (0, 1/2, z), z = 0.426; S on 8e.
* Na2 z and the orientation of the SbS4 tetrahedron are those refined for tetragonal Na3PS4
  (Chu et al., Sci. Rep. 6, 33733 (2016), Table 3, after the origin shift (0, 0, 1/2) that puts
  the polyanion centre on 2a: Na 4d z = 0.426, S 8e = (0.155, 0.185, 0.167) with P–S 2.05 Å).
  The S position is obtained by scaling that P–S vector to the Sb–S bond length
  :data:`SB_S_BOND` = 2.33 Å (2.32 Å in the Graf & Schäfer cubic refinement; the study's
  g(r) Sb–S peak is 2.36 Å), which gives S 8e = (0.1708, 0.2039, 0.1842) in the Na3SbS4 cell.
  This is a derived model of the literature structure, not a transcription of a Na3SbS4
  refinement; it has the correct space group, Wyckoff sites, lattice and Sb–S bond length.

Doping
------
Na2.94Sb0.94W0.06S4 as in the study: in the 2×2×2 supercell (Na48 Sb16 S64, 128 atoms) one Sb
is replaced by W (1/16 = 0.0625 ≈ 0.06 to two digits, so the cell is Na47 Sb15 W S64 =
Na2.9375 Sb0.9375 W0.0625 S4, 127 atoms) and one Na⁺ is removed to compensate W⁶⁺ on Sb⁵⁺.
Which Sb becomes W is seeded (all Sb are symmetry-equivalent in the pristine cell, so this only
fixes the origin); the vacancy is drawn with the seed among the Na in the first Na shell of
W (within 0.1 Å of the shortest W–Na distance: the 4d Na at 3.62 Å and the 2b Na at 3.645 Å),
following the picture of W-induced Na vacancies bound near the dopant
(Fuchs et al., Adv. Energy Mater. 9, 1902165 (2019); Jalem et al., Chem. Mater. 32, 8373 (2020)).
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

from .doping import DopingRule, apply_doping
from .tools import AtomCountError, best_diagonal_scaling, check_seed

__all__ = [
    "A_NA3SBS4",
    "C_NA3SBS4",
    "NA3SBS4_CELL_ATOMS",
    "NA3SBS4_SITES",
    "NA3SBS4_STUDY_ATOMS",
    "NA3SBS4_W_STUDY_ATOMS",
    "SB_S_BOND",
    "SPACE_GROUP_NA3SBS4",
    "W_DOPING",
    "build_na3sbs4",
    "build_na3sbs4_w",
    "na3sbs4_parent",
]

#: Tetragonal lattice constants of Na3SbS4 in Å (room temperature; see module docstring).
A_NA3SBS4: float = 7.16
C_NA3SBS4: float = 7.29
SPACE_GROUP_NA3SBS4: str = "P-42_1c"
#: Sb–S bond length (Å) used to place S.
SB_S_BOND: float = 2.33

#: Tetragonal Na3PS4 reference (Chu et al. 2016), polyanion centre on 2a.
_NA3PS4_LATTICE = (6.956, 7.088)
_NA3PS4_S = np.array([0.155, 0.185, 0.167])


def _s_position(a: float, c: float, bond: float) -> tuple[float, float, float]:
    """S 8e coordinate: the Na3PS4 P→S direction scaled to ``bond`` Å in an (a, c) cell."""
    cart = _NA3PS4_S * np.array([_NA3PS4_LATTICE[0], _NA3PS4_LATTICE[0], _NA3PS4_LATTICE[1]])
    cart *= bond / np.linalg.norm(cart)
    frac = cart / np.array([a, a, c])
    return tuple(round(float(x), 4) for x in frac)


#: (label, Wyckoff letter, element, representative fractional coordinate) for a = 7.16, c = 7.29 Å.
NA3SBS4_SITES: tuple[tuple[str, str, str, tuple[float, float, float]], ...] = (
    ("Sb", "2a", "Sb", (0.0, 0.0, 0.0)),
    ("Na1", "2b", "Na", (0.0, 0.0, 0.5)),
    ("Na2", "4d", "Na", (0.0, 0.5, 0.426)),
    ("S", "8e", "S", _s_position(A_NA3SBS4, C_NA3SBS4, SB_S_BOND)),
)
_MULTIPLICITY = {"2a": 2, "2b": 2, "4d": 4, "8e": 8}

#: Atoms per unit cell (Na6 Sb2 S8).
NA3SBS4_CELL_ATOMS: int = 16
#: Study cell: 2×2×2 supercell.
NA3SBS4_STUDY_ATOMS: int = 128
#: Study cell of the W-doped compound (one Sb→W, one Na vacancy).
NA3SBS4_W_STUDY_ATOMS: int = 127
#: The study's doping as a rule: exactly one W⁶⁺ on Sb⁵⁺ per cell, one Na⁺ vacancy in W's first shell.
W_DOPING = DopingRule(replace="Sb", with_="W", count=1, vacancy="Na", placement="nearest")


def na3sbs4_parent(a: float = A_NA3SBS4, c: float = C_NA3SBS4, sb_s: float = SB_S_BOND) -> Structure:
    """Ordered tetragonal Na3SbS4 unit cell (P-42₁c, Z = 2, 16 atoms).

    Parameters
    ----------
    a, c
        Lattice constants in Å.
    sb_s
        Sb–S bond length in Å used to place S (see module docstring).
    """
    lattice = Lattice.tetragonal(a, c)
    sites = list(NA3SBS4_SITES[:3]) + [("S", "8e", "S", _s_position(a, c, sb_s))]
    species, coords = [], []
    for label, wyck, el, xyz in sites:
        orbit = Structure.from_spacegroup(SPACE_GROUP_NA3SBS4, lattice, [el], [xyz])
        if len(orbit) != _MULTIPLICITY[wyck]:
            raise RuntimeError(f"{label}: expected {_MULTIPLICITY[wyck]} sites on {wyck}, got {len(orbit)}")
        species += [el] * len(orbit)
        coords.append(orbit.frac_coords)
    return Structure(lattice, species, np.vstack(coords)).get_sorted_structure()


def _check_count(n_atoms: object, cell: int, offset: int, what: str, examples: str) -> int:
    ok = isinstance(n_atoms, (int, np.integer)) and not isinstance(n_atoms, bool)
    if ok and n_atoms > 0 and (n_atoms + offset) % cell == 0:
        return int(n_atoms)
    k = max(1, (int(n_atoms) + offset) // cell) if ok else 1
    near = f"{k * cell - offset} or {(k + 1) * cell - offset}"
    raise AtomCountError(f"cannot build {what} with {n_atoms!r} atoms: allowed counts are {examples}; nearest: {near}")


def build_na3sbs4(n_atoms: int = NA3SBS4_STUDY_ATOMS, seed: int = 0) -> Structure:
    """Build a pristine tetragonal Na3SbS4 supercell.

    Parameters
    ----------
    n_atoms
        A positive multiple of 16: 16 is one unit cell (demo), 128 (default) the study's
        2×2×2 supercell (14.32 × 14.32 × 14.58 Å).
    seed
        Validated (non-negative integer) for a uniform interface, but the pristine crystal is
        fully ordered, so every seed gives the same structure.

    Returns
    -------
    Structure
        Na_{6k} Sb_{2k} S_{8k} (k = n_atoms / 16), sorted Na, Sb, S.

    Raises
    ------
    AtomCountError
        If ``n_atoms`` is not a positive multiple of 16.
    InvalidSeedError
        If ``seed`` is negative or not an integer.
    """
    check_seed(seed)
    n = _check_count(
        n_atoms, NA3SBS4_CELL_ATOMS, 0, "Na3SbS4",
        "positive multiples of 16 (one Na6Sb2S8 cell), e.g. 16 (demo), 128 (study, 2x2x2)",
    )
    cell = na3sbs4_parent()
    return cell.make_supercell(best_diagonal_scaling(cell.lattice, n // NA3SBS4_CELL_ATOMS), in_place=False).get_sorted_structure()


def build_na3sbs4_w(n_atoms: int = NA3SBS4_W_STUDY_ATOMS, seed: int = 0) -> Structure:
    """Build W-doped Na3SbS4 with one W on Sb and one compensating Na vacancy.

    The pristine cell of ``n_atoms + 1`` atoms gets exactly one W⁶⁺ (on a seeded Sb site) and
    loses one Na⁺ from the first Na shell around W (seeded among that shell).

    Parameters
    ----------
    n_atoms
        ``16·k − 1``: 127 (default) is the study's Na2.94Sb0.94W0.06S4 cell (k = 8, W fraction
        1/16 = 0.0625); 31 (k = 2: Na11 Sb3 W S16, W fraction 0.25) is the smallest
        cell with more Sb than W, suitable for demos; 15 (k = 1) has equal W and Sb.
    seed
        Non-negative integer selecting the W site and the vacancy.

    Returns
    -------
    Structure
        Na_{6k−1} Sb_{2k−1} W S_{8k}, sorted Na, Sb, W, S.

    Raises
    ------
    AtomCountError
        If ``n_atoms + 1`` is not a positive multiple of 16.
    InvalidSeedError
        If ``seed`` is negative or not an integer.
    """
    seed = check_seed(seed)
    n = _check_count(
        n_atoms, NA3SBS4_CELL_ATOMS, 1, "W-doped Na3SbS4 (one W, one Na vacancy)",
        "16k-1, e.g. 15, 31 (demo), 63, 127 (study: Na2.94Sb0.94W0.06S4)",
    )
    doped, _ = apply_doping(build_na3sbs4(n + 1), W_DOPING, seed=seed)
    return doped
