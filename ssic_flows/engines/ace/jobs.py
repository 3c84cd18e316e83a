"""Linear-ACE jobs: MLMD, and on-the-fly training against a reference engine.

On-the-fly loop (a dynamic jobflow flow)
----------------------------------------
seed frames (short reference MD, its own job) → :func:`ace_prepare_run` (run directory
made on the worker at run time: ``ssic_home()/models/ace-<job uuid>``) →
:func:`ace_otf_iteration`: fit (Bayesian linear regression) → MLMD segment with the exact
BEEF evaluated every ``monitor_every`` steps → frames whose BEEF exceeds the threshold (at
most ``max_new_frames``, ≥ ``min_candidate_gap`` steps apart) → ``Response(replace=Flow(
[reference static job, next iteration]))``. The next segment starts from the last selected
configuration (not from the built structure) unless that one lies close to a run-away
(:func:`next_start`), with fresh Maxwell–Boltzmann velocities at the exploration
temperature. The loop ends when a whole segment stays under the threshold
(``converged=True``) or after ``max_iterations`` fits.

Threshold: absolute (``beef_threshold_eV_A``) or, with ``adaptive_threshold``, like VASP's
ML_CTIFOR: after each segment it becomes max(beef_threshold_eV_A, adaptive_factor × the
mean frame BEEF of that segment).

Each labelled batch is also a free check of the error estimate: the *previous* model's
BEEF on those frames against its true force error (recorded per iteration).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Flow, Maker, Response, job

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.ace.model import AceModel, load_model
from ssic_flows.engines.ace.rows_cache import RowsCache
from ssic_flows.engines.ace.sets import ace_settings, fit_settings
from ssic_flows.engines.base import EngineError, MDSettings, TrainSettings
from ssic_flows.engines.common.training import labelled_atoms
from ssic_flows.engines.common.outputs import (
    md_output_from_trajectory, require,
)
from ssic_flows.schemas import EngineProvenance, MDOutput, TrainOutput, plain_structure_dict

__all__ = ["AceMDMaker", "ace_augment", "ace_md", "next_start", "training_domain_guard", "ace_otf_iteration", "ace_prepare_run", "ace_provenance",
           "ace_model"]

BEEF_DEFINITION = ("max over atoms of sqrt(mean over x,y,z of D Sigma D^T): exact posterior "
                   "std of the force components of the linear ACE (Bayesian linear "
                   "regression), eV/A; no calibration constant")


def ace_provenance(**settings: Any) -> EngineProvenance:
    """Provenance of an ACE result (engine 'ace', python-ace version)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = f"python-ace {version('python-ace')}"
    except PackageNotFoundError:  # pragma: no cover
        v = "python-ace"
    return EngineProvenance(engine="ace", engine_version=v, kind="mlff",
                            stands_in_for_dft=False, settings=settings)


def ace_model(model: TrainOutput) -> AceModel:
    """The :class:`AceModel` a training's :class:`TrainOutput` names (``model_path``)."""
    require(model, TrainOutput, "an ACE model", "pass train_job.output")
    try:
        return load_model(model.model_path)
    except FileNotFoundError as exc:
        raise EngineError(f"{exc}; the model directory must be on a filesystem shared by all "
                          "workers (ssic_home())") from exc


def _read_frames(path: Path) -> list:
    """Labelled frames of an extxyz file, labels in ``info``/``arrays`` (see labelled_atoms)."""
    import ase.io

    from ssic_flows.engines.ace.fit import frame_labels

    frames = ase.io.read(path, index=":", format="extxyz") if path.exists() else []
    for at in frames:
        e, f, _ = frame_labels(at)
        at.calc = None
        at.info["energy"], at.arrays["forces"] = e, f
    return frames


def _append_frames(path: Path, frames: list) -> int:
    import ase.io

    ase.io.write(path, frames, format="extxyz", append=path.exists())
    return len(_read_frames(path))


def pair_floor_A(model: AceModel, fraction: float) -> dict[tuple[str, str], float]:
    """Per sorted element pair, ``fraction`` × its shortest distance in the model's training
    data (Å; ``info['min_pair_distance_A']``, compressed-pair frames included); {} if 0."""
    if fraction <= 0:
        return {}
    return {tuple(k.split("-")): fraction * v
            for k, v in (model.info.get("min_pair_distance_A") or {}).items()}


def closest_to_floor(atoms, floor: dict[tuple[str, str], float]) -> tuple[float, str, float]:
    """(min over pairs of distance / floor, that pair "A-B", its distance Å) of ``atoms``
    (vectorised over the neighbour list within the largest floor); (inf, "", inf) if no pair
    is that close or ``floor`` is empty."""
    from ase.neighborlist import neighbor_list

    if not floor:
        return np.inf, "", np.inf
    els = sorted({e for k in floor for e in k})
    pos = {e: n for n, e in enumerate(els)}
    lim = np.full((len(els) + 1, len(els) + 1), np.inf)  # last row/column: other elements
    for (x, y), v in floor.items():
        lim[pos[x], pos[y]] = lim[pos[y], pos[x]] = v
    code = np.array([pos.get(e, len(els)) for e in atoms.get_chemical_symbols()])
    i, j, d = neighbor_list("ijd", atoms, max(floor.values()))
    if d.size == 0:
        return np.inf, "", np.inf
    ratio = d / lim[code[i], code[j]]
    k = int(np.argmin(ratio))
    if not np.isfinite(ratio[k]):
        return np.inf, "", np.inf
    pair = "-".join(sorted((els[code[i[k]]], els[code[j[k]]])))
    return float(ratio[k]), pair, float(d[k])


def training_domain_guard(model: AceModel, beef_every: int, beef_stop_eV_A: float,
                          min_distance_fraction: float, save_every: int = 1):
    """``(on_frame, record)`` for :func:`run_md`: stops MLMD that leaves the training domain.

    At every stored frame the shortest distance of each element pair is compared with
    ``min_distance_fraction`` × the shortest of that pair in the training data (Å; the
    model's ``info['min_pair_distance_A']``, compressed-pair frames included); every
    ``beef_every`` MD steps the exact BEEF (eV/Å) is compared with ``beef_stop_eV_A``.
    Either failing stops the run. ``record['valid_frames']`` is then the number of leading
    stored frames that passed every check (frames after the last passed BEEF check are not
    vouched for and are cut by :func:`ace_md`; frames are counted from the step, so a
    resumed run counts the frames stored before the restart). 0 / 0.0 disable a check.
    """
    floor = pair_floor_A(model, min_distance_fraction)
    sig = model.calculator(with_sigma=True) if beef_every > 0 else None
    rec: dict[str, Any] = {"every_steps": int(beef_every), "stop_eV_A": float(beef_stop_eV_A),
                           "min_distance_fraction": float(min_distance_fraction),
                           "step": [], "beef_eV_A": [], "stopped_at_step": None,
                           "reason": None, "valid_frames": None}
    state = {"next_beef": 0, "n_frames": 0, "verified": None}

    def on_frame(step: int, atoms) -> bool:
        state["n_frames"] = int(step) // int(save_every) + 1
        if state["verified"] is None:  # frames stored before a restart passed their checks
            state["verified"] = state["n_frames"] - 1
        ratio, pair, dist = closest_to_floor(atoms, floor)
        if ratio < 1.0:
            rec.update(stopped_at_step=int(step), valid_frames=state["verified"],
                       reason=f"{pair} pair at {dist:.2f} Å, below {min_distance_fraction:g} × "
                              f"the shortest in the training data "
                              f"({dist / ratio / min_distance_fraction:.2f} Å)")
            return True
        if sig is not None and step >= state["next_beef"]:
            state["next_beef"] = step + int(beef_every)
            sig.calculate(atoms.copy())
            b = float(sig.last_prediction.beef_eV_A)
            rec["step"].append(int(step))
            rec["beef_eV_A"].append(b)
            if b > beef_stop_eV_A:
                rec.update(stopped_at_step=int(step), valid_frames=state["verified"],
                           reason=f"BEEF {b:.2f} eV/Å > {beef_stop_eV_A:g} eV/Å")
                return True
            state["verified"] = state["n_frames"]
        elif sig is None:
            state["verified"] = state["n_frames"]
        return False

    return on_frame, rec


@job(data=MDOutput.DATA_FIELDS)
def ace_md(structure: Any, model: TrainOutput, settings: dict, beef_every: int = 0,
           beef_stop_eV_A: float = 1.0, min_distance_fraction: float = 0.0) -> MDOutput:
    """NVT MLMD with a trained linear ACE; checkpointed (resumes on rerun).

    A run that leaves the region the model was trained on stops there and says so
    (:func:`training_domain_guard`; ``metadata.beef_guard``, ``metadata.left_training_domain``):
    what would follow is not the reference's physics. Its trajectory keeps only the frames
    that passed every check; the analysis reports such a run and leaves it out of the
    ensemble. beef_every: MD steps between exact-BEEF checks (0 = off); beef_stop_eV_A:
    eV/Å; min_distance_fraction: of the training data's shortest pair distance (0 = off).
    """
    from ssic_flows.engines.common.ase_md import checkpoint_dir_for_current_job, run_md

    m = ace_model(model)
    s = MDSettings(**settings)
    prov = ace_provenance(model_path=str(model.model_path), n_coefficients=int(len(m.coefficients)))
    on_frame = guard = None
    if beef_every > 0 or min_distance_fraction > 0:
        on_frame, guard = training_domain_guard(m, beef_every, beef_stop_eV_A, min_distance_fraction,
                                                s.save_every)
    traj = run_md(structure, m.calculator(), s, checkpoint_dir_for_current_job(), on_frame=on_frame,
                  metadata={"engine": "ace", "engine_version": prov.engine_version})
    left = None
    if guard is not None and guard["stopped_at_step"] is not None:
        keep = max(int(guard["valid_frames"] or 0), 1)
        traj = traj[np.arange(min(keep, traj.n_frames))]
        left = {"at_step": guard["stopped_at_step"],
                "at_ps": guard["stopped_at_step"] * s.timestep_fs / 1000.0,
                "reason": guard["reason"], "kept_frames": int(traj.n_frames),
                "kept_ps": float((traj.steps[-1] - traj.steps[0]) * s.timestep_fs / 1000.0)}
    out = md_output_from_trajectory(traj, s, prov)
    out.metadata["beef_guard"] = guard
    out.metadata["left_training_domain"] = left
    return out


@job
def ace_augment(frames: Trajectory, reference_static_maker: Any, fractions: list[float]) -> Any:
    """Compressed-pair frames of the seed frames (:mod:`.augment`), labelled by the
    reference: replaced by the reference static job, whose labelled frames become the
    output (None when there is nothing to add)."""
    from ssic_flows.engines.ace.augment import compressed_pair_frames

    aug = compressed_pair_frames(require(frames, Trajectory, "seed frames",
                                         "pass md_job.output.trajectory"), tuple(fractions))
    if aug is None or not fractions:
        return None
    label = reference_static_maker.make(aug)
    label.name = "label augmented"
    label.update_metadata({"role": "label"})
    return Response(replace=Flow([label], output=label.output.forces))


@job
def ace_prepare_run(initial_model: TrainOutput | None = None) -> dict:
    """Make the run directory on this worker; copy an initial model's training frames."""
    from jobflow import CURRENT_JOB

    from ssic_flows.store.config import ssic_home

    uid = CURRENT_JOB.job.uuid if CURRENT_JOB.job is not None else "local"
    rd = ssic_home() / "models" / f"ace-{uid}"
    rd.mkdir(parents=True, exist_ok=True)
    info = {"run_dir": str(rd), "initial_model": None, "n_initial_frames": 0}
    if initial_model is not None:
        path = require(initial_model, TrainOutput, "the initial ACE model", "pass train_job.output").model_path
        src = Path(str(path)).parent / "training.extxyz"
        if not src.exists():
            raise EngineError(f"initial model's training frames {src} not found; retraining "
                              "needs the run directory of the previous training")
        frames = _read_frames(src)
        if not (rd / "training.extxyz").exists():
            _append_frames(rd / "training.extxyz", frames)
        info.update(initial_model=str(path), n_initial_frames=len(frames))
    return info


def _explore(structure, model: AceModel, ts: TrainSettings, es: dict, iteration: int,
             threshold: float) -> dict:
    """One MLMD segment with the exact BEEF monitored; returns the curve and candidates.

    Candidates are frames with threshold < BEEF ≤ ``abort_factor`` × threshold whose pairs are
    all at least ``explore_min_distance_fraction`` × the training data's shortest of their
    kind. A frame beyond either limit ends the segment (``aborted``) and is never labelled:
    it is a run-away the reference should not be asked about (labelling collapsed frames
    put forces of keV/Å into the fit). An aborted segment without candidates labels the
    last stored frames before the run-away (its onset), so the loop always learns.
    """
    from ssic_flows.engines.common.ase_md import run_md

    sig_calc = model.calculator(with_sigma=True)
    md = MDSettings(temperature_K=ts.explore_temperature_K, timestep_fs=ts.timestep_fs,
                    n_steps=ts.segment_steps, save_every=int(es["monitor_every"]),
                    seed=ts.seed + 1000 * (iteration + 1), thermostat=es["thermostat"],
                    thermostat_time_fs=es["thermostat_time_fs"],
                    checkpoint_every=ts.segment_steps)
    frac = float(es["explore_min_distance_fraction"])
    floor = pair_floor_A(model, frac)
    curve: dict[str, list] = {"step": [], "max": [], "mean": []}
    cand_idx: list[int] = []
    last = {"step": -10**9, "aborted": None}

    def on_frame(step, atoms):
        sig_calc.calculate(atoms.copy())
        p = sig_calc.last_prediction
        curve["step"].append(int(step))
        curve["max"].append(p.beef_eV_A)
        curve["mean"].append(float(p.beef_atoms_eV_A.mean()))
        if p.beef_eV_A > es["abort_factor"] * threshold:
            last["aborted"] = f"BEEF {p.beef_eV_A:.3g} eV/Å > {es['abort_factor']:g} × threshold"
            return True
        if closest_to_floor(atoms, floor)[0] < 1.0:
            last["aborted"] = (f"a pair closer than {frac:g} × the shortest of its kind in the "
                               "training data")
            return True
        if p.beef_eV_A > threshold and step - last["step"] >= es["min_candidate_gap"]:
            cand_idx.append(len(curve["step"]) - 1)
            last["step"] = step
        return len(cand_idx) >= ts.max_new_frames

    traj = run_md(structure, model.calculator(), md, None, on_frame=on_frame)
    n_ok = traj.n_frames - (1 if last["aborted"] else 0)  # the aborting frame is never used
    if last["aborted"] and not cand_idx:
        # the onset of the run-away; at the first frame, the start itself (a built structure
        # or an earlier candidate: physical, passed the distance check, only unknown to the model)
        cand_idx = list(range(max(0, n_ok - min(3, ts.max_new_frames)), n_ok)) if n_ok else [0]
    cands = traj[np.asarray(cand_idx, dtype=int)] if cand_idx else None
    if cands is not None:
        cands = cands.replace(forces=None, energies=None, velocities=None,
                              metadata={"selected_by": "ace beef", "iteration": iteration})
    return {"curve": curve, "candidates": cands, "n_steps": int(traj.metadata["last_step"]),
            "seconds_per_step": traj.metadata["seconds_per_step"], "aborted": last["aborted"],
            "cand_beef": [curve["max"][i] for i in cand_idx]}


def next_start(ex: dict, threshold: float, sane_factor: float) -> dict | None:
    """Where the next exploration segment starts: the last selected configuration (the MD
    continues, as VASP's does) when its BEEF is at most ``sane_factor`` × the threshold; else
    None, i.e. the study's built structure with fresh velocities. A segment that ran away
    leaves candidates close to the run-away (the onset frames): continuing from there made
    the W-doped training explode again and again (BEEF 10⁸–10¹⁰ eV/Å in 5 of 12 segments),
    because the exploration runs on the model alone, not on the reference forces as VASP's
    on-the-fly MD does when its BEEF is high."""
    cand = ex.get("candidates")
    beefs = ex.get("cand_beef") or []
    if cand is None or not beefs or beefs[-1] > sane_factor * threshold:
        return None
    return plain_structure_dict(cand.to_structure(-1))


def _check_estimate(model: AceModel, frames: list, beefs: list[float]) -> dict:
    """The previous model's BEEF on newly labelled frames against its true error."""
    from ssic_flows.analysis.forces import max_atom_error_eV_A

    calc = model.calculator(with_sigma=True)
    true_max, within1, n = [], 0, 0
    for at in frames:
        calc.calculate(at.copy())
        p = calc.last_prediction
        d = p.forces_eV_A - at.arrays["forces"]
        true_max.append(max_atom_error_eV_A(d))
        within1 += int(np.sum(np.abs(d) < p.predictive_sigma_eV_A))
        n += d.size
    return {"beef_eV_A": [float(b) for b in beefs], "true_max_atom_rmse_eV_A": true_max,
            "fraction_within_1sigma": within1 / n if n else None}


@job(data=TrainOutput.DATA_FIELDS)
def ace_otf_iteration(structure: Any, run_dir: str, settings: dict, reference_static_maker: Any,
                      iteration: int = 0, new_frames: list[Trajectory | None] | None = None,
                      history: dict | None = None) -> Any:
    """One fit → explore → (label → next iteration) cycle of on-the-fly linear-ACE training.

    new_frames: labelled Trajectories to add before fitting (None entries skipped: e.g. an
    augmentation that found nothing to add)."""
    ts = TrainSettings(**{k: v for k, v in settings.items() if not k.startswith("@")})
    es = ace_settings(ts.engine_settings)
    rd = Path(run_dir)
    rd.mkdir(parents=True, exist_ok=True)
    h = {"beef_step": [], "beef_max": [], "beef_mean": [], "iterations": [], "md_steps": 0,
         "threshold_eV_A": float(ts.beef_threshold_eV_A), **(history or {})}
    t0 = time.perf_counter()
    train_file = rd / "training.extxyz"
    it: dict[str, Any] = {"iteration": iteration, "threshold_eV_A": h["threshold_eV_A"]}
    batches = [b for b in (new_frames or []) if b is not None]
    if batches:
        nf = []
        for b in batches:
            for at in labelled_atoms(require(b, Trajectory, "labelled frames",
                                             "pass [static_job.output.forces]")):
                if b.metadata.get("selected_by"):  # kept in the extxyz (the fit's CV uses it)
                    at.info["selected_by"] = str(b.metadata["selected_by"])
                nf.append(at)
        prev = rd / f"iter{iteration - 1}"
        if iteration > 0 and (prev / "model.json").exists():
            it["estimate_check"] = _check_estimate(load_model(prev), nf, h.get("cand_beef", []))
        n_train = _append_frames(train_file, nf)
    else:
        n_train = len(_read_frames(train_file))
    frames = _read_frames(train_file)
    elements = sorted({x for a in frames for x in a.get_chemical_symbols()})
    from ssic_flows.engines.ace.fit import fit_ace

    # inner cutoffs frozen at the first fit of this run, so the cached design rows stay valid
    rin_file = rd / "r_in.json"
    frozen = json.loads(rin_file.read_text()) if rin_file.exists() else None
    cache = RowsCache(rd / "rows_cache")
    model = fit_ace(frames, fit_settings(es), elements=elements, r_in_A=frozen, rows_cache=cache)
    if frozen is None:
        rin_file.write_text(json.dumps(model.r_in_A))
    model.save(rd / f"iter{iteration}")
    it.update(n_training_structures=n_train, fit_wall_s=model.info["fit_wall_s"],
              rows_cached=cache.hits, rows_computed=cache.misses,
              n_coefficients=model.info["n_coefficients"], basis=model.size["name"],
              train_force_rmse_meV_A=model.info["train_force_rmse_meV_A"],
              noise_sigma_force_eV_A=model.noise_sigma_force_eV_A)

    start = h.get("start_structure") or structure
    ex = _explore(start, model, ts, es, iteration, h["threshold_eV_A"])
    off = h["md_steps"]
    h["beef_step"] = list(h["beef_step"]) + [off + s for s in ex["curve"]["step"]]
    h["beef_max"] = list(h["beef_max"]) + ex["curve"]["max"]
    h["beef_mean"] = list(h["beef_mean"]) + ex["curve"]["mean"]
    h["md_steps"] = off + ex["n_steps"]
    it.update(segment_steps=ex["n_steps"], mlmd_seconds_per_step=ex["seconds_per_step"],
              beef_max_eV_A=max(ex["curve"]["max"]), aborted=ex["aborted"],
              n_candidates=0 if ex["candidates"] is None else ex["candidates"].n_frames)
    h["iterations"] = list(h["iterations"]) + [it]
    if es["adaptive_threshold"]:
        h["threshold_eV_A"] = max(float(ts.beef_threshold_eV_A),
                                  es["adaptive_factor"] * float(np.mean(ex["curve"]["max"])))

    converged = ex["candidates"] is None and not ex["aborted"]
    if converged or iteration + 1 >= ts.max_iterations:
        cache.clear()
        final = rd / "final"
        model.save(final)
        import shutil

        shutil.copyfile(train_file, final / "training.extxyz")
        out = TrainOutput(
            provenance=ace_provenance(**{k: es[k] for k in sorted(es)}),
            model_path=str(final), n_training_structures=n_train,
            n_iterations=iteration + 1, converged=converged,
            beef_threshold_eV_A=ts.beef_threshold_eV_A, beef_step=h["beef_step"],
            beef_max_eV_A=h["beef_max"], beef_mean_eV_A=h["beef_mean"],
            temperature_K=ts.temperature_K,
            training_data=_frames_trajectory(frames),
            wall_time_s=time.perf_counter() - t0,
            metadata={"iterations": h["iterations"], "beef_definition": BEEF_DEFINITION,
                      "beef_kind": "exact Bayesian posterior (linear ACE)",
                      "noise_sigma_force_eV_A": model.noise_sigma_force_eV_A,
                      "n_coefficients": model.info["n_coefficients"], "basis": model.size,
                      "final_threshold_eV_A": h["threshold_eV_A"],
                      "explore_temperature_K": ts.explore_temperature_K,
                      "training_file": str(train_file), "run_dir": str(rd),
                      "initial_model": h.get("initial_model")},
        )
        return out

    label = reference_static_maker.make(ex["candidates"])
    label.name = f"label iter{iteration}"
    label.update_metadata({"role": "label"})
    h["start_structure"] = next_start(ex, threshold=h["threshold_eV_A"],
                                      sane_factor=float(es["restart_factor"]))
    h["cand_beef"] = ex["cand_beef"]
    nxt = ace_otf_iteration(structure, run_dir, settings, reference_static_maker,
                            iteration + 1, [label.output.forces], h)
    nxt.name = f"ace otf iter{iteration + 1}"
    nxt.update_metadata({"role": "train_mlff"})
    return Response(replace=Flow([label, nxt], output=nxt.output))


def _frames_trajectory(frames: list) -> Trajectory | None:
    """The training frames of the largest single composition as a Trajectory (not a time
    series: steps are frame indices); frames of other compositions stay in the extxyz."""
    if not frames:
        return None
    key = frames[-1].get_chemical_symbols()
    same = [a for a in frames if a.get_chemical_symbols() == key]
    return Trajectory(species=key, positions=np.array([a.positions for a in same]),
                      cells=np.array([np.array(a.cell) for a in same]), timestep_fs=1.0,
                      forces=np.array([a.arrays["forces"] for a in same]),
                      energies=np.array([a.info["energy"] for a in same]),
                      metadata={"kind": "training frames (not a time series)"})


@dataclass
class AceMDMaker(Maker):
    """``make(structure, model)`` → Job → MDOutput (NVT MLMD with a trained linear ACE)."""

    name: str = "ace md"
    settings: MDSettings = field(default_factory=lambda: MDSettings(temperature_K=300.0))
    beef_every: int = 100
    beef_stop_eV_A: float = 1.0
    min_distance_fraction: float = 0.0

    def make(self, structure, model):
        j = ace_md(structure, model, asdict(self.settings), self.beef_every, self.beef_stop_eV_A,
                   self.min_distance_fraction)
        j.name = self.name
        return j
