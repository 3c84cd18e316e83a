"""Tests for ssic_flows.materials: builders, registry, supercell/doping tools and writers.

Thresholds used below (Å) are physically motivated minimum interatomic distances for an
as-built crystal; see MIN_DIST.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from ssic_flows.materials import (
    MATERIALS,
    AtomCountError,
    DopingError,
    InvalidSeedError,
    MaterialsError,
    SiteSelectionError,
    UnknownMaterialError,
    UnsupportedFormatError,
    agi_parent,
    allowed_atom_counts,
    build_material,
    diagonal_scaling_for,
    dope,
    formal_charge,
    lgps_framework,
    lgps_parent,
    min_pair_distances,
    na3sbs4_parent,
    read_structure,
    select_separated_sites,
    supercell_for,
    write_structure,
)

# symprec (Å) for SpacegroupAnalyzer: builders place atoms exactly on Wyckoff positions,
# so a tight tolerance is enough and still rejects wrong/missing sites.
SYMPREC = 0.01

STUDY = {"agi": 128, "lgps": 200, "na3sbs4": 128, "na3sbs4-w": 127}
COMPOSITION = {
    "agi": {"Ag": 64, "I": 64},
    "lgps": {"Li": 80, "Ge": 8, "P": 16, "S": 96},
    "na3sbs4": {"Na": 48, "Sb": 16, "S": 64},
    "na3sbs4-w": {"Na": 47, "Sb": 15, "W": 1, "S": 64},
}

# Minimum distances (Å) per element pair; pairs not listed must still be >= DEFAULT_MIN.
DEFAULT_MIN = 1.9
MIN_DIST = {
    ("Ag", "Ag"): 2.6,  # no face-sharing (1.79 Å) or edge-centre (2.54 Å) 12d pairs
    ("Ag", "I"): 2.7,   # tetrahedral Ag-I 2.83 Å
    ("I", "I"): 4.0,    # bcc nearest neighbours a*sqrt(3)/2 = 4.39 Å
    ("Li", "Li"): 1.9,  # ordering must avoid the 1.73 Å 16h-16h pairs
    ("Li", "S"): 2.3,
    ("Ge", "Li"): 2.6,
    ("Li", "P"): 2.6,
    ("Ge", "S"): 2.0,
    ("P", "S"): 1.9,
    ("S", "S"): 3.0,
    ("Na", "Na"): 3.3,
    ("Na", "S"): 2.7,
    ("S", "Sb"): 2.2,
    ("S", "W"): 2.2,
    ("Na", "Sb"): 3.3,
    ("Na", "W"): 3.3,
}


@pytest.fixture(scope="module")
def study_cells() -> dict[str, Structure]:
    return {name: build_material(name) for name in STUDY}


# ------------------------------------------------------------------ composition


@pytest.mark.parametrize("name", list(STUDY))
def test_study_cell_counts_composition_and_neutrality(study_cells, name):
    s = study_cells[name]
    assert len(s) == STUDY[name] == MATERIALS[name].study_atoms
    comp = {el.symbol: int(n) for el, n in s.composition.items()}
    assert comp == COMPOSITION[name]
    assert s.is_ordered
    assert formal_charge(s, MATERIALS[name].charges) == 0
    # the metadata's charges cover exactly the elements present
    assert set(MATERIALS[name].charges) == set(comp)


def test_agi_1024_is_exactly_the_128_cell_repeated():
    small = build_material("agi", 128, seed=7)
    big = build_material("agi", 1024, seed=7)
    assert len(big) == 1024
    np.testing.assert_allclose(big.lattice.matrix, 2 * small.lattice.matrix, atol=1e-10)
    # every site of the big cell, folded back into the small cell, is a site of the small cell
    folded = (big.frac_coords * 2) % 1.0
    for sp in ("Ag", "I"):
        f_big = folded[[i for i, x in enumerate(big) if x.specie.symbol == sp]]
        f_small = small.frac_coords[[i for i, x in enumerate(small) if x.specie.symbol == sp]]
        d = small.lattice.get_all_distances(f_big, f_small)
        assert np.all(d.min(axis=1) < 1e-6)
        # and each small-cell site appears exactly 8 times
        counts = np.bincount(d.argmin(axis=1), minlength=len(f_small))
        assert np.all(counts == 8)


@pytest.mark.parametrize("name", list(STUDY))
def test_density_within_3_percent_of_experiment(study_cells, name):
    rho = float(study_cells[name].density)
    ref = MATERIALS[name].density_g_cm3
    assert abs(rho - ref) / ref < 0.03, (name, rho, ref)


@pytest.mark.parametrize("name", list(STUDY))
def test_no_atoms_closer_than_pair_minimum(study_cells, name):
    mins = min_pair_distances(study_cells[name], cutoff=4.5)
    for pair, d in mins.items():
        assert d >= MIN_DIST.get(pair, DEFAULT_MIN), (name, pair, d)


def test_agi_ag_is_tetrahedrally_coordinated():
    s = build_material("agi", 128, seed=3)
    for site in s:
        if site.specie.symbol != "Ag":
            continue
        nn = s.get_neighbors(site, 3.0)  # next shell: I at 4.4 Å, Ag at >= 3.10 Å
        assert len(nn) == 4 and all(n.specie.symbol == "I" for n in nn)
        assert all(abs(n.nn_distance - 5.07 * np.sqrt(5) / 4) < 1e-6 for n in nn)


def test_w_doped_vacancy_sits_next_to_w():
    pristine = build_material("na3sbs4", 128)
    for seed in range(4):
        doped = build_material("na3sbs4-w", 127, seed=seed)
        w = next(x for x in doped if x.specie.symbol == "W")
        na_pristine = np.array([x.frac_coords for x in pristine if x.specie.symbol == "Na"])
        na_doped = np.array([x.frac_coords for x in doped if x.specie.symbol == "Na"])
        d = pristine.lattice.get_all_distances(na_pristine, na_doped).min(axis=1)
        missing = na_pristine[d > 1e-6]
        assert len(missing) == 1
        dist_w = pristine.lattice.get_all_distances(missing, [w.frac_coords])[0, 0]
        shortest = min(n.nn_distance for n in doped.get_neighbors(w, 4.0) if n.specie.symbol == "Na")
        assert dist_w <= shortest + 0.1 + 1e-9


# ------------------------------------------------------------------ symmetry


def _sg(s: Structure) -> str:
    return SpacegroupAnalyzer(s, symprec=SYMPREC).get_space_group_symbol()


def test_space_groups_of_parent_cells(study_cells):
    assert _sg(agi_parent()) == "Im-3m"
    iodide = study_cells["agi"].copy()
    iodide.remove_species(["Ag"])
    assert _sg(iodide) == "Im-3m"

    assert _sg(lgps_parent()) == "P4_2/nmc"
    assert _sg(lgps_framework(study_cells["lgps"])) == "P4_2/nmc"
    # the ordered cell itself has lower symmetry (Li and Ge/P order break it)
    assert _sg(study_cells["lgps"]) != "P4_2/nmc"

    assert _sg(na3sbs4_parent()) == "P-42_1c"
    assert _sg(study_cells["na3sbs4"]) == "P-42_1c"
    assert _sg(study_cells["na3sbs4-w"]) != "P-42_1c"


def test_lgps_ge_p_order_is_one_half_on_4d():
    s = build_material("lgps", 200, seed=5)
    # P on 2b sits at (0,0,1/2) of each unit cell; P/Ge on 4d are the others
    n_ge = sum(1 for x in s if x.specie.symbol == "Ge")
    n_p = sum(1 for x in s if x.specie.symbol == "P")
    assert (n_ge, n_p) == (8, 16)


# ------------------------------------------------------------------ seeds


@pytest.mark.parametrize("name", ["agi", "lgps", "na3sbs4-w"])
def test_same_seed_identical_different_seed_different(name):
    n = {"agi": 128, "lgps": 200, "na3sbs4-w": 127}[name]
    a, b = build_material(name, n, seed=11), build_material(name, n, seed=11)
    assert [x.species_string for x in a] == [x.species_string for x in b]
    np.testing.assert_array_equal(a.frac_coords, b.frac_coords)
    c = build_material(name, n, seed=12)
    same = [x.species_string for x in a] == [x.species_string for x in c] and np.allclose(a.frac_coords, c.frac_coords)
    assert not same


def test_pristine_na3sbs4_is_seed_independent():
    a, b = build_material("na3sbs4", 16, seed=0), build_material("na3sbs4", 16, seed=99)
    np.testing.assert_array_equal(a.frac_coords, b.frac_coords)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True, None])
def test_bad_seed_raises(seed):
    with pytest.raises(InvalidSeedError, match="seed"):
        build_material("agi", 16, seed=seed)


# ------------------------------------------------------------------ demo cells / registry


@pytest.mark.parametrize("name,n", [("agi", 16), ("lgps", 50), ("na3sbs4", 16), ("na3sbs4-w", 31)])
def test_demo_cells(name, n):
    s = build_material(name, n, seed=1)
    assert len(s) == n == MATERIALS[name].demo_atoms
    assert formal_charge(s) == 0
    for pair, d in min_pair_distances(s, 4.5).items():
        assert d >= MIN_DIST.get(pair, DEFAULT_MIN), (name, pair, d)


@pytest.mark.parametrize(
    "alias,key",
    [("AgI", "agi"), ("alpha-AgI", "agi"), ("LGPS", "lgps"), ("Li10GeP2S12", "lgps"),
     ("Na3SbS4", "na3sbs4"), ("Na2.94Sb0.94W0.06S4", "na3sbs4-w"), ("NA3SBS4-W", "na3sbs4-w")],
)
def test_aliases(alias, key):
    assert len(build_material(alias, MATERIALS[key].demo_atoms)) == MATERIALS[key].demo_atoms


def test_unknown_material_lists_valid_names():
    with pytest.raises(UnknownMaterialError) as exc:
        build_material("LLZO")
    msg = str(exc.value)
    assert all(k in msg for k in MATERIALS)
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize("name,n,expect", [("agi", 130, "128 or 132"), ("lgps", 60, "50 or 100"),
                                           ("na3sbs4", 100, "96 or 112"), ("na3sbs4-w", 128, "127 or 143"),
                                           ("agi", 0, "4k"), ("agi", -4, "4k"), ("agi", 12.0, "4k")])
def test_impossible_atom_count_lists_allowed(name, n, expect):
    with pytest.raises(AtomCountError) as exc:
        build_material(name, n)
    assert expect in str(exc.value)


def test_allowed_counts_and_metadata():
    assert allowed_atom_counts("agi", 20) == [4, 8, 12, 16, 20]
    assert allowed_atom_counts("na3sbs4-w", 130)[-1] == 127
    assert MATERIALS["agi"].temperature_K == 500.0
    assert MATERIALS["na3sbs4"].temperature_K == 300.0
    assert MATERIALS["lgps"].polyanion_centres == {"P": "S", "Ge": "S"}
    assert MATERIALS["agi"].mobile_species == ("Ag",)
    for info in MATERIALS.values():
        assert info.density_source and info.lattice_source and info.temperature_source
        assert set(info.mobile_species).isdisjoint(info.framework_species)


# ------------------------------------------------------------------ tools


def test_supercell_for_picks_most_cubic_and_rejects_impossible():
    assert diagonal_scaling_for(na3sbs4_parent(), 128) == (2, 2, 2)
    cubic4 = Structure(Lattice.cubic(5.07), ["Ag", "Ag", "I", "I"],
                       [[0.25, 0, 0.5], [0.75, 0, 0.5], [0, 0, 0], [0.5, 0.5, 0.5]])
    assert diagonal_scaling_for(cubic4, 128) == (4, 4, 2)
    assert diagonal_scaling_for(cubic4, 1024) == (8, 8, 4)
    tetra = Structure(Lattice.tetragonal(8.7, 12.6), ["Li"], [[0, 0, 0]])
    assert diagonal_scaling_for(tetra, 4) == (2, 2, 1)
    assert len(supercell_for(cubic4, 16)) == 16
    with pytest.raises(AtomCountError, match="multiples of 4"):
        supercell_for(cubic4, 130)


def test_select_separated_sites_respects_distance_and_fails_clearly():
    s = Structure(Lattice.cubic(10.0), ["H"] * 4, [[0, 0, 0], [0.1, 0, 0], [0.5, 0.5, 0.5], [0.6, 0.5, 0.5]])
    rng = np.random.default_rng(0)
    chosen = select_separated_sites(s, range(4), 2, 2.0, rng)
    assert len(chosen) == 2 and s.get_distance(*chosen) >= 2.0
    with pytest.raises(SiteSelectionError, match="at least 2.0"):
        select_separated_sites(s, range(4), 3, 2.0, rng)


def test_dope_compensates_and_validates():
    host = na3sbs4_parent()
    out = dope(host, "Sb", "W", 2, seed=0, vacancy_species="Na")
    assert out.composition.as_dict() == {"Na": 4.0, "W": 2.0, "S": 8.0}
    assert formal_charge(out) == 0
    charged = dope(host, "Sb", "W", 1, seed=0, compensate=None)
    assert formal_charge(charged) == 1
    random_vac = dope(host, "Sb", "W", 1, seed=3, vacancy_species="Na", vacancy_placement="random")
    assert formal_charge(random_vac) == 0 and len(random_vac) == 15
    with pytest.raises(DopingError, match="no 'Ge' sites"):
        dope(host, "Ge", "W", 1)
    with pytest.raises(DopingError, match="vacancy_species"):
        dope(host, "Sb", "W", 1)
    with pytest.raises(DopingError, match="same sign"):
        dope(host, "Sb", "W", 1, vacancy_species="S")
    with pytest.raises(DopingError, match="1..2"):
        dope(host, "Sb", "W", 3, vacancy_species="Na")
    with pytest.raises(InvalidSeedError):
        dope(host, "Sb", "W", 1, seed=-2, vacancy_species="Na")
    assert issubclass(DopingError, MaterialsError) and issubclass(MaterialsError, ValueError)


# ------------------------------------------------------------------ I/O


def _assert_same(a: Structure, b: Structure, tol: float = 1e-4) -> None:
    assert len(a) == len(b)
    np.testing.assert_allclose(a.lattice.abc, b.lattice.abc, atol=1e-5)
    for sp in {x.specie.symbol for x in a}:
        fa = [x.frac_coords for x in a if x.specie.symbol == sp]
        fb = [x.frac_coords for x in b if x.specie.symbol == sp]
        assert len(fa) == len(fb)
        d = a.lattice.get_all_distances(fa, fb)
        assert np.all(d.min(axis=1) < tol) and np.all(d.min(axis=0) < tol)


@pytest.mark.parametrize("fname", ["x.cif", "POSCAR", "cell.vasp", "CONTCAR.lgps", "x.extxyz", "x.xyz",
                                   "POSCAR.cif"])
def test_writers_round_trip(tmp_path, fname):
    s = build_material("na3sbs4-w", 31, seed=2)
    path = write_structure(s, tmp_path / "sub" / fname)
    assert path.is_file()
    _assert_same(s, read_structure(path))
    if fname.startswith("POSCAR"):  # our name rules decide, on writing and reading alike
        assert path.read_text().splitlines()[0] == s.composition.formula.replace(" ", "")


def test_unknown_extension_raises_before_writing(tmp_path):
    target = tmp_path / "newdir" / "cell.pdb"
    with pytest.raises(UnsupportedFormatError, match=r"\.pdb"):
        write_structure(build_material("agi", 16), target)
    assert not target.parent.exists()
    with pytest.raises(UnsupportedFormatError):
        read_structure(tmp_path / "cell.json")


def test_host_lattice_and_charges_reach_the_analysis_as_data():
    from ssic_flows.analysis.tetrahedra.report import TetraUnit
    from ssic_flows.materials import FORMAL_CHARGES, analysis_inputs, host_lattice, host_lattice_for_species

    # the registry's knowledge and the elements-only guess agree for every material
    for info in MATERIALS.values():
        species = [*info.mobile_species, *info.framework_species]
        assert host_lattice_for_species(species).units == host_lattice(info).units, info.key
        assert info.charges == {el: FORMAL_CHARGES[el] for el in species}
    assert host_lattice(MATERIALS["agi"]).units == (TetraUnit("AgI4", None, "I", 70.5, 50),)
    assert [u.label for u in host_lattice(MATERIALS["lgps"]).units] == ["PS4", "GeS4"]
    assert [u.label for u in host_lattice(MATERIALS["na3sbs4-w"]).units] == ["SbS4", "WS4"]
    assert host_lattice(MATERIALS["lgps"]).cations == ("Li",)
    assert host_lattice_for_species(["Ag", "Li", "P", "S"]).cations == ("Li", "Na", "Ag")
    assert host_lattice_for_species(["Ag", "I", "S"]).units == ()  # a sulfide: polyanion hosts only
    assert analysis_inputs("AgI", [])["charges"] == {"Ag": 1}
    unknown = analysis_inputs("CsPbI3", ["Cs", "Pb", "I"])
    assert unknown["charges"] == FORMAL_CHARGES and unknown["host"].units == ()


def test_agi_128_cell_is_the_cubic_bcc_superlattice_with_the_largest_minimum_image():
    """Issue 13 item 8: 128 atoms as 4×4×4 primitive bcc cells (a bcc lattice of constant 4a,
    minimum image 4a/(2√2) = 7.17 Å), not the 4×4×2 conventional cell (5.07 Å)."""
    from ssic_flows.analysis.geometry import perpendicular_widths_A
    from ssic_flows.materials.agi import A_ALPHA_AGI, agi_supercell_matrix

    s = build_material("agi", 128, seed=0)
    half = perpendicular_widths_A(s.lattice.matrix) / 2
    np.testing.assert_allclose(half, 4 * A_ALPHA_AGI / (2 * np.sqrt(2)), rtol=1e-9)  # 7.17 Å
    assert half.min() > 1.4 * A_ALPHA_AGI  # the conventional 4×4×2 cell gives a/1 = 5.07 Å
    # cubic point symmetry of the periodic images: the lattice is bcc (primitive 4a√3/2, 109.47°)
    np.testing.assert_allclose(s.lattice.abc, [4 * A_ALPHA_AGI * np.sqrt(3) / 2] * 3, rtol=1e-9)
    np.testing.assert_allclose(s.lattice.angles, [np.degrees(np.arccos(-1 / 3))] * 3, rtol=1e-9)
    # every count 16 k³ gets a cell at least as wide as the best diagonal conventional one
    from ssic_flows.materials.agi import agi_sites_cell
    from ssic_flows.materials.tools import best_diagonal_scaling

    for n in (16, 64, 128, 432):
        diag = best_diagonal_scaling(agi_sites_cell().lattice, n // 4)
        conv = (perpendicular_widths_A(np.eye(3) * A_ALPHA_AGI) * diag).min()
        built = build_material("agi", n, seed=1)
        assert len(built) == n and perpendicular_widths_A(built.lattice.matrix).min() >= conv - 1e-9
        assert (agi_supercell_matrix(n) == np.diag(diag)).all() == (n == 64)
