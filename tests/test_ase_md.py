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
