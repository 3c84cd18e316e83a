"""Labelled frames in and predictions out, for users' own AIMD data (``ssic mlff``).

:func:`read_labelled_frames` reads frames with energies (eV) and forces (eV/Å), stresses
when the file has them: extxyz/traj/vasprun.xml/OUTCAR through ASE (stresses kept), every
other format of :func:`ssic_flows.analysis.readers.read_trajectory` (CP2K, npz) through it.
:func:`predictions_document` is the JSON of ``ssic mlff predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ssic_flows.engines.ace.model import AceModel

__all__ = ["predictions_document", "read_frames_any", "read_labelled_frames"]

_ASE_FORMATS = {".extxyz": "extxyz", ".xyz": "extxyz", ".traj": "traj", ".xml": "vasp-xml"}


def _ase_format(p: Path, fmt: str) -> str | None:
    """The ASE format name for ``p`` (None: one of our readers handles it)."""
    if fmt != "auto":
        return fmt if fmt in ("extxyz", "traj", "vasp-xml", "vasp-out") else None
    if p.name.startswith("OUTCAR"):
        return "vasp-out"
    if p.name.startswith("vasprun"):
        return "vasp-xml"
    return _ASE_FORMATS.get(p.suffix.lower())


def read_labelled_frames(path: str | Path, fmt: str = "auto") -> list:
    """ASE Atoms with ``info['energy']`` eV, ``arrays['forces']`` eV/Å (``info['stress']``
    eV/Å³ when present). Raises ValueError naming the fix when a frame lacks labels."""
    import ase.io

    from ssic_flows.engines.ace.fit import frame_labels

    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such file")
    ase_fmt = _ase_format(p, fmt)
    if ase_fmt is not None:
        frames = ase.io.read(p, index=":", format=ase_fmt)
    else:
        from ssic_flows.analysis.readers import read_trajectory
        from ssic_flows.engines.common.training import labelled_atoms

        frames = labelled_atoms(read_trajectory(p, format=fmt, timestep_fs=1.0))
    out = []
    for i, at in enumerate(frames):
        try:
            e, f, s = frame_labels(at)
        except ValueError as exc:
            raise ValueError(f"{p}: frame {i}: {exc}") from None
        at.calc = None
        at.info["energy"], at.arrays["forces"] = e, f
        if s is not None:
            at.info["stress"] = s
        else:
            at.info.pop("stress", None)
        out.append(at)
    if not out:
        raise ValueError(f"{p}: no frames")
    return out


def read_frames_any(path: str | Path, fmt: str = "auto") -> list:
    """Frames (labels optional) for prediction: ASE formats directly, others via the readers."""
    import ase.io

    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such file")
    ase_fmt = _ase_format(p, fmt)
    if ase_fmt is not None:
        return ase.io.read(p, index=":", format=ase_fmt)
    from ssic_flows.analysis.readers import read_trajectory

    t = read_trajectory(p, format=fmt, timestep_fs=1.0)
    return [t.to_ase(i) for i in range(t.n_frames)]


def predictions_document(model: AceModel, frames: list) -> dict[str, Any]:
    """``{"frames": [{"energy_eV", "forces_eV_A" (N×3), "force_sigma_eV_A" (N×3),
    "beef_eV_A"}], ...}``; σ is the posterior (model) std of each force component."""
    calc = model.calculator(with_sigma=True)
    out = []
    for at in frames:
        a = at.copy()
        a.calc = None
        calc.calculate(a)
        p = calc.last_prediction
        out.append({"energy_eV": p.energy_eV, "forces_eV_A": np.round(p.forces_eV_A, 8).tolist(),
                    "force_sigma_eV_A": np.round(p.force_sigma_eV_A, 8).tolist(),
                    "beef_eV_A": p.beef_eV_A})
    return {"frames": out, "noise_sigma_force_eV_A": model.noise_sigma_force_eV_A,
            "predictive_noise_eV_A": model.predictive_noise_eV_A,
            "beef_definition": "max over atoms of the RMS over x,y,z of the posterior force std",
            "units": {"energy": "eV", "forces": "eV/A", "sigma": "eV/A"}}
