"""The shared ASE MD driver: thermostats, checkpoint/resume after a real SIGKILL, errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("ase")
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

from ssic_flows.engines.common.ase_md import (  # noqa: E402
    checkpoint_dir_for_current_job, kinetic_temperature_K, load_checkpoint, run_md)
from ssic_flows.engines.base import EngineError, MDSettings  # noqa: E402


def _cu():
    return bulk("Cu", cubic=True) * (2, 2, 2)  # 32 atoms


@pytest.mark.parametrize("thermostat", ["csvr", "langevin", "nose-hoover"])
def test_temperature_control(thermostat):
    s = MDSettings(temperature_K=600, timestep_fs=2, n_steps=600, save_every=4, seed=3,
                   thermostat=thermostat, thermostat_time_fs=40)
    tr = run_md(_cu(), EMT(), s, None, metadata={"engine": "emt"})
    assert tr.steps.tolist() == list(range(0, 601, 4))
    assert tr.timestep_fs == 8.0 and tr.metadata["engine"] == "emt"
    T = kinetic_temperature_K(tr)[30:]  # after 240 steps of equilibration
    assert abs(T.mean() - 600) < 0.12 * 600, (thermostat, T.mean())
    assert np.isfinite(tr.forces).all() and tr.energies.shape == (tr.n_frames,)
    # total momentum stays zero (Maxwell-Boltzmann + Stationary; thermostats keep it)
    p = (tr.velocities * tr.masses_amu[None, :, None]).sum(axis=1)
    assert np.abs(p).max() < 1e-8


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ssic_flows.engines.common.ase_md import run_md
    from ssic_flows.engines.base import MDSettings
    s = MDSettings(temperature_K=500, timestep_fs=2, n_steps=200, save_every=5, seed=11,
                   thermostat=sys.argv[2], thermostat_time_fs=40, checkpoint_every=20)
    def die(step, atoms):
        if step == 135:   # between the checkpoints at 120 and 140
            os.kill(os.getpid(), signal.SIGKILL)
    run_md(bulk("Cu", cubic=True) * (2, 2, 2), EMT(), s, sys.argv[1], on_frame=die)
""")


@pytest.mark.parametrize("thermostat", ["csvr", "nose-hoover"])
def test_sigkill_then_resume_is_continuous_and_exact(tmp_path, thermostat):
    """CSVR resumes bit-exactly because the thermostat RNG state is checkpointed; the
    Nosé-Hoover chain because its chain variables are."""
    ck = tmp_path / "ck"
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(ck), thermostat],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = load_checkpoint(ck)
    assert int(state["step"]) == 120 and state["f_steps"][-1] == 120

    s = MDSettings(temperature_K=500, timestep_fs=2, n_steps=200, save_every=5, seed=11,
                   thermostat=thermostat, thermostat_time_fs=40, checkpoint_every=20)
    resumed = run_md(_cu(), EMT(), s, ck)
    assert resumed.metadata["resumed_from_step"] == 120
    assert resumed.steps.tolist() == list(range(0, 201, 5))
    ref = run_md(_cu(), EMT(), s, None)
    np.testing.assert_allclose(resumed.positions, ref.positions, rtol=0, atol=1e-10)
    np.testing.assert_allclose(resumed.velocities, ref.velocities, rtol=0, atol=1e-12)
    np.testing.assert_allclose(resumed.energies, ref.energies, rtol=0, atol=1e-10)
    # calling again after completion returns the same trajectory without new steps
    again = run_md(_cu(), EMT(), s, ck)
    assert again.metadata["resumed_from_step"] == 200
    np.testing.assert_array_equal(again.positions, resumed.positions)


def test_checkpoint_of_other_run_is_refused(tmp_path):
    s = MDSettings(temperature_K=300, timestep_fs=2, n_steps=10, checkpoint_every=5)
    run_md(_cu(), EMT(), s, tmp_path)
    with pytest.raises(EngineError, match="other settings"):
        run_md(_cu(), EMT(), MDSettings(temperature_K=301, n_steps=10), tmp_path)


def test_bad_settings():
    with pytest.raises(EngineError, match="unknown thermostat"):
        run_md(_cu(), EMT(), MDSettings(temperature_K=300, thermostat="berendsen"), None)
    with pytest.raises(EngineError, match="coupling time"):
        run_md(_cu(), EMT(), MDSettings(temperature_K=300, thermostat_time_fs=1), None)
    with pytest.raises(EngineError, match="calculator"):
        run_md(_cu(), None, MDSettings(temperature_K=300), None)
    with pytest.raises(EngineError, match="cannot run MD"):
        run_md("Cu32", EMT(), MDSettings(temperature_K=300), None)
    with pytest.raises(ValueError, match="temperature_K"):
        MDSettings(temperature_K=-5)


def test_checkpoint_dir_outside_a_job_is_none():
    assert checkpoint_dir_for_current_job() is None


def test_checkpoints_append_frames_instead_of_rewriting_them(tmp_path):
    """Each checkpoint writes only the frames since the previous one (linear I/O); earlier
    chunks are never rewritten, and the state file holds no frames."""
    s = MDSettings(temperature_K=400, timestep_fs=2, n_steps=100, save_every=5, seed=2,
                   checkpoint_every=20)
    first: dict = {}

    def watch(step, atoms):
        c0 = tmp_path / "md_frames_000000.npz"
        if step == 30:
            first["stat"] = c0.stat()

    tr = run_md(_cu(), EMT(), s, tmp_path, on_frame=watch)
    chunks = sorted(tmp_path.glob("md_frames_*.npz"))
    assert len(chunks) == 6  # checkpoints at 0, 20, 40, 60, 80, 100
    sizes = [np.load(c)["f_steps"].size for c in chunks]
    assert sizes == [1, 4, 4, 4, 4, 4] and sum(sizes) == tr.n_frames
    after = chunks[0].stat()
    assert (after.st_ino, after.st_mtime_ns) == (first["stat"].st_ino, first["stat"].st_mtime_ns)
    with np.load(tmp_path / "md_checkpoint.npz") as z:
        assert "f_positions" not in z.files and int(z["n_chunks"]) == 6
    state = load_checkpoint(tmp_path)
    np.testing.assert_array_equal(state["f_positions"], tr.positions)
    np.testing.assert_array_equal(state["f_steps"], tr.steps)


def test_format1_checkpoint_with_frames_inside_still_resumes(tmp_path):
    s = MDSettings(temperature_K=400, timestep_fs=2, n_steps=40, save_every=5, seed=4,
                   checkpoint_every=20)
    run_md(_cu(), EMT(), s, tmp_path)
    old = load_checkpoint(tmp_path)  # rewrite it as the format-1 file (frames inside)
    for c in tmp_path.glob("md_frames_*.npz"):
        c.unlink()
    old.pop("n_chunks")
    old["format"] = np.asarray(1)
    np.savez(tmp_path / "md_checkpoint.npz", **old)
    longer = MDSettings(**{**s.__dict__, "n_steps": 60})
    resumed = run_md(_cu(), EMT(), longer, tmp_path)
    ref = run_md(_cu(), EMT(), longer, None)
    assert resumed.metadata["resumed_from_step"] == 40
    np.testing.assert_array_equal(resumed.steps, ref.steps)
    np.testing.assert_allclose(resumed.positions, ref.positions, rtol=0, atol=1e-10)
