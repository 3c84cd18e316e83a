"""Physics tests for tetrahedra (θ, ω, filter), ρ(r, ϕ) and force errors (issue #3 items 4, 6, 7)."""

from __future__ import annotations

import numpy as np
import pytest

from ssic_flows.analysis.forces import ForceErrorInputError, force_errors
from ssic_flows.analysis.rphi import r_phi_by_polyanion, r_phi_density
from ssic_flows.analysis.filters import FilterError, lowpass_zero_phase
from ssic_flows.analysis.tetrahedra.angles import tetrahedral_angles
from ssic_flows.analysis.tetrahedra.detect import (
    ANGLE_TRIPLES,
    TetrahedraError,
    TetrahedraIndex,
    angles_from_vertices_deg,
    find_tetrahedra,
    find_tetrahedra_from_trajectory,
)
from ssic_flows.analysis.tetrahedra.omega import angular_velocity, filter_theta, omega_density, theta_density
from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.analysis.units import wavenumber_cm1_to_frequency_per_fs

A_AGI = 5.07  # Å, α-AgI bcc lattice parameter
TET_DIRS = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3.0)
ANGLE_BCC_APEX = np.degrees(np.arccos(1.0 / 3.0))  # 70.53°
ANGLE_BCC_BASE = np.degrees(np.arccos(1.0 / np.sqrt(3.0)))  # 54.74°


def bcc_lattice(reps=(4, 4, 2), a=A_AGI):
    grid = np.stack(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij"), -1).reshape(-1, 1, 3)
    pts = ((grid + np.array([[0, 0, 0], [0.5, 0.5, 0.5]])) * a).reshape(-1, 3)
    return pts, np.diag(np.array(reps, dtype=float) * a)


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def ps4_structure(rng, n_side=2, spacing=7.0, bond=2.05):
    """n_side³ randomly oriented PS4 units on a grid plus one Li per unit, shifted to straddle the cell edge."""
    cell = np.eye(3) * n_side * spacing
    species, pos, units = [], [], []
    for c in np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3):
        p = (c + 0.5) * spacing
        units.append((len(pos), list(range(len(pos) + 1, len(pos) + 5))))
        species.append("P")
        pos.append(p)
        for d in TET_DIRS @ random_rotation(rng).T:
            species.append("S")
            pos.append(p + bond * d)
        species.append("Li")
        pos.append(p + np.array([spacing / 2, 0.3, -0.2]))
    pos = (np.array(pos) + 0.5 * spacing - 0.4) % np.diag(cell)  # units now cross the periodic boundary
    return species, pos, cell, units


# ---------------------------------------------------------------------------- θ geometry
def test_regular_tetrahedron_all_12_angles_are_60_deg():
    theta = angles_from_vertices_deg(2.05 * TET_DIRS @ random_rotation(np.random.default_rng(1)).T + 3.0)
    assert theta.shape == (12,)
    np.testing.assert_allclose(theta, 60.0, atol=1e-9)
    # every angle slot has distinct vertices and each face's angles sum to 180°
    assert all(len(set(t)) == 3 for t in ANGLE_TRIPLES.tolist())


def test_bcc_iodide_tetrahedra_count_and_angles():
    pos, cell = bcc_lattice()  # 64 I: the iodide lattice of the 128-atom α-AgI cell
    species = ["I"] * len(pos) + ["Ag"] * 3
    pos = np.vstack([pos, [[A_AGI / 2, A_AGI / 4, 0.0], [1.0, 1.0, 1.0], [7.0, 2.0, 3.0]]])
    idx = find_tetrahedra(species, pos, cell, None, "I")
    assert idx.n_tetrahedra == 6 * 64 == 384  # 12 per conventional cell (one per 12d site)
    assert idx.label == "I4" and np.all(idx.centers == -1)
    # each I is a vertex of 24 tetrahedra, no tetrahedron repeats
    assert np.all(np.bincount(idx.vertices.ravel(), minlength=64)[:64] == 24)
    assert len({tuple(sorted(v)) for v in idx.vertices.tolist()}) == 384
    edges = np.sort(idx.reference_edges_A, axis=1)
    np.testing.assert_allclose(edges[:, :4], A_AGI * np.sqrt(3) / 2, rtol=1e-9)
    np.testing.assert_allclose(edges[:, 4:], A_AGI, rtol=1e-9)  # = half the short cell side
    ang = np.sort(idx.reference_angles_deg, axis=1)
    np.testing.assert_allclose(ang[:, :8], ANGLE_BCC_BASE, atol=1e-9)
    np.testing.assert_allclose(ang[:, 8:], ANGLE_BCC_APEX, atol=1e-9)
    # the 12d site (a/2, a/4, 0) is equidistant (√5 a/4) from the 4 vertices of one tetrahedron
    site = np.array([A_AGI / 2, A_AGI / 4, 0.0])
    d = np.linalg.norm(idx.reference_vertices_A - site, axis=-1)
    hit = np.flatnonzero(np.all(np.isclose(d, np.sqrt(5) * A_AGI / 4), axis=1))
    assert hit.size >= 1


def test_bcc_angles_along_noisy_wrapped_trajectory_and_apex_selection():
    rng = np.random.default_rng(2)
    pos, cell = bcc_lattice()
    frames = pos[None] + rng.normal(0.0, 0.15, (5, *pos.shape))
    frames[0] = pos
    traj = Trajectory(species=["I"] * len(pos), positions=frames % np.diag(cell), cells=cell, timestep_fs=2.0)
    idx = find_tetrahedra_from_trajectory(traj, None, "I")
    th = tetrahedral_angles(traj, idx, reference_angle_deg=70.5, chunk_frames=2)
    assert th.theta_deg.shape == (5, 4 * 384)
    np.testing.assert_allclose(th.theta_deg[0], ANGLE_BCC_APEX, atol=1e-9)
    # frames 1..4: direct (unwrapped) geometry gives the same angles as the wrapped trajectory
    direct = angles_from_vertices_deg(frames[:, idx.vertices] + (idx.reference_vertices_A - pos[idx.vertices]))
    np.testing.assert_allclose(th.theta_deg, direct[:, th.tetrahedron, th.angle_slot], atol=1e-9)
    noisy = th.theta_deg[1:]
    assert abs(noisy.mean() - ANGLE_BCC_APEX) < 0.5 and 1.0 < noisy.std() < 6.0
    full = tetrahedral_angles(traj, idx)
    assert full.theta_deg.reshape(5, 384, 12).shape == (5, 384, 12)
    rho = theta_density(full, bin_width_deg=0.25)
    assert np.isclose(np.sum(rho.density) * 0.25, 1.0) and rho.fraction_outside == 0.0
    # two peaks of the bcc tetrahedron: 54.7° (8 per tetrahedron) and 70.5° (4)
    assert abs(rho.peak - ANGLE_BCC_BASE) < 1.0


def test_fcc_lattice_is_rejected_as_bcc():
    a = 5.0
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    pos = ((grid + np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])) * a).reshape(-1, 3)
    pos = pos + np.random.default_rng(0).normal(0, 0.01, pos.shape)  # lift fcc's octahedral degeneracy
    with pytest.raises(TetrahedraError, match="not a recognisable bcc"):
        find_tetrahedra(["I"] * len(pos), pos, np.eye(3) * 3 * a, None, "I")


def primitive_bcc(reps=4, a=A_AGI):
    """reps³ primitive bcc cells in the triclinic cell of the primitive vectors (α-AgI's 64 I)."""
    prim = 0.5 * a * np.array([[-1.0, 1, 1], [1, -1, 1], [1, 1, -1]])
    ijk = np.stack(np.meshgrid(*[np.arange(reps)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return ijk @ prim, reps * prim


def test_hot_drifting_bcc_in_a_triclinic_cell_gives_the_ideal_tetrahedra():
    """Disorder of α-AgI's MLMD iodide (0.4 Å per axis static, 0.69 Å rms, plus 0.3 Å per
    frame and a uniform drift) flips Delaunay cells of the positions (the former detection
    found ≠ 384); the fitted ideal lattice gives exactly bcc's 384 disphenoids, and θ along
    the trajectory follows the unwrapped atoms."""
    rng = np.random.default_rng(11)
    ideal, cell = primitive_bcc()
    ideal_set = {tuple(v) for v in find_tetrahedra(["I"] * 64, ideal, cell, None, "I", lattice=None).vertices.tolist()}
    assert len(ideal_set) == 384  # the bcc Delaunay tessellation is unique (no degenerate sphere)
    nf = 10
    static = rng.normal(0.0, 0.4, ideal.shape)
    frames = ideal + static + rng.normal(0.0, 0.3, (nf, *ideal.shape))
    frames += np.arange(nf)[:, None, None] * np.array([0.3, -0.2, 0.5])  # drift 0.6 Å per frame
    frames[0] = ideal
    wrapped = (frames @ np.linalg.inv(cell)) % 1.0 @ cell
    species = ["I"] * 64 + ["Ag"]
    wrapped = np.concatenate([wrapped, np.zeros((nf, 1, 3))], axis=1)
    traj = Trajectory(species=species, positions=wrapped, cells=cell, timestep_fs=10.0)
    for average in (1, nf):  # one ideal frame, and the mean of hot drifting frames
        idx = find_tetrahedra_from_trajectory(traj, None, "I", average_frames=average)
        assert {tuple(v) for v in idx.vertices.tolist()} == ideal_set
        edges = np.sort(idx.reference_edges_A, axis=1)
        np.testing.assert_allclose(edges[:, :4], A_AGI * np.sqrt(3) / 2, rtol=1e-9)
        np.testing.assert_allclose(edges[:, 4:], A_AGI, rtol=1e-9)
    hot = ideal + static  # one hot frame: 0.69 Å rms off the lattice
    assert {tuple(v) for v in find_tetrahedra(["I"] * 64, hot, cell, None, "I").vertices.tolist()} == ideal_set
    th = tetrahedral_angles(traj, idx, reference_angle_deg=70.5)
    assert th.n_series == 4 * 384 and np.allclose(th.reference_angle_deg, ANGLE_BCC_APEX, atol=1e-9)
    np.testing.assert_allclose(th.theta_deg[0], ANGLE_BCC_APEX, atol=1e-9)
    img = np.round((idx.reference_vertices_A - ideal[idx.vertices]) @ np.linalg.inv(cell)) @ cell
    direct = angles_from_vertices_deg(frames[:, idx.vertices] + img)
    np.testing.assert_allclose(th.theta_deg, direct[:, th.tetrahedron, th.angle_slot], atol=1e-9)


def test_non_bcc_ligand_arrangements_are_rejected():
    ideal, cell = primitive_bcc()
    rng = np.random.default_rng(12)
    liquid = rng.random((64, 3)) @ cell
    with pytest.raises(TetrahedraError, match="not a recognisable bcc"):
        find_tetrahedra(["I"] * 64, liquid, cell, None, "I")
    d1 = A_AGI * np.sqrt(3) / 2
    towards_12d = ideal.copy()  # an I 0.55 d_NN towards a 12d interstice (at 0.645 d_NN)
    towards_12d[5] += 0.55 * d1 * np.array([0.0, 1.0, 0.5]) / np.sqrt(1.25)
    with pytest.raises(TetrahedraError, match="over half the nearest-neighbour distance"):
        find_tetrahedra(["I"] * 64, towards_12d, cell, None, "I")
    doubled = ideal.copy()  # a vacancy and an I on its neighbour's site
    doubled[5] = ideal[6] + 0.2
    with pytest.raises(TetrahedraError, match="doubly occupied"):
        find_tetrahedra(["I"] * 64, doubled, cell, None, "I")


def test_ps4_polyanions_found_across_boundary_and_rigid_rotation_keeps_60_deg():
    rng = np.random.default_rng(3)
    species, pos, cell, units = ps4_structure(rng)
    idx = find_tetrahedra(species, pos, cell, "P", "S")
    assert idx.n_tetrahedra == 8 and idx.label == "PS4"
    assert [(int(c), sorted(v)) for c, v in zip(idx.centers, idx.vertices.tolist())] == units
    np.testing.assert_allclose(np.linalg.norm(idx.reference_vertices_A - pos[idx.centers][:, None], axis=-1),
                               2.05, atol=1e-9)
    # rigid rotation of every unit about its P over 30 frames (ω_rot = 3°/frame): θ stays 60°
    frames = []
    for k in range(30):
        rot = np.array([[np.cos(k * 0.05), -np.sin(k * 0.05), 0], [np.sin(k * 0.05), np.cos(k * 0.05), 0], [0, 0, 1]])
        f = pos.copy()
        for c, v in units:
            f[v] = pos[c] + ((idx.reference_vertices_A[list(idx.centers).index(c)] - pos[c]) @ rot.T)
        frames.append(f % np.diag(cell))
    traj = Trajectory(species=species, positions=np.array(frames), cells=cell, timestep_fs=1.0)
    th = tetrahedral_angles(traj, idx, chunk_frames=7)
    np.testing.assert_allclose(th.theta_deg, 60.0, atol=1e-8)


def test_polyanion_sanity_errors():
    rng = np.random.default_rng(4)
    species, pos, cell, units = ps4_structure(rng)
    broken = [s for i, s in enumerate(species) if i != units[0][1][0]]
    pos_b = np.delete(pos, units[0][1][0], axis=0)
    with pytest.raises(TetrahedraError, match="irregular|5th"):
        find_tetrahedra(broken, pos_b, cell, "P", "S")
    with pytest.raises(TetrahedraError, match="no centre atoms of species 'Ge'"):
        find_tetrahedra(species, pos, cell, "Ge", "S")
    with pytest.raises(TetrahedraError, match="shape"):
        find_tetrahedra(species, pos[None], cell, "P", "S")
    with pytest.raises(TetrahedraError, match="species for"):
        find_tetrahedra(species[:-1], pos, cell, "P", "S")


# ---------------------------------------------------------------------------- filter and ω
DT = 5.0  # fs
N = 20000  # 100 ps
T_FS = np.arange(N) * DT
EDGE = int(round(1.0 / (wavenumber_cm1_to_frequency_per_fs(5.0) * DT)))  # one cutoff period, samples


@pytest.mark.parametrize("method", ["fft", "butterworth"])
def test_zero_phase_filter_keeps_1_cm1_and_removes_50_cm1(method):
    f1, f50 = wavenumber_cm1_to_frequency_per_fs(np.array([1.0, 50.0]))
    assert np.isclose(1.0 / f1, 33356.4, rtol=1e-5)  # 1 cm^-1 ↔ 33.36 ps period
    slow = 3.0 * np.sin(2 * np.pi * f1 * T_FS + 0.7)
    fast = 2.0 * np.sin(2 * np.pi * f50 * T_FS + 0.3)
    y = lowpass_zero_phase(np.stack([slow, fast, slow + fast], axis=1), DT, 5.0, method=method)
    # amplitude and phase of the 1 cm^-1 component: least-squares fit of sin/cos over the series
    basis = np.stack([np.sin(2 * np.pi * f1 * T_FS), np.cos(2 * np.pi * f1 * T_FS)], axis=1)
    s, c = np.linalg.lstsq(basis, y[:, 0], rcond=None)[0]
    assert np.hypot(s, c) == pytest.approx(3.0, rel=2e-3)
    assert np.arctan2(c, s) == pytest.approx(0.7, abs=2e-3)
    assert np.max(np.abs(y[:, 0] - slow)) < 0.02 * 3.0  # including the ends
    # 50 cm^-1 removed: farther than one cutoff period from the ends to <1 % of its amplitude, rms < 2 %
    assert np.max(np.abs(y[EDGE:-EDGE, 1])) < 0.01 * 2.0
    assert np.sqrt(np.mean(y[:, 1] ** 2)) < 0.02 * 2.0
    np.testing.assert_allclose(y[:, 2], y[:, 0] + y[:, 1], atol=1e-9)  # linear
    assert np.max(np.abs(y[EDGE:-EDGE, 2] - slow[EDGE:-EDGE])) < 0.03


def test_filter_rejects_cutoff_above_nyquist_and_nan():
    with pytest.raises(FilterError, match="Nyquist"):
        lowpass_zero_phase(np.zeros(100), 1.0, 20000.0)
    with pytest.raises(FilterError, match="NaN"):
        lowpass_zero_phase(np.array([0.0, np.nan, 1.0, 2.0]), 1.0, 5.0)
    with pytest.raises(FilterError, match="method"):
        lowpass_zero_phase(np.zeros(100), 1.0, 5.0, method="savgol")


def rotor_trajectory(theta_deg: np.ndarray, dt_fs: float, drift_A_fs=(0.004, -0.003, 0.002)):
    """S4 tetrahedron whose vertex 2 moves on a circle about vertex 0 so that angle (1-0-2) = θ(t).

    The whole unit drifts through the 10 Å periodic cell (positions stored wrapped). Returns the
    trajectory and the index of that tetrahedron (vertices 0..3 in this order).
    """
    t = np.arange(theta_deg.size) * dt_fs
    th = np.radians(theta_deg)
    L = 3.3
    v0 = np.zeros((t.size, 3))
    v1 = np.tile([L, 0.0, 0.0], (t.size, 1))
    v2 = L * np.stack([np.cos(th), np.sin(th), np.zeros_like(th)], axis=1)
    v3 = np.tile([0.5, 0.4, 2.9], (t.size, 1))
    pos = np.stack([v0, v1, v2, v3, v3 + [0.0, 0.0, -4.5]], axis=1) + np.array([9.0, 9.0, 9.0])
    pos = pos + np.asarray(drift_A_fs) * t[:, None, None]
    cell = np.eye(3) * 10.0
    traj = Trajectory(species=["S", "S", "S", "S", "Na"], positions=pos % 10.0, cells=cell, timestep_fs=dt_fs)
    idx = TetrahedraIndex(vertices=np.array([[0, 1, 2, 3]]), centers=np.array([-1]), center_species=None,
                          ligand_species="S", kind="interstitial", reference_vertices_A=pos[0, :4][None],
                          reference_cell_A=cell)
    return traj, idx


SLOT_102 = 0  # ANGLE_TRIPLES[0] = (apex 0, vertices 1, 2)


def test_rotor_angular_velocity_matches_analytic_value():
    assert ANGLE_TRIPLES[SLOT_102].tolist() == [0, 1, 2]
    omega = 2.0e-4  # deg/fs: θ goes 55° → 75° over 100 ps
    traj, idx = rotor_trajectory(55.0 + omega * T_FS, DT)
    th = tetrahedral_angles(traj, idx)
    assert th.theta_deg.shape == (N, 12)
    np.testing.assert_allclose(th.theta_deg[:, SLOT_102], 55.0 + omega * T_FS, atol=1e-8)
    raw = angular_velocity(th, cutoff_cm1=None)
    np.testing.assert_allclose(raw.omega_deg_per_fs[:, SLOT_102], omega, rtol=1e-6)
    filt = angular_velocity(th, cutoff_cm1=5.0)
    assert filt.filter_cutoff_cm1 == 5.0 and filt.omega_deg_per_fs.shape == (N - 1, 12)
    np.testing.assert_allclose(filt.omega_deg_per_fs[:, SLOT_102], omega, rtol=0.02)
    rho = omega_density(filt.omega_deg_per_fs[:, SLOT_102], range_deg_per_fs=(-1e-3, 1e-3),
                        bin_width_deg_per_fs=1e-5)
    assert abs(rho.peak - omega) <= 1e-5 and np.isclose(rho.density.sum() * 1e-5, 1.0)
    # angles not involving the moving vertex do not rotate
    fixed = [k for k, tr in enumerate(ANGLE_TRIPLES.tolist()) if 2 not in tr]
    np.testing.assert_allclose(raw.omega_deg_per_fs[:, fixed], 0.0, atol=1e-9)


def test_librating_vertex_omega_follows_derivative_after_filter():
    """θ = 60° + 8° sin(2π f t) with f = 1 cm^-1 on top of a 60 cm^-1 rattle: the 5 cm^-1 filter keeps
    the libration, so ω = 8° · 2π f cos(2π f t) (analytic) and ρ(ω) has the arcsine shape peaking at ±ω_max."""
    f1, f60 = wavenumber_cm1_to_frequency_per_fs(np.array([1.0, 60.0]))
    th = 60.0 + 8.0 * np.sin(2 * np.pi * f1 * T_FS) + 1.5 * np.sin(2 * np.pi * f60 * T_FS + 0.4)
    traj, idx = rotor_trajectory(th, DT)
    res = tetrahedral_angles(traj, idx)
    np.testing.assert_allclose(res.theta_deg[:, SLOT_102], th, atol=1e-8)
    om = angular_velocity(res, cutoff_cm1=5.0, method="butterworth").omega_deg_per_fs[:, SLOT_102]
    wmax = 8.0 * 2 * np.pi * f1
    expected = wmax * np.cos(2 * np.pi * f1 * (T_FS[:-1] + DT / 2))  # forward difference ≈ derivative at midpoint
    assert np.max(np.abs(om[EDGE:-EDGE] - expected[EDGE:-EDGE])) < 0.02 * wmax
    assert np.max(np.abs(np.diff(th)[EDGE:-EDGE] / DT)) > 5 * wmax  # unfiltered ω is dominated by the rattle
    rho = omega_density(om, range_deg_per_fs=(-2 * wmax, 2 * wmax), bin_width_deg_per_fs=wmax / 50)
    assert abs(abs(rho.peak) - wmax) < 0.1 * wmax
    assert filter_theta(res, 5.0).filter_cutoff_cm1 == 5.0


# ---------------------------------------------------------------------------- ρ(r, ϕ)
def test_r_phi_hand_built_configuration():
    cell = np.eye(3) * 20.0
    p = np.array([19.0, 10.0, 10.0])
    n1 = TET_DIRS[0]
    s = p + 2.05 * TET_DIRS
    perp = np.cross(n1, [0.0, 0.0, 1.0])
    perp /= np.linalg.norm(perp)

    def li_at(r, phi_deg):  # S1→P is −n1; rotate by ϕ towards perp
        ph = np.radians(phi_deg)
        return s[0] + r * (np.cos(ph) * -n1 + np.sin(ph) * perp)

    frames = []
    for r, phi in [(2.53, 102.0), (2.77, 131.0)]:
        li = li_at(r, phi)
        assert np.all(np.linalg.norm(s[1:] - li, axis=1) > 3.0)  # only the S1–Li pair lies within r_max
        far_li = p + np.array([0.0, 8.0, 0.0])  # > 3 Å from every S
        frames.append(np.vstack([p, s, li, far_li]) % 20.0)  # P–S1–Li straddles the x boundary
    traj = Trajectory(species=["P", "S", "S", "S", "S", "Li", "Li"], positions=np.array(frames), cells=cell,
                      timestep_fs=1.0)
    idx = find_tetrahedra(traj.species, traj.positions[0], cell, "P", "S")
    res = r_phi_density(traj, idx, "Li", r_max_A=3.0, r_bin_A=0.1, phi_bin_deg=5.0)
    assert res.n_pairs == 2 and res.n_frames == 2
    assert np.isclose(res.density_per_A_deg.sum() * 0.1 * 5.0, 1.0)
    i1, j1 = np.searchsorted(res.r_edges_A, 2.53) - 1, np.searchsorted(res.phi_edges_deg, 102.0) - 1
    i2, j2 = np.searchsorted(res.r_edges_A, 2.77) - 1, np.searchsorted(res.phi_edges_deg, 131.0) - 1
    assert res.counts[i1, j1] == 1 and res.counts[i2, j2] == 1
    assert res.counts[:, 20:25].sum() == 1 and res.counts[:, 25:30].sum() == 1  # ϕ = 100° and 130° bins
    by = r_phi_by_polyanion(traj, "Li", centers=("P",), ligand="S", r_max_A=3.0, r_bin_A=0.1, phi_bin_deg=5.0)
    np.testing.assert_array_equal(by["PS4"].counts, res.counts)
    d = res.to_dict()
    assert d["label"] == "PS4" and len(d["density_per_A_deg"]) == 30
    with pytest.raises(TetrahedraError, match="half the smallest cell width"):
        r_phi_density(traj, idx, "Li", r_max_A=10.5)
    with pytest.raises(TetrahedraError, match="no 'Na' atoms"):
        r_phi_density(traj, idx, "Na")
    bcc_idx = find_tetrahedra(["S"] * 16, bcc_lattice((2, 2, 2), 5.0)[0], np.eye(3) * 10.0, None, "S")
    with pytest.raises(TetrahedraError, match="polyanion index"):
        r_phi_density(traj, bcc_idx, "Li")


# ---------------------------------------------------------------------------- forces
def test_force_errors_hand_computed():
    species = ["Li", "S", "Li"]
    ref = np.array([[0.10, -0.20, 0.30], [1.0, 0.5, -0.5], [0.0, 0.0, 0.2]])  # eV/Å
    err = np.array([[0.003, 0.0, 0.004], [0.001, -0.002, 0.002], [0.0, 0.0, 0.0]])
    res = force_errors(species, ref + err, ref, n_boot=200, seed=1)
    li, s = res.per_element["Li"], res.per_element["S"]
    assert res.elements == ["Li", "S"] and li.n_samples == 2 and s.n_samples == 1
    assert li.rmse_meV_A == pytest.approx(np.sqrt(25.0 / 6.0))
    assert li.mae_meV_A == pytest.approx(7.0 / 6.0)
    assert s.rmse_meV_A == pytest.approx(np.sqrt(3.0))
    assert s.mae_meV_A == pytest.approx(5.0 / 3.0)
    assert res.overall.rmse_meV_A == pytest.approx(np.sqrt(34.0 / 9.0))
    assert li.ref_spread_meV_A == pytest.approx(1e3 * np.std([0.1, -0.2, 0.3, 0.0, 0.0, 0.2]))
    # one frame: the frame bootstrap has nothing to resample, the interval is not determined
    assert np.isnan(s.rmse_ci95_lo_meV_A) and np.isnan(li.rmse_ci95_hi_meV_A) and not li.rmse_below_spread
    assert res.to_dict()["per_element"]["S"]["n_samples"] == 1


def test_force_error_bootstrap_ci_contains_true_value():
    rng = np.random.default_rng(7)
    species = ["Ag"] * 32 + ["I"] * 32
    ref = rng.normal(0.0, 0.8, (40, 64, 3))
    sigma = np.where(np.array(species) == "Ag", 0.040, 0.045)[None, :, None]  # eV/Å
    pred = ref + rng.normal(0.0, 1.0, ref.shape) * sigma
    res = force_errors(species, pred, ref, n_boot=1000, seed=0)
    for el, sig in [("Ag", 40.0), ("I", 45.0)]:
        e = res.per_element[el]
        assert e.rmse_ci95_lo_meV_A < sig < e.rmse_ci95_hi_meV_A
        true_mae = sig * np.sqrt(2.0 / np.pi)
        assert e.mae_ci95_lo_meV_A < true_mae < e.mae_ci95_hi_meV_A
        assert e.rmse_ci95_hi_meV_A - e.rmse_ci95_lo_meV_A < 0.1 * sig
        assert e.ref_spread_meV_A == pytest.approx(800.0, rel=0.05) and e.rmse_below_spread
    again = force_errors(species, pred, ref, n_boot=1000, seed=0)
    assert again.per_element["I"] == res.per_element["I"]
    other = force_errors(species, pred, ref, n_boot=1000, seed=1)
    assert other.per_element["I"].rmse_ci95_lo_meV_A != res.per_element["I"].rmse_ci95_lo_meV_A


def test_force_error_ci_is_calibrated_on_frame_correlated_errors():
    """Issue 13 item 9: errors with frame structure (per-frame error scale, lognormal
    σ = 0.25, and an error offset common to the frame's atoms): the 95 % interval from
    20 frames covers the true RMSE in ~95 % of 400 repeats (binomial s.e. 1.1 %); the
    replaced (atom, frame)-pair bootstrap covers it in well under 60 %."""
    rng = np.random.default_rng(2024)
    nf, na, sd, s0, c = 20, 32, 0.25, 0.050, 0.030  # frames, atoms; eV/Å
    true_rmse = 1e3 * np.sqrt(s0**2 * np.exp(2 * sd**2) + c**2)  # meV/Å
    hit = hit_pairs = 0
    reps = 400
    for _ in range(reps):
        err = (np.exp(rng.normal(0, sd, (nf, 1, 1))) * s0 * rng.normal(size=(nf, na, 3))
               + rng.normal(0, c, (nf, 1, 3)))
        e = force_errors(["Li"] * na, err, np.zeros_like(err), n_boot=400,
                         seed=int(rng.integers(1 << 30))).per_element["Li"]
        hit += e.rmse_ci95_lo_meV_A <= true_rmse <= e.rmse_ci95_hi_meV_A
        pairs = (err**2).mean(axis=2).ravel()
        boot = np.sqrt(pairs[rng.integers(0, pairs.size, (400, pairs.size))].mean(axis=1)) * 1e3
        lo, hi = np.percentile(boot, [2.5, 97.5])
        hit_pairs += lo <= true_rmse <= hi
    assert 0.915 <= hit / reps <= 0.985, hit / reps
    assert hit_pairs / reps < 0.6


def test_force_errors_bad_input():
    f = np.zeros((2, 3, 3))
    with pytest.raises(ForceErrorInputError, match=r"shape \(3, 3\) or \(frames, 3, 3\)"):
        force_errors(["Li", "S", "P"], f, np.zeros((2, 4, 3)))
    with pytest.raises(ForceErrorInputError, match="frames"):
        force_errors(["Li", "S", "P"], f, np.zeros((3, 3, 3)))
    with pytest.raises(ForceErrorInputError, match=r"unknown element symbol\(s\) \['Qq'\]"):
        force_errors(["Li", "Qq", "P"], f, f)
    bad = f.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ForceErrorInputError, match="NaN"):
        force_errors(["Li", "S", "P"], bad, f)
    with pytest.raises(ForceErrorInputError, match="n_boot"):
        force_errors(["Li", "S", "P"], f, f, n_boot=10)


def test_tetrahedral_angles_input_errors():
    pos, cell = bcc_lattice((2, 2, 2), 5.0)
    idx = find_tetrahedra(["I"] * 16, pos, cell, None, "I")
    small = Trajectory(species=["I"] * 8, positions=pos[:8], cells=cell, timestep_fs=1.0)
    with pytest.raises(TetrahedraError, match="trajectory has 8 atoms"):
        tetrahedral_angles(small, idx)
    other = Trajectory(species=["Br"] * 16, positions=pos, cells=cell, timestep_fs=1.0)
    with pytest.raises(TetrahedraError, match="not all 'I'"):
        tetrahedral_angles(other, idx)
    good = Trajectory(species=["I"] * 16, positions=pos, cells=cell, timestep_fs=1.0)
    with pytest.raises(TetrahedraError, match="no reference angle"):
        tetrahedral_angles(good, idx, reference_angle_deg=100.0)
    with pytest.raises(TetrahedraError, match="outside the grid"):
        theta_density(np.array([200.0]))


# ---------------------------------------------------------------------------- report hook
def test_report_section_is_driven_by_the_host_lattice_passed_in():
    from ssic_flows.analysis.tetrahedra.report import HostLattice, TetraUnit, analyze_for_report

    rng = np.random.default_rng(4)
    pos, cell = bcc_lattice((2, 2, 2))
    ag = np.array([[A_AGI / 2, A_AGI / 4, 0.0], [A_AGI, A_AGI / 4 + 0.3, A_AGI / 2]])
    base = np.vstack([pos, ag])
    frames = base[None] + rng.normal(0.0, 0.05, (12, *base.shape))
    traj = Trajectory(species=["I"] * len(pos) + ["Ag"] * 2, positions=frames % np.diag(cell), cells=cell,
                      timestep_fs=5.0)
    agi = HostLattice(units=(TetraUnit("AgI4", None, "I", reference_angle_deg=70.5, average_frames=50),),
                      cations=("Ag",))
    sec = analyze_for_report(traj, agi, cutoff_cm1=200.0)
    assert list(sec["units"]) == ["AgI4"] and sec["skipped"] == {} and "rphi" not in sec
    # 55 fs span 2 periods of a 1500 cm-1 filter (22.2 fs) but not of 200 cm-1 (167 fs):
    # the filtered rho(omega) of the short run is "not determined", not a spike at 0
    assert "density" in analyze_for_report(traj, agi, cutoff_cm1=1500.0)["units"]["AgI4"]["rho_omega"]
    assert sec["units"]["AgI4"]["rho_omega"] == {
        "not_determined": "run 0.055 ps shorter than two periods of the 200 cm⁻¹ filter (0.334 ps)"}
    assert "density" in sec["units"]["AgI4"]["rho_omega_unfiltered"]
    assert sec["units"]["AgI4"]["n_tetrahedra"] == 6 * 16 and sec["units"]["AgI4"]["n_angles"] == 4 * 96
    assert abs(sec["units"]["AgI4"]["theta_mean_deg"] - ANGLE_BCC_APEX) < 1.0
    # no host: no section; a host whose units are absent from the run: no section either
    assert analyze_for_report(traj, None) is None
    assert analyze_for_report(traj, HostLattice(units=(TetraUnit("PS4", "P", "S"),))) is None

    species, p0, cell_p, _ = ps4_structure(np.random.default_rng(5))
    ps = Trajectory(species=species, positions=np.stack([p0] * 6), cells=cell_p, timestep_fs=2.0)
    host = HostLattice(units=(TetraUnit("PS4", "P", "S"), TetraUnit("GeS4", "Ge", "S")), cations=("Na", "Li"))
    sec = analyze_for_report(ps, host, cutoff_cm1=500.0)
    assert list(sec["units"]) == ["PS4"] and sec["rphi"]["cation"] == "Li"
    assert list(sec["rphi"]["maps"]) == ["PS4"]


def test_report_has_no_theta_where_the_indexed_tetrahedra_do_not_last():
    """θ/ω of fixed I quadruples mean nothing once the I atoms leave their sites (the
    128-atom α-AgI MLMD at 500 K loses its {110} Bragg order within ~2 ps); the section
    says so instead of averaging over tetrahedra that no longer exist."""
    from ssic_flows.analysis.tetrahedra.report import HostLattice, TetraUnit, analyze_for_report

    rng = np.random.default_rng(13)
    pts, cell = primitive_bcc()
    nf = 200
    frames = pts[None] + rng.normal(0.0, 0.2, (nf, *pts.shape))
    host = HostLattice(units=(TetraUnit("AgI4", None, "I", reference_angle_deg=70.5, average_frames=50),))
    sound = analyze_for_report(Trajectory(["I"] * 64, frames, cell, 10.0), host)
    assert sound["skipped"] == {} and sound["units"]["AgI4"]["n_tetrahedra"] == 384
    swapped = frames.copy()  # from 1.2 ps on, neighbours 5 and 6 have exchanged sites
    swapped[120:, [5, 6]] = frames[120:, [6, 5]]
    sec = analyze_for_report(Trajectory(["I"] * 64, swapped, cell, 10.0), host)
    assert sec["units"] == {} and "changed sites" in sec["skipped"]["AgI4"]
    molten = frames.copy()
    molten[150:] = rng.random((nf - 150, 64, 3)) @ cell
    sec = analyze_for_report(Trajectory(["I"] * 64, molten, cell, 10.0), host)
    assert sec["units"] == {} and "not a recognisable bcc" in sec["skipped"]["AgI4"]


def test_filtered_rho_omega_is_resolved():
    """Issue 13 item 11: ω of θ low-passed at 5 cm⁻¹ (slow 2 cm⁻¹ swing of ±10°, fast 60 cm⁻¹
    libration of ±8° removed by the filter) has the sinusoid's analytic spread
    ω_amp = 2π f A = 3.8e-3 deg/fs; the filter's grid puts ≥ 10 bins across ±ω_amp and
    recovers std = ω_amp/√2, where the study's 0.005 deg/fs bins put all of it into 2."""
    from ssic_flows.analysis.tetrahedra.angles import ThetaResult
    from ssic_flows.analysis.tetrahedra.omega import filtered_omega_grid

    dt, nf, m = 10.0, 8000, 6  # 80 ps, six angles with random phases
    t = np.arange(nf) * dt
    rng = np.random.default_rng(3)
    f_slow, f_fast = (wavenumber_cm1_to_frequency_per_fs(x) for x in (2.0, 60.0))
    t_c = 1.0 / f_slow
    t = t[: int(nf // (t_c / dt) * (t_c / dt))]  # whole periods of the slow swing
    ph = rng.random(m) * 2 * np.pi
    theta = (109.5 + 10.0 * np.sin(2 * np.pi * f_slow * t[:, None] + ph)
             + 8.0 * np.sin(2 * np.pi * f_fast * t[:, None] + 2 * ph))
    th = ThetaResult(theta_deg=theta, times_fs=t, tetrahedron=np.zeros(m, int), angle_slot=np.arange(m),
                     reference_angle_deg=np.full(m, 109.5), label="PS4", timestep_fs=dt,
                     filter_cutoff_cm1=None)
    om = angular_velocity(th, cutoff_cm1=5.0)
    w_amp = 2 * np.pi * f_slow * 10.0  # deg/fs
    rho = omega_density(om)
    (lo, hi), width = filtered_omega_grid(5.0)
    assert rho.bin_edges[0] == pytest.approx(lo) and np.diff(rho.bin_edges)[0] == pytest.approx(width)
    assert rho.fraction_outside == 0.0
    assert np.count_nonzero(np.abs(rho.bin_centers) < w_amp) >= 10
    c, d = rho.bin_centers, rho.density * width
    assert np.sqrt(np.sum(d * c**2)) == pytest.approx(w_amp / np.sqrt(2), rel=0.05)
    old = omega_density(om.omega_deg_per_fs, range_deg_per_fs=(-1.0, 1.0), bin_width_deg_per_fs=0.005)
    assert np.count_nonzero(old.density) <= 2
    assert omega_density(angular_velocity(th, cutoff_cm1=None)).bin_edges[-1] == pytest.approx(1.0)


def test_bcc_tessellation_of_the_cell_margin_equals_that_of_all_27_replicas():
    """The bcc path tessellates only the points within one lattice parameter of the cell;
    its tetrahedra are those of the full 27-cell tessellation, and a margin too thin for
    the circumspheres is refused (the caller then tessellates everything)."""
    from ssic_flows.analysis.tetrahedra.detect import _SHIFTS, _cell_simplices

    rng = np.random.default_rng(4)
    pts, cell = bcc_lattice((4, 4, 4))
    pts = pts + rng.normal(scale=0.08, size=pts.shape)  # thermal bcc, 128 I
    frac = pts @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    rep = (frac[None] + _SHIFTS[:, None]).reshape(-1, 3)
    full = _cell_simplices(rep, cell, None, "I")
    part = _cell_simplices(rep, cell, A_AGI, "I")
    assert part is not None
    assert sorted(map(tuple, np.sort(part, axis=1))) == sorted(map(tuple, np.sort(full, axis=1)))
    assert _cell_simplices(rep, cell, 0.2, "I") is None
    assert find_tetrahedra(["I"] * len(pts), pts, cell, None, "I").n_tetrahedra == 6 * len(pts)


def test_selected_angles_are_those_of_the_full_set():
    rng = np.random.default_rng(8)
    verts = rng.normal(size=(5, 7, 4, 3)) * 2.0  # (frames, tetrahedra, 4, 3)
    tet, slot = np.nonzero(rng.random((7, 12)) < 0.4)
    full = angles_from_vertices_deg(verts)
    assert np.array_equal(angles_from_vertices_deg(verts, select=(tet, slot)), full[:, tet, slot])
    verts[2, 3, 1] = verts[2, 3, 0]  # a coincident pair is refused whichever angles are asked
    with pytest.raises(TetrahedraError, match="coincident"):
        angles_from_vertices_deg(verts, select=(np.array([0]), np.array([0])))


def test_plotted_filtered_series_equal_the_filtered_columns():
    """Short runs (no filtered ρ(ω)) filter only the plotted θ series: same values."""
    from ssic_flows.analysis.tetrahedra.report import HostLattice, TetraUnit, analyze_for_report

    rng = np.random.default_rng(9)
    pts, cell = bcc_lattice((4, 4, 4))
    nf = 200  # 0.4 ps at 2 fs: shorter than two periods of the 5 cm⁻¹ filter
    frames = pts[None] + rng.normal(scale=0.1, size=(nf,) + pts.shape)
    tr = Trajectory(["I"] * len(pts), frames, cell, 2.0)
    host = HostLattice(units=(TetraUnit(label="I4", center=None, ligand="I", reference_angle_deg=70.5,
                                        average_frames=nf),))
    sec = analyze_for_report(tr, host)["units"]["I4"]
    assert "not_determined" in sec["rho_omega"]
    idx = find_tetrahedra_from_trajectory(tr, None, "I", average_frames=nf)
    th = tetrahedral_angles(tr, idx, reference_angle_deg=70.5)
    pick = np.unique(np.linspace(0, th.n_series - 1, 3).astype(int))
    want = filter_theta(th, 5.0).theta_deg[:, pick].T
    assert np.allclose(sec["theta_series"]["filtered_deg"], want, rtol=0, atol=1e-10)
