"""VASP on-the-fly MLFF: INCAR tags of train/refit/run, file staging between steps
(ML_ABN→ML_AB, ML_FFN→ML_FF) on placeholder files, and parsers on hand-written fixtures in
VASP's documented formats (tests/data/vasp/README.md). No VASP runs here."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from pymatgen.io.vasp import Incar

from vasp_common import _no_potcars, agi4  # noqa: F401  (autouse fixture)

from ssic_flows.engines.base import EngineError, MDSettings, TrainSettings
from ssic_flows.engines.registry import get_mlff_engine, get_reference_engine
from ssic_flows.engines.vasp_mlff.engine import VaspMLFF
from ssic_flows.engines.vasp_mlff.files import stage_ml_files
from ssic_flows.engines.vasp_mlff.jobs import VaspMLFFMaker, collect_vasp_mlff_training
from ssic_flows.engines.vasp_mlff.parsing import (
    read_ml_ab_configurations, read_ml_ab_header, read_ml_logfile, training_trajectory,
)
from ssic_flows.engines.vasp_mlff.sets import ml_incar, mlff_generator
from ssic_flows.schemas import EngineProvenance, TrainOutput

DATA = Path(__file__).parent / "data" / "vasp"


def _model(path: str, **metadata) -> TrainOutput:
    """A TrainOutput naming a model file (the one shape MLMD and retraining take)."""
    return TrainOutput(provenance=EngineProvenance(engine="vasp-mlff", kind="mlff"), model_path=path,
                       n_training_structures=1, n_iterations=1, converged=True,
                       beef_threshold_eV_A=0.05, metadata=metadata)
PLACEHOLDER = "PLACEHOLDER written by tests/test_vasp_mlff.py - not VASP output\n"



def _incar(gen, tmp_path) -> Incar:
    from atomate2.vasp.files import write_vasp_input_set

    write_vasp_input_set(agi4(), gen, directory=tmp_path, potcar_spec=True)
    return Incar.from_file(tmp_path / "INCAR")


# ------------------------------------------------------------------ INCAR
def test_ml_incar_per_mode():
    train = ml_incar("train", beef_threshold_eV_A=0.05)
    assert train["ML_LMLFF"] is True and train["ML_MODE"] == "train"
    assert train["ML_CTIFOR"] == 0.05 and train["ML_ICRITERIA"] == 1
    assert train["ML_CDOUB"] == 2.0 and train["ML_RCUT1"] == 8.0 and train["ML_RCUT2"] == 5.0
    refit = ml_incar("refit")
    assert refit["ML_MODE"] == "refit" and "ML_CTIFOR" not in refit
    run = ml_incar("run", save_every=10)
    assert run["ML_MODE"] == "run" and run["ML_OUTBLOCK"] == 10 and run["ML_IERR"] == 0
    assert ml_incar("train", overrides={"ML_ICRITERIA": 0})["ML_ICRITERIA"] == 0
    with pytest.raises(EngineError, match="ML_MODE"):
        ml_incar("select")


def test_written_train_incar_has_dft_and_ml_tags(tmp_path):
    md = MDSettings(temperature_K=800, timestep_fs=2.0, n_steps=200, thermostat="nose-hoover")
    gen = mlff_generator("train", md, 200, reference_incar={"ENCUT": 450},
                         beef_threshold_eV_A=0.05, ml_overrides={"ML_MB": 3000},
                         species=["I", "I", "Ag", "Ag"])
    incar = _incar(gen, tmp_path)
    assert incar["ML_LMLFF"] is True and incar["ML_MODE"].lower() == "train"
    assert incar["ML_CTIFOR"] == 0.05 and incar["ML_MB"] == 3000
    assert incar["ENCUT"] == 450 and incar["GGA"].upper() == "PE" and incar["ISYM"] == 0
    assert incar["TEBEG"] == 800 and incar["NSW"] == 200 and incar["MDALGO"] == 2
    kp = (tmp_path / "KPOINTS").read_text().split()
    assert "Gamma" in kp and kp[-3:] == ["1", "1", "1"]


# ------------------------------------------------------------------ staging
def test_stage_train_refit_run_on_placeholders(tmp_path):
    prev = tmp_path / "train1"
    prev.mkdir()
    (prev / "ML_ABN").write_text("ML_ABN " + PLACEHOLDER)
    with gzip.open(prev / "ML_FFN.gz", "wt") as fh:  # atomate2 gzips finished job folders
        fh.write("ML_FFN " + PLACEHOLDER)
    # train from scratch: nothing staged
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert stage_ml_files(fresh, "train") == {}
    assert not (fresh / "ML_AB").exists()
    # train continuation: ML_ABN → ML_AB
    cont = tmp_path / "train2"
    cont.mkdir()
    assert stage_ml_files(cont, "train", prev_dir=f"node17:{prev}") == {"ML_AB": str(prev / "ML_ABN")}
    assert (cont / "ML_AB").read_text() == "ML_ABN " + PLACEHOLDER
    # refit: ML_ABN → ML_AB (required)
    refit = tmp_path / "refit"
    refit.mkdir()
    stage_ml_files(refit, "refit", prev_dir=prev)
    assert (refit / "ML_AB").read_text().startswith("ML_ABN ")
    # run: ML_FFN(.gz) → ML_FF, decompressed
    run = tmp_path / "run"
    run.mkdir()
    stage_ml_files(run, "run", prev_dir=prev)
    assert (run / "ML_FF").read_text() == "ML_FFN " + PLACEHOLDER
    # explicit model path wins over prev_dir
    model = tmp_path / "model_ML_FF"
    model.write_text("model " + PLACEHOLDER)
    run2 = tmp_path / "run2"
    run2.mkdir()
    stage_ml_files(run2, "run", prev_dir=prev, ml_ff=model)
    assert (run2 / "ML_FF").read_text().startswith("model ")


def test_stage_errors_name_what_is_missing(tmp_path):
    with pytest.raises(EngineError, match="ML_MODE=refit needs ML_AB"):
        stage_ml_files(tmp_path, "refit", prev_dir=tmp_path)
    with pytest.raises(EngineError, match="ML_MODE=run needs ML_FF"):
        stage_ml_files(tmp_path, "run")
    with pytest.raises(EngineError, match="does not exist"):
        stage_ml_files(tmp_path, "run", ml_ff=tmp_path / "nope")


# ------------------------------------------------------------------ parsers
def test_ml_logfile_beef_curve():
    log = read_ml_logfile(DATA / "ML_LOGFILE")
    b = log["beef"]
    assert list(b["nstep"]) == [1, 2, 3, 4, 5, 6]
    assert b["bee_max_force"] == pytest.approx([0.25, 0.14, 0.08, 0.048, 0.042, 0.039])
    assert b["bee_ave_force"][0] == pytest.approx(0.12)
    assert b["threshold"][-1] == pytest.approx(0.061)
    assert b["bee_max_stress"][0] == pytest.approx(1.1)
    assert log["n_abinitio"] == 3  # STATUS doabin = T at steps 1-3
    assert [s[1] for s in log["status"]] == ["learning", "threshold", "learning",
                                              "accurate", "accurate", "accurate"]
    assert log["lconf"] == {"I": 3, "Ag": 4}
    assert log["n_existing_structures"] == 12
    assert list(log["err"]["nstep"]) == [1, 3]
    assert log["err"]["rmse_force"][-1] == pytest.approx(0.041)


def test_ml_logfile_gz_and_without_beef(tmp_path):
    gz = tmp_path / "ML_LOGFILE.gz"
    gz.write_bytes(gzip.compress((DATA / "ML_LOGFILE").read_bytes()))
    assert len(read_ml_logfile(tmp_path / "ML_LOGFILE")["beef"]["nstep"]) == 6
    (tmp_path / "empty").write_text("* MAIN LOOP ****\n")
    log = read_ml_logfile(tmp_path / "empty")
    assert log["beef"]["nstep"].size == 0 and log["n_abinitio"] == 0


def test_ml_ab_header_and_configurations(tmp_path):
    h = read_ml_ab_header(DATA / "ML_ABN")
    assert h["n_configurations"] == 2 and h["atom_types"] == ["I", "Ag"]
    confs = read_ml_ab_configurations(DATA / "ML_ABN")
    assert len(confs) == 2 and confs[0]["species"] == ["I", "I", "Ag", "Ag"]
    assert confs[0]["energy"] == pytest.approx(-2633.23937077)
    assert confs[1]["ctifor"] == pytest.approx(0.061)
    assert confs[1]["positions"][0, 0] == pytest.approx(0.01)
    assert np.allclose(confs[0]["lattice"], np.eye(3) * 5.07)
    t = training_trajectory(confs)
    assert t.n_frames == 2 and t.forces.shape == (2, 4, 3)
    assert t.forces[0, 0, 0] == pytest.approx(-1.64719)
    (tmp_path / "bad").write_text("not an ML_AB file\n")
    with pytest.raises(EngineError, match="Version"):
        read_ml_ab_header(tmp_path / "bad")


def test_collect_training_from_fixture_dirs(tmp_path, monkeypatch):
    """The collector on directories holding the documented-format fixtures and a placeholder
    ML_FFN (labelled; it is only copied and hashed, never read as a force field)."""
    import shutil

    monkeypatch.setenv("SSIC_HOME", str(tmp_path / "home"))
    # the fixtures hold no vasprun.xml: the version check reads this VASP version instead
    monkeypatch.setattr("ssic_flows.engines.vasp.parsing.vasp_version", lambda d: "VASP 6.4.2")
    t1, t2, refit = (tmp_path / n for n in ("t1", "t2", "refit"))
    for d in (t1, t2):
        d.mkdir()
        shutil.copy(DATA / "ML_LOGFILE", d / "ML_LOGFILE")
        shutil.copy(DATA / "ML_ABN", d / "ML_ABN")
    refit.mkdir()
    with gzip.open(refit / "ML_FFN.gz", "wt") as fh:
        fh.write("ML_FFN " + PLACEHOLDER)
    settings = TrainSettings(temperature_K=500, beef_threshold_eV_A=0.05)
    from dataclasses import asdict

    d = collect_vasp_mlff_training.original([str(t1), f"host:{t2}"], str(refit), asdict(settings),
                                            model_root=str(tmp_path / "models"))
    assert isinstance(d, TrainOutput)  # the document itself, training_data routed by key
    assert d.n_training_structures == 2 and d.n_iterations == 2
    assert d.beef_step == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]  # 2nd segment offset
    assert d.beef_max_eV_A[:2] == pytest.approx([0.25, 0.14])
    assert d.converged is True  # last 10 % of BEEF max ≤ 0.05 eV/Å
    model = Path(d.model_path)
    assert model.name == "ML_FF" and model.read_text() == "ML_FFN " + PLACEHOLDER
    assert Path(d.metadata["ml_ab_path"]).read_text() == (DATA / "ML_ABN").read_text()
    assert d.metadata["n_abinitio_steps"] == 6 and len(d.model_sha256) == 64
    assert d.training_data.n_frames == 2
    strict = asdict(TrainSettings(temperature_K=500, beef_threshold_eV_A=0.01))
    d2 = collect_vasp_mlff_training.original([str(t1)], str(refit), strict,
                                             model_root=str(tmp_path / "m2"))
    assert d2.converged is False


# ------------------------------------------------------------------ engine
def test_engine_flows_through_registry():
    eng = get_mlff_engine("vasp-mlff")
    assert isinstance(eng, VaspMLFF)
    ts = TrainSettings(temperature_K=500, segment_steps=300, max_iterations=3,
                       engine_settings={"ML_MB": 3000, "note": "not an INCAR tag"})
    flow = eng.train_flow(agi4(), get_reference_engine("vasp"), ts)
    names = [j.name for j in flow.jobs]
    assert names == ["vasp mlff train 1", "vasp mlff train 2", "vasp mlff train 3",
                     "vasp mlff refit", "vasp mlff collect"]
    assert flow.output.uuid == flow.jobs[-1].uuid
    # continuation jobs get the previous directory (→ ML_ABN staged as ML_AB)
    assert "prev_dir" in flow.jobs[1].function_kwargs
    refit_maker = flow.jobs[3].function.__self__
    assert isinstance(refit_maker, VaspMLFFMaker) and refit_maker.ml_mode == "refit"
    train_gen = flow.jobs[0].function.__self__.input_set_generator
    assert train_gen.user_incar_settings["ML_MB"] == 3000
    assert "note" not in train_gen.user_incar_settings
    assert train_gen.nsteps == 300
    # initial model: its ML_AB seeds the first training job
    flow2 = eng.train_flow(agi4(), get_reference_engine("vasp"), ts,
                           initial_model=_model("/models/x/ML_FF", ml_ab_path="/models/x/ML_AB"))
    assert flow2.jobs[0].function_kwargs["ml_ab"] == "/models/x/ML_AB"
    md = eng.md_maker(MDSettings(temperature_K=500, n_steps=1000, save_every=10))
    mdflow = md.make(agi4(), model=_model("/models/x/ML_FF"))
    assert [j.name for j in mdflow.jobs] == ["vasp mlmd run", "vasp mlmd collect"]
    assert mdflow.jobs[0].function_kwargs["ml_ff"] == "/models/x/ML_FF"
    assert mdflow.jobs[0].function.__self__.input_set_generator.user_incar_settings[
        "ML_OUTBLOCK"] == 10
    with pytest.raises(EngineError, match="needs model"):
        md.make(agi4())


def test_training_needs_the_vasp_reference():
    from ssic_flows.engines.cp2k.engine import CP2KReference

    with pytest.raises(EngineError, match="needs the 'vasp' reference"):
        VaspMLFF().train_flow(agi4(), CP2KReference(), TrainSettings(temperature_K=500))


def test_predict_without_vasp_says_run_on_cluster(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    t = training_trajectory(read_ml_ab_configurations(DATA / "ML_ABN"))
    with pytest.raises(EngineError, match="VASP is not available on this machine; run on a cluster"):
        VaspMLFF().predict(_model(str(tmp_path / "ML_FF")), t)


def test_structure_known_only_at_run_time():
    from jobflow import OutputReference

    from ssic_flows.engines.vasp_mlff.engine import vasp_mlff_train_deferred
    from ssic_flows.engines.vasp_mlff.jobs import vasp_mlmd_deferred

    ref = OutputReference("0000-build")["structure"]
    eng = VaspMLFF()
    ts = TrainSettings(temperature_K=500, max_iterations=2)
    job = eng.train_flow(ref, get_reference_engine("vasp", incar_overrides={"ENCUT": 450}), ts)
    assert job.function.__name__ == "vasp_mlff_train_deferred"
    resp = vasp_mlff_train_deferred.original(agi4(), *job.function_args[1:], **job.function_kwargs)
    jobs = resp.replace.jobs
    assert [j.name for j in jobs][-2:] == ["vasp mlff refit", "vasp mlff collect"]
    assert jobs[0].function.__self__.input_set_generator.user_incar_settings["ENCUT"] == 450
    md = eng.md_maker(MDSettings(temperature_K=500, n_steps=100)).make(
        ref, model=OutputReference("0001-train"))
    assert md.function.__name__ == "vasp_mlmd_deferred"
    resp = vasp_mlmd_deferred.original(agi4(), _model("/m/ML_FF"),
                                       **{k: v for k, v in md.function_kwargs.items()})
    assert [j.name for j in resp.replace.jobs] == ["vasp mlmd run", "vasp mlmd collect"]


def test_ctifor_first_segment_only_and_random_seed(tmp_path):
    """ML_CTIFOR only in the first training segment (continuations keep VASP's adaptive
    threshold, carried by ML_AB); every segment and the MLMD run write RANDOM_SEED."""
    from atomate2.vasp.files import write_vasp_input_set

    ts = TrainSettings(temperature_K=500, segment_steps=50, max_iterations=3,
                       beef_threshold_eV_A=0.05, seed=11)
    flow = VaspMLFF().train_flow(agi4(), get_reference_engine("vasp"), ts)
    over = TrainSettings(temperature_K=500, max_iterations=2, engine_settings={"ML_CTIFOR": 0.02})
    gens = [j.function.__self__.input_set_generator.user_incar_settings
            for j in VaspMLFF().train_flow(agi4(), None, over).jobs[:2]]
    assert gens[0]["ML_CTIFOR"] == 0.02 and "ML_CTIFOR" not in gens[1]
    incars, seeds = [], []
    for k, j in enumerate(flow.jobs[:3]):
        d = tmp_path / f"train{k}"
        write_vasp_input_set(agi4(), j.function.__self__.input_set_generator, directory=d,
                             potcar_spec=True)
        incars.append(Incar.from_file(d / "INCAR"))
        (line,) = [ln for ln in (d / "INCAR").read_text().splitlines()
                   if ln.split("=")[0].strip() == "RANDOM_SEED"]
        seeds.append([int(x) for x in line.split("=")[1].split()])
    assert incars[0]["ML_CTIFOR"] == 0.05
    assert "ML_CTIFOR" not in incars[1] and "ML_CTIFOR" not in incars[2]
    assert all(i["ML_MODE"].lower() == "train" and i["ML_ICRITERIA"] == 1 for i in incars)
    assert seeds[0] == [11, 0, 0] and len({s[0] for s in seeds}) == 3
    md = VaspMLFF().md_maker(MDSettings(temperature_K=500, n_steps=100, seed=4))
    run = md.make(agi4(), model=_model("/models/x/ML_FF")).jobs[0]
    incar = _incar(run.function.__self__.input_set_generator, tmp_path / "run")
    assert incar["ML_MODE"].lower() == "run"
    assert "RANDOM_SEED = 4 0 0" in (tmp_path / "run" / "INCAR").read_text()


def test_vasp_older_than_6_4_is_refused(tmp_path, monkeypatch):
    """VASP < 6.4 ignores ML_MODE: continuing, collecting a training or an MLMD run from its
    output raises EngineError naming the fix (the version is what vasprun.xml reports; the
    test substitutes it, it writes no VASP output)."""
    from dataclasses import asdict

    from ssic_flows.engines.vasp.jobs import collect_vasp_md
    from ssic_flows.engines.vasp.parsing import require_vasp_version
    from ssic_flows.engines.vasp_mlff.sets import ML_MIN_VERSION

    version = {"v": "VASP 6.3.2"}
    monkeypatch.setattr("ssic_flows.engines.vasp.parsing.vasp_version", lambda d: version["v"])
    with pytest.raises(EngineError, match=r"VASP 6.3.2 is older than 6.4.*run with VASP >= 6.4"):
        require_vasp_version(tmp_path, ML_MIN_VERSION, "it ignores ML_MODE")
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / "ML_ABN").write_text(PLACEHOLDER)
    maker = VaspMLFFMaker(ml_mode="train", input_set_generator=mlff_generator(
        "train", MDSettings(temperature_K=500, n_steps=5), 5, reference_incar={},
        beef_threshold_eV_A=None, ml_overrides={}, species=["I", "I", "Ag", "Ag"]))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EngineError, match="ignores ML_MODE"):
        maker.make.original(maker, agi4(), prev_dir=str(prev))
    assert not (tmp_path / "ML_AB").exists()  # refused before staging
    with pytest.raises(EngineError, match="older than 6.4"):
        collect_vasp_mlff_training.original(
            [str(prev)], str(prev), asdict(TrainSettings(temperature_K=500)),
            model_root=str(tmp_path / "m"))
    with pytest.raises(EngineError, match="older than 6.4"):
        collect_vasp_md.original([str(prev)], md=asdict(MDSettings(temperature_K=500)),
                                 engine_settings={}, min_version=ML_MIN_VERSION)
    version["v"] = ""
    with pytest.raises(EngineError, match="VASP version not determined"):
        require_vasp_version(prev, ML_MIN_VERSION, "it ignores ML_MODE")
    version["v"] = "VASP 6.4.1"
    assert require_vasp_version(prev, ML_MIN_VERSION, "") == "VASP 6.4.1"
    assert require_vasp_version(prev, (6, 3), "") == "VASP 6.4.1"
    # the MLMD flow's collector asks for VASP >= 6.4
    mdflow = VaspMLFF().md_maker(MDSettings(temperature_K=500, n_steps=10)).make(
        agi4(), model=_model("/models/x/ML_FF"))
    assert tuple(mdflow.jobs[-1].function_kwargs["min_version"]) == (6, 4)
