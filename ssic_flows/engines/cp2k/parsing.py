"""Parsing CP2K output into eV, eV/Å, Å/fs and Å.

Units
-----
CP2K writes positions in Å (``-pos-1.xyz``), forces in Hartree/Bohr (``-frc-1.xyz``,
``FORCE_EVAL%PRINT%FORCES``), velocities in Bohr/atomic-time-unit (``-vel-1.xyz``), energies
in Hartree (``-1.ener``, xyz comment lines) and cells in Å (``-1.cell``). Every parser here
returns eV, eV/Å, Å/fs and Å.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ssic_flows.engines.base import EngineError

__all__ = [
    "AU_TIME_FS", "BOHR_A", "FORCE_AU_EV_A", "HARTREE_EV", "VEL_AU_A_FS", "read_cp2k_cell",
    "read_cp2k_ener", "read_cp2k_forces_table", "read_cp2k_md", "read_cp2k_total_energy",
    "read_cp2k_xyz", "read_restart_step",
]


#: CODATA 2018 conversion factors.
HARTREE_EV = 27.211386245988          # eV per Hartree


BOHR_A = 0.529177210903               # Å per Bohr


AU_TIME_FS = 2.4188843265857e-2       # fs per atomic unit of time


FORCE_AU_EV_A = HARTREE_EV / BOHR_A   # (Hartree/Bohr) → eV/Å


VEL_AU_A_FS = BOHR_A / AU_TIME_FS     # (Bohr/au_time) → Å/fs


_STEP_RE = re.compile(r"i\s*=\s*(\d+)")


def read_cp2k_xyz(path: str | Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Frames of a CP2K xyz file: ``(steps (F,), species (N), values (F, N, 3))``.

    Values are in the file's own units (positions Å; forces Ha/Bohr; velocities Bohr/au).
    A frame that repeats a step (a restarted run appends) replaces the earlier one; a
    truncated last frame (killed run) is dropped.
    """
    lines = Path(path).read_text().splitlines()
    frames: dict[int, np.ndarray] = {}
    species: list[str] | None = None
    i = 0
    while i < len(lines):
        head = lines[i].strip()
        if not head:
            i += 1
            continue
        n = int(head)
        if i + 2 + n > len(lines):
            break
        m = _STEP_RE.search(lines[i + 1])
        step = int(m.group(1)) if m else len(frames)
        rows = [ln.split() for ln in lines[i + 2:i + 2 + n]]
        if any(len(r) < 4 for r in rows):
            break
        sp = [r[0] for r in rows]
        if species is None:
            species = sp
        elif sp != species:
            raise EngineError(f"{path}: species change between frames; not one CP2K trajectory")
        frames[step] = np.array([[float(x) for x in r[1:4]] for r in rows])
        i += 2 + n
    if not frames:
        raise EngineError(f"{path}: no complete frame found (did CP2K run any MD step?)")
    steps = np.array(sorted(frames))
    return steps, species or [], np.stack([frames[s] for s in steps])


def read_cp2k_ener(path: str | Path) -> dict[int, dict[str, float]]:
    """``-1.ener`` rows by step: time_fs, kinetic_eV, temperature_K, potential_eV,
    conserved_eV, used_time_s (later rows for a repeated step win)."""
    rows: dict[int, dict[str, float]] = {}
    for ln in Path(path).read_text().splitlines():
        if ln.lstrip().startswith("#") or not ln.strip():
            continue
        t = ln.split()
        if len(t) < 7:
            continue
        rows[int(t[0])] = dict(time_fs=float(t[1]), kinetic_eV=float(t[2]) * HARTREE_EV,
                               temperature_K=float(t[3]), potential_eV=float(t[4]) * HARTREE_EV,
                               conserved_eV=float(t[5]) * HARTREE_EV, used_time_s=float(t[6]))
    return rows


def read_cp2k_cell(path: str | Path) -> dict[int, np.ndarray]:
    """``-1.cell`` rows by step → (3, 3) lattice vectors as rows, Å."""
    cells: dict[int, np.ndarray] = {}
    for ln in Path(path).read_text().splitlines():
        if ln.lstrip().startswith("#") or not ln.strip():
            continue
        t = ln.split()
        if len(t) < 11:
            continue
        cells[int(t[0])] = np.array([float(x) for x in t[2:11]]).reshape(3, 3)
    return cells


def read_cp2k_md(directory: str | Path, project: str = "ssic", *, timestep_fs: float,
                 save_every: int = 1, metadata: dict | None = None):
    """Assemble a :class:`~ssic_flows.analysis.trajectory.Trajectory` from one CP2K MD run.

    Reads ``<project>-pos-1.xyz`` (Å), ``-frc-1.xyz`` (Ha/Bohr → eV/Å), ``-vel-1.xyz``
    (Bohr/au → Å/fs), ``-1.ener`` (potential energy Ha → eV) and ``-1.cell`` (Å), and keeps
    only the steps present in positions, forces and energies, so every frame's positions,
    forces and energy belong to the same MD step. ``timestep_fs`` is the MD step; frames are
    ``save_every`` steps apart.
    """
    from ssic_flows.analysis.trajectory import Trajectory

    d = Path(directory)
    pos_steps, species, pos = read_cp2k_xyz(d / f"{project}-pos-1.xyz")
    frc_steps, _, frc = read_cp2k_xyz(d / f"{project}-frc-1.xyz")
    ener = read_cp2k_ener(d / f"{project}-1.ener")
    vel_path = d / f"{project}-vel-1.xyz"
    vel_steps, vel = (None, None)
    if vel_path.exists():
        vel_steps, _, vel = read_cp2k_xyz(vel_path)
    cell_path = d / f"{project}-1.cell"
    cells_by_step = read_cp2k_cell(cell_path) if cell_path.exists() else {}
    common = set(pos_steps) & set(frc_steps) & set(ener)
    if vel_steps is not None:
        common &= set(vel_steps)
    steps = np.array(sorted(common), dtype=int)
    if steps.size == 0:
        raise EngineError(f"{d}: no MD step has positions, forces and energy all written")

    def pick(all_steps, arr):
        idx = {int(s): k for k, s in enumerate(all_steps)}
        return arr[[idx[int(s)] for s in steps]]

    if cells_by_step:
        last = None
        cells = []
        for s in steps:
            last = cells_by_step.get(int(s), last)
            if last is None:
                last = cells_by_step[min(cells_by_step)]
            cells.append(last)
        cells = np.stack(cells)
    else:
        raise EngineError(f"{cell_path} missing: CP2K xyz files carry no cell; keep MOTION%PRINT%CELL on")
    return Trajectory(
        species=species, positions=pick(pos_steps, pos), cells=cells,
        timestep_fs=timestep_fs * save_every,
        velocities=None if vel is None else pick(vel_steps, vel) * VEL_AU_A_FS,
        forces=pick(frc_steps, frc) * FORCE_AU_EV_A,
        energies=np.array([ener[int(s)]["potential_eV"] for s in steps]),
        steps=steps, metadata=dict(metadata or {}),
    )


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
    return species, np.array(forces) * FORCE_AU_EV_A
