"""Linear ACE engine: exact Bayesian regression and BEEF, model files, MD, on-the-fly loop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pyace")
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from monty.json import MontyDecoder  # noqa: E402
from pymatgen.io.ase import AseAtomsAdaptor  # noqa: E402

from ssic_flows.engines.ace.basis import BASIS_LADDER, min_pair_distances_A  # noqa: E402
from ssic_flows.engines.ace.blr import NormalEquations, fit_evidence  # noqa: E402
from ssic_flows.engines.ace.design import DesignEvaluator  # noqa: E402
from ssic_flows.engines.ace.fit import fit_ace  # noqa: E402
from ssic_flows.engines.ace.model import AceModel, load_model  # noqa: E402
from ssic_flows.engines.base import MDSettings, TrainSettings  # noqa: E402
from ssic_flows.engines.common.ase_md import run_md  # noqa: E402

TINY = dict(BASIS_LADDER[0])


def _cuau(seed: int, rattle: float = 0.05):
    at = bulk("Cu", "fcc", a=3.7, cubic=True) * (2, 2, 2)
    sym = np.array(at.get_chemical_symbols())
    sym[np.random.default_rng(0).choice(len(at), 8, replace=False)] = "Au"
    at.set_chemical_symbols(sym.tolist())
    at.rattle(rattle, seed=seed)
    return at


def _emt_frames(n: int, seed0: int = 0, rattle: float = 0.08) -> list:
    out = []
    for k in range(n):
        at = _cuau(seed0 + k, rattle)
        at.calc = EMT()
        at.info["energy"] = at.get_potential_energy()
        at.arrays["forces"] = at.get_forces()
        at.calc = None
        out.append(at)
    return out


def _true_model(frames, noise_sigma: float, seed: int = 3) -> AceModel:
    """A linear ACE with random coefficients on the basis fit_ace will choose for frames."""
    dmin = min_pair_distances_A(frames, 5.0)
    r_in = {"-".join(k): max(0.6 * v, 0.5) for k, v in dmin.items()}
    m = AceModel(elements=["Au", "Cu"], size=TINY, cutoff_A=5.0, r_in_A=r_in, dcut_in_A=0.2,
                 e0_eV={"Au": -0.3, "Cu": -0.1}, coefficients=np.zeros(1),
                 covariance=np.zeros((1, 1)), noise_sigma_force_eV_A=noise_sigma)
    n = DesignEvaluator(m.zero_bbasis()).n_coef
    m.coefficients = np.random.default_rng(seed).normal(size=n) * 0.05
    m.covariance = np.zeros((n, n))
    return m


def _label_with(model: AceModel, frames, noise_sigma: float, seed: int = 5):
    rng = np.random.default_rng(seed)
    calc = model.calculator()
    out = []
    for at in frames:
        a = at.copy()
        calc.calculate(a, ["energy", "forces"])
        # energy noise in the ratio the fit's weights assume (σ_E/σ_F = 0.002/0.05 per atom)
        a.info["energy"] = calc.results["energy"] + rng.normal() * noise_sigma * 0.04 * len(a)
        a.arrays["forces"] = calc.results["forces"] + rng.normal(size=(len(a), 3)) * noise_sigma
        out.append(a)
    return out


def test_blr_equals_scikit_learn_bayesian_ridge():
    from sklearn.linear_model import BayesianRidge

    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 12)) * np.linspace(0.1, 10, 12)
    y = X @ rng.normal(size=12) + 0.3 * rng.normal(size=400)
    acc = NormalEquations(12)
    acc.add(X[:100], y[:100])
    acc.add(X[100:], y[100:])
    post = fit_evidence(acc)
    s = np.sqrt((X**2).mean(0))
    br = BayesianRidge(fit_intercept=False, tol=1e-12, max_iter=2000, alpha_1=0, alpha_2=0,
                       lambda_1=0, lambda_2=0).fit(X / s, y)
    assert np.allclose(post.mean, br.coef_ / s, rtol=1e-8, atol=1e-10)
    assert post.alpha == pytest.approx(br.alpha_, rel=1e-6)
    assert np.allclose(post.cov, br.sigma_ / np.outer(s, s), rtol=1e-6, atol=1e-12)


def test_design_rows_reproduce_the_calculator_and_stress():
    frames = _emt_frames(3)
    m = _true_model(frames, 0.0)
    at = frames[0].copy()
    at.rattle(0.05, seed=9)  # all pairs beyond the inner cutoff (ACE only, as in training)
    calc = m.calculator()
    calc.calculate(at, ["energy", "forces", "stress"])
    rows = DesignEvaluator(m.zero_bbasis()).rows(at, stress=True)
    e = rows.energy @ m.coefficients + rows.core_energy_eV + m.e0_total(at.get_chemical_symbols())
    f = rows.forces @ m.coefficients + rows.core_forces_eV_A
    s = rows.stress @ m.coefficients + rows.core_stress_eV_A3
    assert e == pytest.approx(calc.results["energy"], abs=1e-9)
    assert np.abs(f - calc.results["forces"]).max() < 1e-9
    assert np.abs(s - calc.results["stress"]).max() < 1e-6 * max(1.0, np.abs(s).max())


def test_recovers_known_linear_model_and_sigma_is_calibrated():
    frames = _emt_frames(40)
    true = _true_model(frames, 0.02)
    data = _label_with(true, frames, 0.02)
    fit = fit_ace(data, {"basis": "tiny"})
    assert fit.info["n_coefficients"] == len(true.coefficients)
    # coefficients the data determine are recovered: forces of new configurations agree
    test = _emt_frames(10, seed0=100)
    ct, cf = true.calculator(), fit.calculator(with_sigma=True)
    z, err = [], []
    for at in test:
        ct.calculate(at.copy(), ["energy", "forces"])
        cf.calculate(at.copy())
        p = cf.last_prediction
        noisy = ct.results["forces"] + np.random.default_rng(len(z)).normal(size=p.forces_eV_A.shape) * 0.02
        err.append(np.sqrt(np.mean((p.forces_eV_A - ct.results["forces"]) ** 2)))
        z.append(np.abs(p.forces_eV_A - noisy) / p.predictive_sigma_eV_A)
    # the posterior covers the true coefficients: z-scores ~ N(0, 1)
    zc = (fit.coefficients - true.coefficients) / np.sqrt(np.diag(fit.covariance))
    assert 0.85 < np.mean(np.abs(zc) < 2) <= 1.0, zc
    assert np.sqrt(np.mean(np.square(err))) < 0.012  # eV/Å (noise 0.02; |F| ~ 1 eV/Å)
    assert fit.noise_sigma_force_eV_A == pytest.approx(0.02, rel=0.05)
    z = np.concatenate(z).ravel()
    assert 0.64 < np.mean(z < 1) < 0.72  # Gaussian: 0.683
    assert 0.93 < np.mean(z < 2) < 0.97  # 0.954


def test_sigma_grows_far_from_the_training_data():
    frames = _emt_frames(20, rattle=0.05)
    fit = fit_ace(frames, {"basis": "tiny"})
    c = fit.calculator(with_sigma=True)
    near, far = _cuau(500, 0.05), _cuau(501, 0.35)
    c.calculate(near)
    b_near = c.last_prediction.beef_eV_A
    c.calculate(far)
    b_far = c.last_prediction.beef_eV_A
    assert b_far > 3 * b_near


def test_training_on_frames_with_stresses():
    frames = _emt_frames(12)
    for at in frames:
        at.calc = EMT()
        at.info["stress"] = at.get_stress()
        at.calc = None
    fit = fit_ace(frames, {"basis": "tiny"})
    assert fit.info["n_stress_frames"] == 12
    at = _cuau(77, 0.08)
    c = fit.calculator()
    c.calculate(at.copy(), ["energy", "forces", "stress"])
    at.calc = EMT()
    assert np.abs(c.results["stress"] - at.get_stress()).max() < 0.01  # eV/Å³


def test_model_files_roundtrip_and_yace_loads_in_pyace(tmp_path):
    from pyace import PyACECalculator

    frames = _emt_frames(10)
    fit = fit_ace(frames, {"basis": "tiny"})
    fit.save(tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert np.array_equal(back.coefficients, fit.coefficients)
    at = _cuau(42)
    c1 = back.calculator()
    c1.calculate(at.copy(), ["energy", "forces"])
    at2 = at.copy()
    at2.calc = PyACECalculator(str(tmp_path / "m" / "potential.yace"))
    assert at2.get_potential_energy() == pytest.approx(c1.results["energy"], abs=1e-6)
    assert np.abs(at2.get_forces() - c1.results["forces"]).max() < 1e-6
    with pytest.raises(FileNotFoundError, match="not an ACE model directory"):
        load_model(tmp_path)


def test_nve_energy_drift_is_bounded():
    from ase import units
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    fit = fit_ace(_emt_frames(20), {"basis": "tiny"})
    at = _cuau(3, 0.05)
    at.calc = fit.calculator()
    thermalize_momenta(at, 300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(at, timestep=1.0 * units.fs)
    e = []
    for _ in range(40):
        dyn.run(10)
        e.append(at.get_total_energy())
    e = np.array(e)
    assert np.abs(e - e[0]).max() / len(at) < 2e-4  # eV/atom over 400 fs


_KILL = r"""
import os, signal, sys
import numpy as np
from ssic_flows.engines.ace.model import load_model
from ssic_flows.engines.base import MDSettings
from ssic_flows.engines.common.ase_md import run_md
from ase.io import read
m = load_model(sys.argv[2])
at = read(sys.argv[3])
s = MDSettings(temperature_K=600, timestep_fs=2, n_steps=60, save_every=2, seed=4,
               checkpoint_every=10)
def die(step, atoms):
    if step == 34:
        os.kill(os.getpid(), signal.SIGKILL)
run_md(at, m.calculator(), s, sys.argv[1], on_frame=die)
"""


def test_sigkill_mid_md_then_resume_equals_uninterrupted(tmp_path):
    fit = fit_ace(_emt_frames(15), {"basis": "tiny"})
    fit.save(tmp_path / "m")
    start = _cuau(11, 0.05)
    start.write(tmp_path / "start.extxyz")
    from ase.io import read

    start = read(tmp_path / "start.extxyz")  # the child starts from the file's (rounded) positions
    ck = tmp_path / "ck"
    proc = subprocess.run([sys.executable, "-c", _KILL, str(ck), str(tmp_path / "m"),
                           str(tmp_path / "start.extxyz")], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    s = MDSettings(temperature_K=600, timestep_fs=2, n_steps=60, save_every=2, seed=4,
                   checkpoint_every=10)
    resumed = run_md(start, load_model(tmp_path / "m").calculator(), s, ck)
    assert resumed.metadata["resumed_from_step"] == 30
    ref = run_md(start, load_model(tmp_path / "m").calculator(), s, None)
    assert np.array_equal(resumed.steps, ref.steps)
    assert np.array_equal(resumed.positions, ref.positions)
    assert np.array_equal(resumed.forces, ref.forces)


def test_otf_training_loop_converges_and_mlmd_runs(tmp_path, monkeypatch):
    from ssic_flows.engines.ace.engine import AceEngine
    from ssic_flows.testing.emt import EMTReference, run_in_memory

    monkeypatch.setenv("SSIC_HOME", str(tmp_path))
    structure = AseAtomsAdaptor.get_structure(_cuau(0, 0.0))
    eng = AceEngine(basis="tiny", augment_fractions=[])  # the loop alone must learn
    ts = TrainSettings(temperature_K=500, timestep_fs=2, beef_threshold_eV_A=0.015,
                       n_seed_frames=2, segment_steps=60, max_iterations=8, max_new_frames=3)
    flow = eng.train_flow(structure, EMTReference(), ts)
    store = run_in_memory(flow)
    tr = MontyDecoder().process_decoded(store.get_output(flow.output.uuid, load=True))
    assert tr.converged, tr.metadata["iterations"]
    assert tr.beef_max_eV_A[-1] < 0.015
    assert str(tmp_path) in tr.model_path  # run directory made on the worker
    its = tr.metadata["iterations"]
    assert its[-1]["n_candidates"] == 0 and len(its) >= 2  # it had to learn something
    assert tr.n_training_structures == 2 + sum(i["n_candidates"] for i in its[:-1])
    # every labelled batch checked the previous model's BEEF against its true error
    assert all("estimate_check" in i for i in its[1:])
    md = eng.md_maker(MDSettings(temperature_K=500, n_steps=30, save_every=5, seed=2)).make(
        structure, tr)
    store = run_in_memory(md)
    out = MontyDecoder().process_decoded(store.get_output(md.uuid, load=True))
    traj = out.trajectory
    f_emt = []
    for i in range(traj.n_frames):
        at = traj.to_ase(i)
        at.calc = EMT()
        f_emt.append(at.get_forces())
    assert np.sqrt(np.mean((traj.forces - np.array(f_emt)) ** 2)) < 0.1  # eV/Å
    # with the default augmentation, 2 compressed-pair frames per element pair are labelled
    flow = AceEngine(basis="tiny").train_flow(structure, EMTReference(), ts)
    tr2 = MontyDecoder().process_decoded(run_in_memory(flow).get_output(flow.output.uuid, load=True))
    its2 = tr2.metadata["iterations"]
    assert tr2.n_training_structures == 2 + 3 * 2 + sum(i["n_candidates"] for i in its2[:-1])


def test_ssic_mlff_fit_and_predict_on_a_users_frames(tmp_path):
    import json

    import ase.io

    frames = [_cuau(k, 0.08) for k in range(12)]
    for at in frames:
        at.calc = EMT()
        at.get_potential_energy()  # extxyz stores the calculator's energy, forces, stress
        at.get_stress()
    ase.io.write(tmp_path / "aimd.extxyz", frames, format="extxyz")

    def ssic(*args):
        return subprocess.run([sys.executable, "-m", "ssic_flows.cli", *map(str, args)],
                              capture_output=True, text=True,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))

    r = ssic("mlff", "fit", tmp_path / "aimd.extxyz", "--engine", "ace", "--out", tmp_path / "m",
             "--basis", "tiny")
    assert r.returncode == 0, r.stderr
    assert "12 frames (12 with stress)" in r.stdout
    r = ssic("mlff", "predict", tmp_path / "m", tmp_path / "aimd.extxyz", "--json", tmp_path / "p.json")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "p.json").read_text())
    f0 = doc["frames"][0]
    assert set(f0) == {"energy_eV", "forces_eV_A", "force_sigma_eV_A", "beef_eV_A"}
    assert np.shape(f0["forces_eV_A"]) == (32, 3) == np.shape(f0["force_sigma_eV_A"])
    assert np.abs(np.array(f0["forces_eV_A"]) - frames[0].get_forces()).max() < 0.2
    # bad input: frames without forces -> one line naming the problem, nothing written
    bare = _cuau(1)
    ase.io.write(tmp_path / "bare.extxyz", [bare], format="extxyz")
    r = ssic("mlff", "fit", tmp_path / "bare.extxyz", "--out", tmp_path / "m2")
    assert r.returncode == 2 and "no energy or no forces" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "m2").exists()


def test_smoothness_prior_shrinks_rough_functions_most():
    from pyace import ACEBBasisSet

    from ssic_flows.engines.ace.basis import basis_config
    from ssic_flows.engines.ace.design import smoothness_weights

    b = ACEBBasisSet(basis_config(["Au", "Cu"], next(dict(x) for x in BASIS_LADDER
                                                     if x["name"] == "compact")))
    w0, w2 = smoothness_weights(b, 0.0), smoothness_weights(b, 2.0)
    assert np.all(w0 == 1.0) and len(w2) == DesignEvaluator(b).n_coef
    f = [f for br1, br in zip(b.basis_rank1, b.basis) for f in list(br1) + list(br)]
    k_lo = min(range(len(f)), key=lambda k: sum(f[k].ns) + sum(f[k].ls))
    k_hi = max(range(len(f)), key=lambda k: sum(n * n for n in f[k].ns) + sum(l * l for l in f[k].ls))
    assert w2[k_hi] > 10 * w2[k_lo]
    # the fit accepts it and still recovers EMT forces
    fit = fit_ace(_emt_frames(15), {"basis": "tiny", "smoothness_power": 1.0})
    assert max(fit.info["train_force_rmse_meV_A"].values()) < 100


def test_compressed_pair_frames_push_each_pair_below_its_shortest_distance():
    from ssic_flows.analysis.trajectory import Trajectory
    from ssic_flows.engines.ace.augment import compressed_pair_frames

    frames = [_cuau(k, 0.05) for k in range(3)]
    t = Trajectory(species=frames[0].get_chemical_symbols(),
                   positions=np.array([a.positions for a in frames]), cells=np.array(frames[0].cell),
                   timestep_fs=1.0)
    dmin = min_pair_distances_A(frames, 5.0)
    aug = compressed_pair_frames(t, fractions=(0.85, 0.92))
    assert aug.metadata["pairs"] == ["Au-Au", "Au-Cu", "Cu-Cu"]
    got = min_pair_distances_A([aug.to_ase(i) for i in range(aug.n_frames)], 5.0)
    for key, d in dmin.items():
        assert got[key] == pytest.approx(0.85 * d, rel=1e-6)  # the wall below the data


def test_mlmd_beef_guard_stops_a_run_that_leaves_the_training_data(tmp_path, monkeypatch):
    from ssic_flows.engines.ace.jobs import AceMDMaker
    from ssic_flows.schemas import EngineProvenance, TrainOutput
    from ssic_flows.testing.emt import run_in_memory

    monkeypatch.setenv("SSIC_HOME", str(tmp_path))
    fit = fit_ace(_emt_frames(12), {"basis": "tiny"})
    fit.save(tmp_path / "m")
    model = TrainOutput(provenance=EngineProvenance(engine="ace", kind="mlff"),
                        model_path=str(tmp_path / "m"), n_training_structures=12, n_iterations=1,
                        converged=True, beef_threshold_eV_A=0.05)
    structure = AseAtomsAdaptor.get_structure(_cuau(0, 0.0))
    s = MDSettings(temperature_K=300, n_steps=40, save_every=5, seed=1)
    outs = {}
    for stop in (1e-9, 100.0):
        j = AceMDMaker(settings=s, beef_every=10, beef_stop_eV_A=stop).make(structure, model)
        outs[stop] = MontyDecoder().process_decoded(run_in_memory(j).get_output(j.uuid, load=True))
    g = outs[1e-9].metadata["beef_guard"]
    assert g["stopped_at_step"] == 0 and outs[1e-9].trajectory.n_frames == 1
    g = outs[100.0].metadata["beef_guard"]
    assert g["stopped_at_step"] is None and g["step"] == [0, 10, 20, 30, 40]
    assert outs[100.0].trajectory.n_frames == 9


def test_guard_stops_at_a_pair_closer_than_the_training_data_and_keeps_checked_frames():
    from ssic_flows.engines.ace.jobs import training_domain_guard

    frames = _emt_frames(6)
    fit = fit_ace(frames, {"basis": "tiny"})
    d_cuau = fit.info["min_pair_distance_A"]["Au-Cu"]
    ok = _cuau(50, 0.02)
    close = ok.copy()
    i_au = close.get_chemical_symbols().index("Au")
    dist = close.get_distances(i_au, range(len(close)), mic=True, vector=True)
    j = int(np.argsort(np.linalg.norm(dist, axis=1))[1])  # its nearest neighbour
    assert close.get_chemical_symbols()[j] == "Cu"
    unit = dist[j] / np.linalg.norm(dist[j])
    pos = close.get_positions()
    pos[j] = pos[i_au] + unit * 0.8 * d_cuau  # below 0.9 × the training data's shortest Au-Cu
    close.set_positions(pos)

    # distance check only: every frame is checked, the run stops at the close pair
    on_frame, rec = training_domain_guard(fit, 0, 1.0, 0.9, save_every=5)
    assert [on_frame(s, a) for s, a in ((0, ok), (5, ok), (10, close))] == [False, False, True]
    assert rec["stopped_at_step"] == 10 and rec["valid_frames"] == 2 and "Au-Cu" in rec["reason"]
    # with BEEF checks every 10 steps, frame 5 is not vouched for: kept frames end at step 0
    on_frame, rec = training_domain_guard(fit, 10, 100.0, 0.9, save_every=5)
    assert [on_frame(s, a) for s, a in ((0, ok), (5, ok), (10, close))] == [False, False, True]
    assert rec["valid_frames"] == 1 and rec["step"] == [0]
    # a resumed run (first call at step 20) counts the frames stored before the restart
    on_frame, rec = training_domain_guard(fit, 0, 1.0, 0.9, save_every=5)
    assert on_frame(20, close) is True and rec["valid_frames"] == 4


def test_analysis_leaves_out_mlmd_runs_that_left_the_training_domain():
    from ssic_flows.engines.common.outputs import md_output_from_trajectory
    from ssic_flows.makers.analyze import split_left_domain
    from ssic_flows.schemas import EngineProvenance

    s = MDSettings(temperature_K=300, n_steps=10, save_every=5, seed=1)
    tr = run_md(_cuau(0, 0.0), EMT(), s, None)
    outs = []
    for seed, left in ((1, None), (2, {"at_ps": 0.4, "reason": "BEEF 1.3 eV/Å > 1 eV/Å",
                                       "kept_ps": 0.3}), (3, None)):
        o = md_output_from_trajectory(tr, MDSettings(**{**s.__dict__, "seed": seed}),
                                      EngineProvenance(engine="ace", kind="mlff"))
        o.metadata["left_training_domain"] = left
        outs.append(o)
    use, rec = split_left_domain(outs)
    assert [o.seed for o in use] == [1, 3]
    assert rec == [{"role": "mlmd", "seed": 2, "at_ps": 0.4, "reason": "BEEF 1.3 eV/Å > 1 eV/Å",
                    "kept_ps": 0.3, "used": False}]
    use, rec = split_left_domain([outs[1]], transfer=outs[1])  # no complete run: used, said so
    assert [o.seed for o in use] == [2] and [r["used"] for r in rec] == [True, True]
    from ssic_flows.display import left_domain_lines

    lines = left_domain_lines({"runs_left_training_domain": rec})
    assert lines[0].startswith("mlmd seed 2: left the training domain at 0.40 ps")


def test_exploration_runs_at_the_explore_temperature_and_hot_retraining_at_its_own(monkeypatch):
    import ssic_flows.engines.common.ase_md as ase_md
    from ssic_flows.engines.ace import jobs
    from ssic_flows.engines.base import EngineError
    from ssic_flows.flows.spec import TrainSpec

    ts = TrainSettings(temperature_K=600, segment_steps=10, max_new_frames=1)
    assert ts.explore_temperature_K == pytest.approx(750.0)  # default factor 1.25
    with pytest.raises(EngineError, match="explore_temperature_factor must be >= 1"):
        TrainSettings(temperature_K=600, explore_temperature_factor=0.9)
    seen = {}

    def fake_run_md(structure, calc, md, ckpt, on_frame=None, **kw):
        seen["T"] = md.temperature_K
        raise RuntimeError("stop here")

    monkeypatch.setattr(ase_md, "run_md", fake_run_md)
    model = fit_ace(_emt_frames(4), {"basis": "tiny"})
    from ssic_flows.engines.ace.sets import ace_settings

    with pytest.raises(RuntimeError, match="stop here"):
        jobs._explore(_cuau(0), model, ts, ace_settings({}), 0, 0.1)
    assert seen["T"] == pytest.approx(750.0)
    spec = TrainSpec()
    assert spec.train_settings(500, 2.0, 0).explore_temperature_K == pytest.approx(625.0)
    assert spec.train_settings(800, 2.0, 0, explore_at_temperature=True).explore_temperature_K == 800.0


def test_cached_design_rows_give_the_same_fit_and_a_new_basis_never_reads_stale_rows(tmp_path):
    from ssic_flows.engines.ace.rows_cache import RowsCache

    frames = _emt_frames(6)
    plain = fit_ace(frames, {"basis": "tiny", "cv_folds": 3})
    cache = RowsCache(tmp_path / "rows")
    first = fit_ace(frames, {"basis": "tiny", "cv_folds": 3}, rows_cache=cache)
    assert (cache.hits, cache.misses) == (0, 6)
    again = fit_ace(frames + _emt_frames(1, seed0=40), {"basis": "tiny", "cv_folds": 3},
                    r_in_A=first.r_in_A, rows_cache=cache)
    assert (cache.hits, cache.misses) == (6, 7)  # only the new frame computed
    assert np.array_equal(first.coefficients, plain.coefficients)
    assert np.array_equal(first.covariance, plain.covariance)
    assert again.r_in_A == first.r_in_A
    # another inner cutoff is another basis: its rows are computed, not read
    other = {k: v + 0.05 for k, v in first.r_in_A.items()}
    fit_ace(frames, {"basis": "tiny", "cv_folds": 3}, r_in_A=other, rows_cache=cache)
    assert cache.misses == 13
    cache.clear()
    assert not (tmp_path / "rows").exists()


def test_exploration_never_labels_the_run_away_frame_and_an_aborted_segment_is_not_converged():
    from ssic_flows.engines.ace import jobs
    from ssic_flows.engines.ace.sets import ace_settings

    model = fit_ace(_emt_frames(6), {"basis": "tiny"})
    ts = TrainSettings(temperature_K=300, segment_steps=60, max_new_frames=5, seed=1)
    calm = jobs._explore(_cuau(0), model, ts, ace_settings({"monitor_every": 5}), 0, 100.0)
    assert calm["aborted"] is None and calm["candidates"] is None  # quiet segment: converged
    beefs = calm["curve"]["max"]
    # abort level between frame 0's BEEF and the segment's maximum: the frames before the
    # aborting one are labelled (the onset), never the aborting frame itself
    k = int(np.argmax(np.asarray(beefs) > 0.5 * (beefs[0] + max(beefs))))
    assert k > 0
    thr = 0.5 * (beefs[0] + max(beefs)) / 20.0  # abort_factor 20
    es = ace_settings({"monitor_every": 5, "min_candidate_gap": 10**6})  # one candidate at most
    ex = jobs._explore(_cuau(0), model, ts, es, 0, thr)
    assert ex["aborted"].startswith("BEEF")
    picked = ex["cand_beef"]
    assert picked and max(picked) <= 20 * thr  # the run-away frame is not among them
    # a pair floor above every distance: the start itself is the only (physical) candidate
    ex = jobs._explore(_cuau(0), model, ts, ace_settings({"explore_min_distance_fraction": 5.0}), 0, 100.0)
    assert ex["aborted"].startswith("a pair closer") and ex["candidates"].n_frames == 1


def test_cv_noise_of_a_minority_kind_is_its_error_not_an_extrapolation():
    """On-the-fly data come in batches of one kind: 9 pure-Cu frames then 2 Cu-Au frames.
    A fold that held out every Au-containing frame would extrapolate to Au; interleaved folds
    give an Au noise close to the error on new Cu-Au frames."""
    cu = []
    for k in range(9):
        at = bulk("Cu", "fcc", a=3.7, cubic=True) * (2, 2, 2)
        at.rattle(0.08, seed=100 + k)
        at.calc = EMT()
        at.info["energy"], at.arrays["forces"] = at.get_potential_energy(), at.get_forces()
        at.calc = None
        cu.append(at)
    m = fit_ace(cu + _emt_frames(2), {"basis": "tiny", "cv_folds": 4})
    calc = m.calculator()
    err = []
    for at in _emt_frames(4, seed0=60):
        calc.calculate(at.copy(), ["forces"])
        err.append((calc.results["forces"] - at.arrays["forces"])[np.array(at.get_chemical_symbols()) == "Au"])
    true_au = float(np.sqrt(np.mean(np.concatenate(err) ** 2)))
    cv_au = m.info["cv_force_rmse_meV_A"]["Au"] / 1000.0
    assert 0.3 < cv_au / true_au < 3.0


def test_compressed_pair_frames_are_never_held_out_by_the_cv_noise():
    from ssic_flows.analysis.trajectory import Trajectory
    from ssic_flows.engines.ace.augment import compressed_pair_frames
    from ssic_flows.engines.ace.fit import AUGMENTED

    frames = _emt_frames(10)
    traj = Trajectory(species=frames[0].get_chemical_symbols(),
                      positions=np.array([a.positions for a in frames]),
                      cells=np.array([np.array(a.cell) for a in frames]), timestep_fs=1.0)
    aug = compressed_pair_frames(traj, (0.8, 0.88))
    assert aug.metadata["selected_by"] == AUGMENTED
    wall = []
    for i in range(aug.n_frames):
        at = aug.to_ase(i)
        at.calc = EMT()
        at.info["energy"], at.arrays["forces"] = at.get_potential_energy(), at.get_forces()
        at.calc = None
        wall.append(at)
    unmarked = fit_ace(frames + wall, {"basis": "tiny", "cv_folds": 4})
    for at in wall:
        at.info["selected_by"] = AUGMENTED
    marked = fit_ace(frames + wall, {"basis": "tiny", "cv_folds": 4})
    assert np.array_equal(marked.coefficients, unmarked.coefficients)  # same fit, other CV
    calc = marked.calculator()
    d = []
    for at in _emt_frames(4, seed0=70):
        calc.calculate(at.copy(), ["forces"])
        d.append(calc.results["forces"] - at.arrays["forces"])
    true = float(np.sqrt(np.mean(np.concatenate(d) ** 2)))
    cv_m = max(marked.info["cv_force_rmse_meV_A"].values()) / 1000.0
    cv_u = max(unmarked.info["cv_force_rmse_meV_A"].values()) / 1000.0
    assert 0.3 < cv_m / true < 3.0
    assert cv_u > 1.5 * cv_m  # holding out a wall frame measures extrapolation into the wall


def test_next_segment_continues_from_a_sane_candidate_only():
    from ssic_flows.analysis.trajectory import Trajectory
    from ssic_flows.engines.ace.jobs import next_start

    at = _cuau(0)
    cand = Trajectory(species=at.get_chemical_symbols(), positions=at.positions[None],
                      cells=np.array(at.cell)[None], timestep_fs=1.0)
    ok = next_start({"candidates": cand, "cand_beef": [0.2]}, threshold=0.08, sane_factor=5.0)
    assert ok is not None and len(ok["sites"]) == len(at)  # continues: 0.2 <= 5 x 0.08
    assert next_start({"candidates": cand, "cand_beef": [0.9]}, 0.08, 5.0) is None  # the onset
    assert next_start({"candidates": None, "cand_beef": []}, 0.08, 5.0) is None
