"""VASP reference engine (production clusters): the study's AIMD settings on atomate2 Makers.

The study ran AIMD with VASP, PAW-PBE, Γ point only, NVT. This engine builds atomate2's VASP
:class:`~atomate2.vasp.jobs.md.MDMaker` / :class:`~atomate2.vasp.jobs.core.StaticMaker` with
those settings and adds small converter jobs that turn VASP's ``vasprun.xml`` (read with
pymatgen) into our documents: :class:`~ssic_flows.schemas.MDOutput` (trajectory with forces
eV/Å and energies eV → ``data`` store) and :class:`~ssic_flows.schemas.StaticOutput`.

INCAR choices (:data:`STUDY_INCAR`; the study's ESI values are not available, so these are
documented defaults, every one overridable with ``incar_overrides``):

- ``GGA = PE`` (PBE; atomate2's base set would give PBEsol), PAW ``PBE_54`` POTCARs with
  atomate2's choices (Ag, I, Li_sv, Ge_d, P, S, Na_pv, Sb, W_sv).
- ``ENCUT = 500`` eV (above the largest ENMAX of those POTCARs, Li_sv 499 eV), ``PREC =
  Normal``, ``LREAL = Auto`` (real-space projectors: 100+ atom cells), ``ALGO = Fast``,
  ``EDIFF = 1e-5`` eV, ``ISMEAR = 0``, ``SIGMA = 0.05`` eV, ``ISPIN = 1`` (closed-shell
  ionic conductors), ``ISYM = 0`` (required for MD), no CHGCAR/WAVECAR/LOCPOT/ELF output.
- KPOINTS: Γ only (1×1×1 Γ-centred), as in the study; custodian then runs ``vasp_gam``.
- MD: ``IBRION = 0``, ``POTIM`` = ``MDSettings.timestep_fs`` (fs), ``TEBEG = TEEND`` =
  ``temperature_K``, ``NSW = n_steps``, ``ISIF = 2`` (NVT). Thermostat from
  ``MDSettings.thermostat``: ``nose-hoover`` → ``MDALGO = 2`` with ``SMASS = 0`` (atomate2's
  NVT default: Nosé mass for a 40-step period), ``csvr`` → ``MDALGO = 5`` with
  ``CSVR_PERIOD = thermostat_time_fs / timestep_fs`` (steps, VASP ≥ 6.3), ``langevin`` →
  ``MDALGO = 3`` with ``LANGEVIN_GAMMA = 1000 / thermostat_time_fs`` ps⁻¹ per species.

Restart: VASP has no MD restart file of its own beyond CONTCAR (positions + velocities).
Split a long run into ``n_segments`` atomate2 MD jobs, each starting from the previous
CONTCAR (velocities kept); a killed segment reruns from its own start.

No VASP on our machines: tests check the written inputs (``potcar_spec`` mode, no POTCARs).
"""

from __future__ import annotations

import gzip
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Flow, Maker, Response, job

from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.engines.base import EngineError, MDSettings, ReferenceEngine
from ssic_flows.schemas import as_job_output, plain_structure_dict
from ssic_flows.schemas import EngineProvenance, MDOutput, StaticOutput

__all__ = [
    "STUDY_INCAR", "VaspMDMaker", "VaspReference", "VaspStaticMaker", "collect_vasp_md",
    "collect_vasp_static", "gamma_kpoints", "is_reference", "md_incar",
    "read_vasprun_trajectory", "vasp_md_deferred", "vasp_statics",
]

#: INCAR tags shared by AIMD and single points (study: PBE, Γ point). See module docstring.
STUDY_INCAR: dict[str, Any] = {
    "GGA": "PE", "ENCUT": 500, "PREC": "Normal", "LREAL": "Auto", "ALGO": "Fast",
    "EDIFF": 1e-5, "ISMEAR": 0, "SIGMA": 0.05, "ISPIN": 1, "MAGMOM": None, "ISYM": 0,
    "LWAVE": False, "LCHARG": False, "LAECHG": False, "LVTOT": False, "LELF": False,
    "LORBIT": None, "EDIFFG": None, "NELM": 200, "LASPH": True,
}

#: Tags that must not be overridden for the job to mean what it says.
_FIXED_MD = ("IBRION", "NSW", "POTIM", "TEBEG", "TEEND")


def gamma_kpoints():
    """A Γ-only (1×1×1 Γ-centred) pymatgen ``Kpoints``."""
    from pymatgen.io.vasp import Kpoints

    return Kpoints.gamma_automatic((1, 1, 1))


def md_incar(settings: MDSettings, species: list[str] | None = None) -> dict[str, Any]:
    """Thermostat/MD INCAR tags for ``settings`` (see module docstring for the mapping)."""
    th = settings.thermostat.lower().replace("_", "-")
    th = {"bussi": "csvr", "nhc": "nose-hoover", "nose": "nose-hoover"}.get(th, th)
    tags: dict[str, Any] = {"ISIF": 2, "IBRION": 0}
    if th == "nose-hoover":
        tags.update(MDALGO=2, SMASS=0)
    elif th == "csvr":
        tags.update(MDALGO=5, SMASS=None,
                    CSVR_PERIOD=max(1, int(round(settings.thermostat_time_fs / settings.timestep_fs))))
    elif th == "langevin":
        n = len(dict.fromkeys(species or [])) or 1
        tags.update(MDALGO=3, SMASS=None,
                    LANGEVIN_GAMMA=[round(1000.0 / settings.thermostat_time_fs, 6)] * n)
    else:
        raise EngineError(f"VASP engine: unknown thermostat {settings.thermostat!r}; use "
                          "'nose-hoover', 'csvr' or 'langevin'")
    return tags


def _md_generator(settings: MDSettings, n_steps: int, incar_overrides: dict, species: list[str],
                  potcar_functional: str):
    from atomate2.vasp.sets.core import MDSetGenerator

    incar = {**STUDY_INCAR, **md_incar(settings, species), **incar_overrides}
    bad = [k for k in _FIXED_MD if k in incar_overrides]
    if bad:
        raise EngineError(f"set {bad} through MDSettings, not incar_overrides")
    return MDSetGenerator(
        ensemble="nvt", start_temp=settings.temperature_K, end_temp=settings.temperature_K,
        nsteps=n_steps, time_step=settings.timestep_fs, user_incar_settings=incar,
        user_kpoints_settings=gamma_kpoints(), user_potcar_functional=potcar_functional,
        sort_structure=False, auto_ispin=False)


def _static_generator(incar_overrides: dict, potcar_functional: str):
    from atomate2.vasp.sets.core import StaticSetGenerator

    incar = {**STUDY_INCAR, "NSW": 0, "IBRION": -1, **incar_overrides}
    return StaticSetGenerator(user_incar_settings=incar, user_kpoints_settings=gamma_kpoints(),
                              user_potcar_functional=potcar_functional, sort_structure=False,
                              auto_ispin=False)


# --------------------------------------------------------------------------- parsing
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


def _vasp_version(directory: Path) -> str:
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


def _provenance(settings: dict, version: str = "") -> EngineProvenance:
    return EngineProvenance(engine="vasp", engine_version=version, kind="reference",
                            stands_in_for_dft=False, settings=settings)


@job(data=Trajectory)
def collect_vasp_md(dir_names: list[str], md: dict, engine_settings: dict,
                    formula: str = "", stride: int = 1) -> dict:
    """Job: join the segments' vasprun.xml into one MDOutput (trajectory → data store).

    VASP evaluates NSW ionic steps per segment, the first at the segment's POSCAR; the next
    segment starts from CONTCAR (positions and velocities after the last step), so the
    segments join without overlap: frames are MD steps 0 … n_steps−1, thinned to
    ``save_every``. ``stride``: MD steps between the ionic steps vasprun holds (VASP MLFF
    ``run`` mode writes every ``ML_OUTBLOCK``-th step).
    """
    mds = MDSettings(**md)
    parts = []
    step0 = 0
    for d in dir_names:
        t = read_vasprun_trajectory(str(d).split(":", 1)[-1], timestep_fs=mds.timestep_fs,
                                    first_step=step0, stride=stride)
        parts.append(t)
        step0 = int(t.steps[-1]) + stride
    traj = Trajectory.concatenate(parts)
    keep = traj.steps % max(mds.save_every, stride) == 0
    traj = traj[np.flatnonzero(keep)].replace(
        timestep_fs=mds.timestep_fs * mds.save_every,
        metadata={"engine": "vasp", "temperature_K": mds.temperature_K, "seed": mds.seed,
                  "thermostat": mds.thermostat})
    version = _vasp_version(Path(str(dir_names[-1]).split(":", 1)[-1]))
    return as_job_output(MDOutput(
        provenance=_provenance(engine_settings, version),
        formula=formula or traj.to_structure(0).composition.reduced_formula,
        n_atoms=traj.n_atoms, temperature_K=mds.temperature_K, timestep_fs=mds.timestep_fs,
        n_steps=mds.n_steps, save_every=mds.save_every, seed=mds.seed,
        n_frames=traj.n_frames, trajectory=traj,
        final_structure=plain_structure_dict(traj.to_structure(-1)),
        metadata={"vasp_dirs": [str(d) for d in dir_names], "thermostat": mds.thermostat}))


@dataclass
class VaspMDMaker(Maker):
    """NVT AIMD with VASP via atomate2's ``MDMaker``; ``make(structure)`` → Flow → MDOutput.

    The flow is ``n_segments`` atomate2 MD jobs (each ``n_steps / n_segments`` steps,
    continuing from the previous CONTCAR with its velocities) followed by
    :func:`collect_vasp_md`; ``flow.output`` is the MDOutput.
    """

    name: str = "vasp md"
    md_settings: MDSettings = field(default_factory=lambda: MDSettings(temperature_K=300.0))
    incar_overrides: dict = field(default_factory=dict)
    potcar_functional: str = "PBE_54"
    n_segments: int = 1

    def segment_makers(self, structure) -> list:
        """The atomate2 ``MDMaker`` of each segment (inputs can be written from these)."""
        from atomate2.vasp.jobs.md import MDMaker

        if self.n_segments < 1 or self.n_segments > self.md_settings.n_steps:
            raise EngineError(f"n_segments must be in 1..n_steps, got {self.n_segments}")
        base, extra = divmod(self.md_settings.n_steps, self.n_segments)
        species = [str(sp.symbol) for sp in structure.species]
        makers = []
        for k in range(self.n_segments):
            n = base + (1 if k < extra else 0)
            gen = _md_generator(self.md_settings, n, self.incar_overrides, species,
                                self.potcar_functional)
            makers.append(MDMaker(name=f"{self.name} {k + 1}/{self.n_segments}",
                                  input_set_generator=gen))
        return makers

    def make(self, structure):
        from ssic_flows.engines.common.outputs import as_structure

        if is_reference(structure):  # e.g. a build job's output: decide segments at run time
            j = vasp_md_deferred(structure, md=asdict(self.md_settings),
                                 incar_overrides=dict(self.incar_overrides),
                                 potcar_functional=self.potcar_functional,
                                 n_segments=self.n_segments, name=self.name)
            j.name = self.name
            return j
        structure = as_structure(structure)
        jobs, dirs = [], []
        prev = None
        for mk in self.segment_makers(structure):
            if prev is None:
                j = mk.make(structure)
            else:
                j = mk.make(prev.output.structure, prev_dir=prev.output.dir_name)
            jobs.append(j)
            dirs.append(j.output.dir_name)
            prev = j
        settings = {"incar": {**STUDY_INCAR, **md_incar(self.md_settings),
                              **self.incar_overrides},
                    "kpoints": "Gamma", "potcar_functional": self.potcar_functional,
                    "n_segments": self.n_segments}
        collect = collect_vasp_md(dirs, md=asdict(self.md_settings), engine_settings=settings,
                                  formula=structure.composition.reduced_formula)
        collect.name = f"{self.name} collect"
        return Flow([*jobs, collect], output=collect.output, name=self.name)


def is_reference(x) -> bool:
    """Whether ``x`` is a jobflow output reference (known only when the flow runs)."""
    from jobflow import OutputReference

    return isinstance(x, OutputReference)


@job
def vasp_md_deferred(structure, md: dict, incar_overrides: dict, potcar_functional: str,
                     n_segments: int, name: str = "vasp md") -> Response:
    """Job: build the :class:`VaspMDMaker` flow once ``structure`` is known and replace
    itself with it (its output becomes the MDOutput)."""
    maker = VaspMDMaker(name=name, md_settings=MDSettings(**md),
                        incar_overrides=incar_overrides, potcar_functional=potcar_functional,
                        n_segments=n_segments)
    return Response(replace=maker.make(structure))


# --------------------------------------------------------------------------- single points
@job(data=Trajectory)
def collect_vasp_static(frames, dir_names: list[str], engine_settings: dict,
                        t_start: float = 0.0) -> dict:
    """Job: energies (eV) and forces (eV/Å) of every frame's static run → StaticOutput."""
    from ssic_flows.engines.common.outputs import as_trajectory

    frames = as_trajectory(frames, "VASP single points")
    energies, forces = [], []
    for d in dir_names:
        t = read_vasprun_trajectory(str(d).split(":", 1)[-1], timestep_fs=1.0)
        if t.species != frames.species:
            raise EngineError(f"{d}: atom order {t.species} differs from the frames' "
                              f"{frames.species}")
        energies.append(float(t.energies[-1]))
        forces.append(t.forces[-1])
    out = frames.replace(forces=np.stack(forces), energies=np.array(energies),
                         metadata=dict(frames.metadata, labelled_by="vasp"))
    version = _vasp_version(Path(str(dir_names[-1]).split(":", 1)[-1]))
    return as_job_output(StaticOutput(
        provenance=_provenance(engine_settings, version), n_structures=out.n_frames,
        energies_eV=energies, forces=out,
        wall_time_s=time.time() - t_start if t_start else 0.0))


@job
def vasp_statics(frames, incar_overrides: dict, potcar_functional: str = "PBE_54",
                 name: str = "vasp static") -> Response:
    """Job: one atomate2 StaticMaker job per frame, then :func:`collect_vasp_static`.

    Replaces itself with that flow (``frames`` may be an output reference resolved only at
    run time), so its output is the collected :class:`StaticOutput`.
    """
    from atomate2.vasp.jobs.core import StaticMaker

    from ssic_flows.engines.common.outputs import as_trajectory

    traj = as_trajectory(frames, "VASP single points")
    gen = _static_generator(incar_overrides, potcar_functional)
    jobs = []
    for i in range(traj.n_frames):
        j = StaticMaker(name=f"{name} {i}", input_set_generator=gen).make(traj.to_structure(i))
        jobs.append(j)
    settings = {"incar": {**STUDY_INCAR, **incar_overrides}, "kpoints": "Gamma",
                "potcar_functional": potcar_functional}
    collect = collect_vasp_static(traj, [j.output.dir_name for j in jobs], settings,
                                  t_start=time.time())
    collect.name = f"{name} collect"
    return Response(replace=Flow([*jobs, collect], output=collect.output, name=name))


@dataclass
class VaspStaticMaker(Maker):
    """Γ-point PBE single points; ``make(frames: Trajectory)`` → Job → StaticOutput."""

    name: str = "vasp static"
    incar_overrides: dict = field(default_factory=dict)
    potcar_functional: str = "PBE_54"

    def input_set_generator(self):
        """The atomate2 input-set generator each frame's StaticMaker uses."""
        return _static_generator(self.incar_overrides, self.potcar_functional)

    def make(self, frames):
        j = vasp_statics(frames, incar_overrides=dict(self.incar_overrides),
                         potcar_functional=self.potcar_functional, name=self.name)
        j.name = self.name
        return j


# --------------------------------------------------------------------------- engine
class VaspReference(ReferenceEngine):
    """VASP PBE Γ-point AIMD (the study's reference), on a cluster with VASP + POTCARs.

    ``VaspReference(incar_overrides=None, potcar_functional="PBE_54", n_segments=1)``, e.g.
    ``get_reference_engine("vasp", incar_overrides={"ENCUT": 450}, n_segments=4)``.
    """

    name = "vasp"
    stands_in_for_dft = False

    def __init__(self, incar_overrides: dict | None = None, potcar_functional: str = "PBE_54",
                 n_segments: int = 1) -> None:
        self.incar_overrides = dict(incar_overrides or {})
        self.potcar_functional = potcar_functional
        self.n_segments = int(n_segments)

    def md_maker(self, settings: MDSettings) -> VaspMDMaker:
        return VaspMDMaker(md_settings=settings, incar_overrides=self.incar_overrides,
                           potcar_functional=self.potcar_functional, n_segments=self.n_segments)

    def static_maker(self) -> VaspStaticMaker:
        return VaspStaticMaker(incar_overrides=self.incar_overrides,
                               potcar_functional=self.potcar_functional)

    def provenance(self) -> dict[str, Any]:
        return {"engine": "vasp", "engine_version": "", "stands_in_for_dft": False,
                "settings": {"incar": {**STUDY_INCAR, **self.incar_overrides},
                             "kpoints": "Gamma", "potcar_functional": self.potcar_functional,
                             "n_segments": self.n_segments}}

    def check_available(self) -> None:
        check_vasp_available()


def check_vasp_available() -> None:
    """Raise :class:`EngineError` unless atomate2's VASP command is on PATH and POTCARs are set."""
    import os
    import shlex
    import shutil

    from atomate2 import SETTINGS

    exe = shlex.split(str(SETTINGS.VASP_CMD))[-1] if SETTINGS.VASP_CMD else "vasp_std"
    if shutil.which(exe) is None:
        raise EngineError(
            f"VASP is not available on this machine; run on a cluster ({exe!r} is not on "
            "PATH: load VASP and set VASP_CMD in ~/.atomate2.yaml or ATOMATE2_VASP_CMD)")
    if not os.environ.get("PMG_VASP_PSP_DIR"):
        from pymatgen.core import SETTINGS as PMG

        if not PMG.get("PMG_VASP_PSP_DIR"):
            raise EngineError("VASP POTCARs not configured: set PMG_VASP_PSP_DIR "
                              "(pmg config -p <potcars> <dir>; pmg config --add PMG_VASP_PSP_DIR <dir>)")
