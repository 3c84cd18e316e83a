"""CP2K input writing, executable discovery, running and output parsing (no jobflow here).

We write CP2K's input ourselves from a small template and parse CP2K's own output files,
instead of going through atomate2/pymatgen's CP2K path (see ``docs/engines.md`` for why).

Units
-----
CP2K writes positions in Å (``-pos-1.xyz``), forces in Hartree/Bohr (``-frc-1.xyz``,
``FORCE_EVAL%PRINT%FORCES``), velocities in Bohr/atomic-time-unit (``-vel-1.xyz``), energies
in Hartree (``-1.ener``, xyz comment lines) and cells in Å (``-1.cell``). Every parser here
returns eV, eV/Å, Å/fs and Å.

Example (no CP2K needed)
------------------------
>>> from pymatgen.core import Lattice, Structure
>>> s = Structure(Lattice.cubic(5.07), ["I", "I"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> text = write_cp2k_input(s, Cp2kSettings(basis_set="SZV-MOLOPT-SR-GTH"), run_type="ENERGY_FORCE")
>>> "RUN_TYPE ENERGY_FORCE" in text and "&XC_FUNCTIONAL PBE" in text
True
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ssic_flows.engines.base import EngineError, MDSettings
from ssic_flows.engines.common.process import run_process

__all__ = [
    "BOHR_A", "CP2K_CMD_ENV", "CP2K_DATA_ENV", "Cp2kRun", "Cp2kSettings", "HARTREE_EV",
    "cp2k_command", "cp2k_data_dir", "cp2k_version", "find_cp2k_executable", "read_cp2k_cell",
    "read_cp2k_ener", "read_cp2k_forces_table", "read_cp2k_md", "read_cp2k_total_energy",
    "read_cp2k_xyz", "read_restart_step", "run_cp2k", "write_cp2k_input",
]

#: CODATA 2018 conversion factors.
HARTREE_EV = 27.211386245988          # eV per Hartree
BOHR_A = 0.529177210903               # Å per Bohr
AU_TIME_FS = 2.4188843265857e-2       # fs per atomic unit of time
FORCE_AU_EV_A = HARTREE_EV / BOHR_A   # (Hartree/Bohr) → eV/Å
VEL_AU_A_FS = BOHR_A / AU_TIME_FS     # (Bohr/au_time) → Å/fs

CP2K_CMD_ENV = "SSIC_CP2K_CMD"
CP2K_DATA_ENV = "SSIC_CP2K_DATA_DIR"
_EXECUTABLES = ("cp2k.psmp", "cp2k.ssmp", "cp2k.popt", "cp2k.sopt", "cp2k")
_DATA_DIRS = ("/usr/share/cp2k", "/usr/share/cp2k/data", "/usr/local/share/cp2k",
              "/opt/cp2k/data")


# --------------------------------------------------------------------------- discovery
def find_cp2k_executable() -> str:
    """The CP2K command: ``$SSIC_CP2K_CMD`` (may hold arguments) or the first of
    ``cp2k.psmp``/``cp2k.ssmp``/``cp2k.popt``/``cp2k.sopt``/``cp2k`` on PATH.

    Raises :class:`EngineError` naming the fix when none is found.
    """
    env = os.environ.get(CP2K_CMD_ENV, "").strip()
    if env:
        exe = shlex.split(env)[0]
        if shutil.which(exe) is None:
            raise EngineError(
                f"{CP2K_CMD_ENV}={env!r} but {exe!r} is not an executable on PATH; "
                f"fix {CP2K_CMD_ENV} or unset it to search PATH for cp2k.psmp/cp2k.ssmp"
            )
        return env
    for name in _EXECUTABLES:
        path = shutil.which(name)
        if path:
            return path
    raise EngineError(
        "CP2K executable not found (looked for cp2k.psmp, cp2k.ssmp, cp2k on PATH): "
        f"install it (Debian/Ubuntu: apt-get install cp2k) or set {CP2K_CMD_ENV} to the "
        "command, e.g. SSIC_CP2K_CMD=/opt/cp2k/bin/cp2k.psmp"
    )


def cp2k_data_dir() -> Path:
    """Directory holding ``BASIS_MOLOPT`` and ``GTH_POTENTIALS``.

    ``$SSIC_CP2K_DATA_DIR``, ``$CP2K_DATA_DIR`` or a standard install location.
    """
    cands = [os.environ.get(CP2K_DATA_ENV), os.environ.get("CP2K_DATA_DIR"), *_DATA_DIRS]
    for c in cands:
        if c and (Path(c) / "BASIS_MOLOPT").is_file() and (Path(c) / "GTH_POTENTIALS").is_file():
            return Path(c)
    raise EngineError(
        "CP2K data files BASIS_MOLOPT/GTH_POTENTIALS not found: install the cp2k-data "
        f"package (apt-get install cp2k) or set {CP2K_DATA_ENV} to the directory holding them"
    )


def cp2k_version(command: str | None = None) -> str:
    """CP2K version string, e.g. ``'CP2K version 2023.1'`` (empty if it cannot be read)."""
    cmd = shlex.split(command or find_cp2k_executable())
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60,
                             env=_run_env(1)).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(r"CP2K version\s+\S+", out)
    return m.group(0) if m else ""


def basis_and_potential_names(element: str, basis_set: str, potential: str,
                              data_dir: Path | None = None) -> tuple[bool, bool]:
    """Whether ``element`` has ``basis_set`` in BASIS_MOLOPT and ``potential`` in GTH_POTENTIALS.

    Names match either column of the data files (full name or alias).
    """
    d = data_dir or cp2k_data_dir()

    def has(fname: str, name: str) -> bool:
        for line in (d / fname).read_text(errors="replace").splitlines():
            tok = line.split()
            if len(tok) >= 2 and tok[0] == element and name in tok[1:] and not tok[1].isdigit():
                return True
        return False

    return has("BASIS_MOLOPT", basis_set), has("GTH_POTENTIALS", potential)


# --------------------------------------------------------------------------- settings
@dataclass
class Cp2kSettings:
    """CP2K Quickstep settings (PBE, GTH pseudopotentials, MOLOPT basis, Γ point only).

    basis_set: MOLOPT basis for every element (``DZVP-MOLOPT-SR-GTH`` production,
    ``SZV-MOLOPT-SR-GTH`` for tests). potential: GTH pseudopotential (``GTH-PBE``).
    cutoff_Ry / rel_cutoff_Ry: plane-wave grid cutoffs, Ry. scf: ``'ot'`` (orbital
    transformation; preconditioner FULL_ALL with ENERGY_GAP 0.01 Ha, the combination that
    converged on 32-atom sulfide cells; FULL_SINGLE_INVERSE stalled) or ``'diag'``
    (diagonalisation + Fermi–Dirac smearing at ``smearing_K``, for tiny/metallic cells).
    eps_scf: SCF convergence (Ha). max_scf: inner SCF iterations (OT: × ``outer_max_scf``).
    eps_default: QS EPS_DEFAULT. n_mpi: MPI ranks (``mpirun -np``; 1 = no mpirun).
    omp_threads: OMP_NUM_THREADS per rank. timeout_s: wall-clock limit of one CP2K process, s
    (``None`` = none). charge / uks: total charge and spin-unrestricted flag.
    """

    basis_set: str = "DZVP-MOLOPT-SR-GTH"
    potential: str = "GTH-PBE"
    cutoff_Ry: float = 350.0
    rel_cutoff_Ry: float = 50.0
    scf: Literal["ot", "diag"] = "ot"
    ot_preconditioner: str = "FULL_ALL"
    ot_energy_gap_Ha: float = 0.01
    smearing_K: float = 1000.0
    added_mos: int = 20
    eps_scf: float = 1.0e-6
    max_scf: int = 50
    outer_max_scf: int = 10
    eps_default: float = 1.0e-10
    charge: int = 0
    uks: bool = False
    n_mpi: int = 1
    omp_threads: int = 1
    timeout_s: float | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scf not in ("ot", "diag"):
            raise ValueError(f"scf must be 'ot' or 'diag', got {self.scf!r}")
        if self.cutoff_Ry <= 0 or self.rel_cutoff_Ry <= 0:
            raise ValueError("cutoff_Ry and rel_cutoff_Ry must be > 0 Ry")
        if self.n_mpi < 1 or self.omp_threads < 1:
            raise ValueError("n_mpi and omp_threads must be >= 1")

    @classmethod
    def tiny(cls, **kw: Any) -> Cp2kSettings:
        """Cheap settings for test cells: SZV basis, 250 Ry, diagonalisation + smearing."""
        base = dict(basis_set="SZV-MOLOPT-SR-GTH", cutoff_Ry=250.0, rel_cutoff_Ry=40.0,
                    scf="diag", eps_scf=1e-6, max_scf=100)
        base.update(kw)
        return cls(**base)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- input
_THERMOSTATS = {"csvr": "CSVR", "bussi": "CSVR", "nose-hoover": "NOSE", "nose": "NOSE",
                "nhc": "NOSE", "nose-hoover-chain": "NOSE", "langevin": None}


def _fmt(x: float) -> str:
    return f"{x:.10f}"


def write_cp2k_input(
    structure,
    settings: Cp2kSettings,
    *,
    run_type: Literal["MD", "ENERGY_FORCE"] = "MD",
    md: MDSettings | None = None,
    project: str = "ssic",
    restart_file: str | None = None,
    steps: int | None = None,
    wfn_restart_file: str | None = None,
    data_dir: Path | None = None,
) -> str:
    """CP2K input text for an NVT MD run or a single point (energy + forces).

    structure: pymatgen ``Structure`` (Å). md: required for ``run_type='MD'``; temperature
    (K), timestep (fs), thermostat (``csvr`` → CSVR, ``nose-hoover`` → Nosé–Hoover chain of
    length 3) with coupling time ``thermostat_time_fs``, seed (GLOBAL%SEED: initial
    velocities and CSVR noise), print stride ``save_every`` and restart stride
    ``checkpoint_every``. ``restart_file``: a CP2K ``-1.restart`` to continue from
    (EXT_RESTART; positions, velocities, thermostat state and step counter are taken from
    it; CP2K appends to the existing trajectory files). ``steps``: MD steps this run performs
    (default ``md.n_steps``; a restart passes the remaining ``n_steps - STEP_START_VAL``, since
    CP2K's STEPS counts the steps of one run). ``wfn_restart_file``: an existing
    ``.wfn`` used as SCF guess (single points of neighbouring frames).
    Only the Γ point is used (no KPOINTS section).
    """
    if run_type == "MD" and md is None:
        raise ValueError("run_type='MD' needs md=MDSettings(...)")
    if run_type not in ("MD", "ENERGY_FORCE"):
        raise ValueError(f"run_type must be 'MD' or 'ENERGY_FORCE', got {run_type!r}")
    d = data_dir or cp2k_data_dir()
    s = settings
    elements = list(dict.fromkeys(str(sp.symbol) for sp in structure.species))
    lat = structure.lattice.matrix
    if s.scf == "ot":
        scf = f"""      &OT ON
        MINIMIZER DIIS
        PRECONDITIONER {s.ot_preconditioner}
        ENERGY_GAP {s.ot_energy_gap_Ha}
      &END OT
      &OUTER_SCF ON
        MAX_SCF {s.outer_max_scf}
        EPS_SCF {s.eps_scf:.2E}
      &END OUTER_SCF"""
    else:
        scf = f"""      ADDED_MOS {s.added_mos}
      &DIAGONALIZATION ON
        ALGORITHM STANDARD
      &END DIAGONALIZATION
      &SMEAR ON
        METHOD FERMI_DIRAC
        ELECTRONIC_TEMPERATURE [K] {s.smearing_K}
      &END SMEAR
      &MIXING
        METHOD BROYDEN_MIXING
        ALPHA 0.3
        NBROYDEN 8
      &END MIXING"""
    guess = "ATOMIC"
    wfn_line = ""
    if wfn_restart_file:
        guess = "RESTART"
        wfn_line = f"    WFN_RESTART_FILE_NAME {wfn_restart_file}\n"
    coords = "\n".join(
        f"      {site.specie.symbol:<3s} {_fmt(site.coords[0])} {_fmt(site.coords[1])} "
        f"{_fmt(site.coords[2])}" for site in structure
    )
    kinds = "\n".join(
        f"    &KIND {el}\n      BASIS_SET {s.basis_set}\n      POTENTIAL {s.potential}\n"
        f"    &END KIND" for el in elements
    )
    seed = (md.seed if md is not None else 0) % 2_000_000_000 + 1
    force_print = ""
    if run_type == "ENERGY_FORCE":
        force_print = """  &PRINT
    &FORCES ON
      FILENAME forces
      NDIGITS 10
    &END FORCES
  &END PRINT
"""
    text = f"""! written by ssic_flows.engines.cp2k_io (PBE, GTH, MOLOPT, Gamma point)
&GLOBAL
  PROJECT {project}
  RUN_TYPE {run_type}
  PRINT_LEVEL LOW
  SEED {seed}
&END GLOBAL
&FORCE_EVAL
  METHOD QS
  STRESS_TENSOR NONE
  &DFT
    BASIS_SET_FILE_NAME {d / 'BASIS_MOLOPT'}
    POTENTIAL_FILE_NAME {d / 'GTH_POTENTIALS'}
{wfn_line}    CHARGE {s.charge}
    UKS {'T' if s.uks else 'F'}
    &MGRID
      CUTOFF {s.cutoff_Ry}
      REL_CUTOFF {s.rel_cutoff_Ry}
      NGRIDS 4
    &END MGRID
    &QS
      EPS_DEFAULT {s.eps_default:.2E}
      EXTRAPOLATION ASPC
      EXTRAPOLATION_ORDER 3
    &END QS
    &SCF
      SCF_GUESS {guess}
      EPS_SCF {s.eps_scf:.2E}
      MAX_SCF {s.max_scf}
{scf}
      &PRINT
        &RESTART ON
          BACKUP_COPIES 0
        &END RESTART
      &END PRINT
    &END SCF
    &XC
      &XC_FUNCTIONAL PBE
      &END XC_FUNCTIONAL
    &END XC
  &END DFT
  &SUBSYS
    &CELL
      A {_fmt(lat[0][0])} {_fmt(lat[0][1])} {_fmt(lat[0][2])}
      B {_fmt(lat[1][0])} {_fmt(lat[1][1])} {_fmt(lat[1][2])}
      C {_fmt(lat[2][0])} {_fmt(lat[2][1])} {_fmt(lat[2][2])}
      PERIODIC XYZ
    &END CELL
    &COORD
{coords}
    &END COORD
{kinds}
  &END SUBSYS
{force_print}&END FORCE_EVAL
"""
    if run_type == "MD":
        assert md is not None
        th = md.thermostat.lower().replace("_", "-")
        if th not in _THERMOSTATS:
            raise ValueError(f"unknown thermostat {md.thermostat!r}; use 'csvr', 'nose-hoover' or 'langevin'")
        if th == "langevin":
            # Langevin is an ensemble of its own in CP2K, not an NVT thermostat type.
            ens = "LANGEVIN"
            gamma_per_fs = 1.0 / md.thermostat_time_fs
            thermo = f"    &LANGEVIN\n      GAMMA [fs^-1] {gamma_per_fs:.8f}\n    &END LANGEVIN\n"
        else:
            ens = "NVT"
            kind = _THERMOSTATS[th]
            if kind == "CSVR":
                body = f"      &CSVR\n        TIMECON [fs] {md.thermostat_time_fs}\n      &END CSVR\n"
            else:
                body = (f"      &NOSE\n        LENGTH 3\n        TIMECON [fs] {md.thermostat_time_fs}\n"
                        "      &END NOSE\n")
            thermo = (f"    &THERMOSTAT\n      TYPE {kind}\n      REGION GLOBAL\n{body}"
                      "    &END THERMOSTAT\n")
        every = md.save_every
        text += f"""&MOTION
  &MD
    ENSEMBLE {ens}
    STEPS {md.n_steps if steps is None else steps}
    TIMESTEP [fs] {md.timestep_fs}
    TEMPERATURE [K] {md.temperature_K}
{thermo}  &END MD
  &PRINT
    &TRAJECTORY ON
      FORMAT XYZ
      &EACH
        MD {every}
      &END EACH
    &END TRAJECTORY
    &VELOCITIES ON
      FORMAT XYZ
      &EACH
        MD {every}
      &END EACH
    &END VELOCITIES
    &FORCES ON
      FORMAT XYZ
      &EACH
        MD {every}
      &END EACH
    &END FORCES
    &CELL ON
      &EACH
        MD {every}
      &END EACH
    &END CELL
    &RESTART ON
      BACKUP_COPIES 0
      ADD_LAST NUMERIC
      &EACH
        MD {md.checkpoint_every}
      &END EACH
    &END RESTART
    &RESTART_HISTORY OFF
    &END RESTART_HISTORY
  &END PRINT
&END MOTION
"""
        if restart_file:
            text += f"""&EXT_RESTART
  RESTART_FILE_NAME {restart_file}
  RESTART_DEFAULT T
&END EXT_RESTART
"""
    return text


# --------------------------------------------------------------------------- running
def _run_env(omp_threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(omp_threads)
    # Open MPI refuses to start as root without these (containers, CI).
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.update(extra or {})
    return env


def cp2k_command(settings: Cp2kSettings, input_name: str) -> list[str]:
    """argv for one CP2K run: ``[mpirun -np N --bind-to none] cp2k.psmp -i input``."""
    exe = shlex.split(find_cp2k_executable())
    cmd = [*exe, "-i", input_name]
    if settings.n_mpi > 1:
        mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
        if mpirun is None:
            raise EngineError(
                f"n_mpi={settings.n_mpi} needs mpirun on PATH: install Open MPI "
                "(apt-get install openmpi-bin) or set n_mpi=1"
            )
        cmd = [mpirun, "-np", str(settings.n_mpi), "--bind-to", "none", *cmd]
    return cmd


@dataclass
class Cp2kRun:
    """What one CP2K process did: directory, exit status, wall time (s), output file."""

    directory: Path
    returncode: int
    wall_time_s: float
    output: Path


def run_cp2k(directory: str | Path, input_text: str, settings: Cp2kSettings,
             *, input_name: str = "cp2k.inp", output_name: str = "cp2k.out") -> Cp2kRun:
    """Write ``input_text`` and run CP2K in ``directory`` (its own process group).

    On timeout the process group (only the processes this call started) is killed and an
    :class:`EngineError` raised; a non-zero exit raises with the tail of the output.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / input_name).write_text(input_text)
    cmd = cp2k_command(settings, input_name)
    out = directory / output_name
    try:
        # interrupted (KeyboardInterrupt, SystemExit from a signal handler, ...): run_process
        # never leaves a CP2K writing into a checkpoint directory a resumed run will use
        proc = run_process(cmd, directory, out, timeout_s=settings.timeout_s,
                           env=_run_env(settings.omp_threads, settings.extra_env))
    except subprocess.TimeoutExpired:
        raise EngineError(
            f"CP2K exceeded timeout_s={settings.timeout_s} s in {directory}; raise "
            "Cp2kSettings.timeout_s, use more MPI ranks (n_mpi) or a smaller cell. The MD "
            "restart file (if any) is kept, so rerunning the job continues from it."
        ) from None
    rc, wall = proc.returncode, proc.wall_time_s
    if rc != 0:
        tail = "\n".join(out.read_text(errors="replace").splitlines()[-25:])
        raise EngineError(f"CP2K failed (exit {rc}) in {directory}; last lines of {out.name}:\n{tail}")
    return Cp2kRun(directory=directory, returncode=rc, wall_time_s=wall, output=out)


# --------------------------------------------------------------------------- parsing
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
