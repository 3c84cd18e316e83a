"""A user-material campaign: the file's text travels in the graph; same checks as the built-ins."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ssic_flows.flows.campaign import build_campaign, describe_graph
from ssic_flows.flows.graph import all_jobs
from ssic_flows.flows.spec import CampaignSpecError, load_campaign

DATA = Path(__file__).parent / "data" / "structures"


def _campaign(tmp_path: Path, **study) -> Path:
    shutil.copy(DATA / "POSCAR.LiFePO4", tmp_path / "POSCAR.LiFePO4")
    d = {"campaign_id": "user", "reference_engine": "embedded", "mlff_engine": "ace",
         "studies": [{"material": "POSCAR.LiFePO4", "mobile_species": ["Li"], "n_atoms": 56,
                      "temperature_K": 600, "reference_steps": 60, "mlmd_steps": 60,
                      "equilibration_ps": 0.02, "n_seeds": 2, "transfer": True, "transfer_steps": 40,
                      **study}]}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_user_campaign_graph_carries_the_text_not_the_path(tmp_path):
    spec = load_campaign(_campaign(tmp_path))
    st = spec.studies[0]
    assert st.study_name == "LiFePO4" and st.structure["text"] == (DATA / "POSCAR.LiFePO4").read_text()
    (tmp_path / "POSCAR.LiFePO4").unlink()  # a worker without the file builds the same cell
    flow = build_campaign(spec)
    g = describe_graph(flow)["jobs"]
    roles = Counter(j["role"] for j in g)
    assert roles["build"] == 2 and roles["mlmd"] == 2 and roles["analyze"] == 1
    assert all(j["material"] == "LiFePO4" for j in g)
    assert next(j for j in g if j["role"] == "transfer")["n_atoms"] == 8 * 56
    build = next(j for j in all_jobs(flow) if j.name == "LiFePO4:build")
    rec = build.function_args[0]
    assert rec["text"].startswith("LiFePO4") and "path" not in rec
    out = build.function(*build.function_args, **build.function_kwargs)
    assert out["n_atoms"] == 56 and out["ordering"].startswith("ordered")
    again = build.function(*build.function_args, **build.function_kwargs)
    assert again["structure"] == out["structure"]  # same text + seed -> same structure
    an = next(j for j in all_jobs(flow) if j.name == "LiFePO4:analyze")
    assert an.function_kwargs["info"]["material_recipe"]["mobile_species"] == ["Li"]


def test_user_campaign_dry_run_cli(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ssic_flows.cli", "run", "--dry-run", "--json",
                          str(_campaign(tmp_path))], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert {j["role"] for j in d["jobs"]} >= {"build", "reference_md", "train_mlff", "validate",
                                             "mlmd", "transfer", "analyze"}


@pytest.mark.parametrize("study, words", [
    ({"material": "nope.cif"}, "studies[0].material: 'nope.cif' is neither a built-in material"),
    ({"mobile_species": ["Na"]}, "not in the structure"),
    ({"n_atoms": 3}, "less than one cell"),
    ({"oxidation_states": {"Li": 1, "Fe": 3, "P": 5, "O": -2}}, "net charge"),
    ({"material": "agi", "mobile_species": ["Ag"]}, "are for structure files"),
])
def test_bad_user_material_is_one_line(tmp_path, study, words):
    with pytest.raises(CampaignSpecError) as e:
        load_campaign(_campaign(tmp_path, **study))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_builtin_with_doping_rule_is_a_recipe(tmp_path):
    spec = load_campaign(_campaign(tmp_path, material="na3sbs4", mobile_species=None, n_atoms=128,
                                   dope={"replace": "Sb", "with": "W", "fraction": 0.0625,
                                         "compensate": {"vacancy": "Na"}}))
    assert spec.studies[0].structure["base"] == "na3sbs4"
    assert spec.studies[0].study_name == "na3sbs4+W"


def test_ssic_study_writes_beside_the_file_or_nothing(tmp_path):
    shutil.copy(DATA / "POSCAR.LiFePO4", tmp_path / "POSCAR.LiFePO4")
    base = [sys.executable, "-m", "ssic_flows.cli", "study", str(tmp_path / "POSCAR.LiFePO4"),
            "--temperature", "600", "--atoms", "56"]
    bad = subprocess.run(base + ["--mobile", "Na"], capture_output=True, text=True, timeout=180)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "not in the structure" in bad.stderr and "POSCAR.LiFePO4" in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["POSCAR.LiFePO4"]  # nothing written
    ok = subprocess.run(base + ["--mobile", "Li", "--dry-run"], capture_output=True, text=True, timeout=180)
    assert ok.returncode == 0, ok.stderr
    written = tmp_path / "LiFePO4.campaign.yaml"
    spec = load_campaign(written)
    assert spec.studies[0].mobile_species == ["Li"] and spec.studies[0].temperature_K == 600
    assert "nothing submitted (dry run)" in ok.stdout
