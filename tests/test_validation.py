"""ForceValidationMaker: per-element errors with reused and recomputed reference forces;
and the whole chain with the real embedded CHGNet reference on a tiny cell."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("quippy")
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from jobflow import Flow, JobStore, run_locally  # noqa: E402
from maggma.stores import MemoryStore  # noqa: E402
from monty.json import MontyDecoder  # noqa: E402
from pymatgen.io.ase import AseAtomsAdaptor  # noqa: E402
from test_gap import EMTReference  # noqa: E402  (test-only EMT reference engine)

from ssic_flows.engines.common.ase_md import run_md  # noqa: E402
from ssic_flows.engines.base import EngineError, MDSettings, TrainSettings  # noqa: E402
from ssic_flows.engines.gap.fit import append_training_xyz, fit_gap  # noqa: E402
from ssic_flows.makers.validation import ForceValidationMaker  # noqa: E402
from ssic_flows.schemas import EngineProvenance, TrainOutput, ValidationOutput  # noqa: E402


def _run(flow):
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    run_locally(flow, store=store, create_folders=True, ensure_success=True)
    return store


def _out(store, uuid):
    return MontyDecoder().process_decoded(store.get_output(uuid, load=True))


def test_validation_reuse_and_recompute(tmp_path, monkeypatch):
    monkeypatch.setenv("SSIC_HOME", str(tmp_path))
    cu = bulk("Cu", cubic=True) * (2, 2, 2)
    ref = run_md(cu, EMT(), MDSettings(temperature_K=500, timestep_fs=2, n_steps=300,
                                       save_every=10, seed=4), None,
                 metadata={"engine": "emt", "stands_in_for_dft": True})
    train = ref[::6]  # 6 frames, the rest is unseen
    append_training_xyz(tmp_path / "training.xyz", train)
    fit = fit_gap(tmp_path / "training.xyz", tmp_path / "gap.xml",
                  {"soap_n_sparse": 40, "two_body_n_sparse": 10})
    model = TrainOutput(model_path=fit["model_path"], provenance=EngineProvenance(engine="gap", kind="mlff"),
                        n_training_structures=6, n_iterations=1, converged=True, beef_threshold_eV_A=0.05)
    reuse = ForceValidationMaker(n_snapshots=8, seed=2, n_boot=200).make(ref, model)
    recompute = ForceValidationMaker(n_snapshots=8, seed=2, n_boot=200,
                                     reuse_reference_forces=False,
                                     reference_static_maker=EMTReference().static_maker()
                                     ).make(ref, model)
    store = _run(Flow([reuse, recompute]))
    a, b = _out(store, reuse.uuid), _out(store, recompute.uuid)
    for v in (a, b):
        assert isinstance(v, ValidationOutput) and v.n_snapshots == 8
        assert set(v.rmse_meV_A) == {"Cu"} and np.isfinite(v.rmse_meV_A["Cu"])
        assert 0 < v.rmse_meV_A["Cu"] < v.ref_force_std_meV_A["Cu"]
        assert v.mae_meV_A["Cu"] <= v.rmse_meV_A["Cu"]
        lo, hi = v.ci95_rmse_meV_A["Cu"]
        assert lo <= v.rmse_meV_A["Cu"] <= hi
        assert np.asarray(v.parity_data["predicted_eV_A"]).shape == (8, 32, 3)
        # GAP has no σ per force component: its check says so instead of a number
        assert v.error_estimate == {"reason": "not determined: the gap engine gives no σ per "
                                              "force component"}
    # recomputed single points at the same geometries equal the stored MD forces
    assert a.details["frame_steps"] == b.details["frame_steps"]
    assert a.rmse_meV_A["Cu"] == pytest.approx(b.rmse_meV_A["Cu"], rel=1e-6)
    assert "recomputed" in b.details["reference_forces"]
    assert "frame 0" in a.details["independence"] and a.details["snapshots_after_fs"] == 0.0
    assert store.additional_stores["data"].count() >= 2  # parity data went to the data store


def test_chgnet_reference_gap_training_and_validation(tmp_path, monkeypatch):
    """The real embedded CHGNet (stand-in for DFT) labels a GAP on a 16-atom NaCl cell."""
    pytest.importorskip("chgnet")
    from ssic_flows.engines.registry import get_mlff_engine, get_reference_engine

    monkeypatch.setenv("SSIC_HOME", str(tmp_path))
    nacl = AseAtomsAdaptor.get_structure(bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (2, 1, 1))
    chg = get_reference_engine("embedded")
    gap = get_mlff_engine("gap", soap_n_sparse=40, two_body_n_sparse=10, seed_stride=5)
    ref_md = chg.md_maker(MDSettings(temperature_K=500, timestep_fs=2, n_steps=60,
                                     save_every=5, seed=7)).make(nacl)
    # explores at the validation temperature: with 7 labelled frames a GAP explored at 625 K
    # (the default factor 1.25) is not yet better than the force spread at 500 K
    train = gap.train_flow(nacl, chg, TrainSettings(
        temperature_K=500, timestep_fs=2, beef_threshold_eV_A=0.1, n_seed_frames=3,
        segment_steps=40, max_iterations=2, max_new_frames=2, explore_temperature_factor=1.0))
    val = ForceValidationMaker(mlff="gap", n_snapshots=4, seed=0, n_boot=200,
                               reuse_reference_forces=False,
                               reference_static_maker=chg.static_maker()).make(
        ref_md.output.trajectory, train.output)
    store = _run(Flow([ref_md, train, val]))
    tr = _out(store, train.output.uuid)
    assert tr.n_training_structures >= 3 and np.isfinite(tr.beef_max_eV_A).all()
    assert np.isfinite(tr.training_data.forces).all()
    v = _out(store, val.uuid)
    assert set(v.rmse_meV_A) == {"Na", "Cl"}
    for el in ("Na", "Cl"):
        assert np.isfinite(v.rmse_meV_A[el]) and v.rmse_meV_A[el] < v.ref_force_std_meV_A[el]
    assert v.details["reference_engine"] == "chgnet"
    assert v.details["reference_stands_in_for_dft"] is True


def test_bad_input():
    with pytest.raises(EngineError, match="reference_static_maker"):
        ForceValidationMaker(reuse_reference_forces=False)
    with pytest.raises(EngineError, match="n_snapshots"):
        ForceValidationMaker(n_snapshots=0)


def test_snapshots_skip_the_start_structure_and_equilibration():
    """Issue 13 item 9: frame 0 (the built structure, also the training's first seed frame)
    is never a validation snapshot; with ``skip_fs`` neither is any frame up to it."""
    from ssic_flows.analysis.trajectory import Trajectory
    from ssic_flows.makers.validation import pick_snapshots

    traj = Trajectory(["Cu"], np.zeros((30, 1, 3)), np.eye(3) * 5, 2.0)  # frames every 2 fs
    for seed in range(50):
        assert pick_snapshots(traj, 29, seed).steps.min() > 0  # all but frame 0
        assert pick_snapshots(traj, 5, seed, skip_fs=20.0).steps.min() > 10
    with pytest.raises(EngineError, match="after 20 fs"):
        pick_snapshots(traj, 20, 0, skip_fs=20.0)
