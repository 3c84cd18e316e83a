"""VASP reference engine. No VASP and no VASP output here (tests/data/vasp/README.md): these
tests check the inputs atomate2 writes for our Makers (potcar_spec mode, no POTCARs) and the
structure of the flows."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp import Incar, Kpoints, Poscar

from vasp_common import _no_potcars, agi4  # noqa: F401  (autouse fixture)

from ssic_flows.engines.base import EngineError, MDSettings
from ssic_flows.engines.registry import get_reference_engine
from ssic_flows.engines.vasp.engine import VaspReference
from ssic_flows.engines.vasp.jobs import VaspMDMaker, VaspStaticMaker, vasp_statics
from ssic_flows.engines.vasp.sets import STUDY_INCAR, md_incar



def lgps_like() -> Structure:
    """Small Li/Ge/P/S cell: every LGPS element, to check POTCAR choices."""
    return Structure(Lattice.cubic(8.0), ["Li", "Li", "Ge", "P", "S", "S"],
                     [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
                      [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])


def write_inputs(structure, generator, tmp_path):
    from atomate2.vasp.files import write_vasp_input_set

    write_vasp_input_set(structure, generator, directory=tmp_path, potcar_spec=True)
    assert not (tmp_path / "POTCAR").exists()
    return (Incar.from_file(tmp_path / "INCAR"), Kpoints.from_file(tmp_path / "KPOINTS"),
            Poscar.from_file(tmp_path / "POSCAR"),
            (tmp_path / "POTCAR.spec").read_text().split())


def test_md_inputs_match_study(tmp_path):
    md = MDSettings(temperature_K=500, timestep_fs=2.0, n_steps=1000, thermostat="nose-hoover")
    maker = get_reference_engine("vasp").md_maker(md)
    assert isinstance(maker, VaspMDMaker)
    (seg,) = maker.segment_makers(agi4())
    incar, kpts, poscar, spec = write_inputs(agi4(), seg.input_set_generator, tmp_path)
    # study: PBE, Γ only, NVT at 500 K (AgI)
    assert incar["GGA"].upper() == "PE"
    assert kpts.style.name == "Gamma" and tuple(kpts.kpts[0]) == (1, 1, 1)
    assert incar["IBRION"] == 0 and incar["NSW"] == 1000 and incar["POTIM"] == 2.0
    assert incar["TEBEG"] == 500 and incar["TEEND"] == 500 and incar["ISIF"] == 2
    assert incar["MDALGO"] == 2 and incar["SMASS"] == 0
    # our stated choices
    assert incar["ENCUT"] == 500 and incar["PREC"] == "Normal" and incar["ISYM"] == 0
    assert incar["LREAL"] == "Auto" and incar["ISPIN"] == 1 and incar["ISMEAR"] == 0
    assert not incar.get("LWAVE") and not incar.get("LCHARG") and "MAGMOM" not in incar
    assert "LORBIT" not in incar and not incar.get("LVTOT")
    # POSCAR keeps our atom order (trajectories map 1:1), POTCAR choices PBE_54 defaults
    assert [s.symbol for s in poscar.structure.species] == ["I", "I", "Ag", "Ag"]
    assert spec == ["I", "Ag"]


def test_thermostat_mapping(tmp_path):
    csvr = md_incar(MDSettings(temperature_K=300, timestep_fs=2.0, thermostat="csvr",
                               thermostat_time_fs=100))
    assert csvr["MDALGO"] == 5 and csvr["CSVR_PERIOD"] == 50
    lang = md_incar(MDSettings(temperature_K=300, thermostat="langevin", thermostat_time_fs=100),
                    ["Li", "Ge", "P", "S", "S"])
    assert lang["MDALGO"] == 3 and lang["LANGEVIN_GAMMA"] == [10.0] * 4
    with pytest.raises(EngineError, match="thermostat"):
        md_incar(MDSettings(temperature_K=300, thermostat="berendsen"))
    # the csvr tags reach the INCAR and SMASS is dropped
    maker = VaspMDMaker(md_settings=MDSettings(temperature_K=300, n_steps=10))
    incar, *_ = write_inputs(agi4(), maker.segment_makers(agi4())[0].input_set_generator,
                             tmp_path)
    assert incar["MDALGO"] == 5 and "SMASS" not in incar


def test_potcar_choices_and_overrides(tmp_path):
    eng = VaspReference(incar_overrides={"ENCUT": 450, "NCORE": 4})
    maker = eng.md_maker(MDSettings(temperature_K=600, n_steps=10))
    incar, _, _, spec = write_inputs(lgps_like(), maker.segment_makers(lgps_like())[0]
                                     .input_set_generator, tmp_path)
    assert spec == ["Li_sv", "Ge_d", "P", "S"]
    assert incar["ENCUT"] == 450 and incar["NCORE"] == 4 and incar["TEBEG"] == 600
    with pytest.raises(EngineError, match="MDSettings"):
        VaspMDMaker(md_settings=MDSettings(temperature_K=300, n_steps=10),
                    incar_overrides={"POTIM": 1.0}).segment_makers(agi4())


def test_segments_chain_and_collect(tmp_path):
    eng = get_reference_engine("vasp", n_segments=3)
    flow = eng.md_maker(MDSettings(temperature_K=500, n_steps=10)).make(agi4())
    names = [j.name for j in flow.jobs]
    assert names == ["vasp md 1/3", "vasp md 2/3", "vasp md 3/3", "vasp md collect"]
    nsw = [m.input_set_generator.nsteps for m in eng.md_maker(
        MDSettings(temperature_K=500, n_steps=10)).segment_makers(agi4())]
    assert nsw == [4, 3, 3] and sum(nsw) == 10
    # segment 2 starts from segment 1's output structure (CONTCAR, with velocities)
    seg2 = flow.jobs[1]
    refs = {r.uuid for r in seg2.input_references}
    assert flow.jobs[0].uuid in refs
    collect = flow.jobs[-1]
    assert {flow.jobs[k].uuid for k in range(3)} <= {r.uuid for r in collect.input_references}
    assert flow.output.uuid == collect.uuid
    with pytest.raises(EngineError, match="n_segments"):
        VaspMDMaker(md_settings=MDSettings(temperature_K=300, n_steps=2),
                    n_segments=5).segment_makers(agi4())


def test_static_inputs_and_flow(tmp_path):
    import numpy as np

    from ssic_flows.analysis.trajectory import Trajectory

    sm = get_reference_engine("vasp").static_maker()
    assert isinstance(sm, VaspStaticMaker)
    incar, kpts, poscar, spec = write_inputs(agi4(), sm.input_set_generator(), tmp_path)
    assert incar["NSW"] == 0 and incar["IBRION"] == -1 and incar["GGA"].upper() == "PE"
    assert tuple(kpts.kpts[0]) == (1, 1, 1) and kpts.style.name == "Gamma"
    assert incar["ENCUT"] == STUDY_INCAR["ENCUT"]
    frames = Trajectory(species=["I", "I", "Ag", "Ag"],
                        positions=np.stack([agi4().cart_coords] * 3), cells=np.eye(3) * 5.07,
                        timestep_fs=2.0)
    job = sm.make(frames)
    assert job.name == "vasp static"
    # at run time the job replaces itself with one StaticMaker job per frame + a collector
    resp = vasp_statics.original(frames, incar_overrides={}, name="vasp static")
    jobs = resp.replace.jobs
    assert [j.name for j in jobs] == ["vasp static 0", "vasp static 1", "vasp static 2",
                                      "vasp static collect"]
    assert resp.replace.output.uuid == jobs[-1].uuid


def test_check_available_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError, match="run on a cluster"):
        VaspReference().check_available()


def test_provenance_is_dft():
    p = VaspReference().provenance()
    assert p["engine"] == "vasp" and p["stands_in_for_dft"] is False
    assert p["settings"]["kpoints"] == "Gamma" and p["settings"]["incar"]["GGA"] == "PE"


def test_structure_known_only_at_run_time():
    """A study passes the build job's output: the maker defers building its segments."""
    from jobflow import OutputReference

    from ssic_flows.engines.vasp.jobs import vasp_md_deferred

    ref = OutputReference("0000-build")["structure"]
    maker = VaspMDMaker(md_settings=MDSettings(temperature_K=500, n_steps=10), n_segments=2)
    job = maker.make(ref)
    assert job.function.__name__ == "vasp_md_deferred"
    assert job.input_references[0].uuid == "0000-build"
    resp = vasp_md_deferred.original(agi4(), **{k: v for k, v in job.function_kwargs.items()})
    assert [j.name for j in resp.replace.jobs] == ["vasp md 1/2", "vasp md 2/2",
                                                   "vasp md collect"]


def _random_seed(incar_path) -> list[int]:
    """The RANDOM_SEED line of a written INCAR as VASP reads it (three integers)."""
    (line,) = [ln for ln in incar_path.read_text().splitlines()
               if ln.split("=")[0].strip() == "RANDOM_SEED"]
    return [int(x) for x in line.split("=")[1].split()]


def test_random_seed_written_per_segment(tmp_path):
    """RANDOM_SEED = seed 0 0 in segment 1; later segments reproducible and distinct."""
    from atomate2.vasp.files import write_vasp_input_set

    def seeds(seed: int) -> list[list[int]]:
        maker = VaspMDMaker(md_settings=MDSettings(temperature_K=500, n_steps=9, seed=seed,
                                                   thermostat="langevin"), n_segments=3)
        out = []
        for k, seg in enumerate(maker.segment_makers(agi4())):
            d = tmp_path / f"s{seed}_{k}"
            write_vasp_input_set(agi4(), seg.input_set_generator, directory=d, potcar_spec=True)
            out.append(_random_seed(d / "INCAR"))
        return out

    s7 = seeds(7)
    assert s7[0] == [7, 0, 0] and all(s[1:] == [0, 0] for s in s7)
    assert len({s[0] for s in s7}) == 3 and all(0 <= s[0] < 900_000_000 for s in s7)
    assert seeds(7) == s7 and seeds(8)[0] == [8, 0, 0]
    assert {s[0] for s in seeds(8)}.isdisjoint(s[0] for s in s7)
    with pytest.raises(EngineError, match="RANDOM_SEED"):
        VaspMDMaker(md_settings=MDSettings(temperature_K=300, n_steps=2),
                    incar_overrides={"RANDOM_SEED": [1, 0, 0]}).segment_makers(agi4())
    with pytest.raises(EngineError, match="RANDOM_SEED"):
        md_incar(MDSettings(temperature_K=300, seed=-1))


def test_velocities_carry_over_to_next_segment(tmp_path):
    """Segment 2's POSCAR holds segment 1's final velocities (Å/fs): segment 2 is made from
    segment 1's ``output.structure`` (emmet takes it from CONTCAR, velocities as a site
    property), which survives the store's JSON round trip and atomate2 writes it as given."""
    import json

    import numpy as np
    from atomate2.vasp.files import write_vasp_input_set
    from monty.json import MontyDecoder, MontyEncoder

    flow = VaspMDMaker(md_settings=MDSettings(temperature_K=500, n_steps=10),
                       n_segments=2).make(agi4())
    seg1, seg2 = flow.jobs[:2]
    (ref,) = [a for a in seg2.function_args if hasattr(a, "uuid")]
    assert ref.uuid == seg1.uuid and [a[1] for a in ref.attributes] == ["structure"]
    assert seg2.function_kwargs["prev_dir"].uuid == seg1.uuid
    # a CONTCAR-format text with velocities (written here by pymatgen, not VASP output)
    v = np.linspace(-0.02, 0.02, 12).reshape(4, 3)
    contcar = Poscar(agi4(), velocities=v.tolist()).get_str()
    final = Poscar.from_str(contcar).structure
    stored = json.loads(json.dumps(final, cls=MontyEncoder), cls=MontyDecoder)
    gen = VaspMDMaker(md_settings=MDSettings(temperature_K=500, n_steps=10),
                      n_segments=2).segment_makers(agi4())[1].input_set_generator
    write_vasp_input_set(stored, gen, directory=tmp_path, potcar_spec=True)
    poscar = Poscar.from_file(tmp_path / "POSCAR")
    assert poscar.velocities is not None
    np.testing.assert_allclose(poscar.velocities, v, atol=1e-8)
