"""CP2K jobs and Makers: NVT MD (resumable) and single points, parsed into
:class:`~ssic_flows.analysis.trajectory.Trajectory` (Å, eV/Å, Å/fs, eV), aligned by MD step.

Restart
-------
An MD job runs CP2K in ``ssic_home()/checkpoints/<job uuid>_<index>`` (``checkpoint_root`` to move
it). CP2K writes ``ssic-1.restart`` there every ``MDSettings.checkpoint_every`` steps and at
the end. If the job is killed and rerun (FireWorks rerun or ``ssic run`` resume: same job
uuid), it finds that file and continues with EXT_RESTART from the saved step (positions,
velocities, thermostat state), running only the remaining steps; CP2K appends to the
trajectory files and the parser keeps the latest copy of any repeated step. After success
the directory is moved to ``ssic_home()/runs/cp2k/<job uuid>_<index>`` and the wavefunction file is
deleted.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Maker, job

from ssic_flows.analysis.readers import read_cp2k_ener
from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings
from ssic_flows.engines.common.outputs import as_structure, require
from ssic_flows.engines.cp2k.parsing import (
    read_cp2k_forces_table, read_cp2k_md, read_cp2k_total_energy, read_restart_step,
)
from ssic_flows.engines.cp2k.run import cp2k_version, find_cp2k_executable, run_cp2k
from ssic_flows.engines.cp2k.sets import Cp2kSettings, check_elements, write_cp2k_input
from ssic_flows.schemas import (
    EngineProvenance, MDOutput, StaticOutput, plain_structure_dict,
)

__all__ = [
    "CP2KMDMaker", "CP2KStaticMaker", "PROJECT", "cp2k_md_in_dir", "cp2k_single_points",
    "run_cp2k_md", "run_cp2k_static",
]


PROJECT = "ssic"


def _settings(d: dict | Cp2kSettings) -> Cp2kSettings:
    return d if isinstance(d, Cp2kSettings) else Cp2kSettings(**d)


def _provenance(settings: Cp2kSettings) -> EngineProvenance:
    return EngineProvenance(engine="cp2k", engine_version=cp2k_version(), kind="reference",
                            stands_in_for_dft=False,
                            settings={**settings.as_dict(), "xc": "PBE", "kpoints": "Gamma"})


def cp2k_md_in_dir(directory: str | Path, structure, md: MDSettings, settings: Cp2kSettings,
                   *, project: str = PROJECT) -> dict[str, Any]:
    """Run (or resume) NVT MD with CP2K in ``directory``; return the parsed result.

    If ``directory`` holds ``<project>-1.restart`` from an earlier (killed) run, continue from
    its step; if that step already reaches ``md.n_steps`` only parse. Files of a run killed
    before its first restart are cleared. Returns ``trajectory`` (Trajectory), ``start_step``,
    ``steps_run``, ``wall_time_s`` and ``directory``.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    restart = d / f"{project}-1.restart"
    start = read_restart_step(restart) if restart.exists() else 0
    if start == 0:
        for f in d.glob(f"{project}-*"):
            f.unlink()
    remaining = md.n_steps - start
    wall = 0.0
    if remaining > 0:
        text = write_cp2k_input(structure, settings, run_type="MD", md=md, project=project,
                                restart_file=restart.name if start else None, steps=remaining)
        run = run_cp2k(d, text, settings, input_name="md.inp" if not start else f"md_restart_{start}.inp",
                       output_name="md.out")
        wall = run.wall_time_s
    traj = read_cp2k_md(d, project, timestep_fs=md.timestep_fs, save_every=md.save_every,
                        metadata={"engine": "cp2k", "temperature_K": md.temperature_K,
                                  "seed": md.seed, "thermostat": md.thermostat,
                                  "md_timestep_fs": md.timestep_fs})
    expected_last = md.n_steps - md.n_steps % md.save_every
    if int(traj.steps[-1]) != expected_last:
        raise EngineError(f"{d}: CP2K MD ended at step {int(traj.steps[-1])}, expected "
                          f"{expected_last}; see {d / 'md.out'}")
    return {"trajectory": traj, "start_step": start, "steps_run": max(remaining, 0),
            "wall_time_s": wall, "directory": str(d)}


def _job_key() -> str:
    """``<job uuid>_<index>`` of the running jobflow job (same key as the ASE engines use)."""
    from jobflow import CURRENT_JOB

    j = getattr(CURRENT_JOB, "job", None)
    if j is None:
        raise EngineError("run_cp2k_md must run inside a jobflow job (no CURRENT_JOB); "
                          "use cp2k_md_in_dir(directory, ...) for a direct call")
    return f"{j.uuid}_{j.index}"


@job(data=MDOutput.DATA_FIELDS)
def run_cp2k_md(structure, md: dict, cp2k: dict, checkpoint_root: str | None = None,
                project: str = PROJECT) -> MDOutput:
    """Job: CP2K NVT MD of ``structure``; resumable from ``<checkpoint_root>/<job uuid>``.

    md: :class:`MDSettings` fields. cp2k: :class:`Cp2kSettings` fields. Output:
    :class:`MDOutput` whose trajectory (positions Å, velocities Å/fs, forces eV/Å, potential
    energies eV; frame 0 = initial structure) goes to the ``data`` store.
    """
    from ssic_flows.store.config import ssic_home

    structure = as_structure(structure)
    mds = MDSettings(**md)
    settings = _settings(cp2k)
    find_cp2k_executable()
    check_elements({sp.symbol for sp in structure.species}, settings)
    uuid = _job_key()
    root = Path(checkpoint_root) if checkpoint_root else ssic_home() / "checkpoints"
    ckpt = root / uuid
    res = cp2k_md_in_dir(ckpt, structure, mds, settings, project=project)
    traj: Trajectory = res["trajectory"]
    final_dir = ssic_home() / "runs" / "cp2k" / uuid
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    for f in ckpt.glob("*.wfn*"):
        f.unlink()
    if final_dir.exists():
        shutil.rmtree(final_dir)
    shutil.move(str(ckpt), str(final_dir))
    ener = read_cp2k_ener(final_dir / f"{project}-1.ener")
    used = [r["used_time_s"] for s, r in ener.items() if s > res["start_step"]]
    # CP2K's own per-step timing (-1.ener UsedTime), so start-up is not counted; the wall
    # time per step (start-up included) is kept in metadata
    wall_sps = res["wall_time_s"] / res["steps_run"] if res["steps_run"] else 0.0
    sps = float(np.median(used)) if used else wall_sps
    return MDOutput(
        provenance=_provenance(settings), formula=structure.composition.reduced_formula,
        n_atoms=len(structure), temperature_K=mds.temperature_K, timestep_fs=mds.timestep_fs,
        n_steps=mds.n_steps, save_every=mds.save_every, seed=mds.seed, n_frames=traj.n_frames,
        wall_time_s=res["wall_time_s"], seconds_per_step=sps,
        resumed_from_step=res["start_step"], trajectory=traj,
        final_structure=plain_structure_dict(traj.to_structure(-1)),
        metadata={"cp2k_dir": str(final_dir), "thermostat": mds.thermostat,
                  "thermostat_time_fs": mds.thermostat_time_fs,
                  "wall_seconds_per_step": wall_sps,
                  "conserved_drift_eV": float(ener[max(ener)]["conserved_eV"]
                                              - ener[min(ener)]["conserved_eV"])},
    )


@dataclass
class CP2KMDMaker(Maker):
    """NVT MD with CP2K (PBE, GTH, MOLOPT, Γ point); ``make(structure)`` → Job → MDOutput.

    md_settings: temperature (K), timestep (fs), steps, thermostat ('csvr' or 'nose-hoover'),
    seed, save/checkpoint strides. cp2k_settings: basis, cutoffs (Ry), SCF, MPI ranks.
    checkpoint_root: where resumable runs live (default ``ssic_home()/checkpoints``).
    """

    name: str = "cp2k md"
    md_settings: MDSettings = field(default_factory=lambda: MDSettings(temperature_K=300.0))
    cp2k_settings: Cp2kSettings = field(default_factory=Cp2kSettings)
    checkpoint_root: str | None = None

    def make(self, structure):
        j = run_cp2k_md(structure, md=asdict(self.md_settings),
                        cp2k=self.cp2k_settings.as_dict(), checkpoint_root=self.checkpoint_root)
        j.name = self.name
        return j


def cp2k_single_points(frames: Trajectory, settings: Cp2kSettings, directory: str | Path,
                       *, reuse_wfn: bool = True, project: str = PROJECT) -> Trajectory:
    """Energy (eV) and forces (eV/Å) of every frame, one CP2K ENERGY_FORCE run per frame.

    Runs in ``directory/frame_XXXX``; with ``reuse_wfn`` each frame starts its SCF from the
    previous frame's wavefunction. Returns ``frames`` with ``forces`` and ``energies``
    replaced (same order, steps and cells).
    """
    d = Path(directory)
    energies, forces = [], []
    prev_wfn: Path | None = None
    wall = 0.0
    for i in range(frames.n_frames):
        fd = d / f"frame_{i:04d}"
        if fd.exists():
            shutil.rmtree(fd)
        fd.mkdir(parents=True)
        s = frames.to_structure(i)
        wfn = None
        if reuse_wfn and prev_wfn is not None and prev_wfn.exists():
            wfn = str(prev_wfn.resolve())
        text = write_cp2k_input(s, settings, run_type="ENERGY_FORCE", project=project,
                                wfn_restart_file=wfn)
        run = run_cp2k(fd, text, settings, input_name="sp.inp", output_name="sp.out")
        wall += run.wall_time_s
        energies.append(read_cp2k_total_energy(run.output))
        fpath = fd / f"{project}-forces-1_0.xyz"
        if not fpath.exists():
            raise EngineError(f"{fd}: CP2K wrote no forces file {fpath.name}")
        sp, f = read_cp2k_forces_table(fpath)
        if sp != list(frames.species):
            raise EngineError(f"{fpath}: species order {sp} differs from the frame's {frames.species}")
        forces.append(f)
        if prev_wfn is not None and prev_wfn.exists() and reuse_wfn:
            prev_wfn.unlink()
        prev_wfn = fd / f"{project}-RESTART.wfn"
    if prev_wfn is not None and prev_wfn.exists():
        prev_wfn.unlink()
    meta = dict(frames.metadata, labelled_by="cp2k", cp2k_wall_time_s=wall)
    return frames.replace(forces=np.stack(forces), energies=np.array(energies), metadata=meta)


@job(data=StaticOutput.DATA_FIELDS)
def run_cp2k_static(frames: Trajectory, cp2k: dict, reuse_wfn: bool = True) -> StaticOutput:
    """Job: CP2K single points (PBE, Γ) of each frame of a Trajectory → :class:`StaticOutput`.

    ``forces`` holds the frames with ``forces`` (eV/Å) and ``energies`` (eV) filled, in the
    data store; ``energies_eV`` repeats the energies in the document. Runs in
    ``./cp2k_static`` of the job's working directory.
    """
    frames = require(frames, Trajectory, "CP2K single points' frames", "pass e.g. md_job.output.trajectory")
    settings = _settings(cp2k)
    find_cp2k_executable()
    check_elements(set(frames.species), settings)
    t0 = time.perf_counter()
    out = cp2k_single_points(frames, settings, Path.cwd() / "cp2k_static", reuse_wfn=reuse_wfn)
    return StaticOutput(
        provenance=_provenance(settings), n_structures=out.n_frames,
        energies_eV=[float(e) for e in out.energies], forces=out,
        wall_time_s=time.perf_counter() - t0)


@dataclass
class CP2KStaticMaker(Maker):
    """CP2K single points; ``make(frames: Trajectory)`` → Job → StaticOutput."""

    name: str = "cp2k static"
    cp2k_settings: Cp2kSettings = field(default_factory=Cp2kSettings)
    reuse_wfn: bool = True

    def make(self, frames):
        j = run_cp2k_static(frames, cp2k=self.cp2k_settings.as_dict(), reuse_wfn=self.reuse_wfn)
        j.name = self.name
        return j
