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


def test_run_progress_prints_one_line_per_finished_job_off_a_terminal():
    """`ssic run > log 2>&1`: no live bar there, so every finished job is one line."""
    import io

    from ssic_flows.display import RunProgress

    def run(console):
        with RunProgress(console) as progress:
            progress("start", {"total": 3, "done": 0})
            for i, (name, role) in enumerate([("ref", "reference_md"), ("fit", "train_mlff")]):
                progress("launch", {"name": name, "done": i, "total": 3})
                progress("finished", {"name": name, "role": role, "done": i + 1, "total": 3,
                                      "seconds": 12.0})
            progress("done", {"total": 3, "done": 2})
        return console.file.getvalue()

    log = run(Console(file=io.StringIO(), width=200))
    lines = [ln for ln in log.splitlines() if " done: " in ln]
    assert len(lines) == 2, log
    assert "1/3 done: ref (reference_md, 12 s)" in lines[0]
    assert "2/3 done: fit (train_mlff, 12 s)" in lines[1]
    # on a terminal the live bar shows progress instead: no per-job lines
    tty = run(Console(file=io.StringIO(), width=200, force_terminal=True))
    assert " done: " not in tty
