"""Figures on real analysis output: synthetic trajectories through ``analyze_study``.

The synthetic material: PS4 tetrahedra on a cubic grid whose S atoms vibrate harmonically
(θ, ω, VDOS bands), plus Li random walkers (MSD, van Hove, ρ(r, φ)). Reference, 3 MLMD
seeds, a larger-cell transfer run and a hot-retrained run go through the same analysis the
``analyze`` job runs (including the tetrahedra hook).
"""

from __future__ import annotations

import struct
import time

import matplotlib.pyplot as plt
from matplotlib.collections import QuadMesh
import numpy as np
import pytest

from ssic_flows.analysis.forces import force_errors
from ssic_flows.analysis.study import analyze_study
from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.materials import analysis_inputs
from ssic_flows.plots import (
    DPI, FIGURES, PALETTE, FigureSkipped, curves_from_documents, plot_all, plot_beef,
    plot_force_parity, plot_hot_comparison, plot_msd, plot_omega_density, plot_rdf, plot_rphi,
    plot_size_comparison, plot_theta_density, plot_theta_series, plot_vanhove, plot_vdos,
)

TET = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3.0)


def synthetic_run(D_cm2_s: float, seed: int, n_side: int = 2, n_frames: int = 240, dt_fs: float = 2.0,
                  n_li_per_unit: int = 3, spacing: float = 7.0, T: float = 500.0) -> Trajectory:
    """PS4 units with vibrating S (100–400 cm⁻¹) and Li random walkers; wrapped positions."""
    rng = np.random.default_rng(seed)
    L = n_side * spacing
    t = np.arange(n_frames) * dt_fs
    sp, traj = [], []
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    for c in grid:
        p = (c + 0.5) * spacing
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        sp.append("P")
        nu_p = rng.uniform(300, 500) * 2.99792458e-5
        traj.append(p + 0.03 * np.sin(2 * np.pi * nu_p * t[:, None] + rng.uniform(0, 6.3, size=3)))
        for d in TET @ q.T:
            nu = rng.uniform(100, 400) * 2.99792458e-5  # cm⁻¹ → 1/fs
            amp = rng.normal(scale=0.08, size=3)
            traj.append(p + 2.05 * d + amp * np.sin(2 * np.pi * nu * t[:, None] + rng.uniform(0, 6.3)))
            sp.append("S")
    n_li = n_li_per_unit * len(grid)
    steps = rng.normal(scale=np.sqrt(2 * D_cm2_s / 0.1 * dt_fs), size=(n_frames, n_li, 3))
    steps[0] = rng.random((n_li, 3)) * L
    li = np.cumsum(steps, axis=0)
    pos = np.concatenate([np.stack(traj, axis=1), li], axis=1)
    sp += ["Li"] * n_li
    tr = Trajectory(sp, np.mod(pos, L), np.eye(3) * L, dt_fs, metadata={"temperature_K": T})
    return tr.with_finite_difference_velocities()


def build_study(with_tetra: bool = True, with_extras: bool = True) -> tuple[dict, dict]:
    """(summary dict, curves dict) of a synthetic study, as the analyze job stores them."""
    ref = synthetic_run(1.0e-5, seed=1)
    mlmd = [synthetic_run(1.3e-5, seed=10 + i) for i in range(3)]
    transfer = synthetic_run(1.3e-5, seed=20, n_side=3) if with_extras else None  # 3×3×3 vs 2×2×2
    hot = [synthetic_run(2.0e-5, seed=30)] if with_extras else None
    res = analyze_study(ref, mlmd, mobile=["Li"], transfer=transfer, hot=hot,
                        analysis_settings={"vanhove_lags": 6, "vanhove_origins": 20},
                        **analysis_inputs(None, ref.species))
    assert "PS4" in res["documents"]["reference"][0]["tetrahedra"]["units"]
    if not with_tetra:  # as from a material without tetrahedral units
        for role, docs in res["documents"].items():
            for d in docs + [res["ensemble"][role]]:
                d.pop("tetrahedra", None)
    rng = np.random.default_rng(5)
    species = ref.species
    f_ref = rng.normal(scale=0.8, size=(4, len(species), 3))
    f_pred = f_ref + rng.normal(scale=0.05, size=f_ref.shape)
    fe = force_errors(species, f_pred, f_ref, n_boot=200)
    beef = {"engine": "gap", "beef_step": [0, 60, 120, 180], "beef_max_eV_A": [0.4, 0.2, 0.09, 0.04],
            "beef_mean_eV_A": [0.1, 0.05, 0.02, 0.01], "beef_threshold_eV_A": 0.1, "converged": True,
            "n_training_structures": 12}
    curves = {"documents": res["documents"], "ensemble": res["ensemble"], "beef": beef,
              "parity": {"species": species, "predicted_eV_A": f_pred.tolist(),
                         "reference_eV_A": f_ref.tolist()}}
    summary = {
        "campaign_id": "synthetic", "study": "ps4-li", "material": "lgps", "formula": "Li3PS4",
        "n_atoms": ref.n_atoms, "temperature_K": 500.0,
        "reference_engine": {"engine": "embedded", "engine_version": "0.4.2", "kind": "reference",
                             "stands_in_for_dft": True, "settings": {"model": "chgnet"}},
        "mlff_engine": {"engine": "gap", "engine_version": "0.10.3", "kind": "mlff",
                        "stands_in_for_dft": False, "settings": {}},
        "mobile_species": res["mobile_species"], "n_mlmd_runs": len(mlmd),
        "n_frames_compared": res["n_frames_compared"], "scalars": res["scalars"],
        "scalars_compared": res["scalars_compared"], "comparisons": res["comparisons"],
        "verdict_calibration": res["verdict_calibration"],
        "equilibration_ps": res["equilibration_ps"], "scalars_basis": res["scalars_basis"],
        "force_rmse_meV_A": fe.rmse_meV_A(), "force_mae_meV_A": {k: v.mae_meV_A for k, v in fe.per_element.items()},
        "training": beef, "hot_training": dict(beef, temperature_K=800.0, beef_max_eV_A=[0.3, 0.08, 0.05, 0.03]),
        "curves": None,
    }
    return summary, curves


@pytest.fixture(scope="module")
def study():
    t0 = time.perf_counter()
    s, c = build_study()
    assert time.perf_counter() - t0 < 40
    return s, c


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def labels(fig) -> list[str]:
    return [t for ax in fig.axes for t in (ax.get_xlabel(), ax.get_ylabel()) if t]


UNITS = ("(Å)", "(Å²)", "(ps)", "(fs)", "(deg)", "(deg⁻¹)", "(fs/deg)", "(deg/fs)", "(cm⁻¹)",
         "(eV/Å)", "(arb. units)", "(Å⁻¹)", "(Å⁻³)", "(Å⁻¹ deg⁻¹)")
DIMENSIONLESS = ("training MD step", "Gd", "g(r)")  # a count and pair correlations
CASES = [
    (plot_beef, {}), (plot_rdf, {}), (plot_vdos, {}), (plot_msd, {}), (plot_theta_series, {}),
    (plot_theta_density, {}), (plot_omega_density, {}), (plot_vanhove, {}), (plot_rphi, {}),
    (plot_force_parity, {}), (plot_size_comparison, {}), (plot_hot_comparison, {}),
]


@pytest.mark.parametrize("fn,kw", CASES, ids=[c[0].__name__ for c in CASES])
def test_figure_written_with_size_and_units(study, tmp_path, fn, kw):
    summary, curves = study
    fig = fn(summary, curves, tmp_path / fn.__name__, **kw)
    png, svg = tmp_path / f"{fn.__name__}.png", tmp_path / f"{fn.__name__}.svg"
    assert png.stat().st_size > 5000 and svg.stat().st_size > 5000
    w_in, h_in = fig.get_size_inches()
    assert png_size(png) == (round(w_in * DPI), round(h_in * DPI))
    assert w_in >= 3.3 - 1e-9
    labs = labels(fig)
    assert labs, "figure without axis labels"
    for lab in labs:
        assert any(u in lab for u in UNITS) or lab.startswith(DIMENSIONLESS), f"axis label without a unit: {lab!r}"
    assert all(t.get_fontsize() >= 8 for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels())
    assert b"<svg" in svg.read_bytes()[:400]
    plt.close(fig)


def test_msd_band_is_the_ensemble_mean_and_std(study):
    summary, curves = study
    fig = plot_msd(summary, curves)
    ax = fig.axes[0]
    ens = curves["ensemble"]["mlmd"]["msd"]["msd_A2"]["Li"]
    blue = [ln for ln in ax.get_lines() if ln.get_color() == PALETTE["mlmd"] and ln.get_linewidth() == 1.0]
    assert len(blue) == 1  # the mean; the 3 seeds are thinner
    np.testing.assert_allclose(blue[0].get_ydata(), ens["mean"])
    band = ax.collections[-1].get_paths()[0].vertices[:, 1]
    hi = np.asarray(ens["mean"]) + np.asarray(ens["std"])
    assert np.isclose(band.max(), hi.max())
    # the legend quotes the summary's D (mean ± std over the 3 seeds), or says it is not
    # determined (here: 24 Li over 0.48 ps are too few displacements)
    d = summary["scalars"]["mlmd"]["D_cm2_s"]["Li"]
    want = "D not determined" if d.get("status") else f"{d['mean']:.2e}"
    assert any(want in t.get_text() for t in ax.get_legend().get_texts())
    assert len([ln for ln in ax.get_lines() if ln.get_linewidth() < 1.0]) == 3
    plt.close(fig)


def test_parity_shows_summary_rmse_per_element(study):
    summary, curves = study
    fig = plot_force_parity(summary, curves)
    texts = [ax.get_title() for ax in fig.axes]
    for el, v in summary["force_rmse_meV_A"].items():
        assert any(t.startswith(el) and f"{v:.1f} meV/Å" in t for t in texts)
    assert 40 < summary["force_rmse_meV_A"]["Li"] < 60  # 50 meV/Å noise put in
    plt.close(fig)


def test_vanhove_maps_share_colour_scale_and_show_both_parts(study):
    summary, curves = study
    fig = plot_vanhove(summary, curves)
    meshes = [c for ax in fig.axes if ax.get_label() != "<colorbar>" for c in ax.collections
              if isinstance(c, QuadMesh)]
    assert len(meshes) == 4  # reference/MLMD × Gs/Gd
    assert meshes[0].norm.vmax == meshes[2].norm.vmax and meshes[1].norm.vmax == meshes[3].norm.vmax
    plt.close(fig)


def test_missing_data_skip_with_reason(tmp_path):
    summary, curves = build_study(with_tetra=False, with_extras=False)
    for fn in (plot_theta_density, plot_rphi, plot_size_comparison, plot_hot_comparison, plot_theta_series):
        with pytest.raises(FigureSkipped):
            fn(summary, curves)
    written, skipped = plot_all(summary, {k: v for k, v in curves.items() if k != "parity"}, tmp_path)
    assert {"rdf", "msd", "vdos", "vanhove", "beef"} <= set(written)
    assert {"rphi", "theta_density", "size_comparison", "hot_comparison", "force_parity"} <= set(skipped)
    assert "transfer" in skipped["size_comparison"] and "parity" in skipped["force_parity"]
    assert set(written) | set(skipped) == set(FIGURES)
    for name, paths in written.items():
        assert all(p.exists() for p in paths)


def test_single_trajectory_documents_plot(tmp_path):
    from ssic_flows.analysis.report_json import analyze_trajectory

    doc = analyze_trajectory(synthetic_run(1e-5, seed=3, n_frames=120), species=["Li"])
    curves = curves_from_documents([doc])
    for fn in (plot_rdf, plot_msd, plot_vdos, plot_vanhove):
        fig = fn({}, curves, tmp_path / fn.__name__)
        assert (tmp_path / f"{fn.__name__}.png").exists()
        plt.close(fig)
