"""Test-only reference engine: ASE's EMT (Cu, Au, Ag, …) behind the ReferenceEngine interface.

Fast and deterministic, so tests can run whole on-the-fly training loops. Every document
says ``engine='emt'``, ``stands_in_for_dft=True``. Not registered as an engine: tests pass
an :class:`EMTReference` instance to an MLFF engine's ``train_flow`` directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from jobflow import JobStore, Maker, job, run_locally

from ssic_flows.engines.base import MDSettings, ReferenceEngine
from ssic_flows.engines.common.ase_md import run_md
from ssic_flows.engines.common.outputs import md_output_from_trajectory
from ssic_flows.schemas import EngineProvenance, MDOutput, StaticOutput

__all__ = ["EMTMDMaker", "EMTReference", "EMTStaticMaker", "emt_md", "emt_static",
           "run_in_memory"]

_PROV = EngineProvenance(engine="emt", kind="reference", stands_in_for_dft=True)


@job(data=MDOutput.DATA_FIELDS)
def emt_md(structure, settings: dict):
    """NVT MD with EMT (no checkpoint)."""
    from ase.calculators.emt import EMT

    s = MDSettings(**settings)
    traj = run_md(structure, EMT(), s, None, metadata={"engine": "emt"})
    return md_output_from_trajectory(traj, s, _PROV)


@job(data=StaticOutput.DATA_FIELDS)
def emt_static(frames):
    """EMT single points: energies (eV) and forces (eV/Å) of every frame."""
    from ase.calculators.emt import EMT

    e, f = [], []
    for i in range(frames.n_frames):
        at = frames.to_ase(i)
        at.calc = EMT()
        e.append(at.get_potential_energy())
        f.append(at.get_forces())
    out = frames.replace(forces=np.array(f), energies=np.array(e))
    return StaticOutput(provenance=_PROV, n_structures=len(e), energies_eV=e, forces=out)


@dataclass
class EMTMDMaker(Maker):
    name: str = "emt md"
    settings: MDSettings = field(default_factory=lambda: MDSettings(temperature_K=300))

    def make(self, structure):
        return emt_md(structure, asdict(self.settings))


@dataclass
class EMTStaticMaker(Maker):
    name: str = "emt static"

    def make(self, frames):
        return emt_static(frames)


class EMTReference(ReferenceEngine):
    """EMT as a reference engine (tests only)."""

    name = "emt"
    stands_in_for_dft = True

    def md_maker(self, settings):
        return EMTMDMaker(settings=settings)

    def static_maker(self):
        return EMTStaticMaker()

    def provenance(self):
        return _PROV.model_dump()


def run_in_memory(flow_or_job) -> JobStore:
    """Run a flow with ``run_locally`` on in-memory stores (``data`` store included)."""
    from maggma.stores import MemoryStore

    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    run_locally(flow_or_job, store=store, create_folders=True, ensure_success=True)
    return store
