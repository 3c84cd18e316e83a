"""Study-level analysis: equal-length comparisons, verdicts that track the physics."""

from __future__ import annotations

from test_plots import synthetic_run

from ssic_flows.analysis.study import analyze_study

KW = {"vanhove_lags": 4, "vanhove_origins": 10}


def _verdict(res, label, obs):
    return next(c for c in res["comparisons"][label] if c["observable"] == obs)


def test_same_process_never_differs_and_different_D_differs():
    ref = synthetic_run(1.0e-4, seed=1, n_frames=300)
    same = [synthetic_run(1.0e-4, seed=10 + i, n_frames=300) for i in range(4)]
    res = analyze_study(ref, same, mobile=["Li"], analysis_settings=KW)
    verdicts = {c["observable"]: c["verdict"] for c in res["comparisons"]["reference vs mlmd"]}
    assert verdicts["D Li"] in ("agrees", "inconclusive")
    assert "differs" not in verdicts.values()  # one process: no false "differs" here
    assert set(verdicts.values()) <= {"agrees", "inconclusive", "not determined"}
    cal = res["verdict_calibration"]  # measured on the 4 MLMD seeds split 2 + 2, 3 ways
    assert cal["n_seeds"] == 4 and cal["n_splits"] == 3 and cal["rate"] <= 0.05
    fast = [synthetic_run(4.0e-4, seed=20 + i, n_frames=300) for i in range(4)]
    res2 = analyze_study(ref, fast, mobile=["Li"], analysis_settings=KW)
    v = _verdict(res2, "reference vs mlmd", "D Li")
    assert v["verdict"] == "differs" and v["value"] > v["tolerance"] and v["p_holm"] < 0.05
    # D recovered from the ensemble: 4x the reference within the seed-to-seed scatter
    d_ref = res2["scalars"]["reference"]["D_cm2_s"]["Li"]["mean"]
    d_ml = res2["scalars"]["mlmd"]["D_cm2_s"]["Li"]
    assert d_ml["n"] == 4 and 2.5 < d_ml["mean"] / d_ref < 6.0


def test_short_transfer_run_does_not_truncate_reference_vs_mlmd():
    ref = synthetic_run(1.0e-4, seed=1, n_frames=200)
    mlmd = [synthetic_run(1.0e-4, seed=10 + i, n_frames=240) for i in range(2)]
    transfer = synthetic_run(1.0e-4, seed=30, n_frames=60)
    res = analyze_study(ref, mlmd, mobile=["Li"], transfer=transfer, analysis_settings=KW)
    # values per role from the full runs; only the verdicts cut to a common length
    assert res["n_frames_by_role"] == {"reference": 200, "mlmd": 240, "transfer": 60}
    assert [d["n_frames"] for d in res["documents"]["mlmd"]] == [240, 240]
    assert {c["n_frames"] for c in res["comparisons"]["reference vs mlmd"]} == {200}
    assert {c["n_frames"] for c in res["comparisons"]["transfer vs mlmd"]} == {60}
    cut = res["scalars_compared"]["reference vs mlmd"]
    assert cut["n_frames"] == 200 and set(cut) == {"n_frames", "reference", "mlmd"}
    assert res["scalars"]["mlmd"]["gr_first_peak_A"] != cut["mlmd"]["gr_first_peak_A"]
    assert res["scalars_basis"].startswith("full runs after 0 ps equilibration")


def test_runs_of_equal_length_are_analysed_once(monkeypatch):
    """A run that is not cut for a comparison reuses its whole-run document."""
    import ssic_flows.analysis.study as study

    ref = synthetic_run(1e-5, seed=0)
    mlmd = [synthetic_run(1e-5, seed=1), synthetic_run(1e-5, seed=2)]
    calls: list[int] = []
    real = study.analyze_trajectory

    def counting(traj, **kw):
        calls.append(traj.n_frames)
        return real(traj, **kw)

    monkeypatch.setattr(study, "analyze_trajectory", counting)
    res = analyze_study(ref, mlmd, mobile=["Li"], analysis_settings=KW)
    assert calls.count(ref.n_frames) == 3 and len(calls) == 3  # once per run, not twice
    assert res["documents"]["mlmd"][0]["n_frames"] == ref.n_frames


def test_equilibration_is_cut_from_every_run_before_analysis():
    """A start-up transient (every Li flying off its built site at 0.08 Å/fs for 0.1 ps)
    biases D unless the first equilibration_ps is cut; cut, D is the walkers' own."""
    import numpy as np

    def with_transient(tr, n0=50):
        x = tr.unwrapped()
        li = tr.indices("Li")
        rng = np.random.default_rng(7)
        v = rng.normal(size=(li.size, 3))
        v *= 0.08 / np.linalg.norm(v, axis=1, keepdims=True)
        ramp = np.minimum(np.arange(tr.n_frames), n0)[:, None, None] * tr.timestep_fs
        x[:, li] += ramp * v[None]
        return tr.replace(positions=np.mod(x, np.diag(tr.cells[0])))

    D = 1.0e-4
    ref = with_transient(synthetic_run(D, seed=1, n_frames=400))
    mlmd = [with_transient(synthetic_run(D, seed=10 + i, n_frames=400)) for i in range(2)]
    raw = analyze_study(ref, mlmd, mobile=["Li"], analysis_settings=KW)
    cut = analyze_study(ref, mlmd, mobile=["Li"], analysis_settings=KW, equilibration_ps=0.1)
    assert cut["equilibration_ps"] == 0.1
    assert all(d["n_frames"] == 350 for ds in cut["documents"].values() for d in ds)
    d_cut = cut["scalars"]["mlmd"]["D_cm2_s"]["Li"]
    assert d_cut["mean"] is not None and abs(d_cut["mean"] - D) < 0.3 * D
    d_raw = raw["scalars"]["mlmd"]["D_cm2_s"]["Li"]
    assert d_raw.get("status") or abs(d_raw["mean"] - D) > 0.5 * D  # the transient is not D
