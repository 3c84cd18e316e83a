"""Campaign YAML validation: one clear error naming the key; nothing submitted."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ssic_flows.flows.spec import MAX_SEEDS, CampaignSpecError, load_campaign

ROOT = Path(__file__).parents[1]


def _base() -> dict:
    return yaml.safe_load((ROOT / "workflows" / "ci.yaml").read_text())


@pytest.mark.parametrize("name", ["demo.yaml", "paper.yaml", "ci.yaml"])
def test_shipped_campaigns_validate(name):
    spec = load_campaign(ROOT / "workflows" / name)
    assert spec.studies and spec.campaign_id


def test_paper_campaign_has_the_study_scale():
    spec = load_campaign(ROOT / "workflows" / "paper.yaml")
    by = {s.study_name: s for s in spec.studies}
    assert by["agi"].n_atoms == 128 and by["agi"].temperature_K == 500 and by["agi"].n_seeds == 5
    assert by["agi"].transfer and by["agi"].retrain_hot and by["agi"].retrain_temperature_K == 800
    assert by["lgps"].n_atoms == 200
    assert by["na3sbs4"].temperature_K == 300 and by["na3sbs4-w"].train_from == "na3sbs4"
    assert by["na3sbs4-w"].n_atoms == 127


@pytest.mark.parametrize("mutate, key, words", [
    (lambda d: d["studies"][0].__setitem__("temperature_K", -5), "studies[0].temperature_K", "greater than 0"),
    (lambda d: d["studies"][0].__setitem__("temperatur_K", 5), "studies[0].temperatur_K", "unknown key"),
    (lambda d: d["studies"][0].__setitem__("n_seeds", MAX_SEEDS + 1), "studies[0].n_seeds", "less than or equal"),
    (lambda d: d["studies"][0].__setitem__("mlmd_steps", "many"), "studies[0].mlmd_steps", "integer"),
    (lambda d: d["studies"][0].__setitem__("material", "nacl"), "studies[0].material", "agi"),
    (lambda d: d.__setitem__("mlff_engine", "mace9000"), "mlff_engine", "unknown MLFF engine"),
    (lambda d: d.__setitem__("campaign_id", "a b"), "campaign_id", "letters"),
    (lambda d: d["studies"][0].__setitem__("train_from", "nope"), "studies", "train_from"),
    (lambda d: d["studies"].append(dict(d["studies"][0])), "studies", "unique"),
    (lambda d: d["studies"][0]["train"].__setitem__("beef_threshold_eV_A", 0), "studies[0].train.beef_threshold_eV_A", "greater than 0"),
    (lambda d: d["studies"][0].pop("equilibration_ps"), "studies[0]",
     "equilibration_ps = 1 ps is more than half of reference_steps (120 steps x 2 fs = 0.24 ps)"),
    (lambda d: d["studies"][0].__setitem__("equilibration_ps", -1), "studies[0].equilibration_ps", "greater than or equal to 0"),
    (lambda d: d["studies"][0].__setitem__("thermostat", "berendsen"), "studies[0].thermostat",
     "unknown thermostat 'berendsen'; choose one of ['csvr', 'langevin', 'nose-hoover']"),
    (lambda d: d["studies"][0].__setitem__("n_atoms", 130), "studies[0]", "nearest to 130: 128 or 132"),
])
def test_bad_campaigns_name_the_key(tmp_path, mutate, key, words):
    d = _base()
    mutate(d)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(CampaignSpecError) as e:
        load_campaign(p)
    msg = str(e.value)
    assert str(p) in msg and key in msg and words in msg
    assert "\n" not in msg


def test_misspelt_key_is_named_before_the_missing_one_it_hides(tmp_path):
    """``temperatre_K`` (misspelt) hides the required ``temperature_K``: name the typo first."""
    d = _base()
    d["studies"][0]["temperatre_K"] = d["studies"][0].pop("temperature_K")
    p = tmp_path / "typo.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(CampaignSpecError) as e:
        load_campaign(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: studies[0].temperatre_K: unknown key"), msg
    assert "did you mean temperature_K?" in msg and "\n" not in msg


def test_not_yaml_and_missing_file(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("campaign_id: [unclosed")
    with pytest.raises(CampaignSpecError, match="not valid YAML"):
        load_campaign(p)
    with pytest.raises(CampaignSpecError, match="no such campaign file"):
        load_campaign(tmp_path / "nope.yaml")
    p.write_text("- a\n- b\n")
    with pytest.raises(CampaignSpecError, match="mapping"):
        load_campaign(p)


def test_equilibration_default_is_stated_and_positive():
    from ssic_flows.flows.spec import DEFAULT_EQUILIBRATION_PS, StudySpec

    paper = load_campaign(ROOT / "workflows" / "paper.yaml")
    assert DEFAULT_EQUILIBRATION_PS == 1.0 and StudySpec.model_fields["equilibration_ps"].default == 1.0
    assert all(s.equilibration_ps == 1.0 for s in paper.studies)
    assert "default 1 ps" in StudySpec.model_fields["equilibration_ps"].description


def test_settings_defined_once_and_thermostat_aliases_canonical():
    """Item 5 of issue 11: the spec's MD/training defaults are the engines' (MDSettings,
    TrainSettings); a thermostat alias becomes its canonical name; the MD settings a study
    hands the engines carry its knobs."""
    from dataclasses import fields

    from ssic_flows.engines.base import MDSettings, TrainSettings
    from ssic_flows.flows.spec import MD_FIELDS, StudySpec, TrainSpec

    md = {f.name: f.default for f in fields(MDSettings)}
    assert all(StudySpec.model_fields[k].default == md[k] for k in MD_FIELDS)
    tr = {f.name: f.default for f in fields(TrainSettings)}
    assert all(f.default == tr[k] for k, f in TrainSpec.model_fields.items() if k != "engine_settings")
    s = StudySpec(material="agi", n_atoms=16, temperature_K=500, reference_steps=600, mlmd_steps=600,
                  thermostat="Bussi", thermostat_time_fs=40, save_every=2, equilibration_ps=0.1)
    assert s.thermostat == "csvr"
    m = s.md_settings(700.0, 60, seed=3)
    assert (m.temperature_K, m.n_steps, m.seed, m.thermostat, m.thermostat_time_fs, m.save_every) == (
        700.0, 60, 3, "csvr", 40, 2)
    t = s.train.train_settings(800.0, s.timestep_fs, seed=9)
    assert (t.temperature_K, t.seed, t.beef_threshold_eV_A) == (800.0, 9, s.train.beef_threshold_eV_A)
