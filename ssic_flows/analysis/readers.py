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
            ``-<n>.cell``                 → eV; cell from ``-<n>.cell`` or ``cell=``
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError

__all__ = ["read_trajectory", "detect_format", "FORMATS", "BOHR_A", "AU_TIME_FS",
           "HARTREE_EV", "CP2K_VEL_TO_A_PER_FS", "CP2K_FRC_TO_EV_PER_A"]

FORMATS = ("xdatcar", "vasprun", "extxyz", "ase", "cp2k", "npz")

BOHR_A: float = 0.529177210903
AU_TIME_FS: float = 2.4188843265857e-2
HARTREE_EV: float = 27.211386245988
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
                  "ase": _read_ase, "cp2k": _read_cp2k}[fmt]
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


def _parse_cp2k_xyz(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CP2K xyz (pos/vel/frc): -> species, data (F, N, 3), steps, times_fs (nan if absent), E."""
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise TrajectoryError(f"{path}: empty file")
    try:
        n = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise TrajectoryError(f"{path}: first line must be the atom count, got {lines[0][:40]!r}")
    block = n + 2
    if len(lines) % block:
        raise TrajectoryError(f"{path}: {len(lines)} lines is not a whole number of {n}-atom frames "
                              "(truncated write?)")
    nf = len(lines) // block
    steps, times, energies = np.zeros(nf, int), np.full(nf, np.nan), np.full(nf, np.nan)
    for f in range(nf):
        if lines[f * block].split()[0] != str(n):
            raise TrajectoryError(f"{path}: frame {f} does not start with the atom count {n}")
        m = _HDR.search(lines[f * block + 1])
        if m is None:
            raise TrajectoryError(f"{path}: frame {f} comment line lacks 'i = <step>' "
                                  f"(got {lines[f * block + 1][:60]!r}); not a CP2K trajectory")
        steps[f] = int(m["i"])
        if m["t"] is not None:
            times[f] = float(m["t"])
        if m["e"] is not None:
            energies[f] = float(m["e"])
    atom_lines = [lines[f * block + 2 + k] for f in range(nf) for k in range(n)]
    tok = " ".join(atom_lines).split()
    if len(tok) != nf * n * 4:
        raise TrajectoryError(f"{path}: atom lines must hold 'symbol x y z'")
    tok = np.array(tok, dtype=object).reshape(nf, n, 4)
    species = [str(s) for s in tok[0, :, 0]]
    try:
        data = tok[:, :, 1:].astype(float)
    except ValueError as exc:
        raise TrajectoryError(f"{path}: non-numeric coordinates ({exc})") from exc
    return species, data, steps, times, energies


def _read_cp2k_cell(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """CP2K ``.cell`` file: -> steps (K,), cells (K, 3, 3) Å."""
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not rows or any(len(r) < 11 for r in rows):
        raise TrajectoryError(f"{path}: expected rows 'step time Ax Ay Az Bx By Bz Cx Cy Cz [volume]'")
    a = np.array([r[:11] for r in rows], float)
    return a[:, 0].astype(int), a[:, 2:11].reshape(-1, 3, 3)


def _last_of_each_step(steps: np.ndarray) -> np.ndarray:
    """Indices keeping the last record of every MD step, in step order.

    A restarted CP2K run appends to its trajectory files, repeating the step it restarted
    from; the later record is the one the continued run used.
    """
    rev = steps[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)  # unique() sorts by step
    return steps.size - 1 - first_in_rev


def _read_cp2k(path: Path, timestep_fs: float | None, cell: Any = None, **_: Any) -> Trajectory:
    m = _CP2K_POS.match(path.name)
    if m is None:
        raise TrajectoryError(f"{path}: CP2K position files are named '<project>-pos-<n>.xyz'")
    pre, k = m["prefix"], m["n"]
    d = path.parent
    species, pos, steps, times, energies = _parse_cp2k_xyz(path)
    last = _last_of_each_step(steps)
    pos, steps, times, energies = pos[last], steps[last], times[last], energies[last]
    keep = np.ones(steps.size, bool)
    extra: dict[str, np.ndarray] = {}
    for kind in ("vel", "frc"):
        sib = d / f"{pre}-{kind}-{k}.xyz"
        if sib.is_file():
            sp2, arr, st2, _, _ = _parse_cp2k_xyz(sib)
            last2 = _last_of_each_step(st2)
            arr, st2 = arr[last2], st2[last2]
            if sp2 != species:
                raise TrajectoryError(f"{sib}: atoms differ from {path.name}")
            common, ia, ib = np.intersect1d(steps, st2, return_indices=True)
            if common.size == 0:
                raise TrajectoryError(f"{sib}: no MD step in common with {path.name}")
            full = np.full_like(pos, np.nan)
            full[ia] = arr[ib]
            keep &= np.isin(steps, st2)
            extra[kind] = full
    cell_file = d / f"{pre}-{k}.cell"
    if cell_file.is_file():
        csteps, ccells = _read_cp2k_cell(cell_file)
        order = _last_of_each_step(csteps)
        csteps, ccells = csteps[order], ccells[order]
        j = np.searchsorted(csteps, steps, side="right") - 1
        if np.any(j < 0):
            j = np.clip(j, 0, None)  # frames before the first cell record take the first cell
        cells = ccells[j]
    elif cell is not None:
        cells = np.asarray(cell, float)
    else:
        raise TrajectoryError(f"{path}: CP2K xyz files carry no cell and {cell_file.name} is "
                              "missing; pass cell=[[ax,ay,az],[bx,by,bz],[cx,cy,cz]] (Å)")
    if cells.ndim == 3:
        cells = cells[keep]
    sel = np.flatnonzero(keep)
    steps, times, energies, pos = steps[sel], times[sel], energies[sel], pos[sel]
    dt_file = None
    if steps.size > 1 and np.all(np.isfinite(times)):
        dts = np.diff(times)
        if np.any(dts <= 0):
            raise TrajectoryError(f"{path}: times are not increasing (restarted run appended?)")
        if not np.allclose(dts, dts[0], rtol=1e-3, atol=1e-6):
            raise TrajectoryError(f"{path}: stored frames are not evenly spaced in time")
        dt_file = float(dts[0])
    vel = extra["vel"][sel] * CP2K_VEL_TO_A_PER_FS if "vel" in extra else None
    frc = extra["frc"][sel] * CP2K_FRC_TO_EV_PER_A if "frc" in extra else None
    en = energies * HARTREE_EV if np.all(np.isfinite(energies)) else None
    return Trajectory(species=species, positions=pos, cells=cells,
                      timestep_fs=_resolve_dt(path, dt_file, timestep_fs), velocities=vel,
                      forces=frc, energies=en, steps=steps, metadata={"engine": "cp2k"})
