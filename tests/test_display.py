"""The `ssic run` summary tables: calibrated verdicts and their measured false-"differs" rate."""

from __future__ import annotations

from rich.console import Console
from test_plots import build_study

from ssic_flows.display import calibration_line, print_summaries, verdict_cell


def test_verdict_cells_show_difference_uncertainty_tolerance():
    assert verdict_cell({"verdict": "agrees", "value": 1e-6, "uncertainty": 2e-6,
                         "tolerance": 6e-6}).endswith("1e-06 ± 2e-06 [6e-06]")
    assert "?" in verdict_cell({"verdict": "inconclusive", "value": 0.1, "uncertainty": 0.3,
                                "tolerance": 0.05})
    assert verdict_cell({"verdict": "not determined", "value": None}) == "– not determined"


def test_calibration_line_says_when_it_cannot_be_measured():
    assert "cannot be measured" in calibration_line(
        {"rate": None, "reason": "cannot be measured: needs >= 4 seeds ..., have 3"})
    line = calibration_line({"rate": 0.02, "n_differs": 1, "n_tests": 50, "n_splits": 10, "n_seeds": 5})
    assert "1 of 50" in line and "2.0 %" in line and "5 MLMD seeds" in line


def test_summary_table_renders_every_verdict_kind():
    summary, _ = build_study(with_tetra=False, with_extras=False)
    console = Console(record=True, width=400)
    print_summaries([summary], console)
    text = console.export_text()
    assert "agrees within tolerance" in text and "inconclusive" in text
    assert "false-\"differs\" rate" in text
    for c in summary["comparisons"]["reference vs mlmd"]:
        assert c["observable"] in text
