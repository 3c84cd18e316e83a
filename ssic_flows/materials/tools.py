"""General structure tools: supercells of a given size, seeded site selection, doping, checks.

These are the building blocks the material builders (:mod:`.agi`, :mod:`.lgps`,
:mod:`.na3sbs4`) use (file I/O: :mod:`.structure_io`), exposed so that users can add their own solid-state ion conductors.
Lengths are in Å, densities in g/cm³. Every random choice goes through
``numpy.random.default_rng(seed)``, so a given seed always gives the same structure.

Example
-------
>>> from pymatgen.core import Lattice, Structure
>>> s = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> len(supercell_for(s, 16)), diagonal_scaling_for(s, 16)
(16, (2, 2, 2))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pymatgen.core import Element, Lattice, Structure

from ssic_flows.analysis.geometry import perpendicular_widths_A

__all__ = [
    "FORMAL_CHARGES",
    "AtomCountError",
    "DopingError",
    "InvalidSeedError",
    "MaterialsError",
    "SiteSelectionError",
    "UnknownMaterialError",
    "UnsupportedFormatError",
    "check_seed",
    "density_g_cm3",
    "best_diagonal_scaling",
    "diagonal_scaling_for",
    "dope",
    "formal_charge",
    "make_rng",
    "min_pair_distances",
    "select_separated_sites",
    "supercell_for",
]

#: Formal (oxidation-state) charges in units of e: the package's one table, used for
#: charge-neutrality checks, doping compensation, the registry's per-material charges and
#: (handed to the analysis as data) Nernst-Einstein conductivities.
FORMAL_CHARGES: dict[str, int] = {
    "H": 1, "Li": 1, "Na": 1, "K": 1, "Ag": 1, "Cu": 1,
    "Mg": 2, "Ca": 2, "Zn": 2,
    "Al": 3, "Ga": 3, "In": 3, "Y": 3, "La": 3,
    "Si": 4, "Ge": 4, "Sn": 4, "Zr": 4, "Ti": 4,
    "P": 5, "As": 5, "Sb": 5, "Nb": 5, "Ta": 5,
    "W": 6, "Mo": 6,
    "O": -2, "S": -2, "Se": -2,
    "F": -1, "Cl": -1, "Br": -1, "I": -1,
}


class MaterialsError(ValueError):
    """Base class of every error raised by :mod:`ssic_flows.materials`."""


class UnknownMaterialError(MaterialsError):
    """A material name is not in the registry; the message lists the valid names."""


class AtomCountError(MaterialsError):
    """A requested atom count cannot be built; the message lists the allowed counts."""


class InvalidSeedError(MaterialsError):
    """A random seed is not a non-negative integer."""


class UnsupportedFormatError(MaterialsError):
    """A file name has an extension no writer/reader is known for."""


class DopingError(MaterialsError):
    """A doping request is impossible (missing species, non-integer compensation, ...)."""


class SiteSelectionError(MaterialsError):
    """No arrangement of the requested sites satisfies the minimum-distance constraint."""


# --------------------------------------------------------------------------- seeds


def check_seed(seed: object) -> int:
    """Validate a random seed.

    Parameters
    ----------
    seed
        The seed to check.

    Returns
    -------
    int
        ``seed`` unchanged.

    Raises
    ------
    InvalidSeedError
        If ``seed`` is not an ``int`` (``bool`` is rejected) or is negative.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidSeedError(
            f"seed must be a non-negative integer, got {seed!r} ({type(seed).__name__}); "
            "pass e.g. seed=0"
        )
    if seed < 0:
        raise InvalidSeedError(f"seed must be >= 0, got {seed}; pass e.g. seed=0 or seed={-seed}")
    return int(seed)


def make_rng(seed: int | np.random.Generator) -> np.random.Generator:
    """Return ``seed`` if it is already a Generator, else ``default_rng(check_seed(seed))``."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_seed(seed))


# ---------------------------------------------------------------------- supercells


def diagonal_scaling_for(structure: Structure, n_atoms: int) -> tuple[int, int, int]:
    """Most cubic integer diagonal scaling ``(na, nb, nc)`` giving exactly ``n_atoms``.

    Among all factorisations ``na*nb*nc = n_atoms / len(structure)`` the one with the
    largest minimum perpendicular width (the largest sphere that fits in the cell, which is
    what limits interaction cut-offs in MD) wins; ties go to the smallest ratio of the
    largest to the smallest width, then to the larger scaling on the earlier axis (so an
    ``a = b`` tetragonal or cubic cell prefers ``(4, 4, 2)`` over ``(2, 4, 4)``).

    Parameters
    ----------
    structure
        The cell to repeat.
    n_atoms
        Wanted number of atoms in the supercell.

    Returns
    -------
    tuple of int
        The scaling along a, b, c.

    Raises
    ------
    AtomCountError
        If ``n_atoms`` is not a positive multiple of ``len(structure)``.
    """
    n_cell = len(structure)
    if isinstance(n_atoms, bool) or not isinstance(n_atoms, (int, np.integer)):
        raise AtomCountError(f"n_atoms must be an integer, got {n_atoms!r}")
    if n_atoms <= 0 or n_atoms % n_cell:
        lo = max(1, n_atoms // n_cell) if n_atoms > 0 else 1
        near = sorted({lo * n_cell, (lo + 1) * n_cell})
        raise AtomCountError(
            f"cannot build {n_atoms} atoms from a {n_cell}-atom cell ({structure.composition.reduced_formula}): "
            f"allowed counts are positive multiples of {n_cell}, e.g. {', '.join(map(str, near))}"
        )
    return best_diagonal_scaling(structure.lattice, int(n_atoms) // n_cell)


def best_diagonal_scaling(lattice: Lattice, n_cells: int) -> tuple[int, int, int]:
    """Most cubic ``(na, nb, nc)`` with ``na*nb*nc == n_cells`` for ``lattice``.

    Ranking as in :func:`diagonal_scaling_for`: largest minimum perpendicular width (Å),
    then smallest max/min width ratio, then larger scaling on earlier axes.

    Raises
    ------
    AtomCountError
        If ``n_cells`` is not a positive integer.
    """
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 1:
        raise AtomCountError(f"number of cells must be a positive integer, got {n_cells!r}")
    widths = perpendicular_widths_A(lattice.matrix)
    best_key, best = None, None
    for na in range(1, n_cells + 1):
        if n_cells % na:
            continue
        for nb in range(1, n_cells // na + 1):
            if (n_cells // na) % nb:
                continue
            nc = n_cells // (na * nb)
            w = widths * (na, nb, nc)
            key = (-round(w.min(), 6), round(w.max() / w.min(), 6), (-na, -nb, -nc))
            if best_key is None or key < best_key:
                best_key, best = key, (na, nb, nc)
    assert best is not None
    return best


def supercell_for(structure: Structure, n_atoms: int) -> Structure:
    """Return the most cubic diagonal supercell of ``structure`` with exactly ``n_atoms`` atoms.

    See :func:`diagonal_scaling_for` for how the scaling is chosen. The input is not modified.

    Raises
    ------
    AtomCountError
        If ``n_atoms`` is not a positive multiple of ``len(structure)`` (e.g. 130 atoms from
        the 4-atom α-AgI cell).
    """
    scaling = diagonal_scaling_for(structure, n_atoms)
    return structure.make_supercell(scaling, in_place=False)


# ------------------------------------------------------------- site selection


def select_separated_sites(
    structure: Structure,
    candidates: Sequence[int],
    n: int,
    min_distance: float,
    rng: np.random.Generator,
    max_attempts: int = 200,
) -> list[int]:
    """Pick ``n`` of the ``candidates`` sites at random, no two closer than ``min_distance`` Å.

    Random sequential selection in a seeded random order, restarted with a fresh order
    (from the same generator, so the result stays deterministic) when it jams.

    Parameters
    ----------
    structure
        Structure holding the candidate sites (periodic distances are used).
    candidates
        Indices of the sites to choose from.
    n
        How many to choose.
    min_distance
        Minimum allowed distance between two chosen sites, in Å.
    rng
        Random generator.
    max_attempts
        Number of random orders tried before giving up.

    Returns
    -------
    list of int
        The chosen site indices, sorted.

    Raises
    ------
    SiteSelectionError
        If no admissible arrangement was found.
    """
    cand = np.asarray(list(candidates), dtype=int)
    if n < 0 or n > len(cand):
        raise SiteSelectionError(f"cannot choose {n} sites out of {len(cand)} candidates")
    if n == 0:
        return []
    sub = Structure(
        structure.lattice, ["H"] * len(cand), structure.frac_coords[cand], coords_are_cartesian=False
    )
    neighbours: list[set[int]] = [set() for _ in range(len(cand))]
    if min_distance > 0:
        ci, pi, _, dist = sub.get_neighbor_list(min_distance - 1e-8)
        for i, j, d in zip(ci, pi, dist):
            if i != j and d < min_distance:
                neighbours[i].add(int(j))
        # A site closer than min_distance to its own periodic image can never be chosen.
        self_blocked = {int(i) for i, j in zip(ci, pi) if i == j}
    else:
        self_blocked = set()
    for _ in range(max_attempts):
        order = rng.permutation(len(cand))
        chosen: list[int] = []
        blocked = np.zeros(len(cand), dtype=bool)
        for k in order:
            if blocked[k] or k in self_blocked:
                continue
            chosen.append(int(k))
            blocked[k] = True
            for j in neighbours[k]:
                blocked[j] = True
            if len(chosen) == n:
                return sorted(int(cand[c]) for c in chosen)
    raise SiteSelectionError(
        f"could not place {n} of {len(cand)} sites at least {min_distance} Å apart after "
        f"{max_attempts} attempts; use a larger cell or a smaller minimum distance"
    )


# ---------------------------------------------------------------------- checks


def formal_charge(structure: Structure, charges: Mapping[str, float] | None = None) -> float:
    """Sum of formal charges (e) of all atoms; 0 for a charge-neutral cell.

    Raises
    ------
    MaterialsError
        If an element has no charge in ``charges`` (default :data:`FORMAL_CHARGES`).
    """
    charges = FORMAL_CHARGES if charges is None else charges
    total = 0.0
    for el, amt in structure.composition.element_composition.items():
        if el.symbol not in charges:
            raise MaterialsError(
                f"no formal charge known for {el.symbol}; pass charges={{'{el.symbol}': q, ...}}"
            )
        total += charges[el.symbol] * amt
    return total


def density_g_cm3(structure: Structure) -> float:
    """Mass density of ``structure`` in g/cm³ (pymatgen's ``Structure.density``)."""
    return float(structure.density)


def min_pair_distances(structure: Structure, cutoff: float = 6.0) -> dict[tuple[str, str], float]:
    """Shortest periodic distance (Å) for every element pair present within ``cutoff`` Å.

    Keys are alphabetically sorted element pairs, e.g. ``("Ag", "I")``.
    """
    ci, pi, _, dist = structure.get_neighbor_list(cutoff)
    sym = np.array([s.specie.symbol for s in structure])
    out: dict[tuple[str, str], float] = {}
    for i, j, d in zip(ci, pi, dist):
        if d < 1e-8:
            continue
        key = tuple(sorted((str(sym[i]), str(sym[j]))))
        if d < out.get(key, np.inf):
            out[key] = float(d)
    return out


# ----------------------------------------------------------------------- doping


def dope(
    structure: Structure,
    site_from: str,
    species_to: str,
    n: int,
    seed: int | np.random.Generator = 0,
    compensate: str | None = "vacancy",
    vacancy_species: str | None = None,
    vacancy_placement: str = "nearest",
    charges: Mapping[str, float] | None = None,
    shell_tolerance: float = 0.1,
) -> Structure:
    """Substitute ``n`` atoms of ``site_from`` by ``species_to`` and compensate the charge.

    Parameters
    ----------
    structure
        Ordered host structure (not modified).
    site_from
        Element to replace, e.g. ``"Sb"``.
    species_to
        Dopant element, e.g. ``"W"``.
    n
        Number of substitutions (>= 1); which sites is chosen with the seed.
    seed
        Non-negative integer seed or a ``numpy.random.Generator``.
    compensate
        ``"vacancy"``: remove atoms of ``vacancy_species`` so that the cell stays neutral
        (aliovalent doping, e.g. W⁶⁺ for Sb⁵⁺ removes one Na⁺ per W); ``None``: no
        compensation (the returned cell may be charged).
    vacancy_species
        Element removed for compensation, e.g. ``"Na"``; required when ``compensate="vacancy"``
        and the substitution changes the charge.
    vacancy_placement
        ``"nearest"``: each vacancy is drawn (seeded) among the ``vacancy_species`` atoms in the
        first shell around the dopants (within ``shell_tolerance`` Å of the shortest
        dopant–vacancy-species distance); ``"random"``: drawn uniformly among all of them.
    charges
        Formal charges per element (default :data:`FORMAL_CHARGES`).
    shell_tolerance
        Width of the "first shell" in Å for ``vacancy_placement="nearest"``.

    Returns
    -------
    Structure
        The doped structure, sorted by electronegativity like the builders' output.

    Raises
    ------
    DopingError
        If the host lacks ``site_from``/``vacancy_species``, ``n`` is out of range, or the
        charge difference is not a whole number of vacancies.
    """
    rng = make_rng(seed)
    charges = FORMAL_CHARGES if charges is None else charges
    if not structure.is_ordered:
        raise DopingError("dope() needs an ordered structure; order partial occupancies first")
    try:
        Element(species_to)
    except ValueError as exc:
        raise DopingError(f"species_to={species_to!r} is not an element symbol") from exc
    host_idx = [i for i, s in enumerate(structure) if s.specie.symbol == site_from]
    if not host_idx:
        present = sorted({s.specie.symbol for s in structure})
        raise DopingError(f"no {site_from!r} sites to dope; the structure contains {present}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= len(host_idx):
        raise DopingError(f"n must be an integer in 1..{len(host_idx)} (number of {site_from} sites), got {n!r}")
    if compensate not in ("vacancy", None):
        raise DopingError(f"compensate must be 'vacancy' or None, got {compensate!r}")
    if vacancy_placement not in ("nearest", "random"):
        raise DopingError(f"vacancy_placement must be 'nearest' or 'random', got {vacancy_placement!r}")

    dopant_idx = sorted(int(i) for i in rng.choice(host_idx, size=n, replace=False))
    n_vac = 0
    if compensate == "vacancy":
        for el in (site_from, species_to) + ((vacancy_species,) if vacancy_species else ()):
            if el not in charges:
                raise DopingError(f"no formal charge for {el}; pass charges={{'{el}': q, ...}}")
        excess = n * (charges[species_to] - charges[site_from])
        if excess != 0:
            if vacancy_species is None:
                raise DopingError(
                    f"{species_to} on {site_from} changes the charge by {excess:+g} e; "
                    "pass vacancy_species=... (e.g. the mobile cation) or compensate=None"
                )
            q_vac = charges[vacancy_species]
            ratio = excess / q_vac
            if ratio <= 0 or abs(ratio - round(ratio)) > 1e-9:
                raise DopingError(
                    f"charge excess {excess:+g} e cannot be compensated by removing {vacancy_species} "
                    f"({q_vac:+g} e each); choose a vacancy species of the same sign as the excess"
                )
            n_vac = int(round(ratio))

    out = structure.copy()
    for i in dopant_idx:
        out.replace(i, species_to)
    if n_vac:
        pool = [i for i, s in enumerate(out) if s.specie.symbol == vacancy_species]
        if len(pool) < n_vac:
            raise DopingError(f"need {n_vac} {vacancy_species} vacancies but only {len(pool)} {vacancy_species} present")
        removed: list[int] = []
        for _ in range(n_vac):
            left = [i for i in pool if i not in removed]
            if vacancy_placement == "random":
                removed.append(int(rng.choice(left)))
                continue
            d = np.array([min(out.get_distance(i, j) for j in dopant_idx) for i in left])
            shell = [i for i, di in zip(left, d) if di <= d.min() + shell_tolerance]
            removed.append(int(rng.choice(shell)))
        out.remove_sites(removed)
    return out.get_sorted_structure()
