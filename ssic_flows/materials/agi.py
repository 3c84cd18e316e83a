"""α-AgI: body-centred-cubic iodide lattice with Ag⁺ on the tetrahedral 12d interstices.

Crystallography
---------------
Space group Im-3m (No. 229), Z = 2. I⁻ on 2a (0, 0, 0); the Ag⁺ density is spread over the
12d tetrahedral interstices (1/4, 0, 1/2) (occupancy 1/6: two Ag over twelve sites per cell)
(Strock, Z. Phys. Chem. B 25, 441 (1934); Cava, Reidinger & Wuensch, Solid State Commun. 24,
411 (1977); review: Hull, Rep. Prog. Phys. 67, 1233 (2004)). Reported lattice constants in the
α-phase stability range (420 K to ~830 K) are 5.06–5.09 Å; we use :data:`A_ALPHA_AGI` = 5.070 Å,
representative of 420–500 K (the study runs at 500 K). With this cell a 12d site is 2.83 Å from
its four I neighbours, matching the Ag–I g(r) first peak at 2.8 Å reported in the study.

Ordering
--------
One Ag per I. Ag are placed on 12d sites by seeded random sequential selection such that no
two Ag are closer than :data:`MIN_AG_AG` = 2.6 Å. This excludes face-sharing neighbouring
tetrahedra (1.79 Å apart) and 12d pairs facing each other across an octahedral (face-centre)
site (a/2 = 2.54 Å); the next 12d–12d distance, and so the shortest Ag–Ag distance in a built cell,
is a·√6/4 = 3.10 Å.

Cells
-----
The conventional cell holds 4 atoms (Ag2I2). A count ``n_atoms = 16 k³`` (16, 128, 432, ...) is
built as the 2k×2k×2k supercell of the *primitive* bcc cell, i.e. the bcc superlattice of
conventional constant 2k·a; other multiples of 4 use the most cubic diagonal supercell of the
conventional cell; the count with the larger minimum-image radius (half the smallest
perpendicular width) wins, the primitive form on a tie.

Why: the study's 128-atom cell (Ag64 I64: 64 I = 32 conventional cells, and 32 = 2⁵ has no
cubic factorisation) as the 4×4×2 conventional supercell is 20.28 × 20.28 × 10.14 Å, so the
minimum image stops at 5.07 Å, before the second I–I shell's neighbours and anisotropically.
The 4×4×4 supercell of the primitive cell holds the same 128 atoms and is a bcc lattice of
constant 4a: it keeps the full cubic point symmetry (periodic images isotropic; the unique
128-atom superlattice that does) and its minimum image is 4a/(2√2) = 7.17 Å. A triclinic
64-point superlattice reaches 7.41 Å (ASE's ``find_optimal_cell_shape``), 3 % more at the
price of anisotropic images; we keep the cubic one. The 1024-atom size-transfer cell is exactly
that 128-atom cell repeated 2×2×2 (same Ag arrangement, minimum image 14.34 Å), as in the
study's transfer test.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

from ssic_flows.analysis.geometry import perpendicular_widths_A

from .tools import AtomCountError, best_diagonal_scaling, check_seed, select_separated_sites

__all__ = [
    "AGI_CELL_ATOMS",
    "agi_supercell_matrix",
    "AGI_STUDY_ATOMS",
    "A_ALPHA_AGI",
    "MIN_AG_AG",
    "SPACE_GROUP_AGI",
    "WYCKOFF_12D",
    "agi_parent",
    "agi_sites_cell",
    "build_agi",
]

#: Cubic lattice constant of α-AgI in Å (Strock 1934; Cava, Reidinger & Wuensch 1977), ~420-500 K.
A_ALPHA_AGI: float = 5.070
#: Space group of the iodide sublattice (and of the average α-AgI structure).
SPACE_GROUP_AGI: str = "Im-3m"
#: I on Wyckoff 2a.
WYCKOFF_2A_I: tuple[float, float, float] = (0.0, 0.0, 0.0)
#: Representative of the tetrahedral Wyckoff 12d orbit, occupied on average by Ag with p = 1/6.
WYCKOFF_12D: tuple[float, float, float] = (0.25, 0.0, 0.5)
#: Minimum Ag–Ag distance (Å) enforced by the seeded Ag ordering.
MIN_AG_AG: float = 2.6
#: Atoms in the conventional cell (Ag2 I2); allowed sizes are multiples of this.
AGI_CELL_ATOMS: int = 4
#: Size of the study's AIMD/MLMD cell; n_atoms = 128·m³ repeats it m×m×m.
AGI_STUDY_ATOMS: int = 128


def agi_parent(a: float = A_ALPHA_AGI) -> Structure:
    """Average α-AgI structure: I on 2a, Ag at 1/6 occupancy on 12d (Im-3m), Z = 2.

    Parameters
    ----------
    a
        Cubic lattice constant in Å.

    Returns
    -------
    Structure
        Disordered 14-site conventional cell (2 I + 12 partially occupied Ag sites).
    """
    return Structure.from_spacegroup(
        SPACE_GROUP_AGI,
        Lattice.cubic(a),
        [{"I": 1.0}, {"Ag": 1.0 / 6.0}],
        [WYCKOFF_2A_I, WYCKOFF_12D],
    )


def agi_sites_cell(a: float = A_ALPHA_AGI) -> Structure:
    """Conventional cell with I on 2a and Ag on all twelve 12d sites (site property ``wyckoff``).

    Used internally to enumerate candidate Ag sites; returned as an ordered structure whose
    first 2 sites are I and the next 12 the tetrahedral interstices.
    """
    iod = Structure.from_spacegroup(SPACE_GROUP_AGI, Lattice.cubic(a), ["I"], [WYCKOFF_2A_I])
    tet = Structure.from_spacegroup(SPACE_GROUP_AGI, Lattice.cubic(a), ["Ag"], [WYCKOFF_12D])
    if len(iod) != 2 or len(tet) != 12:  # guards against a changed space-group setting
        raise RuntimeError(f"unexpected Im-3m orbits: 2a has {len(iod)} sites, 12d has {len(tet)}")
    species = ["I"] * 2 + ["Ag"] * 12
    coords = np.vstack([iod.frac_coords, tet.frac_coords])
    return Structure(
        Lattice.cubic(a), species, coords, site_properties={"wyckoff": ["2a"] * 2 + ["12d"] * 12}
    )


#: Rows: the bcc primitive vectors in units of a/2 (conventional-cell coordinates × 2).
BCC_PRIMITIVE_X2: np.ndarray = np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])


def _min_image_A(matrix: np.ndarray, a: float) -> float:
    return 0.5 * float(perpendicular_widths_A(np.asarray(matrix, float) * a).min())


def agi_supercell_matrix(n_atoms: int, a: float = A_ALPHA_AGI) -> np.ndarray:
    """Integer supercell matrix (rows, conventional-cell units) of the α-AgI cell of ``n_atoms``.

    Candidates: the most cubic diagonal conventional supercell
    (:func:`~ssic_flows.materials.tools.best_diagonal_scaling`) and, when
    ``n_atoms = 16 k³``, ``k ×`` :data:`BCC_PRIMITIVE_X2` (the 2k×2k×2k primitive-cell
    supercell, a bcc superlattice of constant 2k·a with cubic point symmetry). The one with
    the larger minimum-image radius wins (see the module docstring); ties go to the cubic
    primitive form.

    Examples
    --------
    >>> agi_supercell_matrix(128).tolist()  # 4×4×4 primitive cells: minimum image 7.17 Å
    [[-2, 2, 2], [2, -2, 2], [2, 2, -2]]
    >>> agi_supercell_matrix(64).tolist()  # 32 I: no 16 k³ form, 4×2×2 conventional
    [[4, 0, 0], [0, 2, 0], [0, 0, 2]]
    """
    diag = np.diag(best_diagonal_scaling(agi_sites_cell(a).lattice, int(n_atoms) // AGI_CELL_ATOMS))
    k = round((n_atoms / 16) ** (1.0 / 3.0))
    if k >= 1 and 16 * k**3 == n_atoms:
        prim = k * BCC_PRIMITIVE_X2
        if _min_image_A(prim, a) >= _min_image_A(diag, a) - 1e-9:
            return prim
    return diag


def _allowed_message(n_atoms: int) -> str:
    lo = max(1, n_atoms // AGI_CELL_ATOMS)
    return (
        f"α-AgI cells must contain a positive multiple of {AGI_CELL_ATOMS} atoms (Ag2I2 conventional "
        f"cell), e.g. 16 (demo), {AGI_STUDY_ATOMS} (study), 1024 (size transfer); nearest to "
        f"{n_atoms}: {lo * AGI_CELL_ATOMS} or {(lo + 1) * AGI_CELL_ATOMS}"
    )


def _tiling_of_study_cell(n_atoms: int) -> int | None:
    """Return m if n_atoms = 128·m³ with m >= 2, else None."""
    if n_atoms % AGI_STUDY_ATOMS:
        return None
    k = n_atoms // AGI_STUDY_ATOMS
    m = round(k ** (1.0 / 3.0))
    return m if m >= 2 and m**3 == k else None


def build_agi(n_atoms: int = AGI_STUDY_ATOMS, seed: int = 0, a: float = A_ALPHA_AGI) -> Structure:
    """Build an ordered α-AgI supercell with Ag on seeded, well-separated 12d sites.

    Parameters
    ----------
    n_atoms
        Number of atoms (half Ag, half I). Any positive multiple of 4 works: 16 is a
        2×2×2 primitive-cell demo cell; 128 (default, the study's cell) is the 4×4×4
        primitive-cell supercell (a bcc lattice of constant 4a = 20.28 Å, minimum image
        7.17 Å); ``128·m³`` (e.g. 1024) is the 128-atom cell for the same seed repeated
        m×m×m, i.e. the same Ag arrangement, as in the study's 1024-atom transfer test.
        Other counts: :func:`agi_supercell_matrix` (module docstring: why).
    seed
        Non-negative integer; selects the Ag arrangement via ``numpy.random.default_rng(seed)``.
    a
        Cubic lattice constant in Å (default :data:`A_ALPHA_AGI`).

    Returns
    -------
    Structure
        Ordered Ag_{n/2} I_{n/2} structure, sites sorted Ag first then I.

    Raises
    ------
    AtomCountError
        If ``n_atoms`` is not a positive multiple of 4.
    InvalidSeedError
        If ``seed`` is negative or not an integer.
    """
    seed = check_seed(seed)
    if isinstance(n_atoms, bool) or not isinstance(n_atoms, (int, np.integer)):
        raise AtomCountError(f"n_atoms must be an integer, got {n_atoms!r}; " + _allowed_message(0))
    if n_atoms <= 0 or n_atoms % AGI_CELL_ATOMS:
        raise AtomCountError(f"cannot build α-AgI with {n_atoms} atoms: " + _allowed_message(int(n_atoms)))
    m = _tiling_of_study_cell(int(n_atoms))
    if m is not None:
        base = build_agi(AGI_STUDY_ATOMS, seed=seed, a=a)
        return base.make_supercell((m, m, m), in_place=False).get_sorted_structure()

    cell = agi_sites_cell(a)
    # The conventional cell represents 4 atoms (Ag2I2) but carries 14 candidate sites.
    sup = cell.make_supercell(agi_supercell_matrix(int(n_atoms), a), in_place=False)
    iodide = [i for i, w in enumerate(sup.site_properties["wyckoff"]) if w == "2a"]
    tet = [i for i, w in enumerate(sup.site_properties["wyckoff"]) if w == "12d"]
    rng = np.random.default_rng(seed)
    chosen = select_separated_sites(sup, tet, len(iodide), MIN_AG_AG, rng)
    keep = sorted(iodide + chosen)
    out = Structure(
        sup.lattice,
        [sup[i].species_string for i in keep],
        sup.frac_coords[keep],
    )
    return out.get_sorted_structure()
