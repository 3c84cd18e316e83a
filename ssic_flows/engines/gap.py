"""GAP (Gaussian approximation potential, quippy-ase) trained on the fly against a reference.

Fitting runs the ``gap_fit`` executable of the quippy-ase wheel in a subprocess (its peak
memory and wall time are recorded); evaluation uses :class:`quippy.potential.Potential`.

Bayesian error estimate of forces (BEEF) — the proxy used here
---------------------------------------------------------------
QUIP gives, with ``calc_args="local_gap_variance"``, the GP predictive variance of each
atom's *local energy*, σ²_i (eV²); it does not give a per-atom force variance (the
``export_covariance=T`` route needs a ScaLAPACK build and a sampled committee). The force-error
estimate of atom i is therefore

    β_i = c · sqrt(σ²_i)      (eV/Å),

with c (1/Å) a calibration constant: it starts at ``engine_settings["beef_scale_per_A"]``
(default 5 Å⁻¹) and, after every labelling round, is re-fitted by least squares through the
origin of the *true* per-atom force-error norms |F_GAP − F_ref|_i of the previous model on the
newly labelled frames against sqrt(σ²_i). A frame's BEEF is max_i β_i (as in VASP's on-the-fly
scheme, the study's Fig. 2a); ``beef_mean`` is the atom mean. σ² grows steeply outside the
training distribution (measured: ×15 for atoms pushed 0.3 Å off-lattice), so the proxy
ranks frames well even when c is rough. Candidates were picked because they were uncertain,
so c is biased upwards (conservative).

On-the-fly loop (a dynamic jobflow flow)
----------------------------------------
seed frames (short reference MD, a separate job) → :func:`gap_otf_iteration`: fit → MLMD
segment with β monitored every ``monitor_every`` steps → frames with BEEF >
``beef_threshold_eV_A`` (at most ``max_new_frames``, ≥ ``min_candidate_gap`` steps apart) →
``Response(replace=Flow([reference static job, next iteration]))``; the loop ends when a whole
segment stays under threshold (``converged=True``) or after ``max_iterations`` fits.
Training data and models live under ``ssic_home()/models/<run uuid>/`` (shared filesystem).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import uuid as uuidlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Flow, Maker, Response, job

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings, MLFFEngine, TrainSettings
from ssic_flows.engines.common.process import run_process
from ssic_flows.engines.common.outputs import (
    as_md_settings, as_trajectory, md_output_from_trajectory,
)
from ssic_flows.schemas import EngineProvenance, TrainOutput, as_job_output

__all__ = [
    "DEFAULT_GAP_SETTINGS", "GAPEngine", "GAPMDMaker", "beef_per_atom", "fit_gap", "gap_md",
    "gap_otf_iteration", "gap_potential", "gap_provenance", "gap_variance",
]

#: Small defaults for the demo; override any key with TrainSettings.engine_settings.
DEFAULT_GAP_SETTINGS: dict[str, Any] = {
    "cutoff_A": 5.0,                 # descriptor cutoff, Å
    "two_body_n_sparse": 15,
    "two_body_delta_eV": 1.0,
    "two_body_theta_A": 1.0,
    "soap_n_max": 4, "soap_l_max": 3, "soap_atom_sigma_A": 0.5, "soap_zeta": 2,
    "soap_delta_eV": 0.2, "soap_n_sparse": 60,
    "sigma_energy_eV": 0.003,        # default_sigma: energy per atom (eV), forces (eV/Å)
    "sigma_force_eV_A": 0.05,
    "sparse_jitter": 1e-8,
    "beef_scale_per_A": 5.0,         # initial c in β_i = c·sqrt(σ²_i)
    "monitor_every": 5,              # MD steps between BEEF evaluations (stored frames)
    "min_candidate_gap": 10,         # MD steps between two labelled frames of a segment
    "seed_stride": 10,               # reference-MD steps between seed frames
    "abort_factor": 20.0,            # stop a segment when BEEF > abort_factor·threshold
    "thermostat": "csvr",
    "thermostat_time_fs": 50.0,
    "fit_timeout_s": 6 * 3600.0,     # gap_fit is killed (with its process group) after this, s
}


def _settings(engine_settings: dict | None) -> dict[str, Any]:
    s = dict(DEFAULT_GAP_SETTINGS)
    unknown = set(engine_settings or {}) - set(s)
    if unknown:
        raise EngineError(f"unknown GAP engine_settings {sorted(unknown)}; known: {sorted(s)}")
    s.update(engine_settings or {})
    if s["soap_n_sparse"] < 1 or s["two_body_n_sparse"] < 1:
        raise EngineError("soap_n_sparse and two_body_n_sparse must be >= 1")
    return s


def _gap_fit_exe() -> str:
    exe = shutil.which("gap_fit")
    if exe is None:
        import sys

        cand = Path(sys.executable).parent / "gap_fit"
        if cand.exists():
            return str(cand)
        raise EngineError("gap_fit not found: pip install 'quippy-ase>=0.10.3' (it ships the "
                          "gap_fit executable) and put the venv's bin/ on PATH")
    return exe


def species_pairs_within(frames: list, cutoff_A: float) -> tuple[list[int], list[tuple[int, int]]]:
    """Atomic numbers present and the (Z1 ≤ Z2) pairs closer than ``cutoff_A`` in any frame.

    A 2-body descriptor for a pair that never occurs within the cutoff has no data and
    makes ``gap_fit`` abort (e.g. Sb–Sb in a small Na3SbS4 cell), so only these get one.
    """
    from ase.neighborlist import neighbor_list

    zs: set[int] = set()
    pairs: set[tuple[int, int]] = set()
    for at in frames:
        z = at.get_atomic_numbers()
        zs.update(int(v) for v in z)
        i, j = neighbor_list("ij", at, float(cutoff_A))
        a, b = np.minimum(z[i], z[j]), np.maximum(z[i], z[j])
        pairs.update(zip(a.tolist(), b.tolist()))
    return sorted(zs), sorted(pairs)


def _descriptor_string(s: dict, species_Z: list[int], pairs: list[tuple[int, int]]) -> str:
    """Explicit descriptors (``add_species=F``): one 2-body term per pair that occurs within
    the cutoff, one SOAP per centre species over all species."""
    c = float(s["cutoff_A"])
    parts = [
        "distance_2b Z1=%d Z2=%d cutoff=%g covariance_type=ard_se delta=%g theta_uniform=%g "
        "n_sparse=%d sparse_method=uniform add_species=F"
        % (z1, z2, c, s["two_body_delta_eV"], s["two_body_theta_A"], s["two_body_n_sparse"])
        for z1, z2 in pairs]
    zlist = " ".join(str(z) for z in species_Z)
    parts += [
        "soap l_max=%d n_max=%d atom_sigma=%g cutoff=%g cutoff_transition_width=1.0 delta=%g "
        "covariance_type=dot_product zeta=%g n_sparse=%d sparse_method=cur_points "
        "n_species=%d species_Z={{%s}} Z=%d add_species=F"
        % (s["soap_l_max"], s["soap_n_max"], s["soap_atom_sigma_A"], c, s["soap_delta_eV"],
           s["soap_zeta"], s["soap_n_sparse"], len(species_Z), zlist, z)
        for z in species_Z]
    return "{" + " : ".join(parts) + "}"


# ----------------------------------------------------------------------------- data on disk
def _to_atoms_list(traj: Trajectory) -> list:
    if traj.forces is None or traj.energies is None:
        raise EngineError("training frames need reference forces and energies; label them "
                          "with the reference engine's static_maker first")
    out = []
    for i in range(traj.n_frames):
        at = traj.to_ase(i)
        at.info["energy"] = float(traj.energies[i])
        at.arrays["forces"] = np.array(traj.forces[i])
        out.append(at)
    return out


def append_training_xyz(path: Path, traj: Trajectory) -> int:
    """Append labelled frames (energy eV, forces eV/Å) to an extxyz file; returns #frames."""
    import ase.io

    frames = _to_atoms_list(traj)
    ase.io.write(path, frames, format="extxyz", append=path.exists())
    return count_training_xyz(path)


def count_training_xyz(path: Path) -> int:
    import ase.io

    return len(ase.io.read(path, index=":", format="extxyz")) if Path(path).exists() else 0


def fit_gap(train_xyz: Path, model_path: Path, engine_settings: dict | None = None) -> dict:
    """Run ``gap_fit`` on ``train_xyz``; returns {"model_path", "fit_wall_s", "peak_rss_MB"}."""
    s = _settings(engine_settings)
    train_xyz, model_path = Path(train_xyz), Path(model_path)
    import ase.io

    frames = ase.io.read(train_xyz, index=":", format="extxyz") if train_xyz.exists() else []
    if not frames:
        raise EngineError(f"{train_xyz} holds no training frames")
    species_Z, pairs = species_pairs_within(frames, s["cutoff_A"])
    model_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        _gap_fit_exe(), f"at_file={train_xyz.resolve()}", f"gp_file={model_path.name}",
        "e0_method=average",
        f"default_sigma={{{s['sigma_energy_eV']} {s['sigma_force_eV_A']} 0.0 0.0}}",
        f"gap={_descriptor_string(s, species_Z, pairs)}", "energy_parameter_name=energy",
        "force_parameter_name=forces", f"sparse_jitter={s['sparse_jitter']}",
        "do_copy_at_file=F", "rnd_seed=1",
    ]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    log = model_path.parent / (model_path.stem + ".gap_fit.log")
    try:
        run = run_process(cmd, model_path.parent, log, env=env, append=False,
                          timeout_s=s["fit_timeout_s"])
    except subprocess.TimeoutExpired:
        raise EngineError(
            f"gap_fit exceeded fit_timeout_s={s['fit_timeout_s']} s on {train_xyz}; raise "
            "engine_settings['fit_timeout_s'] or lower soap_n_sparse / the training set") from None
    if run.returncode != 0 or not model_path.exists():
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise EngineError(f"gap_fit failed (exit {run.returncode}); log tail:\n{tail}\n"
                          "check the training data and the descriptor settings")
    return {"model_path": str(model_path), "fit_wall_s": run.wall_time_s,
            "peak_rss_MB": run.peak_rss_MB, "command": " ".join(cmd[1:])}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- evaluation
_POTENTIALS: dict[str, Any] = {}


def gap_potential(model_path: str | Path, purpose: str = "md"):
    """A quippy Potential (ASE calculator) for a GAP xml, cached per process and purpose
    (the variance evaluator is a separate instance so it never shares the MD's cache)."""
    p = Path(model_path)
    if not p.exists():
        raise EngineError(f"GAP model {p} not found; the model directory must be on a "
                          "filesystem shared by all workers (ssic_home())")
    key = f"{p.resolve()}:{p.stat().st_mtime_ns}:{purpose}"
    if key not in _POTENTIALS:
        try:
            from quippy.potential import Potential
        except ImportError as exc:
            raise EngineError("GAP needs quippy: pip install 'ssic-flows[ml]'") from exc
        _POTENTIALS[key] = Potential(param_filename=str(p))
    return _POTENTIALS[key]


def gap_variance(pot, atoms) -> tuple[float, np.ndarray, np.ndarray]:
    """(energy eV, forces eV/Å, local energy variance σ²_i eV²) of ``atoms``."""
    at = atoms.copy()
    pot.reset()  # quippy skips the call (and the variance) when it has results for these positions
    pot.calculate(at, properties=["energy", "forces"], calc_args="local_gap_variance")
    var = np.asarray(pot.extra_results["atoms"]["local_gap_variance"], dtype=float).copy()
    return float(pot.results["energy"]), np.array(pot.results["forces"]), var


def beef_per_atom(variance_eV2: np.ndarray, scale_per_A: float) -> np.ndarray:
    """β_i = c · sqrt(σ²_i), eV/Å (see module docstring)."""
    return float(scale_per_A) * np.sqrt(np.clip(variance_eV2, 0.0, None))


def _load_model(model) -> TrainOutput:
    if isinstance(model, TrainOutput):
        return model
    if isinstance(model, dict):
        return TrainOutput.model_validate({k: v for k, v in model.items()
                                           if not k.startswith("@")})
    if isinstance(model, (str, Path)):
        return TrainOutput(provenance=EngineProvenance(engine="gap", kind="mlff"),
                           model_path=str(model), n_training_structures=0, n_iterations=0,
                           converged=False, beef_threshold_eV_A=0.0)
    raise EngineError(f"GAP model must be a TrainOutput (or its dict, or an xml path), got "
                      f"{type(model).__name__}; pass train_job.output")


def _quippy_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"quippy-ase {version('quippy-ase')}"
    except PackageNotFoundError:  # pragma: no cover
        return "quippy-ase"


def gap_provenance(**settings: Any) -> EngineProvenance:
    return EngineProvenance(engine="gap", engine_version=_quippy_version(), kind="mlff",
                            stands_in_for_dft=False, settings=settings)


# ----------------------------------------------------------------------------- jobs
@job(data=Trajectory)
def gap_md(structure: Any, model: Any, settings: dict) -> dict:
    """NVT MLMD with a trained GAP; checkpointed (resumes on rerun)."""
    from ssic_flows.engines.common.ase_md import checkpoint_dir_for_current_job, run_md

    m = _load_model(model)
    s = as_md_settings(settings)
    pot = gap_potential(m.model_path)
    prov = gap_provenance(model_path=m.model_path, model_sha256=m.model_sha256)
    traj = run_md(structure, pot, s, checkpoint_dir_for_current_job(),
                  metadata={"engine": "gap", "engine_version": prov.engine_version,
                            "model_sha256": m.model_sha256})
    return as_job_output(md_output_from_trajectory(traj, s, prov))


def _explore(structure, model_path: Path, settings: TrainSettings, es: dict, iteration: int,
             scale: float) -> dict:
    """One MLMD segment with BEEF monitoring; returns curve + candidate frames."""
    from ssic_flows.engines.common.ase_md import run_md

    pot = gap_potential(model_path)
    vpot = gap_potential(model_path, purpose="variance")
    thr = settings.beef_threshold_eV_A
    md = MDSettings(temperature_K=settings.temperature_K, timestep_fs=settings.timestep_fs,
                    n_steps=settings.segment_steps, save_every=int(es["monitor_every"]),
                    seed=settings.seed + 1000 * iteration, thermostat=es["thermostat"],
                    thermostat_time_fs=es["thermostat_time_fs"],
                    checkpoint_every=settings.segment_steps)
    curve: dict[str, list] = {"step": [], "max": [], "mean": []}
    cand_idx: list[int] = []
    last = {"step": -10**9}

    def on_frame(step, atoms):
        _, _, var = gap_variance(vpot, atoms)
        b = beef_per_atom(var, scale)
        curve["step"].append(int(step))
        curve["max"].append(float(b.max()))
        curve["mean"].append(float(b.mean()))
        if b.max() > thr and step - last["step"] >= es["min_candidate_gap"]:
            cand_idx.append(len(curve["step"]) - 1)
            last["step"] = step
        return len(cand_idx) >= settings.max_new_frames or b.max() > es["abort_factor"] * thr

    traj = run_md(structure, pot, md, None, on_frame=on_frame)
    cands = traj[np.asarray(cand_idx, dtype=int)] if cand_idx else None
    if cands is not None:
        cands = cands.replace(forces=None, energies=None, velocities=None,
                              metadata={"selected_by": "gap beef", "iteration": iteration})
    return {"curve": curve, "candidates": cands, "n_steps": int(traj.metadata["last_step"]),
            "seconds_per_step": traj.metadata["seconds_per_step"]}


def _calibrate(model_path: Path, labelled: Trajectory, old_scale: float) -> tuple[float, dict]:
    """Re-fit c of β_i = c·sqrt(σ²_i) on frames the previous model had not seen."""
    pot = gap_potential(model_path, purpose="variance")
    errs, sds = [], []
    for i in range(labelled.n_frames):
        _, f, var = gap_variance(pot, labelled.to_ase(i))
        errs.append(np.linalg.norm(f - labelled.forces[i], axis=1))
        sds.append(np.sqrt(np.clip(var, 0, None)))
    e, s = np.concatenate(errs), np.concatenate(sds)
    info = {"force_err_mean_eV_A": float(e.mean()), "force_err_max_eV_A": float(e.max())}
    if not np.any(s > 0):
        return old_scale, info
    c = float(np.dot(e, s) / np.dot(s, s))
    c = float(np.clip(c, 0.1 * old_scale, 10 * old_scale)) if np.isfinite(c) and c > 0 else old_scale
    info["scale_per_A"] = c
    return c, info


def _stack_frames(old: Trajectory | None, new: Trajectory) -> Trajectory:
    """Training set of this structure: labelled frames stacked (not a time series: steps are
    frame indices, timestep_fs is nominal 1 fs). Frames of another composition (an initial
    model's data) stay only in training.xyz."""
    meta = {"kind": "training frames (not a time series)"}
    if old is None or old.species != new.species:
        return Trajectory(species=new.species, positions=new.positions, cells=new.cells,
                          timestep_fs=1.0, forces=new.forces, energies=new.energies,
                          metadata=meta)
    return Trajectory(species=new.species,
                      positions=np.concatenate([old.positions, new.positions]),
                      cells=np.concatenate([old.cells, new.cells]), timestep_fs=1.0,
                      forces=np.concatenate([old.forces, new.forces]),
                      energies=np.concatenate([old.energies, new.energies]), metadata=meta)


def _labelled_frames(x: Any) -> Trajectory:
    """Frames with reference forces from a Trajectory, a StaticOutput or an MDOutput."""
    if isinstance(x, Trajectory):
        return x
    f = x.get("forces") if isinstance(x, dict) else getattr(x, "forces", None)
    if isinstance(f, Trajectory):
        return f
    return as_trajectory(x)


@job(data=Trajectory)
def gap_otf_iteration(
    structure: Any,
    run_dir: str,
    settings: dict,
    reference_static_maker: Any,
    iteration: int = 0,
    new_frames: Any = None,
    history: dict | None = None,
) -> Any:
    """One fit → explore → (label → next iteration) cycle of on-the-fly GAP training.

    ``new_frames`` (a labelled Trajectory, or an MDOutput/StaticOutput holding one) are
    appended to ``run_dir/training.xyz`` before fitting. Returns a TrainOutput when converged
    or out of iterations, else ``Response(replace=...)`` with the labelling job and the next
    iteration.
    """
    ts = TrainSettings(**{k: v for k, v in settings.items() if not k.startswith("@")})
    es = _settings(ts.engine_settings)
    rd = Path(run_dir)
    rd.mkdir(parents=True, exist_ok=True)
    h = {"beef_step": [], "beef_max": [], "beef_mean": [], "iterations": [], "md_steps": 0,
         "scale_per_A": float(es["beef_scale_per_A"]),
         **(history or {})}
    t0 = time.perf_counter()
    train_xyz = rd / "training.xyz"
    it_info: dict[str, Any] = {"iteration": iteration}
    if new_frames is not None:
        nf = _labelled_frames(new_frames)
        if iteration > 0:  # frames the previous model had not seen: calibrate the proxy
            prev = rd / f"gap_iter{iteration - 1}.xml"
            h["scale_per_A"], cal = _calibrate(prev, nf, h["scale_per_A"])
            it_info["calibration"] = cal
        n_train = append_training_xyz(train_xyz, nf)
        lab_path = rd / "labelled_frames.npz"
        old = Trajectory.load(lab_path) if lab_path.exists() else None
        _stack_frames(old, nf).save(lab_path)
    else:
        n_train = count_training_xyz(train_xyz)
    model = rd / f"gap_iter{iteration}.xml"
    fit = fit_gap(train_xyz, model, es)
    it_info.update(n_training_structures=n_train, fit_wall_s=fit["fit_wall_s"],
                   peak_rss_MB=fit["peak_rss_MB"])

    ex = _explore(structure, model, ts, es, iteration, h["scale_per_A"])
    offset = h["md_steps"]
    h["beef_step"] += [offset + s for s in ex["curve"]["step"]]
    h["beef_max"] += ex["curve"]["max"]
    h["beef_mean"] += ex["curve"]["mean"]
    h["md_steps"] = offset + ex["n_steps"]
    it_info.update(segment_steps=ex["n_steps"], mlmd_seconds_per_step=ex["seconds_per_step"],
                   beef_max_eV_A=max(ex["curve"]["max"]),
                   n_candidates=0 if ex["candidates"] is None else ex["candidates"].n_frames)
    h["iterations"] = list(h["iterations"]) + [it_info]

    converged = ex["candidates"] is None
    if converged or iteration + 1 >= ts.max_iterations:
        lab_path = rd / "labelled_frames.npz"
        final = rd / "gap_final.xml"
        shutil.copyfile(model, final)
        for side in rd.glob(model.name + ".sparseX.*"):  # gap_fit's sparse-point side files
            shutil.copyfile(side, rd / side.name.replace(model.name, final.name))
        fix_sidecar_names(final, model.name)
        out = TrainOutput(
            provenance=gap_provenance(gap_fit_command=fit["command"], **{
                k: es[k] for k in ("sigma_energy_eV", "sigma_force_eV_A", "sparse_jitter")}),
            model_path=str(final), model_sha256=_sha256(final),
            n_training_structures=n_train, n_iterations=iteration + 1, converged=converged,
            beef_threshold_eV_A=ts.beef_threshold_eV_A, beef_step=h["beef_step"],
            beef_max_eV_A=h["beef_max"], beef_mean_eV_A=h["beef_mean"],
            temperature_K=ts.temperature_K,
            training_data=Trajectory.load(lab_path) if lab_path.exists() else None,
            wall_time_s=time.perf_counter() - t0,
            metadata={"iterations": h["iterations"], "beef_scale_per_A": h["scale_per_A"],
                      "beef_definition": "max_i c*sqrt(local GAP energy variance_i), eV/A",
                      "training_xyz": str(train_xyz), "run_dir": str(rd),
                      "initial_model": h.get("initial_model")},
        )
        return as_job_output(out)

    label = reference_static_maker.make(ex["candidates"])
    label.name = f"label iter{iteration}"
    label.update_metadata({"role": "label"})
    nxt = gap_otf_iteration(structure, run_dir, settings, reference_static_maker,
                            iteration + 1, label.output.forces,
                            h)
    nxt.name = f"gap otf iter{iteration + 1}"
    nxt.update_metadata({"role": "train_mlff"})
    return Response(replace=Flow([label, nxt], output=nxt.output))


def fix_sidecar_names(xml: Path, old_name: str) -> None:
    """Point a copied GAP xml at its copied ``.sparseX`` side files."""
    text = xml.read_text()
    if old_name + ".sparseX." in text:
        xml.write_text(text.replace(old_name + ".sparseX.", xml.name + ".sparseX."))


@job
def gap_prepare_run(run_dir: str, initial_model: Any = None) -> dict:
    """Create the run directory; copy the initial model's training data (retraining)."""
    rd = Path(run_dir)
    rd.mkdir(parents=True, exist_ok=True)
    info = {"run_dir": str(rd), "initial_model": None, "n_initial_frames": 0}
    if initial_model is not None:
        m = _load_model(initial_model)
        src = Path(m.metadata.get("training_xyz", Path(m.model_path).parent / "training.xyz"))
        if not src.exists():
            raise EngineError(f"initial model's training data {src} not found; retraining "
                              "needs the run directory of the previous training")
        shutil.copyfile(src, rd / "training.xyz")
        info.update(initial_model=m.model_path, n_initial_frames=count_training_xyz(src))
    return info


# ----------------------------------------------------------------------------- makers
@dataclass
class GAPMDMaker(Maker):
    """``make(structure, model)`` → Job → MDOutput (NVT MLMD with a trained GAP)."""

    name: str = "gap md"
    settings: MDSettings = field(default_factory=lambda: MDSettings(temperature_K=300.0))

    def make(self, structure, model):
        j = gap_md(structure, model, asdict(self.settings))
        j.name = self.name
        return j


class GAPEngine(MLFFEngine):
    """On-the-fly trained GAP (quippy-ase). ``engine_settings`` override
    :data:`DEFAULT_GAP_SETTINGS` for every training of this engine."""

    name = "gap"

    def __init__(self, **engine_settings: Any):
        self.engine_settings = _settings(engine_settings)

    def train_flow(self, structure, reference, settings: TrainSettings, initial_model=None,
                   seed_frames: Trajectory | None = None) -> Flow:
        """Dynamic flow: [seed reference MD] → prepare → on-the-fly iterations → TrainOutput.

        seed_frames: labelled frames to start from instead of a reference MD. With an
        ``initial_model`` (TrainOutput) its training data is reused; seed frames of the new
        structure are still added (new species, new temperature).
        """
        from ssic_flows.store.config import ssic_home

        if not isinstance(settings, TrainSettings):
            raise EngineError("settings must be a TrainSettings")
        es = _settings({**self.engine_settings, **settings.engine_settings})
        ts = asdict(settings)
        ts["engine_settings"] = es
        if settings.max_iterations < 1 or settings.n_seed_frames < 1:
            raise EngineError("max_iterations and n_seed_frames must be >= 1")
        run_dir = str(ssic_home() / "models" / str(uuidlib.uuid4()))
        jobs = []
        prep = gap_prepare_run(run_dir, initial_model)
        prep.name = "gap prepare"
        jobs.append(prep)
        if seed_frames is None:
            stride = int(es["seed_stride"])
            md = reference.md_maker(MDSettings(
                temperature_K=settings.temperature_K, timestep_fs=settings.timestep_fs,
                n_steps=stride * (settings.n_seed_frames - 1) or 1, save_every=stride,
                seed=settings.seed, thermostat=es["thermostat"],
                thermostat_time_fs=es["thermostat_time_fs"])).make(structure)
            md.name = "seed reference md"
            md.update_metadata({"role": "reference_md"})
            jobs.append(md)
            frames = md.output.trajectory
        else:
            frames = seed_frames
        first = gap_otf_iteration(structure, prep.output["run_dir"], ts,
                                  reference.static_maker(), 0, frames,
                                  {"initial_model": prep.output["initial_model"]})
        first.name = "gap otf iter0"
        first.update_metadata({"role": "train_mlff"})
        jobs.append(first)
        return Flow(jobs, output=first.output, name="gap on-the-fly training")

    def md_maker(self, settings: MDSettings) -> GAPMDMaker:
        return GAPMDMaker(settings=as_md_settings(settings))

    def predict(self, model, frames) -> np.ndarray:
        m = _load_model(model)
        traj = as_trajectory(frames)
        pot = gap_potential(m.model_path)
        out = np.empty((traj.n_frames, traj.n_atoms, 3))
        for i in range(traj.n_frames):
            at = traj.to_ase(i)
            pot.reset()
            pot.calculate(at, properties=["energy", "forces"])
            out[i] = pot.results["forces"]
        return out

    def provenance(self) -> dict[str, Any]:
        return gap_provenance(**_settings(self.engine_settings)).model_dump()

    def check_available(self) -> None:
        _gap_fit_exe()
        try:
            import quippy.potential  # noqa: F401
        except ImportError as exc:
            raise EngineError("GAP needs quippy: pip install 'ssic-flows[ml]'") from exc

