"""The analyze job's work, old code vs current code, on one AgI-shaped input.

Run on demand (not part of the tests)::

    OMP_NUM_THREADS=1 python benchmarks/analysis.py                    # demo scale, ~3 min
    OMP_NUM_THREADS=1 python benchmarks/analysis.py --quick            # ~1 min
    OMP_NUM_THREADS=1 python benchmarks/analysis.py --baseline <rev>   # another old commit

The input is made once and shared: an α-AgI-like cell with the demo's body-centred cell
vectors (64 I vibrating about bcc sites, 64 Ag random walkers, 128 atoms) and its 2×2×2
supercell (1024 atoms), frames every 10 fs, as in ``workflows/demo.yaml``: a 150-frame
reference, 5 MLMD runs and a hot run of 2000 frames, a 500-frame transfer. Each code
(``ssic_flows`` exported from ``--baseline`` with ``git archive``, and this checkout) runs
in its own process: every observable on its own, the whole ``analyze_study`` of the study,
and a data store round trip (the 8 MD outputs written to an embedded JobStore, then resolved
as the analyze job's inputs are). Printed: seconds per item, old / new, and the largest
relative difference between the two codes' results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
BASELINE = "8ca60e4"  # the last commit before the analysis/store speed-ups
BCC = np.array([[-1.0, 1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])
A = 5.07  # Å, the conventional cubic α-AgI lattice parameter; the cell is 2A·BCC


def make_input(path: Path, quick: bool) -> None:
    """Write the trajectories (positions Å, cells Å, velocities Å/fs) to ``path`` (.npz)."""
    rng = np.random.default_rng(0)
    frames = {"reference": 150, "mlmd": 2000, "transfer": 500}
    if quick:
        frames = {"reference": 100, "mlmd": 400, "transfer": 120}

    def run(reps: int, nf: int) -> tuple[np.ndarray, np.ndarray]:
        cell = reps * 2 * A * BCC
        g = np.arange(8 * reps)  # bcc sites in units of A/2 (all even or all odd) cover the cell
        ijk = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        ijk = ijk[np.all(ijk % 2 == 0, axis=1) | np.all(ijk % 2 == 1, axis=1)]
        frac = np.unique(np.round((ijk * A / 2) @ np.linalg.inv(cell) % 1.0, 6) % 1.0, axis=0)
        assert len(frac) == 64 * reps ** 3
        iodide = frac @ cell + rng.normal(scale=0.15, size=(nf, len(frac), 3))
        ag0 = rng.random((len(frac), 3)) @ cell
        ag = ag0 + np.cumsum(rng.normal(scale=0.08, size=(nf, len(ag0), 3)), axis=0)
        return np.concatenate([ag, iodide], axis=1), cell

    arrays = {}
    for name, reps, nf, count in (("reference", 1, frames["reference"], 1), ("mlmd", 1, frames["mlmd"], 5),
                                  ("hot", 1, frames["mlmd"], 1), ("transfer", 2, frames["transfer"], 1)):
        for s in range(count):
            pos, cell = run(reps, nf)
            arrays[f"{name}{s}_pos"], arrays[f"{name}{s}_cell"] = pos, cell
            arrays[f"{name}{s}_vel"] = np.gradient(pos, 10.0, axis=0)
    np.savez(path, **arrays)


def worker(inp: Path, out: Path) -> None:
    """Time every item with the ``ssic_flows`` on sys.path; results to ``out`` (.npz + .json)."""
    import ssic_flows
    from ssic_flows.analysis.msd import msd
    from ssic_flows.analysis.rdf import partial_rdf
    from ssic_flows.analysis.study import analyze_study
    from ssic_flows.analysis.trajectory import Trajectory
    from ssic_flows.analysis.vanhove import van_hove
    from ssic_flows.analysis.vdos import vdos
    from ssic_flows.materials import analysis_inputs

    z = np.load(inp)
    runs = sorted({k.rsplit("_", 1)[0] for k in z.files})

    def traj(name: str) -> Trajectory:
        pos = z[f"{name}_pos"]
        n = pos.shape[1] // 2
        return Trajectory(["Ag"] * n + ["I"] * n, pos, z[f"{name}_cell"], 10.0,
                          velocities=z[f"{name}_vel"], metadata={"temperature_K": 500.0})

    t = {r: traj(r) for r in runs}
    small, big = t["mlmd0"], t["transfer0"]
    from ssic_flows.analysis.geometry import perpendicular_widths_A

    r_max = 0.5 * float(perpendicular_widths_A(small.cells[0]).min())  # as analyze_study sets it
    times, res = {}, {}

    def timed(label, fn, *a, **kw):
        t0 = time.perf_counter()
        out_ = fn(*a, **kw)
        times[label] = time.perf_counter() - t0
        return out_

    partial_rdf(small[:20], r_max_A=r_max)  # imports (scipy) outside the timings
    for tag, tr in (("128", small), ("1024", big)):
        g = timed(f"g(r) {tag} atoms x {tr.n_frames}", partial_rdf, tr, r_max_A=r_max,
                  stride=max(1, tr.n_frames // 500))
        v = timed(f"van Hove {tag} atoms x {tr.n_frames}", van_hove, tr, "Ag", n_lags=10,
                  n_origins=100, r_max_A=r_max, r_self_max_A=40.0)
        res.update({f"g{tag}_{k}": np.asarray(x) for k, x in g.g.items()})
        res[f"Gd{tag}"], res[f"Gs{tag}"] = v.Gd, v.Gs_A3
    m = timed(f"MSD 128 atoms x {small.n_frames}", msd, small, mobile=["Ag"])
    res["msd"] = np.asarray(m.msd_A2["Ag"])
    res["vdos"] = np.asarray(timed(f"VDOS 128 atoms x {small.n_frames}", vdos, small).vdos["Ag"])
    kw = analysis_inputs("agi", small.species)
    study = timed("analyze_study (whole AgI study)", analyze_study, t["reference0"],
                  [t[f"mlmd{i}"] for i in range(5)], mobile=["Ag"], transfer=big, hot=[t["hot0"]],
                  equilibration_ps=0.3, **kw)
    for label, rows in study["comparisons"].items():
        for c in rows:
            res[f"cmp {label}: {c['observable']}"] = np.array(
                [np.nan if c[k] is None else c[k] for k in ("value", "uncertainty")], float)
    times.update(_store_round_trip(t))
    np.savez(out.with_suffix(".npz"), **res)
    out.with_suffix(".json").write_text(json.dumps({"code": str(Path(ssic_flows.__file__).parent),
                                                    "times": times}))


def _store_round_trip(t: dict) -> dict:
    """Seconds to write the 8 MD outputs to a fresh embedded JobStore and resolve them."""
    from jobflow import OutputReference
    from jobflow.core.reference import resolve_references

    from ssic_flows.schemas import EngineProvenance, MDOutput
    from ssic_flows.store.config import StoreConfig
    from ssic_flows.store.jobstore import get_jobstore

    with tempfile.TemporaryDirectory() as home:
        store = get_jobstore(StoreConfig(home=Path(home)))
        store.connect()
        names = [n for n in t if not n.startswith("transfer")] + ["transfer0"]
        t0 = time.perf_counter()
        for n in names:
            tr = t[n]
            doc = MDOutput(trajectory=tr, formula="AgI", n_atoms=tr.n_atoms, n_steps=tr.n_frames,
                           temperature_K=500.0, timestep_fs=10.0, seed=0, n_frames=tr.n_frames,
                           provenance=EngineProvenance(engine="synthetic"))
            store.update({"uuid": n, "index": 1, "output": doc, "metadata": {}, "name": n},
                         key=["uuid", "index"], save={"data": MDOutput.DATA_FIELDS})
        t1 = time.perf_counter()
        resolve_references([OutputReference(n) for n in names], store)
        t2 = time.perf_counter()
    return {"store: write 8 MD outputs": t1 - t0, "store: resolve them (analyze inputs)": t2 - t1}


def _run(code_root: Path, inp: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code_root), OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(inp), str(out)],
                   check=True, env=env, cwd=code_root)
    return json.loads(out.with_suffix(".json").read_text())["times"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default=BASELINE, help="git revision of the old code")
    ap.add_argument("--quick", action="store_true", help="shorter runs (~1 min)")
    ap.add_argument("--worker", nargs=2, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(Path(args.worker[0]), Path(args.worker[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_input(tmp / "input.npz", args.quick)
        old_root = tmp / "old"
        old_root.mkdir()
        tar = subprocess.run(["git", "archive", args.baseline, "ssic_flows"], cwd=ROOT,
                             check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_root)], input=tar, check=True)
        old = _run(old_root, tmp / "input.npz", tmp / "old_out")
        new = _run(ROOT, tmp / "input.npz", tmp / "new_out")
        a, b = np.load(tmp / "old_out.npz"), np.load(tmp / "new_out.npz")
        rel, rel_unc, only = 0.0, 0.0, sorted(set(a.files) ^ set(b.files))
        for k in sorted(set(a.files) & set(b.files)):
            x, y = a[k], b[k]
            ok = np.isfinite(x) & np.isfinite(y)
            r = np.zeros(x.shape)
            r[ok] = np.abs(x - y)[ok] / np.maximum(np.abs(x[ok]), 1e-300)
            if k.startswith("cmp "):  # [value, uncertainty]: the latter is Monte-Carlo
                rel, rel_unc = max(rel, float(r[0])), max(rel_unc, float(r[1]))
            else:
                rel = max(rel, float(r.max(initial=0.0)))
    print(f"\nold = {args.baseline}, new = this checkout; one thread; seconds\n")
    print(f"| {'item':42s} | {'old':>8s} | {'new':>8s} | {'old/new':>7s} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 9}|")
    for k in old:
        print(f"| {k:42s} | {old[k]:8.2f} | {new[k]:8.2f} | {old[k] / max(new[k], 1e-9):6.1f}x |")
    print(f"\nlargest relative difference of the results (g(r), Gs, Gd, MSD, VDOS, verdict values): "
          f"{rel:.1e}; of the verdicts' uncertainties: {rel_unc:.1e} (null draws share one random "
          "stream in sorted observable order, so they move when the set of observables differs)")
    if only:  # e.g. an observable one code does not determine
        print(f"results of one code only (not compared): {only}")


if __name__ == "__main__":
    main()
