"""The ci campaign (AgI, every role) end to end on embedded stores, then resumed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssic_flows.flows.campaign import build_campaign
from ssic_flows.flows.spec import load_campaign
from ssic_flows.results import Results
from ssic_flows.runner import run_embedded
from ssic_flows.store.config import StoreConfig
from ssic_flows.store.jobstore import get_jobstore

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e")
    cfg = StoreConfig(home=home)
    spec = load_campaign(ROOT / "workflows" / "ci.yaml")
    rep = run_embedded(build_campaign(spec), cfg, spec.campaign_id)
    return cfg, spec, rep


def test_every_job_completed(finished):
    cfg, spec, rep = finished
    assert rep.failed == [] and set(rep.states) == {"COMPLETED"}
    jobs = Results(get_jobstore(cfg)).jobs(campaign="ci")
    roles = set(jobs["role"])
    assert {"build", "reference_md", "train_mlff", "validate", "mlmd", "transfer", "retrain_hot",
            "mlmd_hot", "analyze"} <= roles


def test_summary_is_physical(finished):
    cfg, spec, _ = finished
    res = Results(get_jobstore(cfg))
    (s,) = res.summaries("ci")
    assert s["reference_engine"]["stands_in_for_dft"] is True
    assert s["reference_engine"]["engine"] and s["mlff_engine"]["engine"] == "ace"
    # the linear-ACE training ended under its threshold, with the exact Bayesian error
    assert s["training"]["converged"] and s["training"]["beef_kind"].startswith("exact")
    assert s["mobile_species"] == ["Ag"]
    for role in ("reference", "mlmd"):
        d = s["scalars"][role]["D_cm2_s"]["Ag"]
        # 0.2 ps test runs: the MSD is still ballistic, so no D, the reason instead
        assert (d["mean"] is None and "needs ≥" in d["status"]) or d["mean"] > 0, role
    assert s["equilibration_ps"] == 0.04 and s["scalars_basis"].startswith("full runs")
    # force errors finite and below the spread of the reference forces
    for el in ("Ag", "I"):
        rmse = s["force_rmse_meV_A"][el]
        assert np.isfinite(rmse) and 0 < rmse < s["ref_force_std_meV_A"][el]
    # g(r) -> 1 at long range (average over the outer 1 A of the range, every pair)
    curves = res.curves(s)
    rdf = curves["documents"]["reference"][0]["rdf"]
    r = np.asarray(rdf["r_A"])
    tail = r > r.max() - 1.0
    for pair in ("Ag-I", "Ag-Ag"):
        assert 0.5 < float(np.mean(np.asarray(rdf["g"][pair])[tail])) < 1.5, pair
    # every comparison has a calibrated verdict (or says the observable is not determined)
    for label in ("reference vs mlmd", "transfer vs mlmd", "mlmd_hot vs mlmd"):
        items = s["comparisons"][label]
        assert items and all(c["verdict"] in ("agrees", "differs", "inconclusive", "not determined")
                             for c in items)
        assert all(c["tolerance"] is not None for c in items if c["verdict"] != "not determined")
    assert "rate" in s["verdict_calibration"]  # measured, or None with the reason
    # training curve and the tidy query API
    assert len(s["training"]["beef_max_eV_A"]) >= 1
    df = res.diffusion(campaign="ci", role="mlmd")
    assert set(df["species"]) == {"Ag", "I"}
    assert all(st == "determined" or st.startswith("not determined (") for st in df["D_status"])
    assert (df["D_cm2_s"].dropna() > 0).all()


def test_rerun_resumes_without_repeating(finished):
    cfg, spec, _ = finished
    rep = run_embedded(build_campaign(spec), cfg, spec.campaign_id)
    assert rep.resumed and rep.launched == 0 and set(rep.states) == {"COMPLETED"}
