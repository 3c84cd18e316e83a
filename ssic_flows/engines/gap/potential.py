"""Evaluating a GAP (:class:`quippy.potential.Potential`) and its error estimate.

Bayesian error estimate of forces (BEEF) — the proxy used here
---------------------------------------------------------------
QUIP gives, with ``calc_args="local_gap_variance"``, the GP predictive variance of each
atom's *local energy*, σ²_i (eV²); it does not give a per-atom force variance (the
``export_covariance=T`` route needs a ScaLAPACK build and a sampled committee). The force-error
estimate of atom i is therefore

    β_i = c · sqrt(σ²_i)      (eV/Å),

with c (1/Å) a calibration constant: it starts at ``engine_settings["beef_scale_per_A"]``
(default 5 Å⁻¹) and, after every labelling round, is re-fitted by least squares through the
origin of the *true* per-atom force-error norms |F_GAP − F_ref|_i of the previous model on the
newly labelled frames against sqrt(σ²_i). A frame's BEEF is max_i β_i (as in VASP's on-the-fly
scheme, the study's Fig. 2a); ``beef_mean`` is the atom mean. σ² grows steeply outside the
training distribution (measured: ×15 for atoms pushed 0.3 Å off-lattice), so the proxy
ranks frames well even when c is rough. Candidates were picked because they were uncertain,
so c is biased upwards (conservative).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ssic_flows.engines.base import EngineError
from ssic_flows.schemas import EngineProvenance

__all__ = ["beef_per_atom", "gap_potential", "gap_provenance", "gap_variance"]


_POTENTIALS: dict[str, Any] = {}


def gap_potential(model_path: str | Path, purpose: str = "md"):
    """A quippy Potential (ASE calculator) for a GAP xml, cached per process and purpose
    (the variance evaluator is a separate instance so it never shares the MD's cache)."""
    p = Path(model_path)
    if not p.exists():
        raise EngineError(f"GAP model {p} not found; the model directory must be on a "
                          "filesystem shared by all workers (ssic_home())")
    key = f"{p.resolve()}:{p.stat().st_mtime_ns}:{purpose}"
    if key not in _POTENTIALS:
        try:
            from quippy.potential import Potential
        except ImportError as exc:
            raise EngineError("GAP needs quippy: pip install 'ssic-flows[ml]'") from exc
        _POTENTIALS[key] = Potential(param_filename=str(p))
    return _POTENTIALS[key]


def gap_variance(pot, atoms) -> tuple[float, np.ndarray, np.ndarray]:
    """(energy eV, forces eV/Å, local energy variance σ²_i eV²) of ``atoms``."""
    at = atoms.copy()
    pot.reset()  # quippy skips the call (and the variance) when it has results for these positions
    pot.calculate(at, properties=["energy", "forces"], calc_args="local_gap_variance")
    var = np.asarray(pot.extra_results["atoms"]["local_gap_variance"], dtype=float).copy()
    return float(pot.results["energy"]), np.array(pot.results["forces"]), var


def beef_per_atom(variance_eV2: np.ndarray, scale_per_A: float) -> np.ndarray:
    """β_i = c · sqrt(σ²_i), eV/Å (see module docstring)."""
    return float(scale_per_A) * np.sqrt(np.clip(variance_eV2, 0.0, None))


def _quippy_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"quippy-ase {version('quippy-ase')}"
    except PackageNotFoundError:  # pragma: no cover
        return "quippy-ase"


def gap_provenance(**settings: Any) -> EngineProvenance:
    return EngineProvenance(engine="gap", engine_version=_quippy_version(), kind="mlff",
                            stands_in_for_dft=False, settings=settings)
