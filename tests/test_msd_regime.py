"""D only from a diffusive MSD, in one framework (issue 13 items 1, 2; physics answers)."""

from __future__ import annotations

import numpy as np
import pytest
from test_analysis_core import brownian, oscillators

from ssic_flows.analysis.msd import msd
from ssic_flows.analysis.msd_regime import classify_msd
from ssic_flows.analysis.report_json import analyze_trajectory
from ssic_flows.analysis.trajectory import Trajectory


def test_static_sublattice_among_walkers_has_no_D():
    """One framework (the non-mobile species) for every species: a static sublattice
    among 20 random walkers has MSD 0, not the walkers' centre-of-mass wander (D_Li/20)."""
    D = 1.0e-4
    rng = np.random.default_rng(4)
    still = np.broadcast_to(rng.random((1, 30, 3)) * 30, (600, 30, 3)).copy()
    tr = brownian(D, n_atoms=20, n_frames=600, extra=still)
    for mobile in (["Li"], None):  # given, and chosen from the data
        m = msd(tr, mobile=mobile)
        assert m.mobile == ("Li",) and m.framework == ("S",)
        assert np.abs(m.msd_A2["S"]).max() < 1e-9
        assert m.D_fit_cm2_s["S"] is None and m.D_regime["S"] == "not diffusing"
        assert m.D_regime["Li"] == "diffusive" and m.D_fit_cm2_s["Li"] == pytest.approx(D, rel=0.5)


def test_ballistic_trajectory_gives_no_D():
    rng = np.random.default_rng(0)
    v = rng.normal(scale=0.01, size=(1, 64, 3))  # Å/fs
    x = rng.random((1, 64, 3)) * 20 + v * np.arange(300.0)[:, None, None] * 2.0
    tr = Trajectory(["Ag"] * 64, np.mod(x, 20.0), np.eye(3) * 20.0, 2.0)
    m = msd(tr, per_direction=True)
    assert m.D_regime["Ag"] == "ballistic"
    assert m.D_fit_cm2_s["Ag"] is None and m.D_final_cm2_s["Ag"] is None
    assert m.D_xyz_fit_cm2_s["Ag"] is None
    assert "ballistic" in m.D_status["Ag"] and "needs ≥ 3.6 ps" in m.D_status["Ag"]
    doc = analyze_trajectory(tr, species=["Ag"], temperature_K=500.0, charges={"Ag": 1.0},
                             vanhove_lags=2, vanhove_origins=5, optional=False)
    assert doc["D_cm2_s"] == {"Ag": None} and doc["D_final_cm2_s"] == {"Ag": None}
    assert doc["sigma_S_cm"] == {"Ag": None}
    assert doc["D_status"]["Ag"].startswith("ballistic")
    assert "not determined" in doc["skipped"]["sigma_S_cm"]


def test_brownian_D_within_its_statistical_error():
    """Eight independent runs: the mean is within 3 standard errors of the input and every
    run within 4 standard deviations (the spread is the estimate's error, so it is checked)."""
    D = 5.0e-5
    ds = []
    for seed in range(8):
        m = msd(brownian(D, n_atoms=50, n_frames=400, seed=seed), drift="none")
        assert m.D_regime["Li"] == "diffusive", m.D_status["Li"]
        ds.append(m.D_fit_cm2_s["Li"])
    ds = np.asarray(ds)
    sd = ds.std(ddof=1)
    assert abs(ds.mean() - D) < 3 * sd / np.sqrt(ds.size)
    assert np.all(np.abs(ds - D) < 4 * sd)
    assert 0.02 < sd / D < 0.3  # 50 walkers, 400 frames: a few % per run


def test_plateau_plus_linear_is_diffusive_and_oscillators_are_not():
    """A vibrational offset on a diffusive MSD is accepted (the log-log slope would not be);
    harmonic oscillators (a bounded plateau) are "not diffusing" with no D."""
    D = 5.0e-5
    tr = brownian(D, n_atoms=200, n_frames=600, dt_fs=5.0)
    rng = np.random.default_rng(1)
    t = np.arange(600) * 5.0
    w = 2 * np.pi * 200.0 / 33356.4  # 200 cm⁻¹ in rad/fs
    vib = 0.4 * np.cos(w * t[:, None, None] + rng.random((1, 200, 3)) * 2 * np.pi)
    m = msd(tr.replace(positions=np.mod(tr.unwrapped() + vib, 30.0)), drift="none")
    tw = m.t_fs[(m.t_fs >= 0.1 * m.t_fs[-1]) & (m.t_fs <= 0.6 * m.t_fs[-1])]
    y = m.msd_A2["Li"][(m.t_fs >= 0.1 * m.t_fs[-1]) & (m.t_fs <= 0.6 * m.t_fs[-1])]
    loglog = np.polyfit(np.log(tw), np.log(y), 1)[0]
    assert loglog < 0.9  # not "t¹" in log-log, yet linear
    assert m.D_regime["Li"] == "diffusive" and m.D_fit_cm2_s["Li"] == pytest.approx(D, rel=0.1)
    osc = msd(oscillators({"Ag": 100.0, "I": 60.0}, n_per=16, n_frames=2000))
    for sp in ("Ag", "I"):
        assert osc.D_regime[sp] == "not diffusing" and osc.D_fit_cm2_s[sp] is None
        assert "vibrational plateau" in osc.D_status[sp]


def test_classify_msd_bands_and_statistics():
    t = np.arange(0.0, 601.0)
    assert classify_msd(t, 1.0 + 0.05 * t, 20).regime == "diffusive"
    r = classify_msd(t, 1e-3 * t ** 2, 20)
    assert r.regime == "ballistic" and r.slope_ratio == pytest.approx(2.1, abs=0.02)
    assert classify_msd(t, 1e-2 * t ** 1.2 + 0.5, 20).regime == "diffusive"  # band: ratio 1.12
    few = classify_msd(t, 0.2 + 1e-3 * t, 10)  # 10 ions × 0.6 Å² = 6 Å² < 50 Å²
    assert few.regime == "too few displacements" and "needs ≥ 5 ps" in few.reason
    assert classify_msd(t, 0.3 + 0.02 * np.sqrt(t), 20).regime in ("sub-linear", "not diffusing")


def test_gs_covers_every_displacement_and_removes_the_framework_drift():
    """Gs needs no minimum image: its axis reaches past half the cell to every displacement
    (sum rule exact), and the framework drift is removed as in the MSD."""
    from ssic_flows.analysis.msd import framework_drift_A
    from ssic_flows.analysis.vanhove import van_hove

    D, nf, L = 2.0e-4, 400, 12.0
    rng = np.random.default_rng(2)
    still = np.broadcast_to(rng.random((1, 20, 3)) * L, (nf, 20, 3)).copy()
    tr = brownian(D, n_atoms=60, n_frames=nf, dt_fs=5.0, L=L, extra=still)
    drift = np.linspace(0.0, 25.0, nf)[:, None] * np.array([1.0, 0.3, 0.0])  # Å, > the cell
    moved = tr.replace(positions=np.mod(tr.unwrapped() + drift[:, None, :], L))
    lags = [0, 500, 1000]
    ref = van_hove(tr, "Li", lags_fs=lags, r_max_A=L / 2, n_origins=50, distinct=False)
    assert ref.r_self_A[-1] > L / 2 and np.allclose(ref.self_fraction_in_range, 1.0)
    assert np.allclose((ref.Gs_A3 * ref.shell_volumes_A3).sum(axis=1), 1.0)
    fw = framework_drift_A(moved, ["Li"])
    assert np.allclose(fw, drift - drift[:1], atol=1e-9)
    vh = van_hove(moved, "Li", lags_fs=lags, r_max_A=L / 2, n_origins=50, distinct=False,
                  r_self_max_A=float(ref.r_self_A[-1] + 0.025), drift_A=fw)
    assert vh.drift_corrected and np.allclose(vh.Gs_A3, ref.Gs_A3, atol=1e-9)
    raw = van_hove(moved, "Li", lags_fs=lags, r_max_A=L / 2, n_origins=50, distinct=False)
    r2 = [(g * raw.shell_volumes_A3 * raw.r_self_A ** 2).sum() for g in raw.Gs_A3]
    assert r2[2] > 2 * (6 * D / 0.1 * 1000)  # uncorrected, the drift dominates Gs
