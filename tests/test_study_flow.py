"""The study graph: jobs, roles and edges per material; the CLI dry run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ssic_flows.flows.campaign import build_campaign, describe_graph
from ssic_flows.flows.spec import StudySpec, load_campaign
from ssic_flows.flows.study import StudyMaker

ROOT = Path(__file__).parents[1]


def _graph(flow):
    g = describe_graph(flow)["jobs"]
    return g, {j["name"]: j for j in g}


def _ancestors(by: dict, name: str) -> set[str]:
    seen, stack = set(), [name]
    while stack:
        for p in by[stack.pop()]["parents"]:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


@pytest.mark.parametrize("material, n_atoms", [("agi", 32), ("lgps", 50), ("na3sbs4", 16),
                                               ("na3sbs4-w", 31)])
def test_study_graph_per_material(material, n_atoms):
    maker = StudyMaker(study=StudySpec(name=material, material=material, n_atoms=n_atoms, temperature_K=500,
                                       reference_steps=20, mlmd_steps=20, n_seeds=3, transfer=True,
                                       retrain_hot=True, equilibration_ps=0.01), campaign_id="t")
    g, by = _graph(maker.make())
    roles = Counter(j["role"] for j in g)
    for role in ("build", "reference_md", "train_mlff", "validate", "mlmd", "transfer",
                 "retrain_hot", "mlmd_hot", "analyze"):
        assert roles[role] >= 1, role
    assert roles["mlmd"] == 3 and roles["analyze"] == 1 and roles["validate"] == 1
    assert roles["build"] == 2  # training cell + 2x2x2 transfer cell
    names = [j["name"] for j in g]
    assert len(names) == len(set(names)), "job names must be unique"
    assert all(j["material"] == material and j["n_atoms"] for j in g)
    train_jobs = {j["name"] for j in g if j["role"] == "train_mlff"}
    mlmd = [j for j in g if j["role"] == "mlmd"]
    assert sorted(j["seed"] for j in mlmd) == [1, 2, 3]
    for j in mlmd:  # every production run depends on the trained model, not on each other
        anc = _ancestors(by, j["name"])
        assert anc & train_jobs and f"{material}:build" in anc
        assert not any(by[a]["role"] == "mlmd" for a in anc)
        assert not any(by[a]["role"] == "reference_md" for a in anc)
    tr = next(j for j in g if j["role"] == "transfer")
    assert tr["n_atoms"] == 8 * n_atoms and f"{material}:build_transfer" in tr["parents"]
    hot = next(j for j in g if j["role"] == "mlmd_hot")
    assert hot["temperature_K"] == 500 and not (_ancestors(by, hot["name"]) & train_jobs)
    assert any(by[a]["role"] == "retrain_hot" and by[a]["temperature_K"] == 800
               for a in _ancestors(by, hot["name"]))
    val = by[f"{material}:validate"]
    assert f"{material}:reference_md" in val["parents"]
    an = by[f"{material}:analyze"]
    anc = _ancestors(by, an["name"])
    assert {j["name"] for j in g if j["role"] in ("mlmd", "transfer", "mlmd_hot", "validate",
                                                  "reference_md")} <= set(an["parents"])
    assert set(names) - {an["name"]} <= anc  # analyze depends on everything


def test_campaign_links_doped_training_to_pristine_model():
    spec = load_campaign(ROOT / "workflows" / "demo.yaml")
    g, by = _graph(build_campaign(spec))
    assert {j["study"] for j in g} == {"agi", "lgps", "na3sbs4", "na3sbs4-w"}
    doped_train = [j for j in g if j["study"] == "na3sbs4-w" and j["role"] == "train_mlff"]
    anc = set().union(*(_ancestors(by, j["name"]) for j in doped_train))
    assert any(by[a]["study"] == "na3sbs4" and by[a]["role"] == "train_mlff" for a in anc)
    # studies are otherwise independent
    agi_an = _ancestors(by, "agi:analyze")
    assert all(by[a]["study"] == "agi" for a in agi_an)


def test_dry_run_json_cli():
    out = subprocess.run([sys.executable, "-m", "ssic_flows.cli", "run", "--dry-run",
                          str(ROOT / "workflows" / "ci.yaml"), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    keys = {"name", "material", "role", "seed", "temperature_K", "n_atoms", "parents"}
    assert d["jobs"] and all(keys <= set(j) for j in d["jobs"])
    assert {j["role"] for j in d["jobs"]} >= {"build", "reference_md", "train_mlff", "validate",
                                             "mlmd", "transfer", "retrain_hot", "analyze"}


def test_dry_run_rejects_bad_yaml_without_submitting(tmp_path, ssic_home):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "workflows" / "ci.yaml").read_text().replace("temperature_K: 500",
                                                                       "temperature_K: -1"))
    for args in (["run", "--dry-run", str(bad)], ["run", str(bad)]):
        out = subprocess.run([sys.executable, "-m", "ssic_flows.cli", *args],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2
        assert "studies[0].temperature_K" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (ssic_home / "launchpad.json").exists()


def test_equilibration_reaches_the_analyze_job_and_is_checked():
    maker = StudyMaker(study=StudySpec(name="agi", material="agi", n_atoms=32, temperature_K=500,
                                       reference_steps=100, mlmd_steps=100, n_seeds=1,
                                       equilibration_ps=0.05), campaign_id="t")
    flow = maker.make()
    analyze = next(j for j in flow.jobs if j.name == "agi:analyze")
    assert analyze.function_kwargs["info"]["equilibration_ps"] == 0.05
    with pytest.raises(ValueError, match="equilibration_ps = 1 ps is more than half of reference_steps"):
        StudySpec(material="agi", n_atoms=32, temperature_K=500, reference_steps=100,
                  mlmd_steps=100, equilibration_ps=1.0)


@pytest.mark.parametrize("mlff", ["gap", "ace"])
def test_validation_is_independent_of_training(mlff):
    """Issue 13 item 9: the reference MD (validation's source), the training's seed MD and
    the MLMD runs all have different seeds; validation skips the equilibration and frame 0
    (the shared start structure) and says so."""
    from ssic_flows.engines.base import SEED_MD_OFFSET
    from ssic_flows.flows.graph import all_jobs
    from ssic_flows.flows.study import REFERENCE_MD_SEED, TRAIN_SEED

    maker = StudyMaker(study=StudySpec(name="agi", material="agi", n_atoms=16, temperature_K=500,
                                       reference_steps=40, mlmd_steps=40, n_seeds=2, equilibration_ps=0.02),
                       mlff_engine=mlff, campaign_id="t")
    jobs = all_jobs(maker.make())

    def md_seed(job):
        s = job.function_args[1] if len(job.function_args) > 1 else job.function_kwargs.get("settings")
        return s["seed"] if isinstance(s, dict) else getattr(s, "seed", None)

    ref = next(j for j in jobs if j.name == "agi:reference_md")
    seed_md = next(j for j in jobs if "seed_reference_md" in j.name)
    assert md_seed(ref) == REFERENCE_MD_SEED
    assert md_seed(seed_md) == TRAIN_SEED + SEED_MD_OFFSET != REFERENCE_MD_SEED
    val = next(j for j in jobs if j.name == "agi:validate")
    kw = dict(zip(("reference_trajectory", "model", "mlff", "mlff_settings", "n_snapshots", "seed",
                   "n_boot", "reuse", "static", "skip_fs", "independence"), val.function_args))
    assert kw["skip_fs"] == pytest.approx(20.0) and "never saw" in kw["independence"]
