"""Registry of the study's materials: metadata (:data:`MATERIALS`) and :func:`build_material`.

Example
-------
>>> from ssic_flows.materials import build_material, MATERIALS
>>> s = build_material("AgI", n_atoms=16, seed=0)
>>> s.composition.reduced_formula, len(s), MATERIALS["agi"].temperature_K
('AgI', 16, 500.0)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymatgen.core import Structure

from . import agi, lgps, na3sbs4
from .tools import FORMAL_CHARGES, AtomCountError, UnknownMaterialError, check_seed

__all__ = ["MATERIALS", "MaterialInfo", "allowed_atom_counts", "build_material", "builtin_names", "is_builtin",
           "resolve_material"]


@dataclass(frozen=True)
class MaterialInfo:
    """Per-material metadata used by builders, flows and analysis.

    Attributes
    ----------
    key
        Registry key (``agi``, ``lgps``, ``na3sbs4``, ``na3sbs4-w``).
    formula
        Nominal formula as written in the study.
    aliases
        Other accepted names (matched case-insensitively, ignoring ``-``, ``_``, spaces and ``α``).
    mobile_species
        Diffusing species.
    framework_species
        Host-lattice species.
    polyanion_centres
        Polyanion centre -> ligand (e.g. ``{"P": "S", "Ge": "S"}``); empty when the host has
        no polyanions (AgI).
    tetrahedral_units
        Centre -> vertex species of the tetrahedra whose angles the study analyses (for AgI the
        Ag-centred I4 tetrahedra, otherwise the polyanions).
    temperature_K
        Production MD temperature in K.
    temperature_source
        Where ``temperature_K`` comes from (study section, or "default, not in main text").
    density_g_cm3
        Experimental reference density in g/cm³.
    density_source
        Source of ``density_g_cm3``.
    study_atoms
        Atom count of the study's simulation cell (``build_material``'s default).
    demo_atoms
        Smallest sensible cell for quick demos (reference MD with a universal potential on
        2 cores).
    cell_atoms
        Atoms per repeat unit: allowed counts are ``k * cell_atoms - cell_offset`` (k >= 1).
    cell_offset
        Atoms removed per cell relative to the repeat unit (1 for the W-doped cell's vacancy).
    extra_atoms
        Other sizes used by the study (AgI's 1024-atom transfer cell).
    lattice_source
        Literature source of lattice constants and Wyckoff positions.
    space_group
        Space group of the parent (average / framework) structure.
    theta_reference_deg
        Interstitial tetrahedra only: the face angle (deg) of the ideal lattice whose θ the
        study analyses (α-AgI: the 70.5° apex angles of the bcc I4 tetrahedra); None keeps
        all 12 angles.
    oxidation_states
        Per-element charges (e) of a user material (guessed or given, see
        :mod:`.oxidation`); None: the :data:`FORMAL_CHARGES` table (the built-ins).
    oxidation_source
        How ``oxidation_states`` were found.
    polyhedra
        Framework units found in a user's structure (:mod:`.polyhedra`), AX6 included.
    size_rule
        ``"exact"``: only :meth:`allowed_atom_counts` build (the built-ins); ``"nearest"``:
        the cell nearest to the requested count is built (user materials, :mod:`.user`).
    recipe
        The plain-data recipe a user material was made from (:mod:`.user`); None for a
        built-in. ``build`` goes through it, so both kinds take one path.
    """

    key: str
    formula: str
    aliases: tuple[str, ...]
    mobile_species: tuple[str, ...]
    framework_species: tuple[str, ...]
    polyanion_centres: dict[str, str]
    tetrahedral_units: dict[str, str]
    temperature_K: float | None
    temperature_source: str
    density_g_cm3: float
    density_source: str
    study_atoms: int
    demo_atoms: int
    cell_atoms: int
    lattice_source: str
    space_group: str
    builder: Callable[[int, int], Structure] = field(repr=False, compare=False)
    cell_offset: int = 0
    extra_atoms: tuple[int, ...] = ()
    theta_reference_deg: float | None = None
    oxidation_states: dict[str, float] | None = None
    oxidation_source: str = "FORMAL_CHARGES table"
    polyhedra: tuple = ()
    size_rule: str = "exact"
    recipe: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def charges(self) -> dict[str, float]:
        """Charges (e) per element (mobile, then framework): ``oxidation_states`` of a user
        material, else :data:`FORMAL_CHARGES`; for charge neutrality and Nernst-Einstein
        conductivity."""
        table = FORMAL_CHARGES if self.oxidation_states is None else self.oxidation_states
        return {el: table[el] for el in (*self.mobile_species, *self.framework_species)}

    def allowed_atom_counts(self, max_atoms: int = 1100) -> list[int]:
        """All buildable atom counts up to ``max_atoms``."""
        return [
            k * self.cell_atoms - self.cell_offset
            for k in range(1, max_atoms // self.cell_atoms + 2)
            if k * self.cell_atoms - self.cell_offset <= max_atoms
        ]

    def is_allowed(self, n_atoms: int) -> bool:
        """Whether ``n_atoms`` is ``k * cell_atoms - cell_offset`` for some k >= 1."""
        return n_atoms > 0 and (n_atoms + self.cell_offset) % self.cell_atoms == 0

    def check_n_atoms(self, n_atoms: int | None = None) -> int:
        """The atom count this material is built with for ``n_atoms`` (None: ``study_atoms``).

        The one atom-count check (``build_material`` and campaign validation use it):
        ``"exact"`` materials need ``k * cell_atoms - cell_offset``; ``"nearest"`` (user)
        materials ask their builder (enough atoms for one cell, charge balance, doping).

        Raises
        ------
        AtomCountError
            The count is not buildable; the message lists allowed or nearest counts.

        >>> MATERIALS["agi"].check_n_atoms(None), MATERIALS["na3sbs4-w"].check_n_atoms(31)
        (128, 31)
        """
        n = self.study_atoms if n_atoms is None else n_atoms
        if isinstance(n, np.integer):
            n = int(n)
        if self.size_rule == "nearest":
            self.builder.check(n)
            return n
        if isinstance(n, bool) or not isinstance(n, int) or not self.is_allowed(n):
            shown = ", ".join(map(str, self.allowed_atom_counts(10 * self.cell_atoms)[:8]))
            extra = f" (and e.g. {', '.join(map(str, self.extra_atoms))})" if self.extra_atoms else ""
            rule = f"{self.cell_atoms}k" + (f" - {self.cell_offset}" if self.cell_offset else "")
            near = ""
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                k = max(1, (n + self.cell_offset) // self.cell_atoms)
                lo, hi = (j * self.cell_atoms - self.cell_offset for j in (k, k + 1))
                near = f"; nearest to {n}: {lo} or {hi}"
            raise AtomCountError(
                f"cannot build {self.key} ({self.formula}) with {n!r} atoms; allowed counts are {rule} "
                f"for k >= 1: {shown}, ...{extra}{near}; the study used {self.study_atoms}"
            )
        return n

    def build(self, n_atoms: int | None = None, seed: int = 0) -> Structure:
        """Build this material; see :func:`build_material`."""
        return build_material(self.recipe or self.key, n_atoms=n_atoms, seed=seed)


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
        from .user import user_material

        return user_material(name)
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
    info = resolve_material(name)
    seed = check_seed(seed)
    return info.builder(info.check_n_atoms(n_atoms), seed)
