"""Physics tests of the analysis core on synthetic trajectories with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssic_flows.analysis.compare import (AGREES, DIFFERS, INCONCLUSIVE, NOT_DETERMINED,
                                         block_documents, compare_ensembles)
from ssic_flows.analysis.conductivity import arrhenius_fit, nernst_einstein
from ssic_flows.analysis.ensemble import EnsembleError, ensemble_stats
from ssic_flows.analysis.geometry import unwrapped_displacements
from ssic_flows.analysis.msd import msd, msd_fft_sums
from ssic_flows.analysis.rdf import partial_rdf
from ssic_flows.analysis.report_json import analyze_trajectory, write_json
from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.analysis.units import FS_INV_TO_CM_INV, KB_EV_PER_K
from ssic_flows.analysis.vanhove import van_hove
from ssic_flows.analysis.vdos import vdos


def brownian(D_cm2_s: float, n_atoms: int = 1000, n_frames: int = 1000, dt_fs: float = 10.0,
             L: float = 30.0, seed: int = 0, species: str = "Li", extra=None) -> Trajectory:
    """Independent 3-D random walkers, wrapped into a cubic box of side L Å."""
    rng = np.random.default_rng(seed)
    D = D_cm2_s / 0.1  # Å²/fs
    steps = rng.normal(scale=np.sqrt(2 * D * dt_fs), size=(n_frames, n_atoms, 3))
    steps[0] = rng.random((n_atoms, 3)) * L
    x = np.cumsum(steps, axis=0)
    sp = [species] * n_atoms
    if extra is not None:
        x = np.concatenate([x, extra], axis=1)
        sp += ["S"] * extra.shape[1]
    return Trajectory(sp, np.mod(x, L), np.eye(3) * L, dt_fs)


# ------------------------------------------------------------------ MSD
def test_fft_msd_equals_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4, 3)).cumsum(0)
    bf = np.array([((x[m:] - x[:60 - m]) ** 2).sum(axis=1).mean(axis=0) for m in range(60)])
    assert np.allclose(msd_fft_sums(x), bf, atol=1e-10)


def _brute_force_msd(tr: Trajectory, sp: str, fw: list[str]) -> np.ndarray:
    """Direct O(F²) MSD of species ``sp`` after removing the framework's COM displacement."""
    x = tr.unwrapped()
    m = tr.masses_amu
    f_idx = np.concatenate([tr.indices(e) for e in fw])
    R = np.einsum("fnk,n->fk", x[:, f_idx], m[f_idx]) / m[f_idx].sum()
    y = x[:, tr.indices(sp)] - R[:, None]
    nf = len(x)
    return np.array([((y[k:] - y[:nf - k]) ** 2).sum(-1).mean() for k in range(nf)])


@pytest.mark.parametrize("cell_kind", ["orthorhombic", "triclinic", "npt"])
def test_chunked_msd_equals_brute_force_any_cell(cell_kind):
    """Chunked unwrap + FFT + exact drift removal == the O(F²) definition, for interleaved
    species (a gather, not a view), chunks that do not divide the atom count, wrapped input
    with many boundary crossings, and constant, triclinic and per-frame (NPT) cells."""
    rng = np.random.default_rng(7)
    nf, n = 90, 23
    cell = np.array([[9.0, 0.0, 0.0], [2.0, 8.0, 0.0], [1.0, -1.5, 10.0]])
    if cell_kind == "orthorhombic":
        cell = np.diag([9.0, 8.0, 10.0])
    frac = rng.random((1, n, 3)) + np.cumsum(rng.normal(scale=0.08, size=(nf, n, 3)), axis=0)
    frac += np.linspace(0, 0.9, nf)[:, None, None] * np.array([1.0, -0.5, 0.3])  # a drift
    cells = np.broadcast_to(cell, (nf, 3, 3)).copy()
    if cell_kind == "npt":
        cells *= (1 + 0.03 * np.sin(np.arange(nf) / 7.0))[:, None, None]
    pos = np.einsum("fnj,fjk->fnk", frac % 1.0, cells)
    species = ["Na", "S"] * 11 + ["Na"]
    tr = Trajectory(species, pos, cells, 2.0)
    for chunk in (1, 4, 5, 64):
        m = msd(tr, species=["Na", "S"], drift="framework", mobile=["Na"], chunk_atoms=chunk)
        # one framework (S) for every species, S itself included
        assert np.allclose(m.msd_A2["Na"], _brute_force_msd(tr, "Na", ["S"]), rtol=1e-9, atol=1e-9)
        assert np.allclose(m.msd_A2["S"], _brute_force_msd(tr, "S", ["S"]), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="chunk_atoms"):
        msd(tr, chunk_atoms=0)
    # the same unwrapping, as displacements in the time-contiguous layout (van Hove uses it)
    na = tr.indices("Na")
    x = tr.unwrapped()[:, na]
    for chunk in (1, 5, 16):
        u = unwrapped_displacements(tr.positions, tr.cells, na, chunk_atoms=chunk)
        assert np.allclose(u, (x - x[:1]).transpose(1, 2, 0), atol=1e-9)


def test_brownian_D_recovered_both_estimates():
    D = 2.0e-5
    tr = brownian(D, n_atoms=2000, n_frames=800)
    m = msd(tr, drift="none", per_direction=True)
    assert m.D_fit_cm2_s["Li"] == pytest.approx(D, rel=0.03)
    assert m.D_final_cm2_s["Li"] == pytest.approx(D, rel=0.06)
    assert np.allclose(m.D_xyz_fit_cm2_s["Li"], D, rtol=0.06)
    # slope of MSD vs t is 6D (Å²/fs)
    t, y = m.t_fs, m.msd_A2["Li"]
    assert y[400] / t[400] == pytest.approx(6 * D / 0.1, rel=0.04)
    assert m.to_dict()["D_fit_cm2_s"]["Li"] == pytest.approx(m.D_fit_cm2_s["Li"])


def test_framework_drift_removed():
    D = 1.0e-5
    nf = 600
    rng = np.random.default_rng(3)
    fw = np.broadcast_to(rng.random((1, 50, 3)) * 30, (nf, 50, 3)).copy()
    tr = brownian(D, n_atoms=1000, n_frames=nf, extra=fw)
    drift = np.linspace(0, 40.0, nf)[:, None, None] * np.array([1.0, 0.5, 0.0])  # Å
    x = tr.unwrapped() + drift
    tr = tr.replace(positions=np.mod(x, 30.0))
    m_fw = msd(tr, species=["Li"], drift="framework")
    m_no = msd(tr, species=["Li"], drift="none")
    assert m_fw.D_fit_cm2_s["Li"] == pytest.approx(D, rel=0.04)
    # not removed, the drift dominates: the MSD is ballistic (∝ t²) and yields no D
    assert m_no.D_regime["Li"] == "ballistic" and m_no.D_fit_cm2_s["Li"] is None


# ------------------------------------------------------------------ VDOS
def oscillators(freqs_cm1: dict, n_per: int = 16, n_frames: int = 4000, dt_fs: float = 2.0,
                seed: int = 0) -> Trajectory:
    """Harmonic oscillators (Einstein crystal) at given wavenumbers with random phases."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) * dt_fs
    sp, pos, vel = [], [], []
    L = 20.0
    for s, nu in freqs_cm1.items():
        w = 2 * np.pi * nu / FS_INV_TO_CM_INV  # rad/fs
        ph = rng.random((n_per, 3)) * 2 * np.pi
        site = rng.random((n_per, 3)) * L
        A = 0.1
        pos.append(site + A * np.cos(w * t[:, None, None] + ph))
        vel.append(-A * w * np.sin(w * t[:, None, None] + ph))
        sp += [s] * n_per
    return Trajectory(sp, np.concatenate(pos, 1), np.eye(3) * L, dt_fs,
                      velocities=np.concatenate(vel, 1))


def test_vdos_peak_and_band_center():
    tr = oscillators({"Na": 127.5, "S": 400.0})
    v = vdos(tr)
    res = v.freq_cm1[1] - v.freq_cm1[0]
    for s, nu in (("Na", 127.5), ("S", 400.0)):
        assert v.freq_cm1[np.argmax(v.vdos[s])] == pytest.approx(nu, abs=res)
        assert v.freq_cm1[np.argmax(v.vdos_smoothed[s])] == pytest.approx(nu, abs=2 * res)
        assert v.band_center_cm1[s] == pytest.approx(nu, rel=0.01)
    # band centre over a stated window
    vw = vdos(tr, band_range_cm1=(300, 500))
    assert vw.band_center_cm1["S"] == pytest.approx(400.0, rel=0.005)
    assert np.isnan(vw.band_center_cm1["Na"]) and vw.to_dict()["band_center_cm-1"]["Na"] is None
    # mass weighting: N m / V × ∫ P dν = N m <v²>/V  (Parseval, per unit 1/fs)
    na = tr.indices("Na")
    freq_fs = v.freq_cm1 / FS_INV_TO_CM_INV
    area = np.trapezoid(v.vdos["Na"], freq_fs)
    v2 = (tr.velocities[:, na] ** 2).sum(-1).mean()
    m = tr.masses_amu[na[0]]
    assert area == pytest.approx(na.size * m / 8000.0 * v2 / 2, rel=0.02)  # one-sided spectrum
    assert json.loads(json.dumps(v.to_dict()))["band_center_cm-1"]["Na"] == pytest.approx(
        v.band_center_cm1["Na"])


def test_vdos_requires_velocities():
    tr = oscillators({"Na": 100.0}).replace(velocities=None)
    with pytest.raises(TrajectoryError, match="with_finite_difference_velocities"):
        vdos(tr)


# ------------------------------------------------------------------ g(r)
def bcc(a: float = 3.0, n: int = 4) -> Trajectory:
    g = np.array([[i, j, k] for i in range(n) for j in range(n) for k in range(n)], float)
    pos = np.concatenate([g, g + 0.5]) * a
    return Trajectory(["I"] * len(pos), pos[None], np.eye(3) * a * n, 1.0)


def test_bcc_first_shell_and_coordination():
    a = 3.0
    r = partial_rdf(bcc(a), dr_A=0.01)
    assert r.first_peak_A["I-I"] == pytest.approx(a * np.sqrt(3) / 2, abs=0.01)
    assert r.coordination["I-I"] == pytest.approx(8.0)


def test_triclinic_cell_counts_all_images():
    a = 3.0
    prim = np.array([[-.5, .5, .5], [.5, -.5, .5], [.5, .5, -.5]]) * a  # bcc primitive
    fr = np.array([[i, j, k] for i in range(3) for j in range(3) for k in range(3)], float)
    tr = Trajectory(["I"] * 27, (fr @ prim)[None], prim * 3, 1.0)
    r = partial_rdf(tr, dr_A=0.01, r_max_A=5.0)  # beyond half the cell width
    assert r.coordination["I-I"] == pytest.approx(8.0)
    # shells 8 (a√3/2) + 6 (a) + 12 (a√2) + 24 (a√11/2 = 4.97 Å) within 5 Å
    assert r.running_coordination["I-I"][-1] == pytest.approx(50.0)


def test_ideal_gas_g_is_one_and_npt_normalised():
    rng = np.random.default_rng(0)
    nf, n = 300, 60
    L = 10.0 + 2.0 * rng.random(nf)  # fluctuating box (NPT)
    frac = rng.random((nf, n, 3))
    pos = frac * L[:, None, None]
    cells = np.eye(3)[None] * L[:, None, None]
    tr = Trajectory(["Ag"] * 30 + ["I"] * 30, pos, cells, 1.0)
    r = partial_rdf(tr, dr_A=0.1, r_max_A=5.0)
    for k, g in r.g.items():
        tail = g[r.r_A > 2.0]
        assert tail.mean() == pytest.approx(1.0, abs=0.02), k
    assert set(r.g) == {"Ag-Ag", "Ag-I", "I-I"}
    assert np.allclose(r.get("I", "Ag"), r.g["Ag-I"])


# ------------------------------------------------------------------ van Hove
def test_vanhove_sum_rules():
    tr = brownian(5e-5, n_atoms=100, n_frames=400, dt_fs=5.0, L=20.0)
    vh = van_hove(tr, "Li", lags_fs=[0, 100, 500, 1000], r_max_A=10.0, dr_A=0.05, n_origins=50)
    norm = (vh.Gs_A3 * vh.shell_volumes_A3).sum(axis=1)
    assert np.allclose(norm, vh.self_fraction_in_range)
    assert np.allclose(norm, 1.0)
    assert vh.Gs_A3[0, 0] * vh.shell_volumes_A3[0] == pytest.approx(1.0)
    assert np.all(vh.Gs_A3[0, 1:] == 0)
    # ideal gas: distinct part -> 1 at large r for every lag
    for li in range(4):
        tail = vh.Gd[li, vh.r_A > 3.0]
        assert tail.mean() == pytest.approx(1.0, abs=0.03)
    # Gs of a Gaussian walker: <r²> = 6 D Δt
    D = 5e-5 / 0.1
    r2 = (vh.Gs_A3[2] * vh.shell_volumes_A3 * vh.r_self_A ** 2).sum()
    assert r2 == pytest.approx(6 * D * 500, rel=0.1)


def _brute_force_gd(tr: Trajectory, sp: str, lags: list[int], r_max: float, dr: float) -> np.ndarray:
    """Gd by its definition: every origin, every i != j, every image n in {-2..2}^3."""
    idx = tr.indices(sp)
    n, nf = idx.size, tr.n_frames
    nb = int(np.ceil(r_max / dr - 1e-9))
    edges = np.arange(nb + 1) * dr
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    images = np.array([(a, b, c) for a in range(-2, 3) for b in range(-2, 3) for c in range(-2, 3)])
    out = np.zeros((len(lags), nb))
    for li, lag in enumerate(lags):
        for t in range(nf - lag):
            cell = tr.cells[t + lag]
            fa = tr.positions[t + lag, idx] @ np.linalg.inv(cell)
            fb = tr.positions[t, idx] @ np.linalg.inv(tr.cells[t])
            d = (fa[None, :, None, :] - fb[:, None, None, :] + images[None, None]) @ cell
            r = np.linalg.norm(d, axis=-1)[~np.eye(n, dtype=bool)].ravel()
            h = np.bincount((r[r < r_max] / dr).astype(int), minlength=nb)[:nb]
            out[li] += h * abs(np.linalg.det(cell))
        out[li] /= n * (n - 1) * (nf - lag) * shell
    return out


@pytest.mark.parametrize("case", ["box", "box_large_cutoff", "triclinic", "npt"])
def test_vanhove_distinct_part_equals_definition(case):
    """Gd from the fast box path and from the general image path == the definition."""
    rng = np.random.default_rng(11)
    nf, n = 24, 10
    cell = np.diag([7.0, 8.0, 9.0])
    if case == "triclinic":
        cell = np.array([[7.0, 0.0, 0.0], [1.5, 8.0, 0.0], [-1.0, 2.0, 9.0]])
    cells = np.broadcast_to(cell, (nf, 3, 3)).copy()
    if case == "npt":
        cells *= (1 + 0.02 * np.sin(np.arange(nf)))[:, None, None]
    frac = (rng.random((1, n, 3)) + np.cumsum(rng.normal(scale=0.05, size=(nf, n, 3)), 0)) % 1.0
    tr = Trajectory(["Li"] * n, np.einsum("fnj,fjk->fnk", frac, cells), cells, 1.0)
    r_max = 5.5 if case == "box_large_cutoff" else 3.2  # 5.5 Å > half the 7 Å box
    lags = [0, 3, 10]
    vh = van_hove(tr, "Li", lags_fs=lags, r_max_A=r_max, dr_A=0.1, n_origins=10**6)
    assert np.allclose(vh.Gd, _brute_force_gd(tr, "Li", lags, r_max, 0.1), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ ensembles and compare
def test_ensemble_stats_known_numbers():
    members = [{"D_cm2_s": {"Li": x}, "r_A": [0.1, 0.2], "g": [x, 2 * x], "label": "a"}
               for x in (1.0, 2.0, 3.0, 4.0)]
    s = ensemble_stats(members)
    assert s["D_cm2_s"]["Li"]["mean"] == 2.5
    assert s["D_cm2_s"]["Li"]["std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s["D_cm2_s"]["Li"]["sem"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert s["D_cm2_s"]["Li"]["n"] == 4
    assert s["r_A"] == [0.1, 0.2]
    assert s["g"]["mean"] == [2.5, 5.0]
    assert s["label"] == "a"
    bad = [{"r_A": [0.1, 0.2]}, {"r_A": [0.1, 0.3]}]
    with pytest.raises(EnsembleError, match="r_A"):
        ensemble_stats(bad)
    with pytest.raises(EnsembleError, match="truncate"):
        ensemble_stats([{"m": [1, 2, 3]}, {"m": [1, 2]}])
    assert ensemble_stats([{"m": [1, 2, 3]}, {"m": [3, 4]}], truncate=True)["m"]["mean"] == [2, 3]


def _docs(D, seeds):
    kw = dict(r_max_A=8.0, vanhove_lags=4, vanhove_origins=20, species=["Li"], rdf_frames=20)
    return [analyze_trajectory(brownian(D, n_atoms=200, n_frames=200, L=20.0, seed=s), **kw)
            for s in seeds]


def test_compare_agrees_and_differs():
    ref = _docs(2e-5, [1, 2, 3])
    same = _docs(2e-5, [4, 5, 6])
    fast = _docs(6e-5, [7, 8, 9])
    c_same = {c.observable: c for c in compare_ensembles(ref, same)}
    c_fast = {c.observable: c for c in compare_ensembles(ref, fast)}
    assert c_same["D Li"].verdict == AGREES  # |ΔD| + 95 % bound < 30 % of D
    assert c_same["D Li"].value + c_same["D Li"].uncertainty < 0.3 * 2e-5
    assert c_fast["D Li"].verdict == DIFFERS and c_fast["D Li"].p_holm < 0.05
    assert c_fast["D Li"].value == pytest.approx(4e-5, rel=0.3)
    assert c_fast["Gs Li"].verdict == DIFFERS
    assert c_same["vdos Li"].verdict == AGREES  # white spectrum of the walkers both sides
    # g(r) of 200 slow walkers is one ideal-gas snapshot per run: W1 noise ≈ 0.04 Å, too
    # close to the 0.05 Å tolerance to claim agreement, and no evidence of a difference
    assert c_same["g(r) Li-Li"].verdict == INCONCLUSIVE
    assert c_same["D Li"].noise_source == "seed-to-seed"
    assert DIFFERS not in {c.verdict for c in c_same.values()}


def test_compare_single_runs_use_block_noise():
    kw = dict(r_max_A=8.0, vanhove_lags=4, vanhove_origins=20, species=["Li"], rdf_frames=400)
    a = brownian(2e-5, n_atoms=200, n_frames=400, L=20.0, seed=11)
    b = brownian(8e-5, n_atoms=200, n_frames=400, L=20.0, seed=12)
    da, db = analyze_trajectory(a, **kw), analyze_trajectory(b, **kw)
    res = {c.observable: c for c in compare_ensembles(
        [da], [db], [block_documents(a, **kw)], [block_documents(b, **kw)])}
    assert res["D Li"].noise_source.startswith("block averages") and res["D Li"].n_blocks >= 2
    assert res["D Li"].verdict == DIFFERS
    # one run a side and no blocks: no noise estimate, so nothing can be claimed
    bare = compare_ensembles([da], [db])
    assert {c.verdict for c in bare} <= {INCONCLUSIVE, NOT_DETERMINED}
    assert all(c.p_value is None for c in bare)


# ------------------------------------------------------------------ conductivity
def test_nernst_einstein_hand_value():
    # 20 Li+ in 1000 Å³ at 300 K with D = 1e-6 cm²/s:
    # n = 2e22 cm⁻³; σ = n e² D / (kB T) = 2e22 × (1.602176634e-19)² × 1e-6 / (1.380649e-23 × 300)
    hand = 2e22 * 1.602176634e-19 ** 2 * 1e-6 / (1.380649e-23 * 300)
    c = nernst_einstein(1e-6, 20, 1000.0, 300.0)
    assert c.sigma_S_cm == pytest.approx(hand, rel=1e-12)
    assert c.sigma_S_cm == pytest.approx(0.1239, rel=1e-3)
    assert nernst_einstein(1e-6, 20, 1000.0, 300.0, charge_e=2).sigma_S_cm == pytest.approx(4 * hand)


def test_arrhenius_recovers_Ea():
    T = np.array([500.0, 600.0, 700.0, 800.0, 900.0])
    D = 3e-3 * np.exp(-0.25 / (KB_EV_PER_K * T))
    f = arrhenius_fit(T, D)
    assert f.Ea_eV == pytest.approx(0.25, rel=1e-9)
    assert f.prefactor == pytest.approx(3e-3, rel=1e-9)
    st = arrhenius_fit(T, D / T * 7.0, multiply_by_T=True)
    assert st.Ea_eV == pytest.approx(0.25, rel=1e-9)
    assert st.predict(650.0) == pytest.approx(7.0 * 3e-3 * np.exp(-0.25 / (KB_EV_PER_K * 650)) / 650)
    with pytest.raises(ValueError, match="two distinct"):
        arrhenius_fit([500, 500], [1e-6, 2e-6])


# ------------------------------------------------------------------ report
def test_analyze_trajectory_document(tmp_path):
    tr = oscillators({"Ag": 25.0, "I": 100.0}, n_per=16, n_frames=400, dt_fs=5.0)
    tr.metadata["temperature_K"] = 500.0
    doc = analyze_trajectory(tr, species=["Ag"], vanhove_lags=3, vanhove_origins=10)
    for key in ("D_cm2_s", "D_final_cm2_s", "band_center_cm-1", "gr_first_peak_A",
                "msd", "rdf", "vdos", "vanhove", "sigma_S_cm"):
        assert key in doc, key
    assert "Ag-I" in doc["gr_first_peak_A"]
    assert doc["band_center_cm-1"]["Ag"] == pytest.approx(25.0, rel=0.05)
    # oscillators (amplitude 0.1 Å) do not diffuse: MSD stays below (2·0.1 Å)²·3
    assert max(doc["msd"]["msd_A2"]["Ag"]) < 0.12
    assert doc["D_cm2_s"]["Ag"] is None and doc["D_status"]["Ag"].startswith("not diffusing")
    p = write_json(doc, tmp_path / "a.json")
    assert json.loads(p.read_text())["vdos"]["freq_cm-1"][0] == 0.0
    doc2 = analyze_trajectory(tr.replace(velocities=None), vanhove_lags=2, vanhove_origins=5)
    # positions only (as vasprun.xml): VDOS from central differences, marked derived
    assert "vdos" not in doc2["skipped"] and doc2["velocities_derived"] is True
    assert doc2["band_center_cm-1"]["Ag"] == pytest.approx(25.0, rel=0.05)


def test_quickplots_one_png_per_observable(tmp_path):
    from ssic_flows.analysis.quickplots import plot_analysis

    tr = oscillators({"Ag": 25.0, "I": 100.0}, n_per=8, n_frames=200, dt_fs=5.0)
    doc = analyze_trajectory(tr, species=["Ag"], vanhove_lags=3, vanhove_origins=5)
    paths = plot_analysis(doc, tmp_path / "plots")
    assert sorted(p.name for p in paths) == ["msd.png", "rdf.png", "vanhove_Ag.png", "vdos.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
