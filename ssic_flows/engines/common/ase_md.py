"""One NVT MD driver for every engine that is an ASE calculator (CHGNet, GAP, EMT in tests).

:func:`run_md` integrates with an ASE thermostat, stores every ``save_every`` steps the
positions (Å), velocities (Å/fs), forces (eV/Å) and potential energy (eV), and writes a
checkpoint every ``checkpoint_every`` steps. A second call with the same ``checkpoint_dir``
(e.g. after the process was SIGKILLed and FireWorks reran the job) resumes from the last
checkpoint; the returned :class:`~ssic_flows.analysis.Trajectory` is continuous: its step
indices are consecutive multiples of ``save_every`` starting at 0.

Thermostats (``MDSettings.thermostat``):

``csvr``
    Bussi stochastic velocity rescaling (:class:`ase.md.bussi.Bussi`), coupling time
    ``thermostat_time_fs``.
``langevin``
    :class:`ase.md.langevin.Langevin`, friction ``1 / thermostat_time_fs``.
``nose-hoover``
    Nosé–Hoover chain (:class:`ase.md.nose_hoover_chain.NoseHooverChainNVT`, 3 links),
    damping time ``thermostat_time_fs``; deterministic.

Reproducibility: initial Maxwell–Boltzmann velocities (zero total momentum) come from
``numpy.random.default_rng(seed)``, the thermostat noise from a second generator spawned from
the same seed. A checkpoint holds positions, momenta, step, the thermostat generator's
bit-generator state and the Nosé–Hoover chain variables, so a resumed run continues
bit-for-bit as the uninterrupted one would (the calculator must be deterministic).

Checkpoint files: the stored frames are appended, one small ``md_frames_<k>.npz`` per
checkpoint holding only the frames since the previous one (I/O linear in the run length),
then ``md_checkpoint.npz`` (the dynamical state and the number of chunks it covers) is
replaced atomically. A kill between the two leaves a chunk the state does not count; the
resumed run overwrites it.

Example
-------
>>> from ase.build import bulk
>>> from ase.calculators.emt import EMT
>>> from ssic_flows.engines.base import MDSettings
>>> traj = run_md(bulk("Cu", cubic=True) * (2, 2, 2), EMT(),
...               MDSettings(temperature_K=300, timestep_fs=2, n_steps=10, save_every=5),
...               checkpoint_dir=None)
>>> traj.steps.tolist(), traj.timestep_fs
([0, 5, 10], 10.0)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings, canonical_thermostat

__all__ = [
    "checkpoint_dir_for_current_job", "load_checkpoint", "make_dynamics",
    "kinetic_temperature_K", "run_md", "to_atoms",
]

_CKPT = "md_checkpoint.npz"
_CHUNK = "md_frames_{:06d}.npz"
_FORMAT = 2  # 1: every frame inside md_checkpoint.npz (still read)
_FRAME_KEYS = ("f_positions", "f_velocities", "f_forces", "f_energies", "f_steps")


def to_atoms(atoms_or_structure: Any):
    """An ASE ``Atoms`` copy from ASE Atoms, a pymatgen Structure or its ``as_dict()``."""
    from ase import Atoms

    if isinstance(atoms_or_structure, Atoms):
        return atoms_or_structure.copy()
    if isinstance(atoms_or_structure, dict):
        from pymatgen.core import Structure

        atoms_or_structure = Structure.from_dict(atoms_or_structure)
    try:
        from pymatgen.core import Structure
        from pymatgen.io.ase import AseAtomsAdaptor
    except ImportError as exc:  # pragma: no cover - pymatgen is a hard dependency
        raise EngineError("pymatgen is needed to convert structures: pip install pymatgen") from exc
    if isinstance(atoms_or_structure, Structure):
        at = AseAtomsAdaptor.get_atoms(atoms_or_structure)
        at.pbc = True
        return Atoms(at.get_chemical_symbols(), positions=at.get_positions(),
                     cell=at.get_cell(), pbc=True)
    raise EngineError(
        f"cannot run MD on a {type(atoms_or_structure).__name__}; pass ase.Atoms, a pymatgen "
        "Structure or Structure.as_dict()"
    )


def checkpoint_dir_for_current_job() -> Path | None:
    """``ssic_home()/checkpoints/<job uuid>_<index>`` inside a jobflow job, else ``None``.

    A FireWorks rerun (``lpad rerun_fws``) of the same job keeps its uuid and index, so it
    finds the checkpoint the killed run left and resumes.
    """
    from jobflow import CURRENT_JOB

    from ssic_flows.store.config import ssic_home

    job = CURRENT_JOB.job
    if job is None:
        return None
    d = ssic_home() / "checkpoints" / f"{job.uuid}_{job.index}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _validate(settings: MDSettings) -> str:
    if not isinstance(settings, MDSettings):
        raise EngineError(f"settings must be an MDSettings, got {type(settings).__name__}")
    thermo = canonical_thermostat(settings.thermostat)
    if settings.thermostat_time_fs <= 0:
        raise EngineError(
            f"thermostat_time_fs must be > 0 fs, got {settings.thermostat_time_fs}")
    if settings.thermostat_time_fs < settings.timestep_fs:
        raise EngineError(
            f"thermostat_time_fs ({settings.thermostat_time_fs} fs) is shorter than the "
            f"timestep ({settings.timestep_fs} fs); use a coupling time of >= 10 timesteps")
    if settings.timestep_fs > 10:
        raise EngineError(
            f"timestep_fs={settings.timestep_fs} fs is too long for atomistic MD; use <= 5 fs")
    return thermo


def make_dynamics(atoms, settings: MDSettings, rng: np.random.Generator | None = None):
    """The ASE NVT integrator for ``settings.thermostat`` (see module docstring)."""
    from ase import units

    thermo = _validate(settings)
    dt = settings.timestep_fs * units.fs
    tau = settings.thermostat_time_fs * units.fs
    if thermo == "csvr":
        from ase.md.bussi import Bussi

        return Bussi(atoms, dt, temperature_K=settings.temperature_K, taut=tau, rng=rng)
    if thermo == "langevin":
        from ase.constraints import FixCom
        from ase.md.langevin import Langevin

        atoms.set_constraint(FixCom())  # zero total momentum, the non-deprecated way
        return Langevin(atoms, dt, temperature_K=settings.temperature_K, friction=1.0 / tau,
                        fixcm=False, rng=rng)
    from ase.md.nose_hoover_chain import NoseHooverChainNVT

    return NoseHooverChainNVT(atoms, dt, temperature_K=settings.temperature_K, tdamp=tau,
                              tchain=3)


def _fingerprint(settings: MDSettings, species: list[str]) -> str:
    keep = {k: v for k, v in asdict(settings).items() if k not in ("n_steps", "checkpoint_every")}
    keep["species"] = species
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _atomic_savez(path: Path, **arrays) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001
        raise EngineError(
            f"checkpoint {p} is unreadable ({exc}); delete its directory to restart the MD from "
            "step 0") from exc


def load_checkpoint(checkpoint_dir: Path) -> dict | None:
    """The last checkpoint in ``checkpoint_dir`` as a dict of arrays, or ``None``.

    Holds the state (``step``, ``positions`` Å, ``momenta``, ``cell``, ``rng_state``, ...) and
    every stored frame so far (``f_positions``, ``f_velocities``, ``f_forces``, ``f_energies``,
    ``f_steps``), gathered from the frame chunks the state counts.
    """
    d = Path(checkpoint_dir)
    p = d / _CKPT
    if not p.exists():
        return None
    ck = _read_npz(p)
    if int(ck.get("format", 1)) == 1:  # frames inside the state file
        ck["n_chunks"] = np.asarray(0)
        return ck
    chunks = [_read_npz(d / _CHUNK.format(k)) for k in range(int(ck["n_chunks"]))]
    n_atoms = ck["positions"].shape[0]
    for key in _FRAME_KEYS:
        parts = [c[key] for c in chunks]
        if parts:
            ck[key] = np.concatenate(parts)
        else:
            ck[key] = np.empty((0, n_atoms, 3) if key not in ("f_energies", "f_steps") else (0,),
                               dtype=int if key == "f_steps" else float)
    return ck


class _Frames:
    def __init__(self):
        self.pos, self.vel, self.frc, self.ene, self.steps = [], [], [], [], []

    def add(self, atoms, step: int):
        from ase import units

        self.frc.append(np.array(atoms.get_forces(), dtype=float))
        self.ene.append(float(atoms.get_potential_energy()))
        self.pos.append(np.array(atoms.get_positions(), dtype=float))
        self.vel.append(np.array(atoms.get_velocities(), dtype=float) * units.fs)
        self.steps.append(int(step))

    def arrays(self, start: int = 0) -> dict[str, np.ndarray]:
        """Frames ``start:`` as arrays (positions Å, velocities Å/fs, forces eV/Å, eV)."""
        n = len(self.steps) - start
        shape = (n,) + (self.pos[0].shape if self.pos else (0, 3))
        return {
            "f_positions": np.asarray(self.pos[start:], dtype=float).reshape(shape),
            "f_velocities": np.asarray(self.vel[start:], dtype=float).reshape(shape),
            "f_forces": np.asarray(self.frc[start:], dtype=float).reshape(shape),
            "f_energies": np.asarray(self.ene[start:], dtype=float),
            "f_steps": np.asarray(self.steps[start:], dtype=int),
        }

    @classmethod
    def from_checkpoint(cls, ck: dict) -> _Frames:
        fr = cls()
        fr.pos = list(ck["f_positions"])
        fr.vel = list(ck["f_velocities"])
        fr.frc = list(ck["f_forces"])
        fr.ene = [float(e) for e in ck["f_energies"]]
        fr.steps = [int(s) for s in ck["f_steps"]]
        return fr


def run_md(
    atoms_or_structure: Any,
    calculator,
    settings: MDSettings,
    checkpoint_dir: Path | str | None,
    on_frame: Callable[[int, Any], bool | None] | None = None,
    *,
    metadata: dict | None = None,
) -> Trajectory:
    """Run NVT MD with an ASE ``calculator`` and return the stored frames.

    Parameters
    ----------
    atoms_or_structure:
        Starting configuration (ASE Atoms, pymatgen Structure or its dict); positions Å.
    calculator:
        Any ASE calculator giving energy (eV) and forces (eV/Å).
    settings:
        :class:`MDSettings` (temperature K, timestep fs, steps, stride, seed, thermostat).
    checkpoint_dir:
        Directory for the checkpoint file; ``None`` disables checkpointing. If it already
        holds a checkpoint of a run with the same settings and species, the run resumes.
    on_frame:
        ``on_frame(step, atoms)`` is called at every stored frame (after it is stored); if
        it returns ``True`` the run stops after that frame (used by on-the-fly learning).
    metadata:
        Merged into the trajectory metadata (e.g. ``engine``, ``engine_version``).

    Returns
    -------
    Trajectory with positions (Å), velocities (Å/fs), forces (eV/Å), energies (eV) and
    steps (MD step indices); ``timestep_fs`` = MD step × ``save_every``. Metadata holds
    ``temperature_K``, ``seed``, ``thermostat``, ``resumed_from_step``, ``wall_time_s``,
    ``seconds_per_step`` (of the steps run in this call) and ``stopped_early``.
    """
    from ase.md import velocitydistribution as vd

    thermo = _validate(settings)
    if calculator is None:
        raise EngineError("run_md needs an ASE calculator (got None)")
    atoms = to_atoms(atoms_or_structure)
    if len(atoms) < 2:
        raise EngineError("NVT MD needs at least 2 atoms")
    species = atoms.get_chemical_symbols()
    atoms.calc = calculator
    fp = _fingerprint(settings, species)
    ss = np.random.SeedSequence(int(settings.seed))
    vel_seed, thermo_seed = ss.spawn(2)
    thermo_rng = np.random.default_rng(thermo_seed)

    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    ck = None
    if ckdir is not None:
        ckdir.mkdir(parents=True, exist_ok=True)
        ck = load_checkpoint(ckdir)
    if ck is not None:
        if str(ck["fingerprint"]) != fp:
            raise EngineError(
                f"checkpoint in {ckdir} belongs to a run with other settings or atoms; delete "
                "the directory or use another checkpoint_dir")
        step0 = int(ck["step"])
        if step0 > settings.n_steps:
            raise EngineError(
                f"checkpoint in {ckdir} is at step {step0} > n_steps={settings.n_steps}; raise "
                "n_steps or delete the checkpoint")
        atoms.set_cell(ck["cell"])
        atoms.set_positions(ck["positions"])
        atoms.set_momenta(ck["momenta"])
        frames = _Frames.from_checkpoint(ck)
        n_chunks, n_saved = int(ck["n_chunks"]), len(frames.steps)
        if n_chunks == 0 and n_saved:  # a format-1 checkpoint: its frames become chunk 0
            _atomic_savez(ckdir / _CHUNK.format(0), **frames.arrays())
            n_chunks = 1
        thermo_rng.bit_generator.state = json.loads(str(ck["rng_state"]))
    else:
        step0 = 0
        vel_rng = np.random.default_rng(vel_seed)
        if hasattr(vd, "thermalize_momenta"):  # ASE >= 3.29
            vd.thermalize_momenta(atoms, settings.temperature_K, exact_temperature=True,
                                  rng=vel_rng)
        else:  # pragma: no cover - older ASE
            vd.MaxwellBoltzmannDistribution(atoms, temperature_K=settings.temperature_K,
                                            rng=vel_rng, force_temp=True)
        vd.Stationary(atoms)
        frames = _Frames()
        n_chunks, n_saved = 0, 0

    dyn = make_dynamics(atoms, settings, rng=thermo_rng)
    if ck is not None and thermo == "nose-hoover":
        dyn._thermostat._eta = np.array(ck["nhc_eta"], dtype=float)
        dyn._thermostat._p_eta = np.array(ck["nhc_p_eta"], dtype=float)

    def checkpoint(step: int) -> None:
        nonlocal n_chunks, n_saved
        if ckdir is None:
            return
        extra = {}
        if thermo == "nose-hoover":
            extra = {"nhc_eta": dyn._thermostat._eta, "nhc_p_eta": dyn._thermostat._p_eta}
        if len(frames.steps) > n_saved:  # append the new frames, then commit the state
            _atomic_savez(ckdir / _CHUNK.format(n_chunks), **frames.arrays(n_saved))
            n_chunks, n_saved = n_chunks + 1, len(frames.steps)
        _atomic_savez(
            ckdir / _CKPT, format=np.asarray(_FORMAT), fingerprint=np.asarray(fp),
            step=np.asarray(step), cell=np.asarray(atoms.get_cell()),
            positions=atoms.get_positions(), momenta=atoms.get_momenta(),
            rng_state=np.asarray(json.dumps(thermo_rng.bit_generator.state)),
            n_chunks=np.asarray(n_chunks), **extra)

    stopped = False
    t0 = time.perf_counter()
    if step0 == 0 and not frames.steps:
        frames.add(atoms, 0)
        checkpoint(0)
        if on_frame is not None and on_frame(0, atoms):
            stopped = True
    step = step0
    while step < settings.n_steps and not stopped:
        dyn.step()
        step += 1
        if step % settings.save_every == 0:
            frames.add(atoms, step)
            if on_frame is not None and on_frame(step, atoms):
                stopped = True
        if step % settings.checkpoint_every == 0 or step == settings.n_steps or stopped:
            checkpoint(step)
    wall = time.perf_counter() - t0
    n_run = step - step0
    meta = {
        "temperature_K": float(settings.temperature_K), "seed": int(settings.seed),
        "thermostat": thermo, "thermostat_time_fs": float(settings.thermostat_time_fs),
        "md_timestep_fs": float(settings.timestep_fs), "save_every": int(settings.save_every),
        "resumed_from_step": int(step0), "last_step": int(step), "stopped_early": stopped,
        "wall_time_s": wall, "seconds_per_step": wall / n_run if n_run else 0.0,
        **(metadata or {}),
    }
    a = frames.arrays()
    return Trajectory(
        species=species, positions=a["f_positions"], cells=np.asarray(atoms.get_cell()),
        timestep_fs=settings.timestep_fs * settings.save_every, velocities=a["f_velocities"],
        forces=a["f_forces"], energies=a["f_energies"], steps=a["f_steps"], metadata=meta,
    )


def kinetic_temperature_K(traj: Trajectory) -> np.ndarray:
    """Instantaneous kinetic temperature (K) per frame from stored velocities (Å/fs).

    Uses 3N − 3 degrees of freedom (total momentum is zero).
    """
    from ase import units

    if traj.velocities is None:
        raise EngineError("trajectory has no velocities; temperatures need an MD run's output")
    m = traj.masses_amu[None, :, None]
    v = traj.velocities / units.fs  # Å / ASE time
    ekin = 0.5 * np.sum(m * v * v, axis=(1, 2))  # eV
    return 2.0 * ekin / ((3 * traj.n_atoms - 3) * units.kB)
