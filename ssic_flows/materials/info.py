"""What the package knows about one material: :class:`MaterialInfo` (built-in or a user's).

The built-ins are in :mod:`.registry`, users' materials come from :mod:`.user`, and
:mod:`.resolve` finds either by name or recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymatgen.core import Structure

from .tools import FORMAL_CHARGES, AtomCountError, check_seed

__all__ = ["MaterialInfo"]


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

        >>> from ssic_flows.materials import MATERIALS
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
        """Build this material with about ``n_atoms`` atoms (:meth:`check_n_atoms`) and the
        seeded arrangement ``seed``; see :func:`~ssic_flows.materials.resolve.build_material`."""
        return self.builder(self.check_n_atoms(n_atoms), check_seed(seed))
