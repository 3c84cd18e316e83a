"""CP2K reference engine: real open-source DFT (PBE, GTH pseudopotentials, MOLOPT, Γ point).

Our own thin Makers (:mod:`ssic_flows.engines.cp2k.jobs`; not atomate2's CP2K path, reasons
in ``docs/engines.md``).

Example
-------
>>> eng = CP2KReference(preset="tiny", n_mpi=1)
>>> eng.cp2k.basis_set
'SZV-MOLOPT-SR-GTH'
>>> maker = eng.md_maker(MDSettings(temperature_K=500, n_steps=3))
>>> maker.name
'cp2k md'
"""

from __future__ import annotations

from typing import Any

from ssic_flows.engines.base import EngineError, MDSettings, ReferenceEngine
from ssic_flows.engines.cp2k.jobs import CP2KMDMaker, CP2KStaticMaker
from ssic_flows.engines.cp2k.run import cp2k_version, find_cp2k_executable
from ssic_flows.engines.cp2k.sets import Cp2kSettings, cp2k_data_dir

__all__ = ["CP2KReference", "PRESETS"]


#: Named CP2K settings. ``production``: DZVP-MOLOPT-SR-GTH, 350 Ry, OT (FULL_ALL,
#: ENERGY_GAP 0.01 Ha). ``tiny``: SZV-MOLOPT-SR-GTH, 250 Ry, diagonalisation + 1000 K
#: Fermi–Dirac smearing (test cells of a few atoms, which have no gap at Γ).
PRESETS: dict[str, dict[str, Any]] = {
    "production": {},
    "tiny": dict(basis_set="SZV-MOLOPT-SR-GTH", cutoff_Ry=250.0, rel_cutoff_Ry=40.0,
                 scf="diag", max_scf=100),
}


class CP2KReference(ReferenceEngine):
    """CP2K as the AIMD reference (open stand-in for the study's VASP PBE Γ-point AIMD).

    ``CP2KReference(preset="production"|"tiny", checkpoint_root=None, **Cp2kSettings fields)``,
    e.g. ``get_reference_engine("cp2k", preset="tiny", n_mpi=2, timeout_s=600)``.
    It is still DFT (PBE), so ``stands_in_for_dft`` is False.
    """

    name = "cp2k"
    stands_in_for_dft = False

    def __init__(self, preset: str = "production", checkpoint_root: str | None = None,
                 **settings: Any) -> None:
        if preset not in PRESETS:
            raise EngineError(f"unknown CP2K preset {preset!r}; choose one of {sorted(PRESETS)}")
        fields = set(Cp2kSettings.__dataclass_fields__)
        bad = set(settings) - fields
        if bad:
            raise EngineError(f"unknown CP2K setting(s) {sorted(bad)}; valid: {sorted(fields)}")
        self.preset = preset
        self.cp2k = Cp2kSettings(**{**PRESETS[preset], **settings})
        self.checkpoint_root = checkpoint_root

    def md_maker(self, settings: MDSettings) -> CP2KMDMaker:
        return CP2KMDMaker(md_settings=settings, cp2k_settings=self.cp2k,
                           checkpoint_root=self.checkpoint_root)

    def static_maker(self) -> CP2KStaticMaker:
        return CP2KStaticMaker(cp2k_settings=self.cp2k)

    def provenance(self) -> dict[str, Any]:
        return {"engine": "cp2k", "engine_version": cp2k_version(), "stands_in_for_dft": False,
                "settings": {**self.cp2k.as_dict(), "preset": self.preset, "xc": "PBE",
                             "kpoints": "Gamma"}}

    def check_available(self) -> None:
        find_cp2k_executable()
        cp2k_data_dir()
