"""The study's built-in materials: :data:`MATERIALS` and their lookup by name.

Example
-------
>>> from ssic_flows.materials import MATERIALS, builtin_material
>>> builtin_material("LGPS").key, MATERIALS["agi"].temperature_K
('lgps', 500.0)
"""

from __future__ import annotations

import re

from . import agi, lgps, na3sbs4
from .info import MaterialInfo
from .tools import UnknownMaterialError

__all__ = ["MATERIALS", "builtin_material", "builtin_names", "is_builtin"]


_AGI_DENSITY_SRC = (
    "X-ray density Z*M/(N_A*a^3) of alpha-AgI with a = 5.07 A, Z = 2 (Strock 1934; Cava, Reidinger & "
    "Wuensch 1977); consistent with the measured 5.68 g/cm3 of beta-AgI (CRC Handbook) and the ~5% "
    "volume contraction at the 420 K beta->alpha transition"
)

MATERIALS: dict[str, MaterialInfo] = {
    "agi": MaterialInfo(
        key="agi",
        formula="AgI",
        aliases=("AgI", "alpha-AgI", "α-AgI", "silver iodide"),
        mobile_species=("Ag",),
        framework_species=("I",),
        polyanion_centres={},
        tetrahedral_units={"Ag": "I"},
        temperature_K=500.0,
        temperature_source="study section 3.1: production MLMD at 500 K (alpha phase above 420 K)",
        density_g_cm3=5.98,
        density_source=_AGI_DENSITY_SRC,
        study_atoms=agi.AGI_STUDY_ATOMS,
        demo_atoms=16,
        cell_atoms=agi.AGI_CELL_ATOMS,
        extra_atoms=(1024,),
        theta_reference_deg=70.5,
        lattice_source="Strock 1934; Cava, Reidinger & Wuensch, Solid State Commun. 24, 411 (1977): a = 5.07 A, I 2a, Ag 12d",
        space_group="Im-3m",
        builder=lambda n, seed: agi.build_agi(n, seed=seed),
    ),
    "lgps": MaterialInfo(
        key="lgps",
        formula="Li10GeP2S12",
        aliases=("LGPS", "Li10GeP2S12"),
        mobile_species=("Li",),
        framework_species=("Ge", "P", "S"),
        polyanion_centres={"P": "S", "Ge": "S"},
        tetrahedral_units={"P": "S", "Ge": "S"},
        temperature_K=600.0,
        temperature_source=(
            "default, not stated in the study's main text (ESI unavailable): 600 K, a common AIMD "
            "temperature for LGPS giving D_Li ~ 1e-6..1e-5 cm2/s; treat as an open parameter"
        ),
        density_g_cm3=2.04,
        density_source="X-ray density of the Kamaya et al. (Nat. Mater. 10, 682 (2011)) cell: a = 8.71771, c = 12.63452 A, Z = 2",
        study_atoms=lgps.LGPS_STUDY_ATOMS,
        demo_atoms=50,
        cell_atoms=lgps.LGPS_CELL_ATOMS,
        lattice_source="Kamaya et al., Nat. Mater. 10, 682 (2011), P4_2/nmc",
        space_group="P4_2/nmc",
        builder=lambda n, seed: lgps.build_lgps(n, seed=seed),
    ),
    "na3sbs4": MaterialInfo(
        key="na3sbs4",
        formula="Na3SbS4",
        aliases=("Na3SbS4", "NSS", "t-Na3SbS4"),
        mobile_species=("Na",),
        framework_species=("Sb", "S"),
        polyanion_centres={"Sb": "S"},
        tetrahedral_units={"Sb": "S"},
        temperature_K=300.0,
        temperature_source="study: pristine Na3SbS4 simulated at 300 K",
        density_g_cm3=2.87,
        density_source="Graf & Schaefer, Z. Anorg. Allg. Chem. 425, 67 (1976), ICSD 44707 (cubic Na3SbS4), diffraction density",
        study_atoms=na3sbs4.NA3SBS4_STUDY_ATOMS,
        demo_atoms=16,
        cell_atoms=na3sbs4.NA3SBS4_CELL_ATOMS,
        lattice_source="tetragonal Na3SbS4 a = 7.16, c = 7.29 A (Banerjee et al. 2016; Zhang et al. 2016); Na3PS4-type sites",
        space_group="P-42_1c",
        builder=lambda n, seed: na3sbs4.build_na3sbs4(n, seed=seed),
    ),
    "na3sbs4-w": MaterialInfo(
        key="na3sbs4-w",
        formula="Na2.94Sb0.94W0.06S4",
        aliases=("Na2.94Sb0.94W0.06S4", "W-Na3SbS4", "Na3SbS4:W", "NSSW", "W-doped Na3SbS4"),
        mobile_species=("Na",),
        framework_species=("Sb", "W", "S"),
        polyanion_centres={"Sb": "S", "W": "S"},
        tetrahedral_units={"Sb": "S", "W": "S"},
        temperature_K=300.0,
        temperature_source=(
            "default: the study's Na3SbS4 temperature (300 K); the doped run's temperature is not "
            "stated in the main text"
        ),
        density_g_cm3=2.87,
        density_source="pristine Na3SbS4 value (Graf & Schaefer 1976); no measured density for x = 0.06, W changes the mass by < 1%",
        study_atoms=na3sbs4.NA3SBS4_W_STUDY_ATOMS,
        demo_atoms=31,
        cell_atoms=na3sbs4.NA3SBS4_CELL_ATOMS,
        cell_offset=1,
        lattice_source="as na3sbs4, 1 Sb -> W and 1 Na vacancy per cell",
        space_group="P-42_1c",
        builder=lambda n, seed: na3sbs4.build_na3sbs4_w(n, seed=seed),
    ),
}


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-_:α]", "", name.lower().replace("alpha", ""))


_LOOKUP: dict[str, str] = {}
for _key, _info in MATERIALS.items():
    for _name in (_key, _info.formula, *_info.aliases):
        _LOOKUP[_normalise(_name)] = _key


def builtin_material(name: str) -> MaterialInfo:
    """A built-in material by key, formula or alias (case-insensitive).

    Raises
    ------
    UnknownMaterialError
        If the name is unknown; the message lists the valid names.
    """
    if not isinstance(name, str):
        raise UnknownMaterialError(f"material name must be a string, got {name!r}")
    key = _LOOKUP.get(_normalise(name))
    if key is None:
        raise UnknownMaterialError(f"unknown material {name!r}; valid names: {builtin_names()}")
    return MATERIALS[key]


def builtin_names() -> str:
    """``"agi (AgI), lgps (Li10GeP2S12), ..."``: the built-in materials, for messages."""
    return ", ".join(f"{k} ({MATERIALS[k].formula})" for k in MATERIALS)


def is_builtin(name: object) -> bool:
    """Whether ``name`` is a built-in material's key, formula or alias."""
    return isinstance(name, str) and _normalise(name) in _LOOKUP
