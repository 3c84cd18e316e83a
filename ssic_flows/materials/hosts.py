"""Material knowledge handed to the analysis room as data: host lattices and carrier charges.

The analysis (:mod:`ssic_flows.analysis`) names no material: which tetrahedral units a host
has, which cations move around them and what charge a carrier has come from here, built
from the :class:`~ssic_flows.materials.info.MaterialInfo` and the one
formal-charge table :data:`~ssic_flows.materials.tools.FORMAL_CHARGES`.

Example
-------
>>> from ssic_flows.materials import MATERIALS
>>> [u.label for u in host_lattice(MATERIALS["lgps"]).units]
['PS4', 'GeS4']
>>> host_lattice(MATERIALS["agi"]).units[0]
TetraUnit(label='AgI4', center=None, ligand='I', reference_angle_deg=70.5, average_frames=50)
>>> [u.label for u in host_lattice_for_species(["Na", "Sb", "S"]).units]
['SbS4']
>>> analysis_inputs("lgps", [])["charges"]
{'Li': 1}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ssic_flows.analysis.tetrahedra.report import HostLattice, TetraUnit

from .info import MaterialInfo
from .registry import MATERIALS
from .resolve import resolve_material
from .tools import FORMAL_CHARGES, UnknownMaterialError

__all__ = ["INTERSTITIAL_AVERAGE_FRAMES", "analysis_inputs", "host_lattice", "host_lattice_for_species"]

#: Leading frames averaged to index the interstitial tetrahedra of a ligand lattice (α-AgI):
#: 0.5 ps at 10 fs lowers the thermal part of the displacements the bcc fit checks.
INTERSTITIAL_AVERAGE_FRAMES = 50


def _unit(info: MaterialInfo, centre: str, ligand: str) -> TetraUnit:
    """A polyanion AX4 when ``centre`` is one of ``info``'s polyanion centres, else the
    interstitial X4 tetrahedra of the ligand lattice that the (mobile) ``centre`` visits."""
    if centre in info.polyanion_centres:
        return TetraUnit(label=f"{centre}{ligand}4", center=centre, ligand=ligand)
    return TetraUnit(label=f"{centre}{ligand}4", center=None, ligand=ligand,
                     reference_angle_deg=info.theta_reference_deg,
                     average_frames=INTERSTITIAL_AVERAGE_FRAMES)


def host_lattice(info: MaterialInfo) -> HostLattice:
    """The tetrahedral units (``info.tetrahedral_units``) and mobile cations of one material."""
    return HostLattice(units=tuple(_unit(info, c, lig) for c, lig in info.tetrahedral_units.items()),
                       cations=tuple(info.mobile_species))


def host_lattice_for_species(species: Iterable[str]) -> HostLattice:
    """Best guess from the elements alone (a trajectory of unknown material), over the registry.

    When a polyanion ligand of any registered material is present, every registered
    polyanion centre present gives a unit (PS4, GeS4, SbS4, WS4); otherwise the interstitial
    units of the registered materials whose unit species are all present (AgI4). Cations:
    the mobile species of the polyanion hosts first, then the others (Li, Na, Ag).
    """
    els = set(species)
    polyanion: dict[str, tuple[MaterialInfo, str]] = {}
    for info in MATERIALS.values():
        for c, lig in info.polyanion_centres.items():
            polyanion.setdefault(c, (info, lig))
    if els & {lig for _, lig in polyanion.values()}:
        units = [_unit(info, c, lig) for c, (info, lig) in polyanion.items() if c in els and lig in els]
    else:
        units = [_unit(info, c, lig) for info in MATERIALS.values() if not info.polyanion_centres
                 for c, lig in info.tetrahedral_units.items() if {c, lig} <= els]
    ordered = sorted(MATERIALS.values(), key=lambda i: not i.polyanion_centres)
    cations = tuple(dict.fromkeys(s for info in ordered for s in info.mobile_species))
    return HostLattice(units=tuple(dict.fromkeys(units)), cations=cations)


def analysis_inputs(material: str | Mapping[str, Any] | None, species: Iterable[str]) -> dict[str, Any]:
    """Keyword arguments ``host`` and ``charges`` for ``analyze_trajectory``/``analyze_study``.

    Parameters
    ----------
    material:
        Registry key, formula or alias, or a user material's recipe (its polyhedra and
        oxidation states); None or an unknown name falls back to the elements.
    species:
        Element per atom of the trajectory (used when the material is not known).

    Returns
    -------
    dict
        ``host``: :class:`HostLattice`; ``charges``: carrier charges in e (the material's
        mobile species, or the whole :data:`FORMAL_CHARGES` table for an unknown material).
    """
    try:
        info = resolve_material(material) if material else None
    except UnknownMaterialError:
        info = None
    if info is None:
        return {"host": host_lattice_for_species(species), "charges": dict(FORMAL_CHARGES)}
    return {"host": host_lattice(info), "charges": {s: info.charges[s] for s in info.mobile_species}}
