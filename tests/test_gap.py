"""GAP engine: on-the-fly loop to convergence (EMT reference), MLMD, CHGNet-labelled fit."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("quippy")
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from monty.json import MontyDecoder  # noqa: E402
from pymatgen.io.ase import AseAtomsAdaptor  # noqa: E402

from ssic_flows.engines.base import EngineError, MDSettings, TrainSettings  # noqa: E402
from ssic_flows.engines.gap.engine import GAPEngine  # noqa: E402
from ssic_flows.schemas import MDOutput, TrainOutput  # noqa: E402


from ssic_flows.testing.emt import EMTReference, run_in_memory as _run  # noqa: E402


def _out(store, uuid):
    return MontyDecoder().process_decoded(store.get_output(uuid, load=True))


CU = AseAtomsAdaptor.get_structure(bulk("Cu", cubic=True) * (2, 2, 2))  # 32 atoms


def test_gap_otf_converges_and_mlmd_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("SSIC_HOME", str(tmp_path))
    gap = GAPEngine(soap_n_sparse=40, two_body_n_sparse=10)
    ts = TrainSettings(temperature_K=600, timestep_fs=2, beef_threshold_eV_A=0.08,
                       n_seed_frames=2, segment_steps=120, max_iterations=6, max_new_frames=3)
    t0 = time.perf_counter()
    flow = gap.train_flow(CU, EMTReference(), ts)
    store = _run(flow)
    tr = _out(store, flow.output.uuid)
    print("otf wall s", time.perf_counter() - t0, tr.metadata["iterations"])
    assert isinstance(tr, TrainOutput)
    assert tr.converged and 2 <= tr.n_iterations <= 6
    assert tr.n_training_structures > ts.n_seed_frames
    assert Path(tr.model_path).is_file() and Path(tr.model_path).parent.parent == tmp_path / "models"
    assert len(tr.model_sha256) == 64
    # BEEF decreases along the training: first segment's max vs last segment's max
    its = tr.metadata["iterations"]
    assert its[-1]["beef_max_eV_A"] < its[0]["beef_max_eV_A"]
    assert its[-1]["beef_max_eV_A"] <= ts.beef_threshold_eV_A
    assert tr.beef_step == sorted(tr.beef_step) and len(tr.beef_step) == len(tr.beef_max_eV_A)
    assert tr.training_data.n_frames == tr.n_training_structures
    assert tr.provenance.engine == "gap" and tr.provenance.kind == "mlff"
    # the labelling jobs were separate jobs (reference static), one per refit
    n_label = sum(1 for d in store.docs_store.query({"name": {"$regex": "^label iter"}}))
    assert n_label == tr.n_iterations - 1

    # MLMD with the trained model: the TrainOutput itself, the one shape gap_md takes
    md = gap.md_maker(MDSettings(temperature_K=600, timestep_fs=2, n_steps=40, save_every=10)) \
        .make(CU, tr)
    mdo = _out(_run(md), md.uuid)
    assert isinstance(mdo, MDOutput) and mdo.provenance.engine == "gap"
    assert mdo.trajectory.steps.tolist() == [0, 10, 20, 30, 40]
    # GAP forces agree with EMT on the MLMD frames (validation-level check)
    pred = gap.predict(tr, mdo.trajectory)
    ref = []
    for i in range(mdo.trajectory.n_frames):
        at = mdo.trajectory.to_ase(i)
        at.calc = EMT()
        ref.append(at.get_forces())
    rmse = np.sqrt(np.mean((pred - np.array(ref)) ** 2))
    assert rmse < 0.5 * np.std(ref), (rmse, np.std(ref))
    np.testing.assert_allclose(pred, mdo.trajectory.forces, atol=1e-6)

    # retraining from the previous model (hotter): starts from its training data
    ts_hot = TrainSettings(temperature_K=900, timestep_fs=2, beef_threshold_eV_A=0.08,
                           n_seed_frames=1, segment_steps=60, max_iterations=1, max_new_frames=2)
    flow2 = gap.train_flow(CU, EMTReference(), ts_hot, initial_model=tr)
    tr2 = _out(_run(flow2), flow2.output.uuid)
    assert tr2.n_training_structures == tr.n_training_structures + 1
    assert tr2.metadata["initial_model"] == tr.model_path


def test_gap_bad_input():
    with pytest.raises(EngineError, match="unknown GAP engine_settings"):
        GAPEngine(soap_nmax=3)
    with pytest.raises(EngineError, match="TrainOutput"):
        GAPEngine().predict(42, None)


def test_run_dir_is_chosen_on_the_worker_not_at_graph_construction(tmp_path, monkeypatch):
    """The flow built on the submitting machine holds no run directory; the prepare job puts
    it under the worker's SSIC_HOME, named after its own (rerun-stable) uuid."""
    import json

    monkeypatch.setenv("SSIC_HOME", str(tmp_path / "submitter"))
    ts = TrainSettings(temperature_K=600, n_seed_frames=1, max_iterations=1)
    flow = GAPEngine().train_flow(CU, EMTReference(), ts)
    assert "submitter" not in json.dumps(flow.as_dict(), default=str)
    assert next(j for j in flow.jobs if j.name == "gap prepare").function_args[0] is None
    from ssic_flows.engines.gap.jobs import gap_prepare_run

    prep = gap_prepare_run(None)
    monkeypatch.setenv("SSIC_HOME", str(tmp_path / "worker"))
    store = _run(prep)
    info = store.get_output(prep.uuid)
    assert info["run_dir"] == str(tmp_path / "worker" / "models" / prep.uuid)
    assert Path(info["run_dir"]).is_dir()


def _labelled_cu(n: int, with_stress: bool) -> list:
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for i in range(n):
        at = bulk("Cu", cubic=True) * (2, 2, 2)
        at.rattle(0.05, seed=i)
        at.calc = EMT()
        res = {"energy": at.get_potential_energy(), "forces": at.get_forces()}
        if with_stress:
            res["stress"] = at.get_stress()
        at.calc = SinglePointCalculator(at, **res)
        out.append(at)
    return out


def test_fit_gap_on_frames_with_stresses_drops_or_fits_virials(tmp_path):
    """gap_fit turns stresses into virial targets and aborts with virial σ = 0 ("too small
    virial_sigma"); by default they are dropped, with sigma_virial_eV they are fitted."""
    import ase.io

    from ssic_flows.engines.gap.fit import fit_gap

    xyz = tmp_path / "train.xyz"
    ase.io.write(xyz, _labelled_cu(4, with_stress=True), format="extxyz")
    assert "stress=" in xyz.read_text()
    small = {"soap_n_sparse": 10, "two_body_n_sparse": 5}
    r = fit_gap(xyz, tmp_path / "drop" / "gap.xml", small)
    assert Path(r["model_path"]).is_file() and "0.05 0.0 0.0}" in r["command"]
    assert "stress" not in (tmp_path / "drop" / "gap.fit_frames.xyz").read_text()
    r = fit_gap(xyz, tmp_path / "fit" / "gap.xml", {**small, "sigma_virial_eV": 0.05})
    assert Path(r["model_path"]).is_file() and "0.05 0.05 0.0}" in r["command"]
    log = (tmp_path / "fit" / "gap.gap_fit.log").read_text()
    assert "Number of target virials (property name: virial) found: 24" in log


def test_gap_fit_timeout_kills_the_process_group(tmp_path, monkeypatch):
    import ase.io
    import os

    from ssic_flows.engines.gap.fit import fit_gap

    fake = tmp_path / "bin" / "gap_fit"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/child.pid\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    xyz = tmp_path / "train.xyz"
    ase.io.write(xyz, _labelled_cu(2, with_stress=False), format="extxyz")
    t0 = time.perf_counter()
    with pytest.raises(EngineError, match="fit_timeout_s=1"):
        fit_gap(xyz, tmp_path / "m" / "gap.xml", {"fit_timeout_s": 1})
    assert time.perf_counter() - t0 < 20
    pid = int((tmp_path / "child.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_seed_md_seed_is_offset_from_the_training_seed():
    """Issue 13 item 9: GAP's seed reference MD never shares its seed with a reference
    production run of the same seed (the validation's source), as ACE's does not."""
    from ssic_flows.engines.base import SEED_MD_OFFSET

    ts = TrainSettings(temperature_K=600, n_seed_frames=2, max_iterations=1, seed=3)
    md = next(j for j in GAPEngine().train_flow(CU, EMTReference(), ts).jobs
              if j.name == "seed reference md")
    assert md.function_args[1]["seed"] == 3 + SEED_MD_OFFSET != 3
