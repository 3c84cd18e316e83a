"""The HTML report: content from real analysis output, the store → CLI path, and rendering in
a real headless browser (Debian chromium; skipped with a reason when it is not installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from ssic_flows.cli import app
from ssic_flows.report import load_reference_values, render_report, study_comparison_rows
from ssic_flows.store.config import StoreConfig
from ssic_flows.store.jobstore import get_jobstore
from test_plots import build_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

CHECK_HEAD = """<script>window.__errs=[];
window.addEventListener('error',function(e){__errs.push(String(e.message||(e.target&&e.target.src)||'error'))},true);
var __ce=console.error;console.error=function(){__errs.push(Array.prototype.join.call(arguments,' '));__ce.apply(console,arguments)};
</script>"""
CHECK_TAIL = """<script>window.addEventListener('load',function(){
var imgs=Array.prototype.map.call(document.images,function(i){return {w:i.naturalWidth,h:i.naturalHeight,ok:i.complete}});
var p=document.createElement('pre');p.id='check';p.textContent=JSON.stringify({imgs:imgs,errs:__errs,
tables:document.querySelectorAll('table').length});document.body.appendChild(p);});</script>"""


def browser_check(html_path, tmp_path) -> tuple[dict, str]:
    """Load a copy of the page (plus a checking script) in headless chromium; return the
    JSON the script wrote into the DOM and chromium's stderr."""
    page = html_path.read_text(encoding="utf-8")
    page = page.replace("<head>", "<head>" + CHECK_HEAD, 1).replace("</body>", CHECK_TAIL + "</body>", 1)
    probe = tmp_path / "probe.html"
    probe.write_text(page, encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom",
           probe.as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    m = re.search(r'<pre id="check">(.*?)</pre>', p.stdout, re.S)
    assert m, f"the checking script did not run; chromium rc={p.returncode}, stderr tail: {p.stderr[-800:]}"
    import html

    return json.loads(html.unescape(m.group(1))), p.stderr


@pytest.fixture(scope="module")
def study():
    return build_study()


@pytest.fixture
def stored_campaign(study, ssic_home):
    """The synthetic study stored as an ``analyze`` output, curves in the data store."""
    summary, curves = study
    cfg = StoreConfig()
    store = get_jobstore(cfg)
    store.connect()
    meta = {"campaign_id": "synthetic", "study": summary["study"], "material": summary["material"],
            "role": "analyze"}
    store.update({"uuid": "analyze-1", "index": 1, "name": "analyze", "metadata": meta,
                  "output": dict(summary, curves=curves)}, key=["uuid", "index"], save={"data": ["curves"]})
    for seed in (11, 12, 13):
        store.update({"uuid": f"mlmd-{seed}", "index": 1, "name": f"mlmd_{seed}", "output": {},
                      "metadata": dict(meta, role="mlmd", seed=seed)}, key=["uuid", "index"])
    store.close()
    return cfg


def test_study_rows_quote_yaml_and_our_scalars(study):
    summary, _ = study
    rv = load_reference_values()
    rows = {r["observable"]: r for r in study_comparison_rows(summary, rv)}  # material lgps
    assert rows["D(Li)"]["study_aimd"] == rv["LGPS"]["D_Li_cm2_s"]["AIMD"] == 5.33e-6
    # beside the study's eq. 7 values, ours are eq. 7 too
    assert rows["D(Li)"]["ours_mlmd"] == summary["scalars"]["mlmd"]["D_final_cm2_s"]["Li"]
    assert "eq. 7" in rows["D(Li)"]["unit"]
    assert rows["force RMSE S (MLFF vs reference)"]["ours_mlmd"] == summary["force_rmse_meV_A"]["S"]
    assert rows["force RMSE Ge (MLFF vs reference)"]["ours_mlmd"] is None  # no Ge in this system
    doped = {r["observable"]: r for r in study_comparison_rows(dict(summary, material="na3sbs4-w"), rv)}
    assert doped["Na band centre (eq. 3)"]["study_aimd"] == 127.5
    assert doped["g(r) first peak W-S"]["study_mlmd"] == 2.21
    assert study_comparison_rows(dict(summary, material="unknown"), rv) == []


def test_study_rows_follow_material_info():
    """Which study numbers a material gets comes from its MaterialInfo (species, anions,
    polyanion centres) and the reference_values.yaml section that names it."""
    from ssic_flows.materials.registry import MATERIALS
    from ssic_flows.report import study_section

    rv = load_reference_values()
    want_section = {"agi": ("AgI", None), "lgps": ("LGPS", None),
                    "na3sbs4": ("Na3SbS4", "pristine"), "na3sbs4-w": ("Na3SbS4", "doped")}
    for key, (name, variant) in want_section.items():
        assert study_section(MATERIALS[key], rv) == (rv[name], variant), key

    def observables(material):
        return [r["observable"] for r in study_comparison_rows({"material": material}, rv)]

    assert observables("alpha-AgI") == ["D(Ag)", "g(r) first peak Ag-I", "force RMSE I (MLFF vs reference)",
                                        "force RMSE Ag (MLFF vs reference)",
                                        "BEEF at end of training (max over atoms)"]
    pristine = {r["observable"]: r for r in study_comparison_rows({"material": "na3sbs4"}, rv)}
    assert set(pristine) == {"Na band centre (eq. 3)", "D(Na)", "g(r) first peak Sb-S",
                             "g(r) first peak Na-Na", "BEEF at end of training (max over atoms)"}
    assert pristine["D(Na)"]["study_mlmd"] == "none observed"
    assert pristine["Na band centre (eq. 3)"]["study_aimd"] == 129.1
    assert pristine["BEEF at end of training (max over atoms)"]["study_mlmd"] == "< 0.02"


def test_report_without_curves_lists_skipped_figures(study, tmp_path):
    summary, _ = study
    page = render_report("c1", [(summary, {})], tmp_path / "figs")
    assert "Figures not drawn" in page and "no van Hove functions" in page
    assert "study (VASP) AIMD" in page and "stands_in_for_dft = true" in page
    drawn = {p.stem for p in (tmp_path / "figs").rglob("*.png")}
    assert "beef" in drawn and "msd" not in drawn  # BEEF comes from the summary itself
    empty = render_report("nothing", [], tmp_path / "figs2")
    assert "No analysis results" in empty


def test_cli_report_from_store_renders_in_browser(stored_campaign, study, tmp_path):
    summary, curves = study
    out = tmp_path / "report"
    r = CliRunner().invoke(app, ["report", "--campaign", "synthetic", "--out", str(out)])
    assert r.exit_code == 0, r.output
    page_path = out / "report.html"
    assert str(page_path) in r.output
    page = page_path.read_text(encoding="utf-8")
    # self-contained: no external resources, no scripts
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)
    assert "<style>" in page
    # provenance, seeds from the store, verdicts with noise floors, the study's numbers
    assert "stands_in_for_dft = true" in page and "11, 12, 13" in page
    for c in summary["comparisons"]["reference vs mlmd"]:
        assert c["observable"] in page
    assert "noise floor" in page and "study (VASP) MLMD" in page
    # calibrated verdicts: the procedure in words, tolerances, the measured false-"differs" rate
    assert "Holm" in page and "tolerance" in page and "inconclusive" in page
    assert "false-&quot;differs&quot; rate" in page or "false-\"differs\" rate" in page
    assert {c["verdict"] for c in summary["comparisons"]["reference vs mlmd"]} <= {
        "agrees", "differs", "inconclusive", "not determined"}
    n_img = page.count("<img ")
    assert n_img == len(list((out / "figures").rglob("*.png"))) == 12
    assert len(list((out / "figures").rglob("*.svg"))) == 12
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/system_deps.sh installs it); "
                    "the browser half of this test did not run")
    res, stderr = browser_check(page_path, tmp_path)
    assert res["errs"] == [], res["errs"]
    assert len(res["imgs"]) == n_img
    assert all(i["ok"] and i["w"] > 100 and i["h"] > 100 for i in res["imgs"]), res["imgs"]
    assert res["tables"] >= 5
    console_errors = [ln for ln in stderr.splitlines() if "CONSOLE" in ln and "probe.html" in ln]
    assert console_errors == []


def test_cli_report_unknown_campaign(ssic_home, tmp_path):
    r = CliRunner().invoke(app, ["report", "--campaign", "nope", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "no analysis results for campaign 'nope'" in r.output


def test_gap_estimate_is_labelled_a_proxy_and_derived_velocities_are_marked():
    """Issue 13 items 13 and 6: GAP's force-error estimate is named a variance-based proxy
    (not VASP's BEEF) in the study rows and the figure; band centres say where their
    velocities came from."""
    from ssic_flows.plots.training import beef_label
    from ssic_flows.report import _velocity_source

    gap = {"material": "na3sbs4", "training": {"engine": "gap", "beef_max_eV_A": [0.3, 0.04],
                                               "beef_kind": "variance-based proxy, calibrated constant"}}
    rows = [r["observable"] for r in study_comparison_rows(gap, load_reference_values())]
    assert any("variance-based proxy" in r and "not VASP's BEEF" in r for r in rows)
    assert not any(r.startswith("BEEF") for r in rows)
    assert beef_label({"engine": "ace", "beef_kind": "exact Bayesian posterior (linear ACE)"}) == \
        "BEEF (exact Bayesian posterior (linear ACE))"
    derived = {"ensemble": {"reference": {"vdos": {"velocities": "derived: central differences"}},
                            "mlmd": {"vdos": {"velocities": ["engine", "engine"]}}}}
    assert _velocity_source(derived, "reference").startswith("derived from positions")
    assert _velocity_source(derived, "mlmd") == "engine"
    assert _velocity_source({}, "mlmd") == "not recorded"


def test_undetermined_D_is_said_with_its_reason_and_never_averaged():
    """A D some run could not determine (non-diffusive MSD) gets no number anywhere: the
    scalar table carries the reason, the terminal and HTML tables print it."""
    from ssic_flows.analysis.study import scalar_table
    from ssic_flows.display import fmt_pm
    from ssic_flows.report import _fmt

    why = "ballistic MSD over 0.24 ps (half-window slopes differ 2.10×); needs ≥ 1.4 ps"
    bad = {"D_cm2_s": {"Ag": None}, "D_final_cm2_s": {"Ag": None}, "sigma_S_cm": {"Ag": None},
           "D_status": {"Ag": why}}
    good = {"D_cm2_s": {"Ag": 2e-5}, "D_final_cm2_s": {"Ag": 2.2e-5}, "sigma_S_cm": {"Ag": 0.1},
            "D_status": {"Ag": "diffusive"}}
    t = scalar_table([bad, good])
    for key in ("D_cm2_s", "D_final_cm2_s", "sigma_S_cm"):
        assert t[key]["Ag"]["mean"] is None and t[key]["Ag"]["status"] == f"in 1 of 2 runs: {why}"
    assert scalar_table([good, good])["D_cm2_s"]["Ag"]["mean"] == 2e-5
    assert fmt_pm(t["D_cm2_s"]["Ag"]) == "not determined (1 of 2 runs: ballistic MSD; needs ≥ 1.4 ps)"
    assert _fmt(scalar_table([bad])["D_final_cm2_s"]["Ag"]) == f"not determined ({why})"


def test_report_shows_the_beef_checked_against_the_true_error(study, tmp_path):
    import numpy as np

    from ssic_flows.analysis.forces import error_estimate_check

    summary, _ = study
    rng = np.random.default_rng(0)
    sig = np.full((20, 4, 3), 0.1) * rng.uniform(0.5, 2.0, (20, 1, 1))
    ref = rng.normal(size=sig.shape)
    check = error_estimate_check(["Li", "Li", "S", "S"], ref + rng.normal(size=sig.shape) * sig,
                                 ref, sig, sig.max(axis=(1, 2)))
    page = render_report("c1", [(dict(summary, force_error_estimate=check), {})], tmp_path / "f")
    assert "BEEF vs true force error on 20 validation frames" in page
    assert f"{100 * check['within_1sigma']['all']:.0f} % of components within 1σ" in page
    bare = render_report("c2", [(dict(summary, force_error_estimate={}), {})], tmp_path / "g")
    assert "not checked (no force validation)" in bare or "No force validation" in bare
