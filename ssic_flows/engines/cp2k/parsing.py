"""Parsing CP2K output for the engine, in eV, eV/Å, Å/fs and Å.

The MD trajectory files (``-pos-1.xyz``, ``-vel-1.xyz``, ``-frc-1.xyz``, ``-1.ener``,
``-1.cell``) are read by the one CP2K trajectory parser,
:func:`ssic_flows.analysis.readers.read_cp2k` (also behind ``ssic analyze``); the engine asks
it to drop a cut-short last record, which a killed run leaves. Here: that call with the
engine's requirements, and the files only the engine reads — the restart file's step, the
total energy of a single point's log and its ``FORCE_EVAL%PRINT%FORCES`` table (Hartree/Bohr).
Units and conversion factors come from :mod:`ssic_flows.analysis.readers` (scipy.constants).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ssic_flows.analysis.readers import CP2K_FRC_TO_EV_PER_A, HARTREE_EV, read_cp2k
from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.engines.base import EngineError

__all__ = ["read_cp2k_forces_table", "read_cp2k_md", "read_cp2k_total_energy",
           "read_restart_step"]


def read_cp2k_md(directory: str | Path, project: str = "ssic", *, timestep_fs: float,
                 save_every: int = 1, metadata: dict | None = None) -> Trajectory:
    """A :class:`~ssic_flows.analysis.trajectory.Trajectory` of one CP2K MD run in ``directory``.

    Positions Å, forces eV/Å, velocities Å/fs, potential energies eV (from ``-1.ener``),
    cells Å (``-1.cell``); only the MD steps present in every file, so each frame's
    positions, forces and energy belong to the same step. ``timestep_fs`` is the MD step;
    frames are ``save_every`` steps apart. A cut-short last record (killed run) is dropped
    and ``metadata["truncated_last_frame"]`` set; ``metadata`` is merged in.

    Example: ``read_cp2k_md("tests/data/cp2k/agi4_md_resumed", timestep_fs=2.0)``.
    """
    d = Path(directory)
    pos = d / f"{project}-pos-1.xyz"
    for need, why in ((pos, "positions"), (d / f"{project}-frc-1.xyz", "forces"),
                      (d / f"{project}-1.ener", "energies"),
                      (d / f"{project}-1.cell", "cells; keep MOTION%PRINT%CELL on")):
        if not need.is_file():
            raise EngineError(f"{need} missing: CP2K wrote no {why} for this MD run")
    try:
        traj = read_cp2k(pos, timestep_fs * save_every, truncated="drop")
    except TrajectoryError as exc:
        raise EngineError(f"{d}: CP2K MD output unreadable: {exc}") from exc
    meta = dict(metadata or {})
    if traj.metadata.get("truncated_last_frame"):
        meta["truncated_last_frame"] = True
    return traj.replace(metadata=meta)


def read_restart_step(path: str | Path) -> int:
    """``STEP_START_VAL`` of a CP2K ``-1.restart`` file: the last MD step it holds (0 if none)."""
    m = re.search(r"^\s*STEP_START_VAL\s+(\d+)", Path(path).read_text(errors="replace"), re.M)
    return int(m.group(1)) if m else 0


_ENERGY_RE = re.compile(r"ENERGY\|\s+Total FORCE_EVAL \( QS \) energy \[(?:a\.u\.|hartree)\]:\s+(\S+)")


def read_cp2k_total_energy(output: str | Path) -> float:
    """Last ``ENERGY| Total FORCE_EVAL ( QS ) energy`` of a CP2K output, eV."""
    vals = _ENERGY_RE.findall(Path(output).read_text(errors="replace"))
    if not vals:
        raise EngineError(f"{output}: no 'ENERGY| Total FORCE_EVAL' line; did the SCF run?")
    return float(vals[-1]) * HARTREE_EV


def read_cp2k_forces_table(path: str | Path) -> tuple[list[str], np.ndarray]:
    """FORCE_EVAL%PRINT%FORCES file (``# Atom Kind Element X Y Z`` table, Ha/Bohr) → eV/Å.

    Returns ``(species, forces (N, 3) eV/Å)`` in the input atom order.
    """
    species, forces = [], []
    text = Path(path).read_text(errors="replace")
    if "in [a.u.]" not in text and "[hartree/bohr]" not in text.lower():
        raise EngineError(f"{path}: unexpected CP2K force units (want a.u. = Hartree/Bohr)")
    for ln in text.splitlines():
        t = ln.split()
        if len(t) >= 6 and t[0].isdigit() and t[1].isdigit():
            species.append(t[2])
            forces.append([float(x) for x in t[3:6]])
    if not forces:
        raise EngineError(f"{path}: no force rows found")
    return species, np.array(forces) * CP2K_FRC_TO_EV_PER_A
