"""VASP reference engine (production clusters): the study's AIMD settings on atomate2 Makers
(:mod:`ssic_flows.engines.vasp.jobs`, INCAR choices in :mod:`ssic_flows.engines.vasp.sets`).

No VASP on our machines: tests check the written inputs (``potcar_spec`` mode, no POTCARs).
"""

from __future__ import annotations

from typing import Any

from ssic_flows.engines.base import EngineError, MDSettings, ReferenceEngine
from ssic_flows.engines.vasp.jobs import VaspMDMaker, VaspStaticMaker
from ssic_flows.engines.vasp.sets import STUDY_INCAR

__all__ = ["VaspReference", "check_vasp_available"]


class VaspReference(ReferenceEngine):
    """VASP PBE Γ-point AIMD (the study's reference), on a cluster with VASP + POTCARs.

    ``VaspReference(incar_overrides=None, potcar_functional="PBE_54", n_segments=1)``, e.g.
    ``get_reference_engine("vasp", incar_overrides={"ENCUT": 450}, n_segments=4)``.
    """

    name = "vasp"
    stands_in_for_dft = False

    def __init__(self, incar_overrides: dict | None = None, potcar_functional: str = "PBE_54",
                 n_segments: int = 1) -> None:
        self.incar_overrides = dict(incar_overrides or {})
        self.potcar_functional = potcar_functional
        self.n_segments = int(n_segments)

    def md_maker(self, settings: MDSettings) -> VaspMDMaker:
        return VaspMDMaker(md_settings=settings, incar_overrides=self.incar_overrides,
                           potcar_functional=self.potcar_functional, n_segments=self.n_segments)

    def static_maker(self) -> VaspStaticMaker:
        return VaspStaticMaker(incar_overrides=self.incar_overrides,
                               potcar_functional=self.potcar_functional)

    def provenance(self) -> dict[str, Any]:
        return {"engine": "vasp", "engine_version": "", "stands_in_for_dft": False,
                "settings": {"incar": {**STUDY_INCAR, **self.incar_overrides},
                             "kpoints": "Gamma", "potcar_functional": self.potcar_functional,
                             "n_segments": self.n_segments}}

    def check_available(self) -> None:
        check_vasp_available()


def check_vasp_available() -> None:
    """Raise :class:`EngineError` unless atomate2's VASP command is on PATH and POTCARs are set."""
    import os
    import shlex
    import shutil

    from atomate2 import SETTINGS

    exe = shlex.split(str(SETTINGS.VASP_CMD))[-1] if SETTINGS.VASP_CMD else "vasp_std"
    if shutil.which(exe) is None:
        raise EngineError(
            f"VASP is not available on this machine; run on a cluster ({exe!r} is not on "
            "PATH: load VASP and set VASP_CMD in ~/.atomate2.yaml or ATOMATE2_VASP_CMD)")
    if not os.environ.get("PMG_VASP_PSP_DIR"):
        from pymatgen.core import SETTINGS as PMG

        if not PMG.get("PMG_VASP_PSP_DIR"):
            raise EngineError("VASP POTCARs not configured: set PMG_VASP_PSP_DIR "
                              "(pmg config -p <potcars> <dir>; pmg config --add PMG_VASP_PSP_DIR <dir>)")
