"""Structure jobs: build a study material's cell, make a transferability supercell."""

from __future__ import annotations

from dataclasses import dataclass

from jobflow import Maker, job
from pymatgen.core import Structure

__all__ = ["BuildMaterialMaker", "SupercellMaker", "build_material_job", "supercell_job"]


def _doc(structure: Structure, **extra) -> dict:
    return {
        "structure": structure,
        "formula": structure.composition.formula.replace(" ", ""),
        "reduced_formula": structure.composition.reduced_formula,
        "n_atoms": len(structure),
        "density_g_cm3": float(structure.density),
        "volume_A3": float(structure.volume),
        **extra,
    }


@job
def build_material_job(material: str | dict, n_atoms: int | None, seed: int) -> dict:
    """Build ``material`` (a built-in key or a user material's recipe, which carries the
    structure file's text) with ``n_atoms`` atoms (seeded); output has the Structure + facts
    (for a recipe also how it was built: supercell, ordering method, oxidation states, doping)."""
    from ssic_flows.materials import build_material

    s = build_material(material, n_atoms=n_atoms, seed=seed)
    label = material if isinstance(material, str) else str(material.get("name") or material.get("base"))
    return _doc(s, material=label, seed=seed, **(s.properties or {}).get("ssic_build", {}))


@job
def supercell_job(structure: Structure, scaling: list[int]) -> dict:
    """Repeat ``structure`` by ``scaling`` (e.g. [2, 2, 2]: 128 → 1024 atoms)."""
    s = structure.copy()
    s.make_supercell(scaling)
    return _doc(s, scaling=list(scaling))


@dataclass
class BuildMaterialMaker(Maker):
    """Build a material, built-in or a user's recipe (``ssic_flows.materials.build_material``)."""

    name: str = "build"

    def make(self, material: str | dict, n_atoms: int | None = None, seed: int = 0):
        j = build_material_job(material, n_atoms, seed)
        j.name = self.name
        return j


@dataclass
class SupercellMaker(Maker):
    """Repeat a cell, e.g. the study's 128 → 1024-atom transferability cell."""

    name: str = "supercell"
    scaling: tuple[int, int, int] = (2, 2, 2)

    def make(self, structure):
        j = supercell_job(structure, list(self.scaling))
        j.name = self.name
        return j
