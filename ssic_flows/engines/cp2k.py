"""CP2K reference engine: real open-source DFT (PBE, GTH pseudopotentials, MOLOPT, Γ point).

Our own thin Makers (not atomate2's CP2K path; reasons in ``docs/engines.md``): the input is
written from a template (:mod:`ssic_flows.engines.cp2k_io`), CP2K runs in a directory with
``subprocess`` (own process group, optional timeout, optional ``mpirun -np n_mpi``) and we
parse ``-pos-1.xyz``/``-frc-1.xyz``/``-vel-1.xyz``/``-1.ener``/``-1.cell`` ourselves into a
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

Example
-------
>>> eng = CP2KReference(preset="tiny", n_mpi=1)
>>> eng.cp2k.basis_set
'SZV-MOLOPT-SR-GTH'
>>> maker = eng.md_maker(MDSettings(temperature_K=500, n_steps=3))
>>> maker.name
'cp2k md'
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Maker, job

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings, ReferenceEngine
from ssic_flows.engines.common.outputs import as_structure, as_trajectory
from ssic_flows.engines.cp2k_io import (
    Cp2kSettings,
    basis_and_potential_names,
    cp2k_data_dir,
    cp2k_version,
    find_cp2k_executable,
    read_cp2k_ener,
    read_cp2k_forces_table,
    read_cp2k_md,
    read_cp2k_total_energy,
    read_restart_step,
    run_cp2k,
    write_cp2k_input,
)
from ssic_flows.schemas import as_job_output, plain_structure_dict
from ssic_flows.schemas import EngineProvenance, MDOutput, StaticOutput

__all__ = [
    "CP2KMDMaker", "CP2KReference", "CP2KStaticMaker", "PRESETS", "cp2k_md_in_dir",
    "cp2k_single_points", "run_cp2k_md", "run_cp2k_static",
]

PROJECT = "ssic"

#: Named CP2K settings. ``production``: DZVP-MOLOPT-SR-GTH, 350 Ry, OT (FULL_ALL,
#: ENERGY_GAP 0.01 Ha). ``tiny``: SZV-MOLOPT-SR-GTH, 250 Ry, diagonalisation + 1000 K
#: Fermi–Dirac smearing (test cells of a few atoms, which have no gap at Γ).
PRESETS: dict[str, dict[str, Any]] = {
    "production": {},
    "tiny": dict(basis_set="SZV-MOLOPT-SR-GTH", cutoff_Ry=250.0, rel_cutoff_Ry=40.0,
                 scf="diag", max_scf=100),
}


def _settings(d: dict | Cp2kSettings) -> Cp2kSettings:
    return d if isinstance(d, Cp2kSettings) else Cp2kSettings(**d)


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


def _provenance(settings: Cp2kSettings) -> EngineProvenance:
    return EngineProvenance(engine="cp2k", engine_version=cp2k_version(), kind="reference",
                            stands_in_for_dft=False,
                            settings={**settings.as_dict(), "xc": "PBE", "kpoints": "Gamma"})


# --------------------------------------------------------------------------- MD
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


@job(data=Trajectory)
def run_cp2k_md(structure, md: dict, cp2k: dict, checkpoint_root: str | None = None,
                project: str = PROJECT) -> dict:
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
    return as_job_output(MDOutput(
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
    ))


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


# --------------------------------------------------------------------------- single points
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


@job(data=Trajectory)
def run_cp2k_static(frames, cp2k: dict, reuse_wfn: bool = True) -> dict:
    """Job: CP2K single points (PBE, Γ) of each frame of a Trajectory → :class:`StaticOutput`.

    ``forces`` holds the frames with ``forces`` (eV/Å) and ``energies`` (eV) filled, in the
    data store; ``energies_eV`` repeats the energies in the document. Runs in
    ``./cp2k_static`` of the job's working directory.
    """
    frames = as_trajectory(frames, "CP2K single points")
    settings = _settings(cp2k)
    find_cp2k_executable()
    check_elements(set(frames.species), settings)
    t0 = time.perf_counter()
    out = cp2k_single_points(frames, settings, Path.cwd() / "cp2k_static", reuse_wfn=reuse_wfn)
    return as_job_output(StaticOutput(
        provenance=_provenance(settings), n_structures=out.n_frames,
        energies_eV=[float(e) for e in out.energies], forces=out,
        wall_time_s=time.perf_counter() - t0))


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


# --------------------------------------------------------------------------- engine
class CP2KReference(ReferenceEngine):
    """CP2K as the AIMD reference (open stand-in for the study's VASP PBE Γ-point AIMD).

    ``CP2KReference(preset="production"|"tiny", checkpoint_root=None, **Cp2kSettings fields)``,
    e.g. ``get_reference_engine("cp2k", preset="tiny", n_mpi=2, timeout_s=600)``.
    It is still DFT (PBE), so ``stands_in_for_dft`` is False.
    """

    name = "cp2k"
    stands_in_for_dft = False

    def __init__(self, preset: str = "production", checkpoint_root: str | None = None,
                 **settings: Any) -> None:
        if preset not in PRESETS:
            raise EngineError(f"unknown CP2K preset {preset!r}; choose one of {sorted(PRESETS)}")
        fields = set(Cp2kSettings.__dataclass_fields__)
        bad = set(settings) - fields
        if bad:
            raise EngineError(f"unknown CP2K setting(s) {sorted(bad)}; valid: {sorted(fields)}")
        self.preset = preset
        self.cp2k = Cp2kSettings(**{**PRESETS[preset], **settings})
        self.checkpoint_root = checkpoint_root

    def md_maker(self, settings: MDSettings) -> CP2KMDMaker:
        return CP2KMDMaker(md_settings=settings, cp2k_settings=self.cp2k,
                           checkpoint_root=self.checkpoint_root)

    def static_maker(self) -> CP2KStaticMaker:
        return CP2KStaticMaker(cp2k_settings=self.cp2k)

    def provenance(self) -> dict[str, Any]:
        return {"engine": "cp2k", "engine_version": cp2k_version(), "stands_in_for_dft": False,
                "settings": {**self.cp2k.as_dict(), "preset": self.preset, "xc": "PBE",
                             "kpoints": "Gamma"}}

    def check_available(self) -> None:
        find_cp2k_executable()
        cp2k_data_dir()
