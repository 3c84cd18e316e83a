"""CHGNet (universal ML potential, weights shipped in the ``chgnet`` wheel) as an ASE calculator.

Energies eV, forces eV/Å; the model is loaded offline and cached per process. Every result
says ``stands_in_for_dft=True`` (:func:`chgnet_provenance`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError
from ssic_flows.schemas import EngineProvenance

__all__ = ["DEFAULT_MODEL", "chgnet_calculator", "chgnet_provenance", "chgnet_single_points", "load_chgnet"]


DEFAULT_MODEL = "0.3.0"


_MODELS: dict[str, Any] = {}


def _set_threads(torch_threads: int) -> None:
    import torch

    if torch_threads < 1:
        raise EngineError(f"torch_threads must be >= 1, got {torch_threads}")
    if torch.get_num_threads() != torch_threads:
        torch.set_num_threads(int(torch_threads))


def load_chgnet(model_name: str = DEFAULT_MODEL, torch_threads: int = 1):
    """The CHGNet model (cached per process), loaded offline from the installed wheel."""
    try:
        from chgnet.model import CHGNet
    except ImportError as exc:
        raise EngineError(
            "the embedded reference needs chgnet and torch: pip install 'ssic-flows[ml]'"
        ) from exc
    _set_threads(torch_threads)
    if model_name not in _MODELS:
        try:
            _MODELS[model_name] = CHGNet.load(model_name=model_name, use_device="cpu",
                                              verbose=False)
        except Exception as exc:  # noqa: BLE001
            raise EngineError(
                f"cannot load CHGNet model {model_name!r} ({exc}); use model_name='0.3.0', whose "
                "weights ship in the chgnet wheel"
            ) from exc
    return _MODELS[model_name]


def chgnet_calculator(model_name: str = DEFAULT_MODEL, torch_threads: int = 1):
    """An ASE calculator (energy eV, forces eV/Å) around the cached CHGNet model."""
    from chgnet.model.dynamics import CHGNetCalculator

    return CHGNetCalculator(model=load_chgnet(model_name, torch_threads), use_device="cpu",
                            on_isolated_atoms="warn")


def chgnet_provenance(model_name: str = DEFAULT_MODEL, torch_threads: int = 1,
                      **settings: Any) -> EngineProvenance:
    """Provenance of a CHGNet result: engine 'chgnet', versions, stands_in_for_dft=True."""
    import chgnet
    import torch

    return EngineProvenance(
        engine="chgnet", engine_version=f"chgnet {chgnet.__version__}", kind="reference",
        stands_in_for_dft=True,
        settings={"model_name": model_name, "torch_version": torch.__version__,
                  "torch_threads": torch_threads, "device": "cpu", **settings})


def chgnet_single_points(traj: Trajectory, model_name: str = DEFAULT_MODEL,
                         torch_threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Energies (F,) eV and forces (F, N, 3) eV/Å of every frame of ``traj``."""
    calc = chgnet_calculator(model_name, torch_threads)
    energies = np.empty(traj.n_frames)
    forces = np.empty((traj.n_frames, traj.n_atoms, 3))
    for i in range(traj.n_frames):
        at = traj.to_ase(i)
        at.calc = calc
        energies[i] = at.get_potential_energy()
        forces[i] = at.get_forces()
    if not (np.isfinite(energies).all() and np.isfinite(forces).all()):
        raise EngineError("CHGNet returned non-finite energies/forces; check the structures "
                          "(overlapping atoms?)")
    return energies, forces
