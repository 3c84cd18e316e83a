"""GAP jobs and Makers: MLMD, and on-the-fly training against a reference engine.

On-the-fly loop (a dynamic jobflow flow)
----------------------------------------
seed frames (short reference MD, a separate job) → :func:`gap_otf_iteration`: fit → MLMD
segment with β monitored every ``monitor_every`` steps → frames with BEEF >
``beef_threshold_eV_A`` (at most ``max_new_frames``, ≥ ``min_candidate_gap`` steps apart) →
``Response(replace=Flow([reference static job, next iteration]))``; the loop ends when a whole
segment stays under threshold (``converged=True``) or after ``max_iterations`` fits.
Training data and models live under ``ssic_home()/models/<uuid of the prepare job>/``, resolved
on the worker when that job runs (shared filesystem).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Flow, Maker, Response, job

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings, TrainSettings
from ssic_flows.engines.common.outputs import (
    md_output_from_trajectory, require,
)
from ssic_flows.engines.gap.fit import (
    append_training_xyz, count_training_xyz, file_sha256, fit_gap, fix_sidecar_names,
)
from ssic_flows.engines.gap.potential import (
    beef_per_atom, gap_potential, gap_provenance, gap_variance,
)
from ssic_flows.engines.gap.sets import gap_settings
from ssic_flows.schemas import MDOutput, TrainOutput

__all__ = ["GAPMDMaker", "gap_md", "gap_otf_iteration", "gap_prepare_run"]


@job(data=MDOutput.DATA_FIELDS)
def gap_md(structure: Any, model: TrainOutput, settings: dict) -> MDOutput:
    """NVT MLMD with a trained GAP; checkpointed (resumes on rerun)."""
    from ssic_flows.engines.common.ase_md import checkpoint_dir_for_current_job, run_md

    m = require(model, TrainOutput, "a GAP model", "pass train_job.output")
    s = MDSettings(**settings)
    pot = gap_potential(m.model_path)
    prov = gap_provenance(model_path=m.model_path, model_sha256=m.model_sha256)
    traj = run_md(structure, pot, s, checkpoint_dir_for_current_job(),
                  metadata={"engine": "gap", "engine_version": prov.engine_version,
                            "model_sha256": m.model_sha256})
    return md_output_from_trajectory(traj, s, prov)


def _explore(structure, model_path: Path, settings: TrainSettings, es: dict, iteration: int,
             scale: float) -> dict:
    """One MLMD segment with BEEF monitoring; returns curve + candidate frames."""
    from ssic_flows.engines.common.ase_md import run_md

    pot = gap_potential(model_path)
    vpot = gap_potential(model_path, purpose="variance")
    thr = settings.beef_threshold_eV_A
    md = MDSettings(temperature_K=settings.explore_temperature_K, timestep_fs=settings.timestep_fs,
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


@job(data=TrainOutput.DATA_FIELDS)
def gap_otf_iteration(
    structure: Any,
    run_dir: str,
    settings: dict,
    reference_static_maker: Any,
    iteration: int = 0,
    new_frames: Trajectory | None = None,
    history: dict | None = None,
) -> Any:
    """One fit → explore → (label → next iteration) cycle of on-the-fly GAP training.

    ``new_frames`` (a labelled Trajectory: ``static_job.output.forces``) are
    appended to ``run_dir/training.xyz`` before fitting. Returns a TrainOutput when converged
    or out of iterations, else ``Response(replace=...)`` with the labelling job and the next
    iteration.
    """
    ts = TrainSettings(**{k: v for k, v in settings.items() if not k.startswith("@")})
    es = gap_settings(ts.engine_settings)
    rd = Path(run_dir)
    rd.mkdir(parents=True, exist_ok=True)
    h = {"beef_step": [], "beef_max": [], "beef_mean": [], "iterations": [], "md_steps": 0,
         "scale_per_A": float(es["beef_scale_per_A"]),
         **(history or {})}
    t0 = time.perf_counter()
    train_xyz = rd / "training.xyz"
    it_info: dict[str, Any] = {"iteration": iteration}
    if new_frames is not None:
        nf = require(new_frames, Trajectory, "labelled frames", "pass static_job.output.forces")
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
            model_path=str(final), model_sha256=file_sha256(final),
            n_training_structures=n_train, n_iterations=iteration + 1, converged=converged,
            beef_threshold_eV_A=ts.beef_threshold_eV_A, beef_step=h["beef_step"],
            beef_max_eV_A=h["beef_max"], beef_mean_eV_A=h["beef_mean"],
            temperature_K=ts.temperature_K,
            training_data=Trajectory.load(lab_path) if lab_path.exists() else None,
            wall_time_s=time.perf_counter() - t0,
            metadata={"iterations": h["iterations"], "beef_scale_per_A": h["scale_per_A"],
                      "explore_temperature_K": ts.explore_temperature_K,
                      "beef_definition": "max_i c*sqrt(local GAP energy variance_i), eV/A",
                      "beef_kind": "variance-based proxy, calibrated constant",
                      "training_xyz": str(train_xyz), "run_dir": str(rd),
                      "initial_model": h.get("initial_model")},
        )
        return out

    label = reference_static_maker.make(ex["candidates"])
    label.name = f"label iter{iteration}"
    label.update_metadata({"role": "label"})
    nxt = gap_otf_iteration(structure, run_dir, settings, reference_static_maker,
                            iteration + 1, label.output.forces,
                            h)
    nxt.name = f"gap otf iter{iteration + 1}"
    nxt.update_metadata({"role": "train_mlff"})
    return Response(replace=Flow([label, nxt], output=nxt.output))


def run_dir_for_current_job() -> Path:
    """``ssic_home()/models/<job uuid>`` of the running jobflow job, resolved on the worker.

    The uuid survives a FireWorks rerun, so a rerun finds the same directory; ``ssic_home()``
    is the worker's (shared filesystem), not the submitting machine's.
    """
    from jobflow import CURRENT_JOB

    from ssic_flows.store.config import ssic_home

    j = CURRENT_JOB.job
    if j is None:
        raise EngineError("gap_prepare_run without run_dir must run inside a jobflow job")
    return ssic_home() / "models" / str(j.uuid)


@job
def gap_prepare_run(run_dir: str | None = None, initial_model: TrainOutput | None = None) -> dict:
    """Create the run directory (default :func:`run_dir_for_current_job`, chosen at run time
    on the worker); copy the initial model's training data (retraining)."""
    rd = Path(run_dir) if run_dir is not None else run_dir_for_current_job()
    rd.mkdir(parents=True, exist_ok=True)
    info = {"run_dir": str(rd), "initial_model": None, "n_initial_frames": 0}
    if initial_model is not None:
        m = require(initial_model, TrainOutput, "the initial GAP model", "pass train_job.output")
        src = Path(m.metadata.get("training_xyz", Path(m.model_path).parent / "training.xyz"))
        if not src.exists():
            raise EngineError(f"initial model's training data {src} not found; retraining "
                              "needs the run directory of the previous training")
        shutil.copyfile(src, rd / "training.xyz")
        info.update(initial_model=m.model_path, n_initial_frames=count_training_xyz(src))
    return info


@dataclass
class GAPMDMaker(Maker):
    """``make(structure, model)`` → Job → MDOutput (NVT MLMD with a trained GAP)."""

    name: str = "gap md"
    settings: MDSettings = field(default_factory=lambda: MDSettings(temperature_K=300.0))

    def make(self, structure, model):
        j = gap_md(structure, model, asdict(self.settings))
        j.name = self.name
        return j
