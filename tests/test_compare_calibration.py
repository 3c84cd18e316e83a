"""Calibration of the verdicts (issue 13 item 10): two independent ensembles of one process
give ≤ 5 % false "differs"; a real difference (D × 2) is called "differs"; too few or too
noisy runs give "inconclusive"; an undetermined D gets no verdict.

The process is ergodic and has one Hamiltonian for every seed (as independent MD runs of one
engine do): Brownian Li walkers (D exact) and a framework of isotropic harmonic oscillators
(300 cm⁻¹, underdamped Langevin, BAOAB) on a simple-cubic lattice, started in equilibrium.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ssic_flows.analysis.compare import (AGREES, DIFFERS, INCONCLUSIVE, NOT_DETERMINED,
                                         block_documents, compare_ensembles, false_differs_rate,
                                         holm)
from ssic_flows.analysis.report_json import analyze_trajectory
from ssic_flows.analysis.trajectory import Trajectory

KW = {"species": ["Li"], "vanhove_lags": 4, "vanhove_origins": 20, "r_max_A": 6.5, "rdf_frames": 75}
CM1_TO_RAD_FS = 2 * np.pi * 2.99792458e-5


def walkers_and_framework(D_cm2_s: float, seed: int, n_frames: int = 300, dt_fs: float = 2.0,
                          n_li: int = 64, side: int = 4, spacing: float = 3.5,
                          nu_cm1: float = 300.0, amp_A: float = 0.1, gamma_fs: float = 0.01
                          ) -> Trajectory:
    """Li random walkers + S harmonic oscillators (rms amplitude ``amp_A`` per axis), Å / fs."""
    rng = np.random.default_rng(seed)
    L = side * spacing
    sites = (np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) * spacing
    w = nu_cm1 * CM1_TO_RAD_FS
    x = rng.normal(scale=amp_A, size=sites.shape)
    v = rng.normal(scale=amp_A * w, size=sites.shape)
    c1 = np.exp(-gamma_fs * dt_fs)
    c2 = np.sqrt(1 - c1 ** 2) * amp_A * w
    fw = np.empty((n_frames,) + sites.shape)
    for f in range(n_frames):  # BAOAB with the record step as time step (w dt = 0.11)
        fw[f] = x
        v -= 0.5 * dt_fs * w ** 2 * x
        x = x + 0.5 * dt_fs * v
        v = c1 * v + c2 * rng.standard_normal(v.shape)
        x = x + 0.5 * dt_fs * v
        v -= 0.5 * dt_fs * w ** 2 * x
    steps = rng.normal(scale=np.sqrt(2 * D_cm2_s / 0.1 * dt_fs), size=(n_frames, n_li, 3))
    steps[0] = rng.random((n_li, 3)) * L
    pos = np.concatenate([sites + fw, np.cumsum(steps, axis=0)], axis=1)
    sp = ["S"] * len(sites) + ["Li"] * n_li
    tr = Trajectory(sp, np.mod(pos, L), np.eye(3) * L, dt_fs, metadata={"temperature_K": 600.0})
    return tr.with_finite_difference_velocities()


def ensemble(D: float, seeds, **kw) -> tuple[list[dict], list[list[dict]]]:
    trs = [walkers_and_framework(D, s, **kw) for s in seeds]
    return [analyze_trajectory(t, **KW) for t in trs], [block_documents(t, **KW) for t in trs]


def test_holm_hand_values():
    # p sorted 0.01, 0.02, 0.04 → 3×0.01, max(0.03, 2×0.02), max(0.04, 1×0.04)
    assert np.allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    assert np.allclose(holm([0.5, 0.6]), [1.0, 1.0])


def test_two_ensembles_of_one_process_give_at_most_5_percent_false_differs():
    verdicts: Counter = Counter()
    per_repeat = []
    for rep in range(8):
        a = ensemble(1e-4, range(100 * rep, 100 * rep + 5))
        b = ensemble(1e-4, range(100 * rep + 50, 100 * rep + 55))
        res = [c for c in compare_ensembles(*a[:1], *b[:1], a[1], b[1])
               if c.verdict != NOT_DETERMINED]
        verdicts.update(c.verdict for c in res)
        per_repeat.append(sum(c.verdict == DIFFERS for c in res) / len(res))
    n = sum(verdicts.values())
    assert n >= 64  # ≥ 8 determined observables per repeat
    assert verdicts[DIFFERS] / n <= 0.05
    assert max(per_repeat) <= 0.125  # never more than one observable in eight
    assert verdicts[AGREES] > 0  # the procedure can say "agrees", not only "not differs"


def test_false_differs_rate_measured_on_one_ensemble():
    docs, blocks = ensemble(1e-4, range(200, 205))
    cal = false_differs_rate(docs, blocks)
    assert cal["n_seeds"] == 5 and cal["n_splits"] == 10 and cal["n_tests"] >= 80
    assert cal["rate"] is not None and cal["rate"] <= 0.05
    few = false_differs_rate(docs[:3], blocks[:3])
    assert few["rate"] is None and "needs >= 4 seeds" in few["reason"]


def test_doubled_D_differs():
    ref = ensemble(1e-4, [1])
    fast = ensemble(2e-4, range(10, 15))
    res = {c.observable: c for c in compare_ensembles(ref[0], fast[0], ref[1], fast[1])}
    d = res["D Li"]
    assert d.verdict == DIFFERS, d
    assert d.value == pytest.approx(1e-4, rel=0.35)  # |Δ| ≈ the true 1e-4 cm²/s
    assert d.p_holm < 0.05 and d.value > d.tolerance
    assert res["Gs Li"].verdict == DIFFERS
    # the framework is the same on both sides: its g(r) is not called different
    assert res["g(r) S-S"].verdict != DIFFERS


def test_too_few_or_too_noisy_runs_are_inconclusive():
    a, b = ensemble(1e-4, [1]), ensemble(1e-4, [2])
    # one run a side and no blocks: there is no noise estimate at all
    res = compare_ensembles(a[0], b[0])
    assert {c.verdict for c in res} <= {INCONCLUSIVE, NOT_DETERMINED}
    assert all(c.uncertainty is None for c in res)
    # one reference run and two short test runs with few walkers: D is determined (ions × 6Dt
    # ≥ 50 Å²) but its 1-dof seed-to-seed uncertainty is mostly larger than the 30 % tolerance
    kw = {"n_frames": 200, "n_li": 16}
    verdicts = []
    for s in range(0, 36, 3):
        a, b = ensemble(3e-4, [s], **kw), ensemble(3e-4, [s + 1, s + 2], **kw)
        d = next(c for c in compare_ensembles(a[0], b[0], a[1], b[1]) if c.observable == "D Li")
        if d.verdict != NOT_DETERMINED:
            verdicts.append(d.verdict)
            assert d.verdict != INCONCLUSIVE or d.uncertainty + d.value >= d.tolerance
    assert len(verdicts) >= 8 and DIFFERS not in verdicts
    assert verdicts.count(INCONCLUSIVE) >= 2 / 3 * len(verdicts)


def test_undetermined_D_gets_no_verdict():
    docs = [{"D_cm2_s": {"Li": 1e-5}}, {"D_cm2_s": {"Li": None}},
            {"D_cm2_s": {"Li": 1.1e-5}}, {"D_cm2_s": {"Li": 0.9e-5}}]
    c = compare_ensembles(docs[:2], docs[2:])[0]
    assert c.verdict == NOT_DETERMINED and c.value is None and c.p_value is None
    assert "1 of 4" in c.reason


def test_block_without_a_section_contributes_no_block_noise():
    """A short block whose document lacks a section (e.g. no tetrahedra) must not break the
    comparison: its within-run term is skipped and the seed-to-seed estimate is used."""
    rng = np.random.default_rng(3)
    x = np.linspace(0, 1, 20)

    def doc():
        return {"distributions": {"rho": {"x": x.tolist(), "density": (1 + 0.05 * rng.normal(size=20)).tolist()}}}
    ref, test = [doc() for _ in range(3)], [doc() for _ in range(3)]
    c = compare_ensembles(ref, test, [[{}, {}]] * 3, [[{}, {}]] * 3)[0]
    assert c.observable == "distributions rho" and c.noise_source == "seed-to-seed"
    assert c.verdict == AGREES  # 5 % noise on a flat density: JS distance ≪ 0.1


def test_curve_with_undefined_points_is_not_determined():
    """A curve with null points (JSON has no NaN) must give no verdict, never a "differs"
    from a NaN distance."""
    x = np.linspace(0, 1, 10).tolist()
    good = {"distributions": {"rho": {"x": x, "density": [1.0] * 10}}}
    bad = {"distributions": {"rho": {"x": x, "density": [1.0] * 9 + [None]}}}
    c = compare_ensembles([good, good], [good, bad])[0]
    assert c.verdict == NOT_DETERMINED and "1 of 4" in c.reason
