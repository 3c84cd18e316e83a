"""Any material, built-in or a user's recipe: :func:`resolve_material` and :func:`build_material`.

Example
-------
>>> from ssic_flows.materials import build_material, MATERIALS
>>> s = build_material("AgI", n_atoms=16, seed=0)
>>> s.composition.reduced_formula, len(s), MATERIALS["agi"].temperature_K
('AgI', 16, 500.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymatgen.core import Structure

from .info import MaterialInfo
from .registry import builtin_material
from .user import user_material

__all__ = ["allowed_atom_counts", "build_material", "resolve_material"]


def resolve_material(name: str | Mapping[str, Any]) -> MaterialInfo:
    """Look up a material: a built-in by key, formula or alias (case-insensitive), or a
    user material by its recipe (a mapping, see :mod:`ssic_flows.materials.user`).

    Raises
    ------
    UnknownMaterialError
        If the name is unknown; the message lists the valid names.
    MaterialsError
        A recipe that cannot be made (unreadable text, no mobile species, no neutral
        oxidation states, ...); one line naming the problem and the fix.
    """
    if isinstance(name, Mapping):
        return user_material(name)
    return builtin_material(name)


def allowed_atom_counts(name: str, max_atoms: int = 1100) -> list[int]:
    """Buildable atom counts of material ``name`` up to ``max_atoms``."""
    return resolve_material(name).allowed_atom_counts(max_atoms)


def build_material(name: str | Mapping[str, Any], n_atoms: int | None = None, seed: int = 0) -> Structure:
    """Build a material (built-in or a user's recipe) as an ordered pymatgen ``Structure``.

    Parameters
    ----------
    name
        ``agi``, ``lgps``, ``na3sbs4``, ``na3sbs4-w`` or an alias (``AgI``, ``LGPS``,
        ``Li10GeP2S12``, ``Na3SbS4``, ``Na2.94Sb0.94W0.06S4``, ...), case-insensitive; or a
        user material's recipe (:mod:`ssic_flows.materials.user`), built with about
        ``n_atoms`` atoms (default 128).
    n_atoms
        Cell size; default: the study's (AgI 128, LGPS 200, Na3SbS4 128, W-doped 127). Allowed:
        AgI multiples of 4 (16 demo, 1024 = the 128 cell repeated 2×2×2), LGPS multiples of 50,
        Na3SbS4 multiples of 16, W-doped 16k − 1 (31 demo, 127 study).
    seed
        Non-negative integer selecting the seeded arrangement (Ag sites, Li/Ge/P order, W site
        and Na vacancy). Same seed -> identical structure.

    Returns
    -------
    Structure
        Ordered, charge-neutral structure; lengths in Å.

    Raises
    ------
    UnknownMaterialError
        Unknown ``name`` (message lists valid names).
    AtomCountError
        ``n_atoms`` not buildable (message lists allowed counts).
    InvalidSeedError
        ``seed`` negative or not an integer.
    """
    return resolve_material(name).build(n_atoms, seed)
