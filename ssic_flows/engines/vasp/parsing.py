"""VASP output → :class:`~ssic_flows.analysis.trajectory.Trajectory` through the one vasprun
parser, :func:`ssic_flows.analysis.readers.vasprun_frames` (Å, eV/Å, eV).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.engines.base import EngineError

__all__ = ["read_vasprun_trajectory", "vasp_version"]


def _find(directory: Path, name: str) -> Path:
    for cand in (directory / name, directory / f"{name}.gz"):
        if cand.exists():
            return cand
    gz = sorted(directory.glob(f"{name}*"))
    if gz:
        return gz[-1]
    raise EngineError(f"{directory}: no {name}; did VASP finish? (check OUTCAR/std_err.txt)")


def read_vasprun_trajectory(directory: str | Path, *, timestep_fs: float, first_step: int = 0,
                            stride: int = 1, metadata: dict | None = None) -> Trajectory:
    """Frames of a VASP run from ``vasprun.xml[.gz]`` (pymatgen): positions Å, cells Å,
    forces eV/Å, energies eV (``e_fr_energy``, the free energy whose derivative the forces
    are, PSTRESS·V removed; parsed by :func:`ssic_flows.analysis.readers.vasprun_frames`).
    ``steps`` count from ``first_step`` in units of ``stride`` MD steps (frame 0 = the
    input structure; ``timestep_fs`` is per MD step and multiplied by ``stride``). vasprun does
    not hold velocities, so ``velocities`` is None.
    """
    from ssic_flows.analysis.readers import vasprun_frames

    path = _find(Path(directory), "vasprun.xml")
    try:
        fr = vasprun_frames(path, exception_on_bad_xml=False)
    except TrajectoryError as exc:
        raise EngineError(f"{path}: no ionic steps ({exc})") from exc
    if fr.forces_eV_A is None or fr.energies_eV is None:
        raise EngineError(f"{path}: ionic steps without forces or energies")
    species, pos, cells = fr.species, fr.positions_A, fr.cells_A
    forces, energies = fr.forces_eV_A, fr.energies_eV
    return Trajectory(species=species, positions=pos, cells=cells,
                      timestep_fs=timestep_fs * stride, forces=forces, energies=energies,
                      steps=np.arange(len(pos)) * stride + first_step,
                      metadata=dict(metadata or {}))


def vasp_version(directory: Path) -> str:
    try:
        path = _find(directory, "vasprun.xml")
    except EngineError:
        return ""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        head = fh.read(4000)
    import re

    m = re.search(r'name="version"[^>]*>\s*([^<\s]+)', head)
    return f"VASP {m.group(1)}" if m else ""
