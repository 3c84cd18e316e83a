"""Terminal presentation (rich): run progress and per-material summary tables."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["RunProgress", "calibration_line", "error_estimate_line", "fmt_pm", "print_summaries",
           "verdict_cell"]


class RunProgress:
    """Progress display for :func:`ssic_flows.runner.run_embedded` events."""

    def __init__(self, console: Console | None = None) -> None:
        import sys

        # bound to the real stderr now: jobs' output is redirected while they run
        self.console = console or Console(file=sys.stderr)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("jobs"), TimeElapsedColumn(),
                                 TextColumn("{task.fields[current]}"), console=self.console,
                                 transient=False, refresh_per_second=2)
        self.task = None
        self.t0 = time.perf_counter()

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, kind: str, info: dict[str, Any]) -> None:
        if self.task is None:
            self.task = self.progress.add_task("campaign", total=info.get("total", 0),
                                               completed=info.get("done", 0), current="")
            if info.get("resumed"):
                self.console.print(f"resuming: {info.get('done', 0)} of {info.get('total')} "
                                   "jobs already complete")
        if kind == "launch":
            self.progress.update(self.task, total=info["total"], completed=info["done"],
                                 current=f"running {info['name']}")
        elif kind == "failed":
            self.console.print(f"[red]job {info['name']} failed[/red]; log: {info['log']}")
        elif kind == "finished" and not self.console.is_terminal:
            # no live bar off a terminal (a log file): one line per finished job instead
            el = time.perf_counter() - self.t0
            self.console.print(f"[{el:7.0f} s] {info['done']}/{info['total']} done: "
                               f"{info['name']} ({info.get('role', '?')}, {info['seconds']:.0f} s)")
        elif kind == "done":
            self.progress.update(self.task, total=info["total"], completed=info["done"], current="")


_MARKS = {"agrees": "[green]✓[/green]", "differs": "[red]✗[/red]", "inconclusive": "[yellow]?[/yellow]"}


def verdict_cell(c: dict) -> str:
    """``✓ 2.1e-06 ± 4e-06 [6e-06]``: mark, |difference|, uncertainty, tolerance of a verdict row."""
    v = str(c.get("verdict", ""))
    if c.get("value") is None:
        return "– not determined" if v == "not determined" else f"– {v}"

    def g(x):
        return "n/a" if x is None else f"{x:.2g}"
    return f"{_MARKS.get(v, v)} {g(c['value'])} ± {g(c.get('uncertainty'))} [{g(c.get('tolerance'))}]"


def calibration_line(cal: dict | None) -> str:
    """The measured false-"differs" rate of the verdicts (two halves of the MLMD seeds)."""
    if not cal:
        return "false-\"differs\" rate: not measured"
    if cal.get("rate") is None:
        return f"false-\"differs\" rate {cal.get('reason') or 'cannot be measured'}"
    return (f"measured false-\"differs\" rate: {cal['n_differs']} of {cal['n_tests']} observable "
            f"tests ({100 * cal['rate']:.1f} %) over {cal['n_splits']} splits of the "
            f"{cal['n_seeds']} MLMD seeds into two halves")


def error_estimate_line(check: dict | None) -> str:
    """The MLFF's force-error estimate against the true error on the validation frames
    (:func:`ssic_flows.analysis.forces.error_estimate_check`), one line."""
    if not check:
        return "BEEF vs true force error: not checked (no force validation)"
    if "within_1sigma" not in check:
        return f"BEEF vs true force error: {check.get('reason') or 'not determined'}"
    w1, w2 = check["within_1sigma"].get("all"), check["within_2sigma"].get("all")
    g1, g2 = check.get("gaussian") or (0.683, 0.954)
    rho, ci = check.get("frame_spearman"), check.get("frame_spearman_ci95")
    rank = (f"per-frame Spearman(BEEF, largest atom error) {rho:.2f} [95 %: {ci[0]:.2f}, {ci[1]:.2f}]"
            if rho is not None else f"per-frame ranking {check.get('frame_spearman_reason')}")
    z = ", ".join(f"{k} {v:.2f}" for k, v in check["z_rms"].items() if k != "all")
    return (f"BEEF vs true force error on {check['n_frames']} validation frames: "
            f"{100 * w1:.0f} % of components within 1σ, {100 * w2:.0f} % within 2σ (calibrated "
            f"{100 * g1:.0f} / {100 * g2:.0f} %); RMS error/σ {z}; {rank}")


def _short(reason: str) -> str:
    """A terminal-width reason: "ballistic MSD over 0.2 ps (...); needs ≥ 1.2 ps" → "ballistic
    MSD; needs ≥ 1.2 ps" (the report and JSON keep the whole line)."""
    runs, _, rest = reason.rpartition("runs: ")
    head = rest.split(" over ")[0].split(":")[0]
    need = next((p.strip() for p in rest.split(";")[1:] if "needs" in p), "")
    return (f"{runs.removeprefix('in ').strip()} runs: " if runs else "") + head + (f"; {need}" if need else "")


def fmt_pm(st: dict | None, fmt: str = "{:.3g}") -> str:
    """``mean ± std`` (n) from a stats dict; "not determined (why)" where the runs could not
    determine it (a D from a non-diffusive MSD, its σ)."""
    if st and st.get("status"):
        return f"not determined ({_short(st['status'])})"
    if not st or st.get("mean") is None:
        return "–"
    s = fmt.format(st["mean"])
    if st.get("n", 1) > 1:
        s += " ± " + fmt.format(st["std"])
    return s


def left_domain_lines(summary: dict) -> list[str]:
    """One line per run the MLFF's guard stopped (it left the training domain)."""
    out = []
    for r in summary.get("runs_left_training_domain") or []:
        at = "?" if r.get("at_ps") is None else f"{r['at_ps']:.2f}"
        kept = "?" if r.get("kept_ps") is None else f"{r['kept_ps']:.2f}"
        use = "used (no complete run)" if r.get("used") and r.get("role") == "mlmd" else (
            "its first " + kept + " ps used" if r.get("used") else "left out of the ensemble")
        out.append(f"{r.get('role')} seed {r.get('seed')}: left the training domain at {at} ps "
                   f"({r.get('reason')}); {use}")
    return out


def print_summaries(summaries: list[dict], console: Console | None = None) -> None:
    """One table per study: D, band centre, g(r) peak per role; force RMSE; verdicts."""
    console = console or Console()
    for s in summaries:
        sc = s.get("scalars") or {}
        roles = [r for r in ("reference", "mlmd", "transfer", "mlmd_hot") if r in sc]
        title = (f"{s.get('study')} — {s.get('formula')} ({s.get('n_atoms')} atoms, "
                 f"{s.get('temperature_K'):.0f} K); reference: "
                 f"{(s.get('reference_engine') or {}).get('engine')}"
                 f"{' (stands in for DFT)' if (s.get('reference_engine') or {}).get('stands_in_for_dft') else ''}"
                 f", MLFF: {(s.get('mlff_engine') or {}).get('engine')}")
        t = Table(title=title, title_justify="left",
                  caption=f"full runs after {s.get('equilibration_ps', 0):g} ps equilibration "
                          "(mean ± std over runs); verdicts below compare runs cut to a common length",
                  caption_justify="left")
        t.add_column("observable")
        for r in roles:
            t.add_column(r + (f" (n={s.get('n_mlmd_runs')})" if r == "mlmd" else ""))
        for key, label in (("D_cm2_s", "D {} [cm²/s] (fit 10–60 %)"),
                           ("D_final_cm2_s", "D {} [cm²/s] (eq. 7, study's)"),
                           ("sigma_S_cm", "σ {} [S/cm] (Nernst–Einstein)"),
                           ("band_center_cm-1", "band centre {} [cm⁻¹]"),
                           ("gr_first_peak_A", "g(r) peak {} [Å]")):
            names = sorted({n for r in roles for n in (sc[r].get(key) or {})})
            if key == "gr_first_peak_A":  # g_AB and g_BA peak at the same r: show each pair once
                names = [n for n in names if "-".join(reversed(n.split("-"))) not in names
                         or n <= "-".join(reversed(n.split("-")))]
            for n in names:
                fmt = "{:.3g}" if key.startswith(("D", "sigma")) else "{:.2f}"
                t.add_row(label.format(n), *[fmt_pm((sc[r].get(key) or {}).get(n), fmt) for r in roles])
        console.print(t)
        for line in left_domain_lines(s):
            console.print(f"[yellow]{line}[/yellow]")
        tr = s.get("training") or {}
        if tr:
            beef = tr.get("beef_max_eV_A") or []
            console.print(
                f"MLFF training ({tr.get('engine')}): {tr.get('n_training_structures')} labelled "
                f"structures in {tr.get('n_iterations')} iterations"
                + (f" (exploring at {tr['explore_temperature_K']:.0f} K)"
                   if tr.get("explore_temperature_K") else "") + "; BEEF at the end "
                f"{beef[-1] if beef else float('nan'):.3f} eV/Å (threshold "
                f"{tr.get('beef_threshold_eV_A')} eV/Å); "
                + ("converged" if tr.get("converged") else "[yellow]not converged[/yellow] "
                   "(max_iterations reached)"))
            oc = tr.get("otf_checks") or {}
            if oc.get("n_frames") and oc.get("median_true_over_beef") is not None:
                console.print(
                    f"  checked on its own labels: on {oc['n_frames']} candidates the true largest "
                    f"atom error was {oc['median_true_over_beef']:.1f}× the BEEF that selected "
                    "them (median; the BEEF is the model's part of the error, without the noise)")
        if s.get("force_rmse_meV_A"):
            ft = Table(title="force error vs reference (MLFF validation)", title_justify="left")
            ft.add_column("element"); ft.add_column("RMSE [meV/Å]"); ft.add_column("MAE [meV/Å]")
            ft.add_column("reference force std [meV/Å]")
            for el, v in s["force_rmse_meV_A"].items():
                ft.add_row(el, f"{v:.1f}", f"{(s.get('force_mae_meV_A') or {}).get(el, float('nan')):.1f}",
                           f"{(s.get('ref_force_std_meV_A') or {}).get(el, float('nan')):.0f}")
            console.print(ft)
            console.print(error_estimate_line(s.get("force_error_estimate")))
        comps = s.get("comparisons") or {}
        if comps:
            vt = Table(title="verdicts: |difference| ± its 95 % uncertainty \\[tolerance] per comparison; "
                             "✓ agrees within tolerance, ✗ differs (Holm, family-wise 5 %), "
                             "? inconclusive, – not determined", title_justify="left",
                       caption=calibration_line(s.get("verdict_calibration")), caption_justify="left")
            vt.add_column("observable")
            labels = list(comps)
            for label in labels:
                vt.add_column(label)
            cells: dict[str, dict[str, str]] = {}
            for label, items in comps.items():
                for c in items:
                    cells.setdefault(c["observable"], {})[label] = verdict_cell(c)
            for obs in sorted(cells):
                vt.add_row(obs, *[cells[obs].get(label, "–") for label in labels])
            console.print(vt)
