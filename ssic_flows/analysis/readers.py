"""Read MD trajectories from common engine formats into :class:`Trajectory`.

=========== ============================= ==========================================
format      files                         time / velocities / forces
=========== ============================= ==========================================
``xdatcar`` VASP XDATCAR (pymatgen)       no time info: ``timestep_fs`` required
``vasprun`` vasprun.xml (pymatgen)        POTIM (fs) when IBRION = 0; forces, free energy
``extxyz``  extended XYZ (ASE)            velocities from momenta, forces/energies from
``ase``     ASE ``.traj`` (ASE)           the stored calculator results; time from
                                          ``info["time_fs"]`` if present
``cp2k``    ``<proj>-pos-<n>.xyz`` +      time from the ``time =`` field (fs); siblings
            ``-vel-<n>.xyz``,             found automatically; velocities bohr/au_time
            ``-frc-<n>.xyz``,             → Å/fs, forces Hartree/bohr → eV/Å, E Hartree
            ``-<n>.cell``, ``-<n>.ener``  → eV (``.ener`` if present, else the xyz
                                          comments); cell from ``-<n>.cell`` or ``cell=``
``npz``     :meth:`Trajectory.save`       everything
=========== ============================= ==========================================

``format="auto"`` decides from the file name. Positions may be wrapped
(:meth:`Trajectory.unwrapped` handles that). Velocities are never made by finite
differences here. ``timestep_fs`` is only needed when the file has no time information;
if both exist and disagree, that is an error. Any unreadable file raises one
:class:`TrajectoryError` naming the file and the problem.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import constants as _c

from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError

__all__ = ["read_trajectory", "detect_format", "FORMATS", "BOHR_A", "AU_TIME_FS",
           "HARTREE_EV", "CP2K_VEL_TO_A_PER_FS", "CP2K_FRC_TO_EV_PER_A", "Cp2kXyz",
           "read_cp2k", "read_cp2k_cell", "read_cp2k_ener", "read_cp2k_xyz"]

FORMATS = ("xdatcar", "vasprun", "extxyz", "ase", "cp2k", "npz")

BOHR_A: float = _c.physical_constants["Bohr radius"][0] / _c.angstrom
"""Å per Bohr (CODATA, scipy.constants)."""
AU_TIME_FS: float = _c.physical_constants["atomic unit of time"][0] / _c.femto
"""fs per atomic unit of time."""
HARTREE_EV: float = _c.physical_constants["Hartree energy in eV"][0]
"""eV per Hartree."""
CP2K_VEL_TO_A_PER_FS: float = BOHR_A / AU_TIME_FS
CP2K_FRC_TO_EV_PER_A: float = HARTREE_EV / BOHR_A

_CP2K_POS = re.compile(r"^(?P<prefix>.*)-pos-(?P<n>\d+)\.xyz$")


def detect_format(path: str | Path) -> str:
    """Format name from a file name (see module table)."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith(".npz"):
        return "npz"
    if name.endswith(".traj"):
        return "ase"
    if "xdatcar" in name:
        return "xdatcar"
    if name.endswith(".xml") and "vasprun" in name or name == "vasprun.xml":
        return "vasprun"
    if _CP2K_POS.match(p.name):
        return "cp2k"
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    raise TrajectoryError(f"{path}: cannot tell the format from the name; pass format= one of {FORMATS}")


def _resolve_dt(path: Path, from_file: float | None, given: float | None) -> float:
    if from_file is not None and from_file > 0:
        if given is not None and not np.isclose(from_file, given, rtol=1e-3):
            raise TrajectoryError(f"{path}: file says the frame spacing is {from_file} fs but "
                                  f"timestep_fs={given} was passed; drop the argument or fix it")
        return float(from_file)
    if given is None:
        raise TrajectoryError(f"{path}: the file carries no time information; pass timestep_fs "
                              "(time between stored frames, fs; --timestep-fs on the CLI)")
    return float(given)


def read_trajectory(path: str | Path, format: str = "auto", timestep_fs: float | None = None,
                    **kw: Any) -> Trajectory:
    """Read a trajectory file.

    Parameters
    ----------
    path : file to read (for CP2K the ``-pos-<n>.xyz`` file).
    format : ``"auto"`` or one of :data:`FORMATS`.
    timestep_fs : time between stored frames, fs; only when the file has no time info.
    **kw : ``cell`` ((3, 3) Å, CP2K without a ``.cell`` file), ``index`` (ASE frame
        selection string, default ``":"``).

    Returns
    -------
    Trajectory (metadata["source"] = path, metadata["format"] = format).
    """
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"{path}: no such file")
    fmt = detect_format(path) if format == "auto" else format.lower()
    if fmt not in FORMATS:
        raise TrajectoryError(f"{path}: unknown format {format!r}; use one of {FORMATS}")
    if fmt == "npz":
        traj = Trajectory.load(path)
    else:
        reader = {"xdatcar": _read_xdatcar, "vasprun": _read_vasprun, "extxyz": _read_ase,
                  "ase": _read_ase, "cp2k": read_cp2k}[fmt]
        try:
            traj = reader(path, timestep_fs, **kw)
        except TrajectoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any parser failure becomes one clear error
            raise TrajectoryError(f"{path}: not a readable {fmt} file ({type(exc).__name__}: {exc})"
                                  ) from exc
    traj.metadata.setdefault("source", str(path))
    traj.metadata.setdefault("format", fmt)
    return traj


# ------------------------------------------------------------------ VASP
#: 1 kbar in eV/Å³ (10⁸ Pa · 10⁻³⁰ m³/Å³ / 1.602176634·10⁻¹⁹ J/eV)
KBAR_TO_EV_PER_A3: float = 1e-22 / 1.602176634e-19


def _structures_to_arrays(structs) -> tuple[list[str], np.ndarray, np.ndarray]:
    if not structs:
        raise TrajectoryError("no frames")
    species = [sp.symbol for sp in structs[0].species]
    pos = np.array([s.cart_coords for s in structs])
    cells = np.array([s.lattice.matrix for s in structs])
    return species, pos, cells


def _read_xdatcar(path: Path, timestep_fs: float | None, **_: Any) -> Trajectory:
    from pymatgen.io.vasp.outputs import Xdatcar

    structs = Xdatcar(str(path)).structures
    species, pos, cells = _structures_to_arrays(structs)
    dt = _resolve_dt(path, None, timestep_fs)
    return Trajectory(species=species, positions=pos, cells=cells, timestep_fs=dt,
                      metadata={"engine": "vasp"})


@dataclass(frozen=True)
class VasprunFrames:
    """Arrays of every ionic step of a vasprun.xml (see :func:`vasprun_frames`)."""

    species: list[str]
    positions_A: np.ndarray  # (F, N, 3)
    cells_A: np.ndarray  # (F, 3, 3)
    forces_eV_A: np.ndarray | None  # (F, N, 3)
    energies_eV: np.ndarray | None  # (F,) free energy, PSTRESS·V removed
    energy_note: str
    parameters: dict


def vasprun_frames(path: str | Path, *, exception_on_bad_xml: bool = True) -> VasprunFrames:
    """Parse every ionic step of ``vasprun.xml[.gz]`` with pymatgen.

    Energies are the free energy ``e_fr_energy`` (eV), the one the forces are derivatives
    of; in calculation/energy VASP adds PSTRESS·V to it (an enthalpy), which is taken off
    again, as ASE does. ``exception_on_bad_xml=False`` reads the complete steps of a run that
    was killed mid-write.
    """
    from pymatgen.io.vasp.outputs import Vasprun

    vr = Vasprun(str(path), parse_dos=False, parse_eigen=False, parse_projected_eigen=False,
                 parse_potcar_file=False, exception_on_bad_xml=exception_on_bad_xml)
    steps = vr.ionic_steps
    species, pos, cells = _structures_to_arrays([s["structure"] for s in steps])
    p = vr.parameters
    forces = None
    if all("forces" in s and s["forces"] is not None for s in steps):
        forces = np.array([s["forces"] for s in steps], float)
    energies, note = None, ""
    ek = next((k for k in ("e_fr_energy", "e_0_energy", "e_wo_entrp") if all(k in s for s in steps)),
              None)
    if ek:
        pstress_kbar = float(p.get("PSTRESS") or 0.0)
        energies = np.array([s[ek] for s in steps], float)
        energies -= pstress_kbar * KBAR_TO_EV_PER_A3 * np.abs(np.linalg.det(cells))
        note = f"{ek} (eV)" + (", PSTRESS·V removed" if pstress_kbar else "")
    return VasprunFrames(species=[str(x) for x in species], positions_A=pos, cells_A=cells,
                         forces_eV_A=forces, energies_eV=energies, energy_note=note,
                         parameters=dict(p))


def _read_vasprun(path: Path, timestep_fs: float | None, **_: Any) -> Trajectory:
    fr = vasprun_frames(path)
    p = fr.parameters
    potim = None
    if int(p.get("IBRION", -1)) == 0 and p.get("POTIM") is not None:
        potim = float(p["POTIM"])
    meta = {"engine": "vasp"}
    if fr.energy_note:
        meta["energy"] = fr.energy_note
    if p.get("TEBEG") is not None:
        meta["temperature_K"] = float(p["TEBEG"])
    return Trajectory(species=fr.species, positions=fr.positions_A, cells=fr.cells_A,
                      timestep_fs=_resolve_dt(path, potim, timestep_fs), forces=fr.forces_eV_A,
                      energies=fr.energies_eV, metadata=meta)


# ------------------------------------------------------------------ ASE (extxyz, .traj)
def _read_ase(path: Path, timestep_fs: float | None, index: str = ":", **_: Any) -> Trajectory:
    from ase import units
    from ase.io import read

    frames = read(str(path), index=index)
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise TrajectoryError(f"{path}: no frames")
    species = frames[0].get_chemical_symbols()
    for i, a in enumerate(frames):
        if a.get_chemical_symbols() != species:
            raise TrajectoryError(f"{path}: frame {i} has different atoms than frame 0")
        if not a.cell.rank == 3:
            raise TrajectoryError(f"{path}: frame {i} has no 3-D cell; MD analysis needs a periodic "
                                  "cell (set Lattice= in the extxyz header)")
    pos = np.array([a.get_positions() for a in frames])
    cells = np.array([a.cell.array for a in frames])
    vel = None
    if all(a.has("momenta") for a in frames):
        vel = np.array([a.get_velocities() for a in frames]) * units.fs  # Å/(ASE time) -> Å/fs
    forces = energies = None
    res = [getattr(a.calc, "results", {}) if a.calc is not None else {} for a in frames]
    if all("forces" in r for r in res):
        forces = np.array([r["forces"] for r in res])
    if all("energy" in r for r in res):
        energies = np.array([r["energy"] for r in res])
    dt_file = None
    times = [a.info.get("time_fs") for a in frames]
    if len(frames) > 1 and all(t is not None for t in times):
        dts = np.diff(np.asarray(times, float))
        dt_file = float(dts[0])
    steps = None
    if all("step" in a.info for a in frames):
        steps = np.array([int(a.info["step"]) for a in frames])
    return Trajectory(species=species, positions=pos, cells=cells,
                      timestep_fs=_resolve_dt(path, dt_file, timestep_fs), velocities=vel,
                      forces=forces, energies=energies, steps=steps,
                      metadata={"engine": frames[0].info.get("engine", "ase")})


# ------------------------------------------------------------------ CP2K
_HDR = re.compile(r"i\s*=\s*(?P<i>-?\d+)(?:.*?time\s*=\s*(?P<t>[-+0-9.eE]+))?(?:.*?E\s*=\s*(?P<e>[-+0-9.eE]+))?")
_TRUNCATED = ("raise", "drop")


@dataclass
class Cp2kXyz:
    """One CP2K xyz file (pos/vel/frc), records in file order, in the file's own units.

    species (N); data (F, N, 3): Å (pos), Bohr/au_time (vel), Hartree/Bohr (frc); steps (F,);
    times_fs (F,), NaN where absent; energies_Ha (F,) from the comment lines, NaN where absent;
    truncated: a cut-short last record was dropped.
    """

    species: list[str]
    data: np.ndarray
    steps: np.ndarray
    times_fs: np.ndarray
    energies_Ha: np.ndarray
    truncated: bool = False


def _xyz_record(lines: list[str], i: int, n: int, path: Path) -> tuple[list[str], np.ndarray] | None:
    """Species and (n, 3) values of the record whose atom lines start at ``i``; None if cut."""
    rows = [ln.split() for ln in lines[i:i + n]]
    if len(rows) < n or any(len(r) < 4 for r in rows):
        return None
    try:
        return [r[0] for r in rows], np.array([r[1:4] for r in rows], dtype=float)
    except ValueError:
        return None


def read_cp2k_xyz(path: str | Path, truncated: str = "raise") -> Cp2kXyz:
    """Parse a CP2K xyz trajectory file (``-pos-``, ``-vel-`` or ``-frc-<n>.xyz``).

    ``truncated``: what to do with a last record cut short (a run killed while writing):
    ``"raise"`` a :class:`TrajectoryError` (``ssic analyze``: the file is damaged or still
    being written) or ``"drop"`` it and set :attr:`Cp2kXyz.truncated` (an engine resuming a
    killed run). Any other malformed record raises.
    """
    if truncated not in _TRUNCATED:
        raise ValueError(f"truncated must be one of {_TRUNCATED}, got {truncated!r}")
    path = Path(path)
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise TrajectoryError(f"{path}: empty file (did CP2K run any MD step?)")
    try:
        n = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise TrajectoryError(f"{path}: first line must be the atom count, got {lines[0][:40]!r}")
    species: list[str] | None = None
    data, steps, times, energies = [], [], [], []
    cut = False
    i = 0
    while i < len(lines):
        last = i + n + 2 >= len(lines)
        head = lines[i].split()
        if not head or head[0] != str(n):
            raise TrajectoryError(f"{path}: record {len(steps)} does not start with the atom "
                                  f"count {n}")
        m = _HDR.search(lines[i + 1]) if i + 1 < len(lines) else None
        rec = _xyz_record(lines, i + 2, n, path)
        if rec is None or m is None:
            if last and (rec is None or i + 1 >= len(lines)):
                cut = True
                break
            if m is None:
                raise TrajectoryError(f"{path}: record {len(steps)} comment line lacks "
                                      f"'i = <step>' (got {lines[i + 1][:60]!r}); not a CP2K "
                                      "trajectory")
            raise TrajectoryError(f"{path}: record {len(steps)}: atom lines must hold "
                                  "'symbol x y z'")
        sp, values = rec
        if species is None:
            species = sp
        elif sp != species:
            raise TrajectoryError(f"{path}: atoms change between records; not one CP2K trajectory")
        data.append(values)
        steps.append(int(m["i"]))
        times.append(float(m["t"]) if m["t"] is not None else np.nan)
        energies.append(float(m["e"]) if m["e"] is not None else np.nan)
        i += n + 2
    if cut and truncated == "raise":
        raise TrajectoryError(f"{path}: the last {n}-atom record is cut short, not a whole "
                              "number of records (truncated write? a run killed while writing)")
    if not steps:
        raise TrajectoryError(f"{path}: no complete record (did CP2K run any MD step?)")
    return Cp2kXyz(species=species or [], data=np.stack(data), steps=np.array(steps, dtype=int),
                   times_fs=np.array(times), energies_Ha=np.array(energies), truncated=cut)


def _table(path: Path, n_cols: int, layout: str) -> np.ndarray:
    rows = [ln.split() for ln in path.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]
    rows = [r for r in rows if len(r) >= n_cols] if rows else rows
    if not rows:
        raise TrajectoryError(f"{path}: expected rows '{layout}'")
    return np.array([r[:n_cols] for r in rows], float)


def read_cp2k_cell(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """CP2K ``-<n>.cell`` file → steps (K,), cells (K, 3, 3) Å (lattice vectors as rows)."""
    a = _table(Path(path), 11, "step time Ax Ay Az Bx By Bz Cx Cy Cz [volume]")
    return a[:, 0].astype(int), a[:, 2:11].reshape(-1, 3, 3)


def read_cp2k_ener(path: str | Path) -> dict[int, dict[str, float]]:
    """CP2K ``-<n>.ener`` rows by step (a repeated step: the later row wins): ``time_fs``,
    ``kinetic_eV``, ``temperature_K``, ``potential_eV``, ``conserved_eV``, ``used_time_s``."""
    a = _table(Path(path), 7, "step time kinetic temperature potential conserved used_time")
    return {int(r[0]): dict(time_fs=r[1], kinetic_eV=r[2] * HARTREE_EV, temperature_K=r[3],
                            potential_eV=r[4] * HARTREE_EV, conserved_eV=r[5] * HARTREE_EV,
                            used_time_s=r[6]) for r in a.tolist()}


def _last_of_each_step(steps: np.ndarray) -> np.ndarray:
    """Indices keeping the last record of every MD step, in step order.

    A restarted CP2K run appends to its trajectory files, repeating the step it restarted
    from; the later record is the one the continued run used.
    """
    rev = steps[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)  # unique() sorts by step
    return steps.size - 1 - first_in_rev


def _cells_at(cell_file: Path, steps: np.ndarray) -> np.ndarray:
    """(F, 3, 3) Å: the last cell record at or before each step (the first before it)."""
    csteps, ccells = read_cp2k_cell(cell_file)
    order = _last_of_each_step(csteps)
    csteps, ccells = csteps[order], ccells[order]
    j = np.clip(np.searchsorted(csteps, steps, side="right") - 1, 0, None)
    return ccells[j]


def read_cp2k(path: str | Path, timestep_fs: float | None = None, *, cell: Any = None,
              truncated: str = "raise", **_: Any) -> Trajectory:
    """One CP2K MD run from its ``<project>-pos-<n>.xyz`` (the one CP2K trajectory parser).

    Siblings in the same directory are used when present: ``-vel-<n>.xyz`` (Bohr/au_time →
    Å/fs), ``-frc-<n>.xyz`` (Hartree/Bohr → eV/Å), ``-<n>.ener`` (potential energy, Hartree →
    eV; else the ``E =`` of the xyz comment lines) and ``-<n>.cell`` (Å; else ``cell=``, one
    (3, 3) Å cell). Only MD steps present in every file used are kept; a repeated step
    (restarted run) keeps its later record. ``truncated="drop"`` drops a cut-short last
    record (killed run) with a warning and ``metadata["truncated_last_frame"] = True``;
    ``"raise"`` (default) refuses such files. ``timestep_fs`` (fs between stored frames) is
    checked against the files' ``time =`` fields.
    """
    path = Path(path)
    m = _CP2K_POS.match(path.name)
    if m is None:
        raise TrajectoryError(f"{path}: CP2K position files are named '<project>-pos-<n>.xyz'")
    pre, k = m["prefix"], m["n"]
    d = path.parent
    pos = read_cp2k_xyz(path, truncated)
    files = {"pos": pos}
    for kind in ("vel", "frc"):
        sib = d / f"{pre}-{kind}-{k}.xyz"
        if sib.is_file():
            files[kind] = read_cp2k_xyz(sib, truncated)
            if files[kind].species != pos.species:
                raise TrajectoryError(f"{sib}: atoms differ from {path.name}")
    ener_file = d / f"{pre}-{k}.ener"
    ener = read_cp2k_ener(ener_file) if ener_file.is_file() else None
    by_step = {}
    for kind, x in files.items():
        last = _last_of_each_step(x.steps)
        by_step[kind] = (x.steps[last], last)
    steps = by_step["pos"][0]
    for kind, (st, _i) in by_step.items():
        if kind != "pos" and np.intersect1d(steps, st).size == 0:
            raise TrajectoryError(f"{d / f'{pre}-{kind}-{k}.xyz'}: no MD step in common with "
                                  f"{path.name}")
        steps = np.intersect1d(steps, st)
    if ener is not None:
        steps = np.intersect1d(steps, np.fromiter(ener, dtype=int))
    if steps.size == 0:
        raise TrajectoryError(f"{d}: no MD step has positions, forces and energy all written")

    def pick(kind: str) -> np.ndarray:
        st, idx = by_step[kind]
        return idx[np.searchsorted(st, steps)]

    ip = pick("pos")
    cell_file = d / f"{pre}-{k}.cell"
    if cell_file.is_file():
        cells = _cells_at(cell_file, steps)
    elif cell is not None:
        cells = np.asarray(cell, float)
    else:
        raise TrajectoryError(f"{path}: CP2K xyz files carry no cell and {cell_file.name} is "
                              "missing; pass cell=[[ax,ay,az],[bx,by,bz],[cx,cy,cz]] (Å) or keep "
                              "MOTION%PRINT%CELL on")
    times = pos.times_fs[ip]
    dt_file = None
    if steps.size > 1 and np.all(np.isfinite(times)):
        dts = np.diff(times)
        if np.any(dts <= 0):
            raise TrajectoryError(f"{path}: times are not increasing (restarted run appended?)")
        if not np.allclose(dts, dts[0], rtol=1e-3, atol=1e-6):
            raise TrajectoryError(f"{path}: stored frames are not evenly spaced in time")
        dt_file = float(dts[0])
    if ener is not None:
        en = np.array([ener[int(s)]["potential_eV"] for s in steps])
    else:
        e_ha = pos.energies_Ha[ip]
        en = e_ha * HARTREE_EV if np.all(np.isfinite(e_ha)) else None
    vel = files["vel"].data[pick("vel")] * CP2K_VEL_TO_A_PER_FS if "vel" in files else None
    frc = files["frc"].data[pick("frc")] * CP2K_FRC_TO_EV_PER_A if "frc" in files else None
    meta: dict[str, Any] = {"engine": "cp2k"}
    cut = [n for n, x in files.items() if x.truncated]
    if cut:
        warnings.warn(f"{d}: dropped a cut-short last record of the CP2K {'/'.join(cut)} "
                      "file(s) (run killed while writing)", stacklevel=2)
        meta["truncated_last_frame"] = True
    return Trajectory(species=pos.species, positions=pos.data[ip], cells=cells,
                      timestep_fs=_resolve_dt(path, dt_file, timestep_fs), velocities=vel,
                      forces=frc, energies=en, steps=steps, metadata=meta)
