"""The VASP MD and VASP-MLFF flows end to end on genuine VASP outputs (atomate2's mock-VASP
pattern, :mod:`ssic_flows.testing.mock_vasp`): each job writes its inputs, the mock checks
them against the genuine run's INCAR and our required values, copies the genuine outputs into
the job directory, and our collectors turn them into documents whose numbers are checked
against pymatgen's independent reading of the same file and against physics.

Fixtures (origin, licence and use in each ``ORIGIN.md`` beside them; tests/data/vasp/README.md):

* ``gewater_aimd_vasp544``: a DFT MD run, VASP 5.4.4, 291 atoms, NSW = 2, POTIM = 0.5 fs.
* ``fe2_mlff_train_vasp640``: an on-the-fly training run, VASP 6.4.0, ML_MODE = train,
  2 Fe atoms, NSW = 1000 of which vasprun.xml holds the 59 ab initio steps.
* ``h2_ml_ab``: an ML_AB written by VASP's MLFF (H2 in an 8 Å box, 43 configurations).

The genuine runs ship vasprun.xml only. What our code needs beyond it is said where used:
ML_LOGFILE/ML_ABN are the documented-format fixtures of tests/data/vasp (AgI, not these
runs), the refit's ML_FFN a labelled placeholder.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from ase import units
from jobflow import JobStore, run_locally
from maggma.stores import MemoryStore
from pymatgen.io.vasp.outputs import Vasprun

from vasp_common import _no_potcars  # noqa: F401  (autouse fixture)

from ssic_flows.engines.base import EngineError, MDSettings, TrainSettings
from ssic_flows.engines.vasp.jobs import VaspMDMaker, collect_vasp_md
from ssic_flows.engines.vasp.parsing import read_vasprun_trajectory, require_vasp_version
from ssic_flows.engines.vasp_mlff.engine import VaspMLFF
from ssic_flows.engines.vasp_mlff.jobs import VaspMLMDMaker, collect_vasp_mlff_training
from ssic_flows.engines.vasp_mlff.parsing import read_ml_ab_configurations, read_ml_ab_header
from ssic_flows.schemas import EngineProvenance, MDOutput, TrainOutput
from ssic_flows.testing.mock_vasp import MockRun, mock_vasp, reference_from_vasprun

GENUINE = Path(__file__).resolve().parents[1] / "shared" / "vasp_genuine"
DOCUMENTED = Path(__file__).parent / "data" / "vasp"  # hand-written, VASP's documented formats
AIMD = GENUINE / "gewater_aimd_vasp544" / "vasprun.xml.gz"
TRAIN = GENUINE / "fe2_mlff_train_vasp640" / "vasprun.xml.gz"
ML_AB = GENUINE / "h2_ml_ab" / "ML_AB.gz"
PLACEHOLDER = "PLACEHOLDER written by tests/test_vasp_genuine.py - not VASP output\n"
EV_AMU_FS2 = 1.0 / units.fs**2  # 1 amu Å²/fs² = 103.64 eV (½ m v², m in amu, v in Å/fs)

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in (AIMD, TRAIN, ML_AB)),
    reason=f"genuine VASP fixtures not in {GENUINE} (see tests/data/vasp/README.md)")

#: INCAR tags of a run that do not depend on the thermostat or on ML: ours must equal the
#: genuine run's when our settings are the run's (atomate2 fake_run_vasp incar_settings).
MD_TAGS = ("IBRION", "NSW", "POTIM", "TEBEG", "ISYM")


def _vasprun(path: Path) -> Vasprun:
    return Vasprun(str(path), parse_dos=False, parse_eigen=False, parse_projected_eigen=False,
                   parse_potcar_file=False)


def _store() -> JobStore:
    return JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})


def _output(responses: dict, job):
    return responses[job.uuid][1].output


# ------------------------------------------------------------------ DFT MD (VaspMDMaker)
def test_aimd_flow_on_genuine_md_run(tmp_path, monkeypatch):
    """VaspMDMaker with the genuine run's settings writes its MD tags; the MDOutput holds the
    vasprun's frames (positions Å, forces eV/Å, free energies eV) exactly as pymatgen reads
    them, at POTIM, with VASP's version; the kinetic energy of our positions over our
    timestep is VASP's own."""
    vr = _vasprun(AIMD)
    ref = reference_from_vasprun(AIMD, tmp_path / "ref")
    md = MDSettings(temperature_K=400, timestep_fs=0.5, n_steps=2, seed=5, thermostat="csvr")
    flow = VaspMDMaker(md_settings=md).make(vr.initial_structure)
    assert [j.name for j in flow.jobs] == ["vasp md 1/1", "vasp md collect"]
    # the genuine run used MDALGO = 5 too (its CSVR time is a patched build's CSVRTAU tag)
    written = mock_vasp(monkeypatch, {"vasp md 1/1": MockRun(
        ref, compare=(*MD_TAGS, "MDALGO"),
        expect={"RANDOM_SEED": [5, 0, 0], "TEEND": 400, "ISIF": 2, "CSVR_PERIOD": 200})})
    monkeypatch.chdir(tmp_path)
    out = _output(run_locally(flow, store=_store(), create_folders=True, root_dir=tmp_path / "run",
                              ensure_success=True), flow.jobs[-1])
    assert [w["job"] for w in written] == ["vasp md 1/1"]
    assert isinstance(out, MDOutput)
    # VASP ran NSW = 2 steps, the first at the input structure: 2 frames, steps 0 and 1
    assert out.n_frames == 2 and out.n_atoms == 291 and out.n_steps == 2
    t = out.trajectory
    assert list(t.steps) == [0, 1] and t.timestep_fs == 0.5 and t.species == [
        str(s.specie) for s in vr.initial_structure]
    steps = vr.ionic_steps
    np.testing.assert_allclose(t.positions, [s["structure"].cart_coords for s in steps], atol=1e-10)
    np.testing.assert_allclose(t.forces, [s["forces"] for s in steps], atol=1e-10)
    np.testing.assert_allclose(t.energies, [s["e_fr_energy"] for s in steps], atol=1e-10)
    assert t.energies[0] == pytest.approx(-1834.23081944, abs=1e-8)
    assert out.temperature_K == 400 == vr.incar["TEBEG"]
    assert out.provenance.engine_version == "VASP 5.4.4.18Apr17-6-g9f103f2a35"
    # kinetic energy of the displacement over one step, Σ ½ m (Δx/Δt)² (a half-step velocity,
    # so within a few % of VASP's EKIN of step 0; a wrong Δt or unit is off by factors)
    dx = np.diff(t.unwrapped(), axis=0)[0]
    ekin = 0.5 * np.sum(t.masses_amu[:, None] * (dx / t.timestep_fs) ** 2) * EV_AMU_FS2
    assert ekin == pytest.approx(steps[0]["kinetic"], rel=0.03)
    assert ekin == pytest.approx(0.2202, abs=5e-4)


def test_aimd_collector_refuses_a_segment_that_stopped_early(tmp_path):
    """VASP writes vasprun.xml step by step: a run killed during step 2 leaves step 1 complete
    (here: the genuine file cut where its second step starts). Reading it succeeds, but the
    collector refuses 1 frame of NSW = 2 instead of reporting a 2-step run."""
    text = gzip.open(AIMD, "rt").read()
    cut = [i for i in range(len(text)) if text.startswith("<calculation>", i)][1]
    (tmp_path / "vasprun.xml").write_text(text[:cut])
    assert read_vasprun_trajectory(tmp_path, timestep_fs=0.5).n_frames == 1
    with pytest.raises(EngineError, match=r"1 ionic steps but NSW = 2.*rerun it"):
        collect_vasp_md.original([str(tmp_path)], md=asdict(MDSettings(temperature_K=400,
                                 timestep_fs=0.5, n_steps=2)), engine_settings={})


# ------------------------------------------------------------------ a training run's frames
def test_training_vasprun_is_not_a_time_series(tmp_path):
    """The genuine ML_MODE = train vasprun holds 59 ionic steps of NSW = 1000: only those with
    an ab initio calculation. Between consecutive stored frames the kinetic energy of
    central-difference velocities equals VASP's EKIN where the steps are consecutive
    (frames 8-13: 5 digits) and exceeds it tenfold where ML-only steps are missing (frames
    2-6); the MD collector therefore refuses it."""
    (tmp_path / "vasprun.xml.gz").write_bytes(TRAIN.read_bytes())
    vr = _vasprun(TRAIN)
    assert vr.vasp_version == "6.4.0" and vr.incar["ML_MODE"] == "train"
    assert len(vr.ionic_steps) == 59 and vr.incar["NSW"] == 1000
    t = read_vasprun_trajectory(tmp_path, timestep_fs=2.0).with_finite_difference_velocities()
    ekin = 0.5 * np.sum(t.masses_amu[None, :, None] * t.velocities ** 2, axis=(1, 2)) * EV_AMU_FS2
    vasp = np.array([s["kinetic"] for s in vr.ionic_steps])
    np.testing.assert_allclose(ekin[8:14], vasp[8:14], rtol=2e-4)
    assert np.all(ekin[2:7] > 10 * vasp[2:7])
    with pytest.raises(EngineError, match=r"training run \(ML_LMLFF = T, ML_MODE = train\).*"
                                          r"59 of NSW = 1000"):
        collect_vasp_md.original([str(tmp_path)], md=asdict(MDSettings(temperature_K=400)),
                                 engine_settings={})


# ------------------------------------------------------------------ VASP MLFF
def _train_flow(tmp_path, monkeypatch):
    """The VaspMLFF training flow's first job run on the genuine ML_MODE = train output."""
    vr = _vasprun(TRAIN)
    # the genuine run trained at its production temperature (TEBEG 400 K): factor 1, as the study
    ts = TrainSettings(temperature_K=400, timestep_fs=2.0, segment_steps=1000, max_iterations=1,
                       beef_threshold_eV_A=0.05, seed=7, explore_temperature_factor=1.0)
    flow = VaspMLFF(model_root=str(tmp_path / "models")).train_flow(
        vr.initial_structure, None, ts)
    assert [j.name for j in flow.jobs] == ["vasp mlff train 1", "vasp mlff refit",
                                           "vasp mlff collect"]
    ref = reference_from_vasprun(TRAIN, tmp_path / "ref_train")
    # the genuine run has no ML_LOGFILE/ML_ABN: the documented-format fixtures (AgI) stand in.
    # KPOINTS not compared: the genuine run used Monkhorst-Pack 1x1x1 (the Γ point), ours Gamma;
    # thermostat not compared: it used Langevin (MDALGO = 3), training uses our CSVR default.
    written = mock_vasp(monkeypatch, {"vasp mlff train 1": MockRun(
        ref, compare=(*MD_TAGS, "ISIF", "ML_LMLFF", "ML_MODE"), check_inputs=("incar", "poscar"),
        expect={"RANDOM_SEED": [7, 0, 0], "ML_CTIFOR": 0.05, "ML_ICRITERIA": 1, "MDALGO": 5},
        extra_outputs={"ML_LOGFILE": DOCUMENTED / "ML_LOGFILE", "ML_ABN": DOCUMENTED / "ML_ABN"})})
    monkeypatch.chdir(tmp_path)
    train = flow.jobs[0].function.__self__.make(vr.initial_structure)  # the flow's own maker
    doc = _output(run_locally(train, store=_store(), create_folders=True,
                              root_dir=tmp_path / "run", ensure_success=True), train)
    return ts, written, doc


def test_mlff_training_on_genuine_train_run(tmp_path, monkeypatch):
    """Train job end to end; the collector on its directory recognises VASP 6.4.0 (≥ 6.4,
    which reads ML_MODE) and records it in the TrainOutput, with the BEEF curve and training
    set of the ML_LOGFILE/ML_ABN beside it.

    The refit job is not run: no genuine ML_MODE = refit output exists in either source, and
    atomate2 continues a job only from a directory with OUTCAR and CONTCAR, which the genuine
    run lacks. The refit directory handed to the collector holds a placeholder ML_FFN (only
    copied and hashed) and the training run's vasprun.xml, of which only the version is read.
    """
    ts, written, doc = _train_flow(tmp_path, monkeypatch)
    incar = written[0]["incar"]
    assert incar["ML_MODE"].lower() == "train" and incar["NSW"] == 1000 and incar["POTIM"] == 2
    train_dir = Path(doc.dir_name)
    assert doc.vasp_version == "6.4.0" and doc.structure.formula == "Fe2"
    assert require_vasp_version(train_dir, (6, 4), "ML_MODE") == "VASP 6.4.0"
    refit = tmp_path / "refit"
    refit.mkdir()
    (refit / "ML_FFN").write_text("ML_FFN " + PLACEHOLDER)
    shutil.copy(TRAIN, refit / "vasprun.xml.gz")
    job = collect_vasp_mlff_training([str(train_dir)], str(refit), asdict(ts),
                                     model_root=str(tmp_path / "models"))
    out = _output(run_locally(job, store=_store(), ensure_success=True), job)
    assert isinstance(out, TrainOutput)
    assert out.provenance.engine_version == "VASP 6.4.0"
    assert out.temperature_K == 400 and out.n_iterations == 1
    assert out.n_training_structures == 2 and out.beef_step == [1, 2, 3, 4, 5, 6]  # fixtures'
    assert Path(out.model_path).read_text() == "ML_FFN " + PLACEHOLDER


def test_mlmd_run_job_on_genuine_output_refuses_a_training_run(tmp_path, monkeypatch):
    """MLMD flow end to end: the run job writes ML_MODE = run (ML_OUTBLOCK, ML_IERR = 0,
    RANDOM_SEED) with the genuine run's MD and Langevin tags and stages the model as ML_FF.
    No genuine ML_MODE = run output is available; given the genuine training output (what a
    VASP that did not honour ML_MODE = run would leave: VASP 6.4.0, so the version check
    passes), the collector refuses it rather than report its ab initio steps as MD frames."""
    vr = _vasprun(TRAIN)
    model_file = tmp_path / "model" / "ML_FF"
    model_file.parent.mkdir()
    model_file.write_text("ML_FF " + PLACEHOLDER)
    model = TrainOutput(provenance=EngineProvenance(engine="vasp-mlff", kind="mlff"),
                        model_path=str(model_file), n_training_structures=2, n_iterations=1,
                        converged=True, beef_threshold_eV_A=0.05)
    md = MDSettings(temperature_K=400, timestep_fs=2.0, n_steps=1000, seed=3,
                    thermostat="langevin", thermostat_time_fs=1000.0)  # LANGEVIN_GAMMA = 1/ps
    flow = VaspMLMDMaker(md_settings=md).make(vr.initial_structure, model=model)
    assert [j.name for j in flow.jobs] == ["vasp mlmd run", "vasp mlmd collect"]
    ref = reference_from_vasprun(TRAIN, tmp_path / "ref")
    written = mock_vasp(monkeypatch, {"vasp mlmd run": MockRun(
        ref, compare=(*MD_TAGS, "ISIF", "ML_LMLFF", "MDALGO", "LANGEVIN_GAMMA"),
        check_inputs=("incar", "poscar"), staged={"ML_FF": "ML_FF " + PLACEHOLDER},
        expect={"ML_MODE": "run", "ML_OUTBLOCK": 1, "ML_IERR": 0, "RANDOM_SEED": [3, 0, 0]})})
    monkeypatch.chdir(tmp_path)
    responses = run_locally(flow, store=_store(), create_folders=True, root_dir=tmp_path / "run")
    assert [w["job"] for w in written] == ["vasp mlmd run"]
    assert written[0]["incar"]["LANGEVIN_GAMMA"] == [1.0]
    run_doc = _output(responses, flow.jobs[0])
    assert run_doc.vasp_version == "6.4.0"
    assert flow.jobs[1].uuid not in responses  # the collector failed
    with pytest.raises(EngineError, match=r"training run.*59 of NSW = 1000"):
        collect_vasp_md.original([run_doc.dir_name], md=asdict(md), engine_settings={},
                                 stride=1, min_version=(6, 4))


# ------------------------------------------------------------------ a genuine ML_AB
def test_genuine_ml_ab_parses_to_consistent_physics():
    """VASP's own ML_AB (H2, 43 configurations): header and values as written; forces obey
    Newton's third law; along the bond the force is −dE/dd of the energies (cubic fit, to
    0.05 eV/Å of forces up to 0.8 eV/Å), vanishing at the PBE bond length 0.75 Å."""
    h = read_ml_ab_header(ML_AB)
    assert h == {"version": "1.0", "n_configurations": 43, "atom_types": ["H"]}
    confs = read_ml_ab_configurations(ML_AB)
    assert len(confs) == 43 and all(c["species"] == ["H", "H"] for c in confs)
    assert confs[0]["energy"] == pytest.approx(-6.698149439246976, abs=1e-12)
    assert confs[0]["ctifor"] == pytest.approx(0.002) and np.allclose(confs[0]["lattice"], 8 * np.eye(3))
    d, f, e = [], [], []
    for c in confs:
        assert np.abs(c["forces"].sum(axis=0)).max() < 1e-6
        r = c["positions"][0] - c["positions"][1]
        r = r - 8.0 * np.round(r / 8.0)  # minimum image in the 8 Å cube
        d.append(np.linalg.norm(r))
        f.append(c["forces"][0] @ r / d[-1])  # force on atom 0 along the bond, eV/Å
        e.append(c["energy"])
    d, f, e = map(np.asarray, (d, f, e))
    dedd = np.polyval(np.polyder(np.polyfit(d, e, 3)), d)
    assert np.abs(f).max() > 0.5 and np.max(np.abs(dedd + f)) < 0.05
    roots = [r.real for r in np.roots(np.polyder(np.polyfit(d, e, 3))) if abs(r.imag) < 1e-9]
    assert any(0.745 < r < 0.755 for r in roots)
