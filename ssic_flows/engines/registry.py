"""Engines by name. Imports are lazy so a missing optional engine never breaks the others.

>>> sorted(REFERENCE_ENGINES)
['chgnet', 'cp2k', 'embedded', 'vasp']
"""

from __future__ import annotations

import importlib
from typing import Any

from ssic_flows.engines.base import EngineError, MLFFEngine, ReferenceEngine

__all__ = ["MLFF_ENGINES", "REFERENCE_ENGINES", "get_mlff_engine", "get_reference_engine"]

REFERENCE_ENGINES: dict[str, str] = {
    "embedded": "ssic_flows.engines.embedded.engine:EmbeddedReference",
    "chgnet": "ssic_flows.engines.embedded.engine:EmbeddedReference",
    "cp2k": "ssic_flows.engines.cp2k.engine:CP2KReference",
    "vasp": "ssic_flows.engines.vasp.engine:VaspReference",
}
MLFF_ENGINES: dict[str, str] = {
    "ace": "ssic_flows.engines.ace.engine:AceEngine",
    "gap": "ssic_flows.engines.gap.engine:GAPEngine",
    "vasp-mlff": "ssic_flows.engines.vasp_mlff.engine:VaspMLFF",
}


def _load(table: dict[str, str], name: str, kind: str, settings: dict[str, Any]):
    key = name.lower()
    if key not in table:
        raise EngineError(f"unknown {kind} engine {name!r}; choose one of {sorted(table)}")
    mod, cls = table[key].split(":")
    try:
        klass = getattr(importlib.import_module(mod), cls)
    except ImportError as exc:
        raise EngineError(
            f"{kind} engine {name!r} needs a package that is not installed ({exc.name}); "
            "install the extras: pip install 'ssic-flows[ml]'"
        ) from exc
    return klass(**settings)


def get_reference_engine(name: str, **settings: Any) -> ReferenceEngine:
    """A reference engine by name (``embedded``/``chgnet``, ``cp2k``, ``vasp``)."""
    return _load(REFERENCE_ENGINES, name, "reference", settings)


def get_mlff_engine(name: str, **settings: Any) -> MLFFEngine:
    """An MLFF engine by name (``ace``, ``gap``, ``vasp-mlff``)."""
    return _load(MLFF_ENGINES, name, "MLFF", settings)
