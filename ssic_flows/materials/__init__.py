"""Structure builders for the study's solid-state ion conductors.

Public API
----------
* :func:`build_material` ``(name, n_atoms=None, seed=0) -> Structure`` and the metadata
  registry :data:`MATERIALS` (formula, mobile/framework species, polyanion centres, formal
  charges, study temperature, experimental density with source).
* Per-material builders: :func:`build_agi`, :func:`build_lgps`, :func:`build_na3sbs4`,
  :func:`build_na3sbs4_w`, and their parent cells :func:`agi_parent`, :func:`lgps_parent`,
  :func:`na3sbs4_parent`.
* Material knowledge for the analysis, as data: :func:`host_lattice`,
  :func:`host_lattice_for_species`, :func:`analysis_inputs` (host lattice + carrier charges).
* Any other conductor from its structure file: :func:`read_recipe` (CIF with partial
  occupancies, POSCAR, extxyz; the file's text travels, not its path), then
  :func:`build_material` / :func:`resolve_material` on the recipe, the same path as the
  built-ins (:mod:`.user`: ordering :mod:`.ordering`, oxidation states :mod:`.oxidation`,
  polyhedra :mod:`.polyhedra`, doping rules :mod:`.doping`).
* Tools: :func:`supercell_for`, :func:`dope`, :func:`select_separated_sites`,
  :func:`write_structure`, :func:`read_structure`.

All errors derive from :class:`MaterialsError` (a ``ValueError``).
"""

from .agi import agi_parent, build_agi
from .doping import DopingRule, apply_doping
from .hosts import analysis_inputs, host_lattice, host_lattice_for_species
from .lgps import build_lgps, lgps_framework, lgps_parent
from .na3sbs4 import build_na3sbs4, build_na3sbs4_w, na3sbs4_parent
from .ordering import order_structure
from .oxidation import ChargeBalanceError, guess_oxidation_states
from .polyhedra import Polyhedron, detect_polyhedra
from .info import MaterialInfo
from .registry import MATERIALS, builtin_material, builtin_names, is_builtin
from .resolve import allowed_atom_counts, build_material, resolve_material
from .structure_io import read_structure, structure_format, structure_from_text, write_structure
from .user import MobileSpeciesError, UnreadableStructureError, read_recipe, recipe_from_text
from .tools import (
    FORMAL_CHARGES,
    AtomCountError,
    DopingError,
    InvalidSeedError,
    MaterialsError,
    SiteSelectionError,
    UnknownMaterialError,
    UnsupportedFormatError,
    best_diagonal_scaling,
    density_g_cm3,
    diagonal_scaling_for,
    dope,
    formal_charge,
    min_pair_distances,
    select_separated_sites,
    supercell_for,
)

__all__ = [
    "FORMAL_CHARGES",
    "MATERIALS",
    "AtomCountError",
    "ChargeBalanceError",
    "DopingRule",
    "DopingError",
    "InvalidSeedError",
    "MaterialInfo",
    "MaterialsError",
    "MobileSpeciesError",
    "Polyhedron",
    "SiteSelectionError",
    "UnknownMaterialError",
    "UnreadableStructureError",
    "UnsupportedFormatError",
    "agi_parent",
    "allowed_atom_counts",
    "analysis_inputs",
    "apply_doping",
    "best_diagonal_scaling",
    "build_agi",
    "build_lgps",
    "build_material",
    "build_na3sbs4",
    "build_na3sbs4_w",
    "builtin_material",
    "builtin_names",
    "detect_polyhedra",
    "density_g_cm3",
    "diagonal_scaling_for",
    "dope",
    "formal_charge",
    "guess_oxidation_states",
    "host_lattice",
    "host_lattice_for_species",
    "is_builtin",
    "lgps_framework",
    "lgps_parent",
    "min_pair_distances",
    "na3sbs4_parent",
    "order_structure",
    "read_recipe",
    "read_structure",
    "recipe_from_text",
    "resolve_material",
    "select_separated_sites",
    "structure_format",
    "structure_from_text",
    "supercell_for",
    "write_structure",
]
