"""error_estimate_check: the coverage and z of a force σ, and the per-frame ranking with its
95 % interval, on errors whose distribution is known; and the check in a validation job of
the linear-ACE engine, whose posterior is exact when the labels come from a model in its
own basis."""

from __future__ import annotations

import numpy as np
import pytest

from ssic_flows.analysis.forces import ForceErrorInputError, error_estimate_check


def _draw(rng, n_frames: int, n_atoms: int = 8, spread: float = 1.0):
    """σ per frame (log-normal, ``spread``) × per atom; errors ~ N(0, σ²) per component."""
    s_frame = np.exp(spread * rng.normal(size=(n_frames, 1, 1)))
    s_atom = np.exp(0.3 * rng.normal(size=(n_frames, n_atoms, 1)))
    sig = 0.05 * s_frame * s_atom * np.ones((1, 1, 3))
    ref = rng.normal(size=sig.shape)
    return ref, ref + rng.normal(size=sig.shape) * sig, sig


def test_calibrated_sigma_covers_68_and_95_percent_and_z_is_one():
    rng = np.random.default_rng(1)
    ref, pred, sig = _draw(rng, 2000)
    sp = ["Li"] * 4 + ["S"] * 4
    out = error_estimate_check(sp, pred, ref, sig, sig.max(axis=(1, 2)))
    for el in ("Li", "S", "all"):
        assert out["within_1sigma"][el] == pytest.approx(0.6827, abs=0.01)
        assert out["within_2sigma"][el] == pytest.approx(0.9545, abs=0.006)
        assert out["z_rms"][el] == pytest.approx(1.0, abs=0.02)
    # σ that says half the true error: P(|Z| < 1/2) = 0.383, RMS z = 2
    half = error_estimate_check(sp, pred, ref, sig / 2, sig.max(axis=(1, 2)))
    assert half["within_1sigma"]["all"] == pytest.approx(0.3829, abs=0.01)
    assert half["z_rms"]["all"] == pytest.approx(2.0, abs=0.04)


def test_frame_spearman_interval_covers_the_population_value():
    """300 checks of 20 frames each: their 95 % intervals cover the Spearman of a 20 000-frame
    population 90–99 % of the time (Fisher z with Fieller's variance)."""
    rng = np.random.default_rng(2)
    ref, pred, sig = _draw(rng, 20000, spread=0.25)
    pop = error_estimate_check(["Cu"] * 8, pred, ref, sig, sig.max(axis=(1, 2)))["frame_spearman"]
    assert 0.3 < pop < 0.9  # a ranking worth measuring
    hits = 0
    for _ in range(300):
        r, p, s = _draw(rng, 20, spread=0.25)
        out = error_estimate_check(["Cu"] * 8, p, r, s, s.max(axis=(1, 2)))
        lo, hi = out["frame_spearman_ci95"]
        assert lo <= out["frame_spearman"] <= hi
        hits += lo <= pop <= hi
    assert 0.90 <= hits / 300 <= 0.99


def test_ranking_not_determined_on_few_frames_or_a_constant_estimate():
    rng = np.random.default_rng(3)
    ref, pred, sig = _draw(rng, 6)
    few = error_estimate_check(["Cu"] * 8, pred, ref, sig, sig.max(axis=(1, 2)))
    assert few["frame_spearman"] is None and "n_snapshots" in few["frame_spearman_reason"]
    ref, pred, sig = _draw(rng, 30)
    flat = error_estimate_check(["Cu"] * 8, pred, ref, sig, np.ones(30))
    assert flat["frame_spearman"] is None and "same in every frame" in flat["frame_spearman_reason"]
    assert flat["within_1sigma"]["all"] > 0  # coverage is still reported


def test_bad_input_names_the_problem():
    rng = np.random.default_rng(4)
    ref, pred, sig = _draw(rng, 12)
    with pytest.raises(ForceErrorInputError, match="σ must be > 0"):
        error_estimate_check(["Cu"] * 8, pred, ref, 0 * sig, np.ones(12))
    with pytest.raises(ForceErrorInputError, match="one value per frame"):
        error_estimate_check(["Cu"] * 8, pred, ref, sig, np.ones(11))
    with pytest.raises(ForceErrorInputError, match="same frames"):
        error_estimate_check(["Cu"] * 8, pred, ref, sig[:-1], np.ones(12))


def test_ace_validation_checks_its_beef_against_the_true_error(tmp_path, monkeypatch):
    """Labels from a linear ACE in the fit's own basis plus Gaussian noise: the predictive σ
    is then the true error's σ, and the validation job's check says so."""
    pytest.importorskip("pyace")
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore
    from monty.json import MontyDecoder
    from test_ace import _emt_frames, _label_with, _true_model

    from ssic_flows.analysis.trajectory import Trajectory
    from ssic_flows.engines.ace.fit import fit_ace
    from ssic_flows.makers.validation import compare_forces
    from ssic_flows.schemas import EngineProvenance, TrainOutput

    monkeypatch.setenv("SSIC_HOME", str(tmp_path))
    noise = 0.02
    train = _emt_frames(25, rattle=0.06)
    truth = _true_model(train, noise)
    fit = fit_ace(_label_with(truth, train, noise), {"basis": "tiny"})
    fit.save(tmp_path / "model")
    held = _label_with(truth, _emt_frames(30, seed0=300, rattle=0.06), noise, seed=9)
    traj = Trajectory(species=held[0].get_chemical_symbols(),
                      positions=np.array([a.positions for a in held]),
                      cells=np.array([np.array(a.cell) for a in held]), timestep_fs=1.0,
                      forces=np.array([a.arrays["forces"] for a in held]))
    model = TrainOutput(model_path=str(tmp_path / "model"),
                        provenance=EngineProvenance(engine="ace", kind="mlff"),
                        n_training_structures=25, n_iterations=1, converged=True,
                        beef_threshold_eV_A=0.05)
    job = compare_forces(traj, model, "ace", {}, 200, 0)
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    run_locally(job, store=store, create_folders=True, ensure_success=True)
    out = MontyDecoder().process_decoded(store.get_output(job.uuid, load=True))
    chk = out.error_estimate
    assert chk["n_frames"] == 30
    assert chk["within_1sigma"]["all"] == pytest.approx(0.683, abs=0.04)
    assert chk["within_2sigma"]["all"] == pytest.approx(0.954, abs=0.025)
    assert chk["z_rms"]["all"] == pytest.approx(1.0, abs=0.1)
    lo, hi = chk["frame_spearman_ci95"]
    assert -1 <= lo <= chk["frame_spearman"] <= hi <= 1


def test_otf_checks_pool_the_loops_own_measurements():
    from ssic_flows.makers.analyze import otf_checks

    its = [{"iteration": 0},
           {"estimate_check": {"beef_eV_A": [0.1, 0.2], "true_max_atom_rmse_eV_A": [0.3, 0.2]}},
           {"estimate_check": {"beef_eV_A": [0.1], "true_max_atom_rmse_eV_A": [0.4, 0.5]}},
           {"estimate_check": {"beef_eV_A": [0.05], "true_max_atom_rmse_eV_A": [0.1]}}]
    out = otf_checks(its)
    assert out["n_frames"] == 3  # the iteration whose labels do not match its candidates is left out
    assert out["median_true_over_beef"] == pytest.approx(2.0)  # ratios 3, 1, 2
    assert otf_checks([])["median_true_over_beef"] is None


def test_error_estimate_line_says_what_was_checked_and_what_was_not():
    from ssic_flows.display import error_estimate_line

    rng = np.random.default_rng(5)
    ref, pred, sig = _draw(rng, 40)
    line = error_estimate_line(error_estimate_check(["Cu"] * 8, pred, ref, sig, sig.max(axis=(1, 2))))
    assert "on 40 validation frames" in line and "within 1σ" in line and "[95 %:" in line
    assert "not determined: the gap engine" in error_estimate_line(
        {"reason": "not determined: the gap engine gives no σ per force component"})
    assert "not checked" in error_estimate_line({})
