"""Embedded reference engine: CHGNet standing in for DFT.

No DFT code is needed to run the whole study on a laptop: CHGNet 0.3.0 gives energies (eV)
and forces (eV/Å) for the reference MD and for labelling on-the-fly training frames. Every
document it produces says ``stands_in_for_dft=True`` and names chgnet + torch versions, so
such results are never mistaken for AIMD.

Example
-------
>>> eng = EmbeddedReference()
>>> eng.provenance()["stands_in_for_dft"]
True
"""

from __future__ import annotations

from typing import Any

from ssic_flows.engines.base import EngineError, MDSettings, ReferenceEngine
from ssic_flows.engines.embedded.calculator import (
    DEFAULT_MODEL, chgnet_calculator, chgnet_provenance, load_chgnet,
)
from ssic_flows.engines.embedded.jobs import EmbeddedMDMaker, EmbeddedStaticMaker

__all__ = ["EmbeddedReference"]


class EmbeddedReference(ReferenceEngine):
    """CHGNet as the reference engine (``stands_in_for_dft=True``).

    model_name: CHGNet weights shipped in the wheel ('0.3.0'). torch_threads: intra-op
    threads (1 by default: several workers usually share the cores).
    """

    name = "chgnet"
    stands_in_for_dft = True

    def __init__(self, model_name: str = DEFAULT_MODEL, torch_threads: int = 1):
        if torch_threads < 1:
            raise EngineError(f"torch_threads must be >= 1, got {torch_threads}")
        self.model_name = model_name
        self.torch_threads = int(torch_threads)

    def md_maker(self, settings: MDSettings) -> EmbeddedMDMaker:
        return EmbeddedMDMaker(settings=settings, model_name=self.model_name,
                               torch_threads=self.torch_threads)

    def static_maker(self) -> EmbeddedStaticMaker:
        return EmbeddedStaticMaker(model_name=self.model_name, torch_threads=self.torch_threads)

    def calculator(self):
        """The ASE calculator (used by benchmarks and tests)."""
        return chgnet_calculator(self.model_name, self.torch_threads)

    def provenance(self) -> dict[str, Any]:
        return chgnet_provenance(self.model_name, self.torch_threads).model_dump()

    def check_available(self) -> None:
        load_chgnet(self.model_name, self.torch_threads)
