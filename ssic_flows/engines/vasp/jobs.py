"""VASP jobs and Makers: atomate2's VASP ``MDMaker`` / ``StaticMaker`` with the study's settings
and small converter jobs that turn ``vasprun.xml`` into our documents:
:class:`~ssic_flows.schemas.MDOutput` (trajectory with forces eV/Å and energies eV → ``data``
store) and :class:`~ssic_flows.schemas.StaticOutput`.

Restart: VASP has no MD restart file of its own beyond CONTCAR (positions + velocities).
Split a long run into ``n_segments`` atomate2 MD jobs, each starting from the previous
CONTCAR (velocities kept); a killed segment reruns from its own start.

No VASP on our machines: tests check the written inputs (``potcar_spec`` mode, no POTCARs).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from atomate2.utils.path import strip_hostname
from jobflow import Flow, Maker, Response, job

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings
from ssic_flows.engines.vasp.parsing import (
    read_vasprun_trajectory, require_md_time_series, require_vasp_version, vasp_version,
)
from ssic_flows.engines.vasp.sets import (
    STUDY_INCAR, md_incar, md_set_generator, static_set_generator,
)
from ssic_flows.schemas import (
    EngineProvenance, MDOutput, StaticOutput, plain_structure_dict,
)

__all__ = [
    "VaspMDMaker", "VaspStaticMaker", "collect_vasp_md", "collect_vasp_static", "is_reference",
    "vasp_md_deferred", "vasp_statics",
]


def _provenance(settings: dict, version: str = "") -> EngineProvenance:
    return EngineProvenance(engine="vasp", engine_version=version, kind="reference",
                            stands_in_for_dft=False, settings=settings)


@job(data=MDOutput.DATA_FIELDS)
def collect_vasp_md(dir_names: list[str], md: dict, engine_settings: dict,
                    formula: str = "", stride: int = 1,
                    min_version: tuple[int, int] | None = None,
                    min_version_why: str = "") -> MDOutput:
    """Job: join the segments' vasprun.xml into one MDOutput (trajectory → data store).

    VASP evaluates NSW ionic steps per segment, the first at the segment's POSCAR; the next
    segment starts from CONTCAR (positions and velocities after the last step), so the
    segments join without overlap: frames are MD steps 0 … n_steps−1, thinned to
    ``save_every``. ``stride``: MD steps between the ionic steps vasprun holds (VASP MLFF
    ``run`` mode writes every ``ML_OUTBLOCK``-th step). ``min_version`` (major, minor): every
    segment must come from at least that VASP (``min_version_why`` says why), else
    :class:`EngineError`; so must every segment's frames be one complete run's consecutive MD
    steps (:func:`~ssic_flows.engines.vasp.parsing.require_md_time_series`: not a training
    run's ab initio steps, not a DFT segment stopped before NSW).
    """
    mds = MDSettings(**md)
    if min_version is not None:
        for d in dir_names:
            require_vasp_version(strip_hostname(str(d)), tuple(min_version), min_version_why)
    parts = []
    step0 = 0
    for d in dir_names:
        t = read_vasprun_trajectory(strip_hostname(str(d)), timestep_fs=mds.timestep_fs,
                                    first_step=step0, stride=stride)
        require_md_time_series(strip_hostname(str(d)), t.n_frames)
        parts.append(t)
        step0 = int(t.steps[-1]) + stride
    traj = Trajectory.concatenate(parts)
    keep = traj.steps % max(mds.save_every, stride) == 0
    traj = traj[np.flatnonzero(keep)].replace(
        timestep_fs=mds.timestep_fs * mds.save_every,
        metadata={"engine": "vasp", "temperature_K": mds.temperature_K, "seed": mds.seed,
                  "thermostat": mds.thermostat})
    version = vasp_version(Path(strip_hostname(str(dir_names[-1]))))
    return MDOutput(
        provenance=_provenance(engine_settings, version),
        formula=formula or traj.to_structure(0).composition.reduced_formula,
        n_atoms=traj.n_atoms, temperature_K=mds.temperature_K, timestep_fs=mds.timestep_fs,
        n_steps=mds.n_steps, save_every=mds.save_every, seed=mds.seed,
        n_frames=traj.n_frames, trajectory=traj,
        final_structure=plain_structure_dict(traj.to_structure(-1)),
        metadata={"vasp_dirs": [str(d) for d in dir_names], "thermostat": mds.thermostat})


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
            gen = md_set_generator(self.md_settings, n, self.incar_overrides, species,
                                   self.potcar_functional, segment=k)
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


@job(data=StaticOutput.DATA_FIELDS)
def collect_vasp_static(frames: Trajectory, dir_names: list[str], engine_settings: dict,
                        t_start: float = 0.0) -> StaticOutput:
    """Job: energies (eV) and forces (eV/Å) of every frame's static run → StaticOutput."""
    from ssic_flows.engines.common.outputs import require

    frames = require(frames, Trajectory, "VASP single points' frames", "pass e.g. md_job.output.trajectory")
    energies, forces = [], []
    for d in dir_names:
        t = read_vasprun_trajectory(strip_hostname(str(d)), timestep_fs=1.0)
        if t.species != frames.species:
            raise EngineError(f"{d}: atom order {t.species} differs from the frames' "
                              f"{frames.species}")
        energies.append(float(t.energies[-1]))
        forces.append(t.forces[-1])
    out = frames.replace(forces=np.stack(forces), energies=np.array(energies),
                         metadata=dict(frames.metadata, labelled_by="vasp"))
    version = vasp_version(Path(strip_hostname(str(dir_names[-1]))))
    return StaticOutput(
        provenance=_provenance(engine_settings, version), n_structures=out.n_frames,
        energies_eV=energies, forces=out,
        wall_time_s=time.time() - t_start if t_start else 0.0)


@job
def vasp_statics(frames, incar_overrides: dict, potcar_functional: str = "PBE_54",
                 name: str = "vasp static") -> Response:
    """Job: one atomate2 StaticMaker job per frame, then :func:`collect_vasp_static`.

    Replaces itself with that flow (``frames`` may be an output reference resolved only at
    run time), so its output is the collected :class:`StaticOutput`.
    """
    from atomate2.vasp.jobs.core import StaticMaker

    from ssic_flows.engines.common.outputs import require

    traj = require(frames, Trajectory, "VASP single points' frames", "pass e.g. md_job.output.trajectory")
    gen = static_set_generator(incar_overrides, potcar_functional)
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
        return static_set_generator(self.incar_overrides, self.potcar_functional)

    def make(self, frames):
        j = vasp_statics(frames, incar_overrides=dict(self.incar_overrides),
                         potcar_functional=self.potcar_functional, name=self.name)
        j.name = self.name
        return j
