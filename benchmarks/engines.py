"""Seconds per MD step: reference engines (CHGNet, CP2K) vs the trained GAP, same cell.

Every engine runs through its own ``md_maker`` job (in-process, jobflow ``run_locally``), and
the figure reported is the MD driver's own ``seconds_per_step`` (set-up, model loading and
SCF start-up of the first step excluded where the engine measures it; CP2K includes its
start-up when it reports only a wall time). The GAP is fitted with ``gap_fit`` on the CHGNet
MD frames (the reference-labelled seed data; ``--model`` uses an existing xml instead).

Floors (the study's claim): MLMD ≥ 100× faster per step than CP2K on the same cell.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/engines.py --material agi --n-atoms 32 \
        --ref-steps 10 --cp2k-steps 3 --gap-steps 200 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _run_md_job(job_):
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore
    from monty.json import MontyDecoder

    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    run_locally(job_, store=store, create_folders=True, ensure_success=True, log=False)
    return MontyDecoder().process_decoded(store.get_output(job_.uuid, load=True))


def _sps(out) -> float:
    if out.seconds_per_step > 0:
        return float(out.seconds_per_step)
    return float(out.wall_time_s) / max(out.n_steps, 1)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--material", default="agi")
    ap.add_argument("--n-atoms", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=500.0, help="K")
    ap.add_argument("--ref-steps", type=int, default=10, help="CHGNet MD steps")
    ap.add_argument("--cp2k-steps", type=int, default=3, help="CP2K MD steps (0 = skip)")
    ap.add_argument("--cp2k-preset", default="tiny")
    ap.add_argument("--gap-steps", type=int, default=200)
    ap.add_argument("--train-frames", type=int, default=10, help="CHGNet frames for the GAP fit")
    ap.add_argument("--model", default=None, help="existing GAP xml (skip the fit)")
    ap.add_argument("--json", default=None, help="write the numbers here")
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from ssic_flows.engines.base import EngineError, MDSettings
    from ssic_flows.engines.gap.fit import append_training_xyz, fit_gap
    from ssic_flows.engines.registry import get_mlff_engine, get_reference_engine
    from ssic_flows.materials import build_material

    home = Path(tempfile.mkdtemp(prefix="ssic-bench-"))
    os.environ.setdefault("SSIC_HOME", str(home))
    s = build_material(a.material, n_atoms=a.n_atoms, seed=0)
    res: dict = {"material": a.material, "n_atoms": len(s), "formula": s.composition.formula,
                 "threads": 1, "seconds_per_step": {}}
    print(f"cell: {s.composition.formula} ({len(s)} atoms), T = {a.temperature} K, 1 thread")

    # --- CHGNet (embedded reference); its frames also train the GAP
    chg = get_reference_engine("embedded")
    n_ref = max(a.ref_steps, a.train_frames * 2)
    t0 = time.perf_counter()
    out = _run_md_job(chg.md_maker(MDSettings(temperature_K=a.temperature, timestep_fs=2,
                                              n_steps=n_ref, save_every=2, seed=0)).make(s))
    res["seconds_per_step"]["chgnet"] = _sps(out)
    print(f"chgnet : {_sps(out):.4f} s/step  ({n_ref} steps, job {time.perf_counter() - t0:.1f} s)")

    # --- CP2K through the registry, if this machine has it
    if a.cp2k_steps > 0:
        try:
            cp2k = get_reference_engine("cp2k", preset=a.cp2k_preset, n_mpi=1)
            cp2k.check_available()
            t0 = time.perf_counter()
            o = _run_md_job(cp2k.md_maker(MDSettings(temperature_K=a.temperature, timestep_fs=2,
                                                     n_steps=a.cp2k_steps, seed=0)).make(s))
            res["seconds_per_step"]["cp2k"] = _sps(o)
            res["cp2k_preset"] = a.cp2k_preset
            print(f"cp2k   : {_sps(o):.3f} s/step  ({a.cp2k_steps} steps, preset "
                  f"{a.cp2k_preset}, job {time.perf_counter() - t0:.1f} s)")
        except (EngineError, TypeError, RuntimeError) as exc:
            print(f"cp2k   : skipped ({exc})")
            res["cp2k_skipped"] = str(exc)

    # --- GAP trained on the CHGNet frames
    if a.model:
        model_path = a.model
    else:
        tr = out.trajectory
        step = max(1, tr.n_frames // a.train_frames)
        xyz = home / "bench_training.xyz"
        append_training_xyz(xyz, tr[::step][: a.train_frames])
        fit = fit_gap(xyz, home / "bench_gap.xml")
        model_path = fit["model_path"]
        res["gap_fit"] = {"frames": a.train_frames, "fit_wall_s": fit["fit_wall_s"],
                          "peak_rss_MB": fit["peak_rss_MB"]}
        print(f"gap fit: {a.train_frames} frames, {fit['fit_wall_s']:.1f} s, peak "
              f"{fit['peak_rss_MB']:.0f} MB")
    gap = get_mlff_engine("gap")
    o = _run_md_job(gap.md_maker(MDSettings(temperature_K=a.temperature, timestep_fs=2,
                                            n_steps=a.gap_steps, save_every=10, seed=0))
                    .make(s, {"model_path": model_path, "n_training_structures": 0,
                              "n_iterations": 0, "converged": False, "beef_threshold_eV_A": 0,
                              "provenance": {"engine": "gap", "kind": "mlff"}}))
    res["seconds_per_step"]["gap"] = _sps(o)
    print(f"gap    : {_sps(o):.4f} s/step  ({a.gap_steps} steps, {1 / _sps(o):.1f} steps/s)")

    sp = res["seconds_per_step"]
    res["speedup_gap_vs"] = {k: sp[k] / sp["gap"] for k in sp if k != "gap"}
    for k, v in res["speedup_gap_vs"].items():
        floor = " (floor 100x: " + ("met" if v >= 100 else "NOT met") + ")" if k == "cp2k" else ""
        print(f"speed-up GAP vs {k}: {v:.1f}x{floor}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
