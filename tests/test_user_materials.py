"""A user's own structure file as a material: ordering, oxidation states, supercell, units, doping.

Structures: tests/data/structures/ (origin in its README.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssic_flows.analysis.geometry import perpendicular_widths_A
from ssic_flows.materials import (MATERIALS, AtomCountError, ChargeBalanceError, DopingError,
                                  MobileSpeciesError, UnreadableStructureError, analysis_inputs,
                                  build_material, build_na3sbs4_w, formal_charge, read_recipe,
                                  resolve_material)
from ssic_flows.materials.doping import DopingRule
from ssic_flows.materials.ordering import order_structure

DATA = Path(__file__).parent / "data" / "structures"
LGPS = DATA / "Li10GeP2S12_Kamaya2011.cif"
LFP = DATA / "POSCAR.LiFePO4"
LVP = DATA / "Li3V2PO43.extxyz"


@pytest.fixture(scope="module")
def lgps():
    return read_recipe(LGPS, ["Li"])


def test_partial_occupancies_ordered_neutral_and_reproducible(lgps):
    info = resolve_material(lgps)
    assert info.oxidation_states == {"Li": 1.0, "Ge": 4.0, "P": 5.0, "S": -2.0}
    assert "oxi_state_guesses" in info.oxidation_source
    s = build_material(lgps, n_atoms=100, seed=3)
    assert s.is_ordered and len(s) == 100
    # Kamaya occupancies per cell: Li 20.2 -> 20, Ge 2.06 -> 2, P 3.94 -> 4, rounded per orbit
    assert s.composition.as_dict() == {"Li": 40, "Ge": 4, "P": 8, "S": 48}
    assert formal_charge(s, info.oxidation_states) == 0
    build = s.properties["ssic_build"]
    assert build["ordering"].startswith("random") and build["n_cells"] == 2
    # the random assignment keeps the 16h Li pairs (1.73 A apart) from both being filled
    li = [i for i, x in enumerate(s) if x.specie.symbol == "Li"]
    d = s.distance_matrix[np.ix_(li, li)] + 10 * np.eye(len(li))
    assert d.min() > 1.5
    again = build_material(lgps, n_atoms=100, seed=3)
    assert again.to(fmt="poscar") == s.to(fmt="poscar")
    assert build_material(lgps, n_atoms=100, seed=4).to(fmt="poscar") != s.to(fmt="poscar")


def test_supercell_is_as_cubic_as_the_lattice_allows(lgps):
    s = build_material(lgps, n_atoms=100, seed=0)
    w = perpendicular_widths_A(s.lattice.matrix)
    # a sqrt2 x a sqrt2 x c (12.30, 12.30, 12.60 A) instead of the diagonal 2a x a x c
    assert w.max() / w.min() < 1.03
    assert w.min() > 12.2


def test_ewald_ordering_where_tractable():
    from pymatgen.core import Lattice, Structure

    # rock salt with half the Na sites empty: 4 Na over 8 sites in the 2x2x2 cell
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), [{"Na": 0.5}, "Cl"],
                                  [[0, 0, 0], [0.5, 0.5, 0.5]])
    s.replace_species({"Cl": "Cl"})
    o, how = order_structure(s, {"Na": 1, "Cl": -2}, seed=0)
    assert how.startswith("ewald") and o.composition.as_dict() == {"Na": 2, "Cl": 4}
    # the lowest Ewald energy puts the two Na as far apart as the cell allows
    na = [i for i, x in enumerate(o) if x.specie.symbol == "Na"]
    assert o.get_distance(*na) == pytest.approx(5.6 * np.sqrt(2) / 2, abs=1e-6) or \
        o.get_distance(*na) == pytest.approx(5.6, abs=1e-6)


@pytest.mark.parametrize("path, units, octahedra", [(LFP, ["PO4"], "FeO6"), (LVP, ["PO4"], "VO6")])
def test_polyhedra_from_the_structure_feed_the_analysis(path, units, octahedra):
    rec = read_recipe(path, ["Li"])
    info = resolve_material(rec)
    labels = {p.label for p in info.polyhedra}
    assert {u + "" for u in units} <= labels and octahedra in labels
    host = analysis_inputs(rec, [])["host"]
    assert [u.label for u in host.units] == units and host.units[0].center == "P"
    assert host.cations == ("Li",)
    assert analysis_inputs(rec, [])["charges"] == {"Li": 1.0}
    s = build_material(rec, n_atoms=110, seed=0)
    assert abs(len(s) - 110) <= len(resolve_material(rec).builder.parent) / 2 + 1
    assert s.properties["ssic_build"]["ordering"].startswith("ordered")


def test_lgps_units_match_the_builtin(lgps):
    assert [u.label for u in analysis_inputs(lgps, [])["host"].units] == \
        [u.label for u in analysis_inputs("lgps", [])["host"].units]


def test_general_doping_rule_reproduces_the_w_doped_builder():
    rule = {"replace": "Sb", "with": "W", "count": 1, "compensate": {"vacancy": "Na"}}
    for seed in (0, 5):
        doped = build_material({"base": "na3sbs4", "dope": rule}, n_atoms=128, seed=seed)
        assert doped.to(fmt="poscar") == build_na3sbs4_w(127, seed=seed).to(fmt="poscar")
    by_fraction = build_material({"base": "na3sbs4", "dope": {**rule, "count": None, "fraction": 0.0625}},
                                 n_atoms=128, seed=0)
    assert by_fraction.composition.as_dict() == {"Na": 47, "Sb": 15, "W": 1, "S": 64}
    assert by_fraction.properties["ssic_build"]["doping"]["fraction"] == 0.0625


def test_doping_a_user_file():
    rec = read_recipe(LFP, ["Li"], oxidation_states={"Ti": 4},
                      dope={"replace": "Fe", "with": "Ti", "fraction": 0.25, "compensate": {"vacancy": "Li"}})
    s = build_material(rec, n_atoms=56, seed=0)
    c = s.composition.as_dict()
    assert c["Ti"] == 2 and c["Fe"] == 6 and c["Li"] == 4  # 2 Ti4+ for Fe2+: 4 Li+ vacancies
    assert formal_charge(s, resolve_material(rec).oxidation_states) == 0


@pytest.mark.parametrize("make, error, words", [
    (lambda: read_recipe(LFP, ["Na"]), MobileSpeciesError, "not in the structure"),
    (lambda: read_recipe(LFP, []), MobileSpeciesError, "no mobile species"),
    (lambda: read_recipe(DATA / "missing.cif", ["Li"]), UnreadableStructureError, "no structure file"),
    (lambda: read_recipe(DATA / "README.md", ["Li"]), UnreadableStructureError, "cannot tell"),
    (lambda: read_recipe(LGPS, ["Li"], oxidation_states={"Li": 2, "Ge": 4, "P": 5, "S": -2}),
     ChargeBalanceError, "net charge"),
    (lambda: build_material(read_recipe(LFP, ["Li"]), n_atoms=5), AtomCountError, "less than one cell"),
    (lambda: build_material(read_recipe(LFP, ["Li"], dope={"replace": "Fe", "with": "Ti", "fraction": 0.01,
                                                           "compensate": {"vacancy": "Li"}},
                                        oxidation_states={"Ti": 4}), n_atoms=28), DopingError, "0 dopants"),
])
def test_bad_input_is_one_clear_line(make, error, words):
    with pytest.raises(error) as e:
        m = make()
        resolve_material(m)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_unreadable_text(tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 5\nnonsense\n")
    with pytest.raises(UnreadableStructureError) as e:
        read_recipe(bad, ["Li"])
    assert "broken" in str(e.value) and "\n" not in str(e.value)


def test_builtins_resolve_through_the_same_registry():
    for key, info in MATERIALS.items():
        assert resolve_material(key) is info and info.recipe is None and info.size_rule == "exact"
