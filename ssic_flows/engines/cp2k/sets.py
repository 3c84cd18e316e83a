"""CP2K input: settings (:class:`Cp2kSettings`), data files (basis sets, pseudopotentials)
and the input file written from a template (PBE, GTH, MOLOPT, Γ point).

We write CP2K's input ourselves instead of going through atomate2/pymatgen's CP2K path
(see ``docs/engines.md`` for why).

Example
-------
>>> from pymatgen.core import Lattice, Structure
>>> s = Structure(Lattice.cubic(5.07), ["I", "I"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> text = write_cp2k_input(s, Cp2kSettings(basis_set="SZV-MOLOPT-SR-GTH"), run_type="ENERGY_FORCE")
>>> "RUN_TYPE ENERGY_FORCE" in text and "&XC_FUNCTIONAL PBE" in text
True
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ssic_flows.engines.base import EngineError, MDSettings, canonical_thermostat

__all__ = [
    "CP2K_DATA_ENV", "Cp2kSettings", "basis_and_potential_names", "check_elements",
    "cp2k_data_dir", "write_cp2k_input",
]


CP2K_DATA_ENV = "SSIC_CP2K_DATA_DIR"


_DATA_DIRS = ("/usr/share/cp2k", "/usr/share/cp2k/data", "/usr/local/share/cp2k",
              "/opt/cp2k/data")


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


#: CP2K's NVT thermostat TYPE per canonical thermostat (Langevin is an ensemble of its own).
_THERMOSTAT_TYPE = {"csvr": "CSVR", "nose-hoover": "NOSE", "langevin": None}


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
    text = f"""! written by ssic_flows.engines.cp2k.sets (PBE, GTH, MOLOPT, Gamma point)
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
        th = canonical_thermostat(md.thermostat)
        if th == "langevin":
            # Langevin is an ensemble of its own in CP2K, not an NVT thermostat type.
            ens = "LANGEVIN"
            gamma_per_fs = 1.0 / md.thermostat_time_fs
            thermo = f"    &LANGEVIN\n      GAMMA [fs^-1] {gamma_per_fs:.8f}\n    &END LANGEVIN\n"
        else:
            ens = "NVT"
            kind = _THERMOSTAT_TYPE[th]
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


def check_elements(elements, settings: Cp2kSettings) -> None:
    """Raise :class:`EngineError` if an element lacks the basis set or pseudopotential."""
    d = cp2k_data_dir()
    for el in elements:
        has_basis, has_pot = basis_and_potential_names(el, settings.basis_set, settings.potential, d)
        if not (has_basis and has_pot):
            missing = [n for n, ok in ((f"{settings.basis_set} in {d}/BASIS_MOLOPT", has_basis),
                                       (f"{settings.potential} in {d}/GTH_POTENTIALS", has_pot))
                       if not ok]
            raise EngineError(f"CP2K has no {' and no '.join(missing)} for {el}; choose another "
                              "basis_set/potential in Cp2kSettings")
