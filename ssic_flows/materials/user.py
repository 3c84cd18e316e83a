"""A user's own material: a structure file (by content) plus a few facts, as a MaterialInfo.

A *recipe* is the plain-data description a campaign and its jobs carry (JSON-able, so a
cluster worker without the file builds the same cell)::

    {"name": "Li10GeP2S12", "format": "cif", "text": "<the file's content>",
     "mobile_species": ["Li"], "oxidation_states": None, "dope": None, "min_separation_A": 1.5}

or ``{"base": "na3sbs4", "dope": {...}}`` for a built-in material with a doping rule.
:func:`user_material` turns it into a :class:`~ssic_flows.materials.info.MaterialInfo`
whose builder does, for ``n_atoms`` and ``seed``:

1. the file's cell repeated to about ``n_atoms`` atoms, the supercell as close to cubic as
   the lattice allows (ASE ``find_optimal_cell_shape``, target simple cubic);
2. partial occupancies rounded per site group and ordered (:mod:`.ordering`: Ewald ranking
   where tractable, seeded random otherwise);
3. charge balance checked with the oxidation states (:mod:`.oxidation`: guessed, or given);
4. the doping rule applied (:mod:`.doping`).

What was done is recorded in ``structure.properties["ssic_build"]``. Polyhedral units come
from :mod:`.polyhedra`. Same recipe + ``n_atoms`` + seed → the same structure.

Example
-------
>>> from ssic_flows.materials import build_material
>>> rec = recipe_from_text("NaCl", "poscar", NACL_POSCAR, mobile_species=["Na"])  # doctest: +SKIP
>>> len(build_material(rec, n_atoms=64, seed=0))  # doctest: +SKIP
64
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure

from .doping import DopingRule, apply_doping
from .info import MaterialInfo
from .ordering import MIN_SEPARATION_A, order_structure, site_counts
from .oxidation import ChargeBalanceError, guess_oxidation_states, total_charge
from .polyhedra import detect_polyhedra, tetrahedral_units
from .registry import builtin_material
from .structure_io import structure_format, structure_from_text
from .tools import FORMAL_CHARGES, AtomCountError, MaterialsError, check_seed, make_rng

__all__ = ["DEFAULT_USER_ATOMS", "MAX_USER_ATOMS", "MobileSpeciesError", "UnreadableStructureError",
           "is_recipe", "read_recipe", "recipe_from_text", "user_material"]

#: Cell size built when a campaign gives no ``n_atoms`` (the study's cells are 100-200 atoms).
DEFAULT_USER_ATOMS = 128
#: Largest cell a user material is built with.
MAX_USER_ATOMS = 20_000


class UnreadableStructureError(MaterialsError):
    """A structure file is missing, of an unknown format or does not parse."""


class MobileSpeciesError(MaterialsError):
    """The mobile species are not given, or not in the structure."""


def recipe_from_text(name: str, fmt: str, text: str, mobile_species: Sequence[str],
                     oxidation_states: Mapping[str, float] | None = None,
                     dope: Mapping[str, Any] | None = None,
                     min_separation_A: float = MIN_SEPARATION_A) -> dict[str, Any]:
    """A recipe (module docstring) from a file's content."""
    return {"name": _label(name), "format": fmt, "text": text,
            "mobile_species": [str(m) for m in mobile_species],
            "oxidation_states": None if oxidation_states is None else {str(k): float(v) for k, v in oxidation_states.items()},
            "dope": None if dope is None else DopingRule.from_dict(dope).as_dict(),
            "min_separation_A": float(min_separation_A)}


def read_recipe(path: str | Path, mobile_species: Sequence[str], **kw) -> dict[str, Any]:
    """A recipe from a structure file on disk (its text, not its path, goes in).

    Raises
    ------
    UnreadableStructureError
        Missing file, unknown extension, or text that does not parse.
    """
    p = Path(path)
    try:
        fmt = structure_format(p)
    except MaterialsError as exc:
        raise UnreadableStructureError(str(exc)) from exc
    if not p.is_file():
        raise UnreadableStructureError(f"no structure file at {str(p)!r}; give the path of a .cif, POSCAR or .extxyz file")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableStructureError(f"cannot read {str(p)!r} ({exc}); give a text .cif, POSCAR or .extxyz file") from exc
    rec = recipe_from_text(_file_label(p), fmt, text, mobile_species, **kw)
    _parse(rec["text"], rec["format"], str(p))  # fail now, with the file's name
    return rec


def is_recipe(material: object) -> bool:
    """Whether ``material`` is a recipe mapping (rather than a built-in name)."""
    return isinstance(material, Mapping)


def _file_label(p: Path) -> str:
    """``POSCAR.LiFePO4`` -> ``LiFePO4``; ``x.cif`` -> ``x``; a bare ``POSCAR`` keeps its name."""
    head, _, tail = p.name.partition(".")
    if head.upper() in ("POSCAR", "CONTCAR") and tail:
        return tail
    return p.stem


def _label(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name) or "material"


def _parse(text: str, fmt: str, where: str) -> Structure:
    try:
        s = structure_from_text(text, fmt)
    except Exception as exc:  # noqa: BLE001 - pymatgen/ASE raise many kinds on bad text
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableStructureError(
            f"{where}: not a readable {fmt} structure ({first}); check the file or convert it "
            "(e.g. with ase convert) to .cif, POSCAR or .extxyz") from exc
    if len(s) == 0:
        raise UnreadableStructureError(f"{where}: the {fmt} file holds no atoms")
    s.remove_oxidation_states()
    return Structure(s.lattice, [site.species for site in s], s.frac_coords)


def _key(recipe: Mapping[str, Any]) -> str:
    return json.dumps(recipe, sort_keys=True, default=str)


def user_material(recipe: Mapping[str, Any]):
    """The :class:`~ssic_flows.materials.info.MaterialInfo` of a recipe (cached)."""
    return _user_material(_key(recipe))


@lru_cache(maxsize=32)
def _user_material(key: str):
    rec = json.loads(key)
    rule = DopingRule.from_dict(rec["dope"]) if rec.get("dope") else None
    if rec.get("base"):
        base = builtin_material(rec["base"])
        dopant = (rule.with_,) if rule else ()
        name = rec.get("name") or (f"{base.key}+{rule.with_}" if rule else base.key)
        return MaterialInfo(
            key=_label(name), formula=base.formula + (f" doped {rule.with_} on {rule.replace}" if rule else ""),
            aliases=(), mobile_species=base.mobile_species,
            framework_species=tuple(dict.fromkeys((*base.framework_species, *dopant))),
            polyanion_centres={**base.polyanion_centres, **({rule.with_: base.polyanion_centres[rule.replace]} if rule and rule.replace in base.polyanion_centres else {})},
            tetrahedral_units={**base.tetrahedral_units, **({rule.with_: base.tetrahedral_units[rule.replace]} if rule and rule.replace in base.tetrahedral_units else {})},
            temperature_K=base.temperature_K, temperature_source=base.temperature_source,
            density_g_cm3=base.density_g_cm3, density_source=base.density_source + " (undoped)",
            study_atoms=base.study_atoms, demo_atoms=base.demo_atoms, cell_atoms=base.cell_atoms,
            lattice_source=base.lattice_source, space_group=base.space_group,
            builder=_BaseBuilder(base, rule), size_rule="nearest", recipe=rec,
            theta_reference_deg=base.theta_reference_deg)
    where = rec["name"]
    parent = _parse(rec["text"], rec["format"], where)
    els = [el.symbol for el in parent.composition.elements]
    mobile = tuple(rec.get("mobile_species") or ())
    if not mobile:
        raise MobileSpeciesError(f"{where}: no mobile species given; set mobile_species (e.g. [{els[0]}]) "
                                 "or --mobile")
    absent = [m for m in mobile if m not in els]
    if absent:
        raise MobileSpeciesError(f"{where}: mobile species {absent} not in the structure ({els}); "
                                 f"set mobile_species to some of {els}")
    if len(mobile) == len(els):
        raise MobileSpeciesError(f"{where}: every element is mobile; leave the framework out of mobile_species")
    probe, _ = order_structure(_supercell(parent, 1), None, seed=0)
    given = dict(rec.get("oxidation_states") or {})
    dopant_q = given.pop(rule.with_, None) if rule and rule.with_ not in els else None
    states, source = guess_oxidation_states(probe, given)
    if rule and rule.with_ not in states:
        if dopant_q is None:
            dopant_q = FORMAL_CHARGES.get(rule.with_)
        if dopant_q is None:
            raise ChargeBalanceError(f"{where}: dopant {rule.with_} needs an oxidation state; add "
                                     f"{rule.with_}: q to oxidation_states")
        states[rule.with_] = float(dopant_q)
    polyhedra = detect_polyhedra(parent, mobile, states)
    avg = float(parent.composition.num_atoms)
    return MaterialInfo(
        key=where, formula=parent.composition.reduced_formula, aliases=(), mobile_species=mobile,
        framework_species=tuple(e for e in (*els, *((rule.with_,) if rule else ())) if e not in mobile),
        polyanion_centres={p.centre: p.ligand for p in polyhedra},
        tetrahedral_units=tetrahedral_units(polyhedra),
        temperature_K=None, temperature_source="not in a structure file: the campaign's temperature_K",
        density_g_cm3=float(parent.density),
        density_source=f"crystallographic density of the supplied file {where} (not a measurement)",
        study_atoms=DEFAULT_USER_ATOMS, demo_atoms=max(1, int(round(avg))), cell_atoms=max(1, int(round(avg))),
        lattice_source=f"user file {where} ({rec['format']}, sha256 {hashlib.sha256(rec['text'].encode()).hexdigest()[:12]})",
        space_group=_space_group(parent), builder=_FileBuilder(parent, rec, states, rule),
        oxidation_states=states, oxidation_source=source, polyhedra=polyhedra, size_rule="nearest",
        recipe=rec)


def _space_group(s: Structure) -> str:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return SpacegroupAnalyzer(s, symprec=0.01).get_space_group_symbol()
    except Exception:  # noqa: BLE001 - spglib fails on some disordered cells
        return "not determined"


def _supercell(parent: Structure, n_cells: int) -> Structure:
    return parent.make_supercell(supercell_matrix(parent, n_cells), in_place=False)


def supercell_matrix(parent: Structure, n_cells: int) -> np.ndarray:
    """Integer matrix (rows) of the ``n_cells``-cell supercell closest to simple cubic (ASE)."""
    if n_cells == 1:
        return np.eye(3, dtype=int)
    from ase.build.supercells import find_optimal_cell_shape

    return np.asarray(find_optimal_cell_shape(parent.lattice.matrix, n_cells, "sc", verbose=False), dtype=int)


def _cell_charge(sup: Structure, states: Mapping[str, float]) -> tuple[float, dict[str, int]]:
    counts: dict[str, int] = {}
    for site in sup:
        if site.is_ordered:
            counts[site.specie.symbol] = counts.get(site.specie.symbol, 0) + 1
    for _, c in site_counts(sup):
        for el, n in c.items():
            counts[el] = counts.get(el, 0) + n
    return total_charge(counts, states), counts


class _FileBuilder:
    """``(n_atoms, seed) -> Structure`` of a user file (module docstring, steps 1-4)."""

    def __init__(self, parent: Structure, rec: Mapping[str, Any], states: dict[str, float],
                 rule: DopingRule | None) -> None:
        self.parent, self.rec, self.states, self.rule = parent, rec, states, rule
        self.avg = float(parent.composition.num_atoms)

    def n_cells(self, n_atoms: object) -> int:
        where = self.rec["name"]
        if isinstance(n_atoms, bool) or not isinstance(n_atoms, (int, np.integer)) or n_atoms <= 0:
            raise AtomCountError(f"{where}: n_atoms must be a positive integer, got {n_atoms!r}")
        if n_atoms > MAX_USER_ATOMS:
            raise AtomCountError(f"{where}: n_atoms = {n_atoms} is above {MAX_USER_ATOMS}; use fewer atoms")
        k = int(round(n_atoms / self.avg))
        if k < 1:
            raise AtomCountError(f"{where}: n_atoms = {n_atoms} is less than one cell of the file "
                                 f"({self.avg:g} atoms); use n_atoms >= {int(np.ceil(self.avg))}")
        return k

    def check(self, n_atoms: int) -> tuple[int, np.ndarray, Structure]:
        """Cells, supercell matrix and disordered supercell for ``n_atoms``, without ordering.

        Raises
        ------
        AtomCountError, ChargeBalanceError, DopingError
            An impossible count, a charged cell after rounding, a doping rule with no dopant.
        """
        where = self.rec["name"]
        k = self.n_cells(n_atoms)
        matrix = supercell_matrix(self.parent, k)
        sup = self.parent.make_supercell(matrix, in_place=False)
        q, counts = _cell_charge(sup, self.states)
        if abs(q) > 1e-6:
            ok = [j for j in range(1, 9) if abs(_cell_charge(_supercell(self.parent, j), self.states)[0]) < 1e-6]
            hint = (f"use n_atoms near {', '.join(str(int(round(j * self.avg))) for j in ok)}" if ok
                    else "set oxidation_states, or fix the file's occupancies")
            formula = "".join(f"{el}{n}" for el, n in counts.items())
            raise ChargeBalanceError(f"{where}: at {n_atoms} atoms ({k} cells) the rounded occupancies give "
                                     f"{formula}, net charge {q:+g} e with {self.states}; {hint}")
        if self.rule:
            self.rule.n_dopants(counts.get(self.rule.replace, 0))
        return k, matrix, sup

    def __call__(self, n_atoms: int, seed: int) -> Structure:
        rng = make_rng(check_seed(seed))
        k, matrix, sup = self.check(n_atoms)
        ordered, how = order_structure(sup, self.states, rng, float(self.rec.get("min_separation_A", MIN_SEPARATION_A)))
        doping = None
        if self.rule:
            ordered, doping = apply_doping(ordered, self.rule, rng, charges=self.states)
        ordered.properties = {"ssic_build": {
            "source": self.rec["name"], "n_cells": k, "supercell_matrix": matrix.tolist(),
            "ordering": how, "oxidation_states": dict(self.states), "doping": doping}}
        return ordered


class _BaseBuilder:
    """``(n_atoms, seed) -> Structure``: a built-in material, then a doping rule."""

    def __init__(self, base, rule: DopingRule | None) -> None:
        self.base, self.rule = base, rule

    def check(self, n_atoms: int) -> None:
        """The built-in's count rule (:meth:`MaterialInfo.check_n_atoms`)."""
        self.base.check_n_atoms(n_atoms)

    def __call__(self, n_atoms: int, seed: int) -> Structure:
        rng = make_rng(check_seed(seed))
        host = self.base.build(n_atoms, seed)
        doping = None
        if self.rule:
            host, doping = apply_doping(host, self.rule, rng)
        host.properties = {"ssic_build": {"source": self.base.key, "ordering": "built-in builder",
                                          "doping": doping}}
        return host
