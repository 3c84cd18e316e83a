"""CP2K reference engine: data files, input writing, parsing of genuine CP2K output
(tests/data/cp2k, see its README) and real CP2K runs on a 4-atom α-AgI-like cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings
from ssic_flows.engines.cp2k.engine import PRESETS, CP2KReference
from ssic_flows.engines.cp2k.jobs import CP2KMDMaker, CP2KStaticMaker, cp2k_md_in_dir
from ssic_flows.analysis.readers import (
    BOHR_A, CP2K_FRC_TO_EV_PER_A, CP2K_VEL_TO_A_PER_FS, HARTREE_EV, read_cp2k_ener, read_cp2k_xyz,
    read_trajectory,
)
from ssic_flows.analysis.trajectory import TrajectoryError
from ssic_flows.engines.cp2k.parsing import (
    read_cp2k_forces_table, read_cp2k_md, read_cp2k_total_energy, read_restart_step,
)
from ssic_flows.engines.cp2k.run import find_cp2k_executable
from ssic_flows.engines.cp2k.sets import (
    Cp2kSettings, basis_and_potential_names, cp2k_data_dir, write_cp2k_input,
)
from ssic_flows.engines.registry import get_reference_engine

DATA = Path(__file__).parent / "data" / "cp2k"
ELEMENTS = ["Ag", "I", "Li", "Ge", "P", "S", "Na", "Sb", "W"]


def _have_cp2k() -> bool:
    try:
        find_cp2k_executable()
        cp2k_data_dir()
    except EngineError:
        return False
    return True


needs_cp2k = pytest.mark.skipif(not _have_cp2k(), reason="cp2k executable/data not installed")


def agi4() -> Structure:
    """2 I (bcc, a = 5.07 Å) + 2 Ag on tetrahedral 12d sites."""
    return Structure(Lattice.cubic(5.07), ["I", "I", "Ag", "Ag"],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0, 0.5], [0.5, 0.75, 0]])


def tiny(**kw) -> Cp2kSettings:
    return Cp2kSettings(**{**PRESETS["tiny"], **kw})


# ------------------------------------------------------------------ data files
@needs_cp2k
@pytest.mark.parametrize("basis", ["SZV-MOLOPT-SR-GTH", "DZVP-MOLOPT-SR-GTH"])
def test_all_study_elements_have_gth_pbe_and_molopt(basis):
    d = cp2k_data_dir()
    for el in ELEMENTS:
        assert basis_and_potential_names(el, basis, "GTH-PBE", d) == (True, True), el
    # and the lookup can say no
    assert basis_and_potential_names("Ag", "NO-SUCH-BASIS", "GTH-PBE", d) == (False, True)


# ------------------------------------------------------------------ input writing
def test_md_input_csvr_gamma_pbe(tmp_path):
    md = MDSettings(temperature_K=500, timestep_fs=2.0, n_steps=7, save_every=2, seed=41,
                    thermostat="csvr", thermostat_time_fs=80, checkpoint_every=3)
    text = write_cp2k_input(agi4(), tiny(), md=md, data_dir=DATA.parent / "cp2k")
    assert "RUN_TYPE MD" in text and "ENSEMBLE NVT" in text
    assert "TYPE CSVR" in text and "TIMECON [fs] 80" in text
    assert "TEMPERATURE [K] 500" in text and "TIMESTEP [fs] 2.0" in text
    assert "STEPS 7" in text and "SEED 42" in text
    assert "&XC_FUNCTIONAL PBE" in text and "KPOINTS" not in text  # Γ only
    assert text.count("BASIS_SET SZV-MOLOPT-SR-GTH") == 2 and "POTENTIAL GTH-PBE" in text
    assert "CUTOFF 250.0" in text and "&DIAGONALIZATION ON" in text
    assert "MD 2\n" in text and "MD 3\n" in text  # print stride, restart stride
    assert "EXT_RESTART" not in text
    assert "A 5.0700000000 0.0000000000 0.0000000000" in text
    assert "Ag  1.2675000000 0.0000000000 2.5350000000" in text


def test_md_input_nose_ot_restart():
    md = MDSettings(temperature_K=300, n_steps=10, thermostat="nose-hoover")
    s = Cp2kSettings()  # production: DZVP, OT FULL_ALL
    text = write_cp2k_input(agi4(), s, md=md, restart_file="ssic-1.restart", steps=4,
                            data_dir=DATA)
    assert "TYPE NOSE" in text and "LENGTH 3" in text
    assert "PRECONDITIONER FULL_ALL" in text and "ENERGY_GAP 0.01" in text
    assert "DZVP-MOLOPT-SR-GTH" in text and "CUTOFF 350.0" in text
    assert "RESTART_FILE_NAME ssic-1.restart" in text and "STEPS 4\n" in text
    sp = write_cp2k_input(agi4(), s, run_type="ENERGY_FORCE", data_dir=DATA)
    assert "&MOTION" not in sp and "&FORCES ON" in sp
    with pytest.raises(ValueError, match="thermostat"):
        write_cp2k_input(agi4(), s, md=MDSettings(temperature_K=300, thermostat="berendsen"),
                         data_dir=DATA)
    with pytest.raises(ValueError, match="MDSettings"):
        write_cp2k_input(agi4(), s, run_type="MD", data_dir=DATA)


# ------------------------------------------------------------------ parsing genuine output
def test_parse_resumed_md_fixture():
    d = DATA / "agi4_md_resumed"
    x = read_cp2k_xyz(d / "ssic-pos-1.xyz")
    assert x.species == ["I", "I", "Ag", "Ag"] and list(x.steps) == [0, 1, 2, 3, 3, 4]
    assert read_restart_step(d / "ssic-1.restart") == 4
    ener = read_cp2k_ener(d / "ssic-1.ener")
    # step 3 is in the file twice; the later (resumed) copy wins
    assert ener[3]["used_time_s"] == pytest.approx(7.670476223)
    t = read_cp2k_md(d, "ssic", timestep_fs=2.0)
    assert t.n_frames == 5 and t.n_atoms == 4 and list(t.steps) == [0, 1, 2, 3, 4]
    assert t.timestep_fs == 2.0 and np.allclose(t.cells[0], np.eye(3) * 5.07)
    # frame 0 is the input structure
    assert np.allclose(t.positions[0], agi4().cart_coords, atol=1e-8)
    # energies (from .ener) aligned with frames: the xyz comment lines carry E (Ha) of the same step
    comments = [ln for ln in (d / "ssic-frc-1.xyz").read_text().splitlines() if "i =" in ln]
    e_by_step = {int(c.split(",")[0].split("=")[1]): float(c.split("E =")[1]) for c in comments}
    for k, s in enumerate(t.steps):
        assert t.energies[k] == pytest.approx(e_by_step[int(s)] * HARTREE_EV, abs=1e-6)
    # units: Ha/Bohr → eV/Å, Bohr/au → Å/fs
    keep = [0, 1, 2, 4, 5]  # records; step 3's later copy (record 4) wins
    frc = read_cp2k_xyz(d / "ssic-frc-1.xyz").data[keep]
    assert np.allclose(t.forces, frc * 51.42208619083232)
    vel = read_cp2k_xyz(d / "ssic-vel-1.xyz").data[keep]
    assert np.allclose(t.velocities, vel * 21.876912633)
    # physical sanity: net force ≈ 0 (eV/Å), thermal speeds ~ 1e-3..1e-2 Å/fs, kinetic T
    assert np.abs(t.forces.sum(axis=1)).max() < 0.05
    assert 1e-4 < np.linalg.norm(t.velocities, axis=2).mean() < 0.05
    ke = 0.5 * (t.masses_amu[None, :, None] * t.velocities**2).sum(axis=(1, 2)) * 103.642697
    t_kin = 2 * ke / ((3 * t.n_atoms - 3) * 8.617333262e-5)  # CP2K removes the COM dofs
    temps = [ener[int(s)]["temperature_K"] for s in t.steps]
    assert np.allclose(t_kin, temps, rtol=0.02)
    # velocity-Verlet position update agrees with the parsed forces/velocities (units check)
    dt = 2.0
    m = t.masses_amu[:, None] * 103.642697  # eV fs²/Å² per amu
    x_pred = t.positions[0] + t.velocities[0] * dt + 0.5 * t.forces[0] / m * dt**2
    assert np.abs(x_pred - t.positions[1]).max() < 2e-3  # CSVR only rescales velocities


def test_parse_single_point_fixture():
    d = DATA / "agi4_single_point"
    e = read_cp2k_total_energy(d / "sp.out")
    assert e == pytest.approx(-96.769762002251539 * HARTREE_EV)
    species, f = read_cp2k_forces_table(d / "ssic-forces-1_0.xyz")
    assert species == ["I", "I", "Ag", "Ag"] and f.shape == (4, 3)
    assert f[0, 0] == pytest.approx(-0.0320332549 * CP2K_FRC_TO_EV_PER_A)
    # same structure as MD frame 0: same energy and forces
    t = read_cp2k_md(DATA / "agi4_md_resumed", timestep_fs=2.0)
    assert t.energies[0] == pytest.approx(e, abs=1e-6)
    assert np.allclose(t.forces[0], f, atol=1e-6)


def test_unit_constants():
    assert CP2K_FRC_TO_EV_PER_A == pytest.approx(51.422067, rel=1e-6)
    assert CP2K_VEL_TO_A_PER_FS == pytest.approx(21.876912, rel=1e-6)
    assert BOHR_A == pytest.approx(0.529177, rel=1e-6)


def _killed_copy(tmp_path) -> Path:
    """The genuine resumed run with the last record of ssic-pos-1.xyz cut short."""
    import shutil

    d = tmp_path / "killed"
    shutil.copytree(DATA / "agi4_md_resumed", d)
    src = (d / "ssic-pos-1.xyz").read_text().splitlines()
    (d / "ssic-pos-1.xyz").write_text("\n".join(src[:-2]) + "\n")  # last frame cut short
    return d


def test_truncated_trajectory_frame_dropped_by_engine(tmp_path):
    d = _killed_copy(tmp_path)
    x = read_cp2k_xyz(d / "ssic-pos-1.xyz", truncated="drop")
    assert list(x.steps) == [0, 1, 2, 3, 3] and x.data.shape == (5, 4, 3) and x.truncated
    with pytest.warns(UserWarning, match="cut-short"):
        t = read_cp2k_md(d, timestep_fs=2.0, metadata={"engine": "cp2k"})
    assert list(t.steps) == [0, 1, 2, 3] and t.metadata["truncated_last_frame"] is True
    assert t.metadata["engine"] == "cp2k"
    full = read_cp2k_md(DATA / "agi4_md_resumed", timestep_fs=2.0)
    assert np.array_equal(t.positions, full.positions[:4]) and "truncated_last_frame" not in full.metadata
    # ssic analyze refuses the same file (damaged or still being written)
    with pytest.raises(TrajectoryError, match="cut short"):
        read_trajectory(d / "ssic-pos-1.xyz")
    (tmp_path / "empty.xyz").write_text("")
    with pytest.raises(TrajectoryError, match="empty file"):
        read_cp2k_xyz(tmp_path / "empty.xyz")
    (d / "ssic-1.cell").unlink()
    with pytest.raises(EngineError, match="MOTION%PRINT%CELL"):
        read_cp2k_md(d, timestep_fs=2.0)


# ------------------------------------------------------------------ engine / registry
def test_registry_and_settings():
    eng = get_reference_engine("cp2k", preset="tiny", n_mpi=2, timeout_s=60)
    assert isinstance(eng, CP2KReference) and eng.cp2k.n_mpi == 2
    assert eng.cp2k.basis_set == "SZV-MOLOPT-SR-GTH" and eng.stands_in_for_dft is False
    mk = eng.md_maker(MDSettings(temperature_K=500, n_steps=3))
    assert isinstance(mk, CP2KMDMaker) and mk.md_settings.n_steps == 3
    assert isinstance(eng.static_maker(), CP2KStaticMaker)
    job = mk.make(agi4())
    assert job.function.__name__ == "run_cp2k_md" and job.function_kwargs["md"]["temperature_K"] == 500
    with pytest.raises(EngineError, match="unknown CP2K setting"):
        get_reference_engine("cp2k", basis="x")
    with pytest.raises(EngineError, match="preset"):
        get_reference_engine("cp2k", preset="huge")
    with pytest.raises(EngineError, match="choose one of"):
        get_reference_engine("cp2k-fast")


def test_missing_executable_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SSIC_CP2K_CMD", raising=False)
    with pytest.raises(EngineError, match="apt-get install cp2k"):
        find_cp2k_executable()
    with pytest.raises(EngineError, match="SSIC_CP2K_CMD"):
        CP2KReference().check_available()
    monkeypatch.setenv("SSIC_CP2K_CMD", "/nonexistent/cp2k.psmp")
    with pytest.raises(EngineError, match="SSIC_CP2K_CMD"):
        find_cp2k_executable()


def test_failed_cp2k_run_reports_output(tmp_path, monkeypatch):
    # a fake "cp2k" that fails: the error carries its output tail
    fake = tmp_path / "bin" / "cp2k.psmp"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'ABORT: fake failure for test'\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SSIC_CP2K_CMD", str(fake))
    from ssic_flows.engines.cp2k.run import run_cp2k

    with pytest.raises(EngineError, match="(?s)exit 3.*fake failure"):
        run_cp2k(tmp_path / "run", "&GLOBAL\n&END GLOBAL\n", Cp2kSettings())


# ------------------------------------------------------------------ real CP2K runs
@needs_cp2k
@pytest.mark.cp2k
@pytest.mark.timeout(300)
def test_md_job_through_jobflow(tmp_path, monkeypatch):
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore
    from monty.json import MontyDecoder

    from ssic_flows.schemas import MDOutput

    monkeypatch.setenv("SSIC_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    eng = get_reference_engine("cp2k", preset="tiny", n_mpi=1, timeout_s=240)
    md = MDSettings(temperature_K=500, timestep_fs=2.0, n_steps=2, save_every=2, seed=3,
                    checkpoint_every=1)
    job = eng.md_maker(md).make(agi4())
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    run_locally(job, store=store, ensure_success=True)
    out = MontyDecoder().process_decoded(store.get_output(job.uuid, load=True))
    assert isinstance(out, MDOutput)
    assert store.additional_stores["data"].count() == 1  # trajectory went to the data store
    doc = store.docs_store.query_one({"uuid": job.uuid})
    assert doc["output"]["trajectory"].get("blob_uuid")
    t = out.trajectory
    assert isinstance(t, Trajectory)
    assert out.n_frames == 2 and list(t.steps) == [0, 2] and out.resumed_from_step == 0
    assert t.timestep_fs == 4.0 and out.timestep_fs == 2.0  # frames are 2 MD steps apart
    assert out.provenance.engine == "cp2k" and "2023" in out.provenance.engine_version
    assert out.seconds_per_step > 0 and out.formula == "AgI"
    # frame 0 is the input structure, and its energy/forces match the stored single point
    # fixture made with the same settings
    assert np.allclose(t.positions[0], agi4().cart_coords, atol=1e-8)
    _, f_ref = read_cp2k_forces_table(DATA / "agi4_single_point" / "ssic-forces-1_0.xyz")
    assert np.allclose(t.forces[0], f_ref, atol=2e-3)
    assert t.energies[0] == pytest.approx(read_cp2k_total_energy(
        DATA / "agi4_single_point" / "sp.out"), abs=1e-3)
    assert abs(out.metadata["conserved_drift_eV"]) < 1e-3
    # run directory moved out of checkpoints, wavefunction removed
    run_dir = Path(out.metadata["cp2k_dir"])
    assert run_dir.is_dir() and not list(run_dir.glob("*.wfn"))
    assert not (tmp_path / "home" / "checkpoints" / f"{job.uuid}_{job.index}").exists()


@needs_cp2k
@pytest.mark.cp2k
@pytest.mark.timeout(300)
def test_md_resumes_from_restart_file(tmp_path):
    s = tiny(timeout_s=240)
    first = cp2k_md_in_dir(tmp_path, agi4(),
                           MDSettings(temperature_K=500, n_steps=1, seed=5, checkpoint_every=1), s)
    assert first["start_step"] == 0 and list(first["trajectory"].steps) == [0, 1]
    # the job is rerun asking for 2 steps in total: CP2K continues from the restart (step 1)
    md2 = MDSettings(temperature_K=500, n_steps=2, seed=5, checkpoint_every=1)
    second = cp2k_md_in_dir(tmp_path, agi4(), md2, s)
    t = second["trajectory"]
    assert second["start_step"] == 1 and second["steps_run"] == 1
    assert list(t.steps) == [0, 1, 2] and t.timestep_fs == 2.0
    assert np.allclose(t.positions[:2], first["trajectory"].positions)
    assert not np.allclose(t.positions[2], t.positions[1])
    assert (tmp_path / "md_restart_1.inp").exists()
    assert read_restart_step(tmp_path / "ssic-1.restart") == 2
    # a third call finds the run complete and only parses
    third = cp2k_md_in_dir(tmp_path, agi4(), md2, s)
    assert third["steps_run"] == 0 and np.allclose(third["trajectory"].positions, t.positions)


@needs_cp2k
@pytest.mark.cp2k
@pytest.mark.timeout(300)
def test_static_maker_forces_match_finite_difference(tmp_path, monkeypatch):
    """Single points at x ± h (atom 0 along x): −dE/dx = mean of F_x(x ± h) within 1 %."""
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore
    from monty.json import MontyDecoder

    monkeypatch.chdir(tmp_path)
    h = 0.01  # Å
    x0 = agi4().cart_coords
    pos = np.stack([x0, x0])
    pos[0, 0, 0] += h
    pos[1, 0, 0] -= h
    frames = Trajectory(species=["I", "I", "Ag", "Ag"], positions=pos, cells=np.eye(3) * 5.07,
                        timestep_fs=1.0, steps=[10, 11], metadata={"source": "test"})
    eng = get_reference_engine("cp2k", preset="tiny", eps_scf=1e-8, timeout_s=240)
    job = eng.static_maker().make(frames)
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    run_locally(job, store=store, ensure_success=True)
    out = MontyDecoder().process_decoded(store.get_output(job.uuid, load=True))
    f = out.forces
    assert out.n_structures == 2 and f.forces.shape == (2, 4, 3) and f.energies.shape == (2,)
    assert list(f.steps) == [10, 11] and f.metadata["source"] == "test"
    assert np.allclose(out.energies_eV, f.energies)
    fd = -(f.energies[0] - f.energies[1]) / (2 * h)  # eV/Å; error O(h²)
    f_mid = 0.5 * (f.forces[0, 0, 0] + f.forces[1, 0, 0])  # F_x(x) + O(h²)
    assert f_mid == pytest.approx(fd, rel=0.01, abs=2e-3)
    assert abs(fd) > 0.5  # a real test: the force is not ~0
    # the stored single point of the undisplaced cell lies between the two
    _, f_ref = read_cp2k_forces_table(DATA / "agi4_single_point" / "ssic-forces-1_0.xyz")
    assert f_mid == pytest.approx(f_ref[0, 0], rel=0.02)
    assert np.abs(f.forces.sum(axis=1)).max() < 0.05  # net force ≈ 0 (eV/Å)


def test_static_job_rejects_non_trajectory():
    from ssic_flows.engines.cp2k.jobs import run_cp2k_static

    with pytest.raises(EngineError, match="must be a Trajectory"):
        run_cp2k_static.original([1, 2, 3], cp2k=tiny().as_dict())


def test_cp2k_child_dies_with_killed_parent(tmp_path):
    """A job process killed hard must not leave 'CP2K' running in its checkpoint dir."""
    import os
    import signal
    import subprocess
    import sys
    import time

    fake = tmp_path / "bin" / "cp2k.psmp"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho $$ > child.pid\nexec sleep 60\n")
    fake.chmod(0o755)
    code = ("from ssic_flows.engines.cp2k.run import run_cp2k\n"
            "from ssic_flows.engines.cp2k.sets import Cp2kSettings\n"
            f"run_cp2k({str(tmp_path / 'run')!r}, 'x', Cp2kSettings())\n")
    env = dict(os.environ, SSIC_CP2K_CMD=str(fake))
    parent = subprocess.Popen([sys.executable, "-c", code], env=env)
    pid_file = tmp_path / "run" / "child.pid"
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.1)
    child = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("CP2K child survived its killed parent")
