"""Self-contained HTML report of a campaign: provenance, results, verdicts, figures.

One file, no network, no JavaScript: CSS inline, figures inline as base64 PNG (the SVGs are
written beside it under ``figures/``). The study's own numbers
(``ssic_flows/data/reference_values.yaml``) appear beside ours where they correspond, labelled
"study (VASP)"; ours come from whatever engines ran, named in every table.

>>> from ssic_flows.store.config import load_store_config              # doctest: +SKIP
>>> write_campaign_report("demo", load_store_config(), "reports/demo")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import struct
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from ssic_flows.analysis.compare import PROCEDURE
from ssic_flows.display import calibration_line, error_estimate_line, left_domain_lines
from ssic_flows.plots import FIGURES, plot_all
from ssic_flows.plots.training import beef_label

__all__ = ["load_reference_values", "render_report", "study_comparison_rows", "study_section",
           "write_campaign_report", "write_report"]

ROLES = ("reference", "mlmd", "transfer", "mlmd_hot")

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #0072B2;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.study{background:#fff8e6}.agrees{color:#00734d;font-weight:600}.differs{color:#b00020;font-weight:600}.inconclusive{color:#8a5a00;font-weight:600}
.inconclusive{color:#8a6d00;font-weight:600}.warn{background:#fff3f3;border-left:4px solid #b00020;padding:.5em 1em}
.note{color:#555;font-size:.9em}pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:.85em}
figure{display:inline-block;margin:.5em 1em 1em 0;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.85em;color:#444;max-width:560px}
"""


# ------------------------------------------------------------------ the study's numbers
def load_reference_values() -> dict:
    """The study's numbers (packaged copy of ``shared/paper/reference_values.yaml``)."""
    text = resources.files("ssic_flows").joinpath("data/reference_values.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _st(summary: dict, role: str, key: str, name: str) -> dict | None:
    table = ((summary.get("scalars") or {}).get(role) or {}).get(key) or {}
    if name in table:
        return table[name]
    if "-" in name:  # pairs are stored in one order
        a, b = name.split("-", 1)
        return table.get(f"{b}-{a}")
    return None


def _fmt(v: Any, fmt: str = "{:.3g}") -> str:
    if v is None:
        return "–"
    if isinstance(v, dict) and v.get("status"):  # the runs could not determine it (e.g. D)
        return f"not determined ({v['status']})"
    if isinstance(v, dict):
        if v.get("mean") is None:
            return "–"
        s = fmt.format(v["mean"])
        if v.get("std"):
            s += " ± " + fmt.format(v["std"])
        if v.get("n") and v["n"] > 1:
            s += f" (n={v['n']})"
        return s
    if isinstance(v, (int, float)):
        return fmt.format(v)
    return str(v)


def _material_info(summary: dict):
    """The summary's :class:`~ssic_flows.materials.info.MaterialInfo`, ``None`` if unknown."""
    from ssic_flows.materials import resolve_material

    try:
        return resolve_material(str(summary.get("material") or ""))
    except Exception:  # unknown material names have no study numbers; not an error here
        return None


def study_section(info, ref_values: dict) -> tuple[dict | None, str | None]:
    """``(section, variant)`` of reference_values.yaml that quotes material ``info``.

    A section is named by the material's formula or an alias (``AgI``, ``LGPS``,
    ``Na3SbS4``); a section with a ``doped_formula`` quotes the pristine material
    (``variant="pristine"``) and, by that formula, the doped one (``"doped"``).
    ``(None, None)`` if the study quotes nothing for it.
    """
    names = (info.formula, *info.aliases)
    for name, sec in ref_values.items():
        if not isinstance(sec, dict):
            continue
        if name in names:
            return sec, ("pristine" if "doped_formula" in sec else None)
        if sec.get("doped_formula") in names:
            return sec, "doped"
    return None, None


def _first(section: dict, *keys: str | None):
    """The value of the first of ``keys`` present in ``section`` (``None`` keys skipped)."""
    return next((section[k] for k in keys if k is not None and k in section), None)


def study_comparison_rows(summary: dict, ref_values: dict | None = None) -> list[dict]:
    """Rows ``{observable, unit, study_aimd, study_mlmd, ours_reference, ours_mlmd}`` for the
    observables the study quotes for this summary's material (empty for other materials).

    Ours are the summary's scalars (mean ± std over runs; D by the study's estimator, eq. 7
    MSD(t_max)/6t_max, ``D_final_cm2_s``); the study's are from
    reference_values.yaml (VASP PBE AIMD and VASP on-the-fly MLMD). Which numbers exist
    follows from the material's :class:`~ssic_flows.materials.info.MaterialInfo` (mobile
    species, anions, polyanion centres) and the section's keys, e.g. ``D_Li_cm2_s``,
    ``gr_first_peak_Li_S_A``, ``gr_Sb_S_peak_A``, ``beef_doped_eV_per_A``.
    """
    rv = ref_values if ref_values is not None else load_reference_values()
    info = _material_info(summary)
    sec, var = study_section(info, rv) if info is not None else (None, None)
    if sec is None:
        return []
    rows: list[dict] = []

    def add(obs, unit, aimd, mlmd, ours_ref, ours_mlmd):
        rows.append({"observable": obs, "unit": unit, "study_aimd": aimd, "study_mlmd": mlmd,
                     "ours_reference": ours_ref, "ours_mlmd": ours_mlmd})

    def ours(key: str, name: str) -> tuple:
        return _st(summary, "reference", key, name), _st(summary, "mlmd", key, name)

    def D(sp, study):
        aimd = study.get("AIMD") if isinstance(study, dict) else study
        mlmd = study.get("MLMD") if isinstance(study, dict) else study
        if isinstance(study, dict) and "MLMD_mean" in study:
            aimd, mlmd = None, f"{study['MLMD_mean']:.3g} ± {study.get('MLMD_std', 0):.2g}"
        # the study's D is eq. 7, so ours beside it is eq. 7 too (not the 10–60 % fit)
        add(f"D({sp})", "cm²/s, eq. 7: MSD(t_max)/6t_max", aimd, mlmd, *ours("D_final_cm2_s", sp))

    def gr(a, b, value):
        if value is not None:
            add(f"g(r) first peak {a}-{b}", "Å", value, value, *ours("gr_first_peak_A", f"{a}-{b}"))

    m = info.mobile_species[0]
    anions = [el for el, q in info.charges.items() if q < 0]
    bc = sec.get(f"{m.lower()}_band_center_cm-1")
    if isinstance(bc, dict):
        bc = (bc.get(var) if var else bc) or {}
        add(f"{m} band centre (eq. 3)", "cm⁻¹", bc.get("AIMD"), bc.get("MLMD"),
            *ours("band_center_cm-1", m))
    d = _first(sec, var and f"D_{m}_{var}_cm2_s", var and f"{var}_{m.lower()}_diffusion",
               f"D_{m}_cm2_s")
    if d is not None:
        D(m, d)
    for x in anions:
        gr(m, x, sec.get(f"gr_first_peak_{m}_{x}_A"))
    for centre, ligand in info.polyanion_centres.items():
        gr(centre, ligand, sec.get(f"gr_{centre}_{ligand}_peak_A"))
    gr(m, m, sec.get(f"gr_{m}_{m}_first_peak_A"))
    rmse = _first(sec, var and f"force_rmse_{var}_meV_per_A", "force_rmse_meV_per_A")
    for el, v in (rmse or {}).items():
        add(f"force RMSE {el} (MLFF vs reference)", "meV/Å", None, v, None,
            (summary.get("force_rmse_meV_A") or {}).get(el))
    bound = _first(sec, var and f"beef_{var}_eV_per_A", "beef_converged_eV_per_A")
    if bound is not None:
        training = summary.get("training") or {}
        last = (training.get("beef_max_eV_A") or [None])[-1]
        what = beef_label(training)
        what = "BEEF" if what.startswith("BEEF") else f"{what}; the study's: VASP's BEEF,"
        add(f"{what} at end of training (max over atoms)", "eV/Å", None, f"< {bound}", None, last)
    return rows


# ------------------------------------------------------------------ HTML pieces
def _e(x: Any) -> str:
    return html.escape(str(x))


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]], classes: Iterable[str] | None = None) -> str:
    classes = list(classes or [])
    h = "".join(f"<th>{_e(c)}</th>" for c in header)
    body = []
    for row in rows:
        cells = []
        for i, c in enumerate(row):
            cls = classes[i] if i < len(classes) and classes[i] else ""
            if isinstance(c, tuple):  # (text, class)
                c, cls = c
            cells.append(f"<td class=\"{cls}\">{_e(c)}</td>" if cls else f"<td>{_e(c)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _engine_block(title: str, eng: dict) -> str:
    if not eng:
        return f"<p><b>{_e(title)}</b>: not recorded</p>"
    flag = eng.get("stands_in_for_dft")
    if flag:
        dft = (f"<p class=\"warn\"><b>stands_in_for_dft = true</b>: the reference engine "
               f"“{_e(eng.get('engine'))}” is a universal machine-learned potential standing in for DFT. "
               "The study's reference was VASP PBE AIMD; our “reference” numbers are not DFT numbers.</p>")
    else:
        dft = "<p><b>stands_in_for_dft = false</b>: this engine is not a stand-in for DFT.</p>" \
            if eng.get("kind") == "reference" else ""
    rows = [("engine", eng.get("engine", "")), ("version", eng.get("engine_version") or "not recorded"),
            ("kind", eng.get("kind", ""))]
    settings = json.dumps(eng.get("settings") or {}, indent=1, sort_keys=True, default=str)
    return (f"<h3>{_e(title)}</h3>" + _table(("field", "value"), rows) + dft
            + f"<details><summary>settings</summary><pre>{_e(settings)}</pre></details>")


def _velocity_source(curves: dict | None, role: str) -> str:
    """Where a role's VDOS velocities came from (the analysis document's ``vdos.velocities``)."""
    v = (((curves or {}).get("ensemble") or {}).get(role) or {}).get("vdos") or {}
    v = v.get("velocities")
    vals = set(v) if isinstance(v, list) else {v} if v else set()
    if not vals:
        return "not recorded"
    derived = {x.startswith("derived") for x in vals}
    if derived == {True}:
        return "derived from positions (central differences, sinc²-corrected)"
    return "engine" if derived == {False} else "engine / derived (mixed runs)"


def _summary_tables(s: dict, curves: dict | None = None) -> str:
    out = []
    scal = s.get("scalars") or {}
    mobile = s.get("mobile_species") or []
    rows = []
    for role in ROLES:
        t = scal.get(role)
        if not t:
            continue
        eng = (s.get("reference_engine") if role == "reference" else s.get("mlff_engine")) or {}
        for sp in mobile:
            rows.append((f"{role} ({eng.get('engine', '?')})", sp, _fmt(_st(s, role, "D_cm2_s", sp)),
                         _fmt(_st(s, role, "D_final_cm2_s", sp)), _fmt(_st(s, role, "sigma_S_cm", sp))))
    if rows:
        out.append("<h3>Diffusion and conductivity (full runs after "
                   f"{_e(format(s.get('equilibration_ps') or 0, 'g'))} ps equilibration; mean ± std "
                   "over runs)</h3>")
        out.append("<p class=\"note\">D only from a diffusive MSD (linear over 10–60 % of the run, "
                   "growing past its vibrational plateau, ions × 6Dt ≥ 50 Å²); otherwise "
                   "“not determined” with the reason. The verdicts compare runs cut to a common "
                   "length.</p>")
        out.append(_table(("role (engine)", "species", "D fit 10–60 % (cm²/s)", "D eq. 7 (cm²/s)",
                           "σ Nernst–Einstein (S/cm)"), rows, ["", "", "num", "num", "num"]))
    bc_rows = []
    for role in ROLES:
        t = (scal.get(role) or {}).get("band_center_cm-1") or {}
        for sp, st in t.items():
            bc_rows.append((role, sp, _fmt(st, "{:.1f}"), _velocity_source(curves, role)))
    if bc_rows:
        out.append("<h3>VDOS band centres (eq. 3)</h3>")
        out.append(_table(("role", "species", "band centre (cm⁻¹)", "velocities"), bc_rows,
                          ["", "", "num", ""]))
    gr_rows = []
    for role in ROLES:
        t = (scal.get(role) or {}).get("gr_first_peak_A") or {}
        for pair, st in t.items():
            gr_rows.append((role, pair, _fmt(st, "{:.2f}")))
    if gr_rows:
        out.append("<details><summary>g(r) first peaks</summary>"
                   + _table(("role", "pair", "first peak (Å)"), gr_rows, ["", "", "num"]) + "</details>")
    rmse = s.get("force_rmse_meV_A") or {}
    if rmse:
        mae = s.get("force_mae_meV_A") or {}
        spread = s.get("ref_force_std_meV_A") or {}
        out.append("<h3>Force errors of the MLFF vs the reference engine</h3>")
        out.append(_table(("element", "RMSE (meV/Å)", "MAE (meV/Å)", "reference force std (meV/Å)"),
                          [(el, _fmt(v, "{:.1f}"), _fmt(mae.get(el), "{:.1f}"), _fmt(spread.get(el), "{:.1f}"))
                           for el, v in rmse.items()], ["", "num", "num", "num"]))
        out.append(f"<p class=\"note\">{_e(error_estimate_line(s.get('force_error_estimate')))}.</p>")
    else:
        out.append("<p class=\"note\">No force validation in this study.</p>")
    return "".join(out)


def _verdicts(s: dict) -> str:
    comps = s.get("comparisons") or {}
    if not comps:
        return "<p class=\"note\">No comparisons (a single role ran).</p>"
    out = []
    for label, items in comps.items():
        rows = []
        for c in items:
            v = str(c.get("verdict", ""))
            v_shown = f"{v} ({c['reason']})" if v == "not determined" and c.get("reason") else v
            rows.append((c.get("observable", ""), c.get("metric", ""), _fmt(c.get("value")),
                         _fmt(c.get("noise_floor")), _fmt(c.get("uncertainty")),
                         _fmt(c.get("tolerance")), _fmt(c.get("p_holm")),
                         c.get("noise_source", ""), (v_shown, v if v in ("agrees", "differs", "inconclusive") else "")))
        out.append(f"<h3>{_e(label)}</h3>")
        out.append(_table(("observable", "metric", "|difference|", "noise floor", "95 % uncertainty",
                           "tolerance", "p (Holm)", "noise from", "verdict"), rows,
                          ["", "", "num", "num", "num", "num", "num", "", ""]))
    out.append(f"<p class=\"note\">{_e(PROCEDURE)} Tolerances per observable kind and their "
               "reasons: <code>ssic_flows.analysis.compare.TOLERANCES</code>.</p>")
    out.append(f"<p class=\"note\">{_e(calibration_line(s.get('verdict_calibration')))}.</p>")
    return "".join(out)


def _study_numbers(s: dict, ref_values: dict | None) -> str:
    rows = study_comparison_rows(s, ref_values)
    if not rows:
        return "<p class=\"note\">The study quotes no numbers for this material.</p>"
    ref = (s.get("reference_engine") or {}).get("engine", "reference")
    ml = (s.get("mlff_engine") or {}).get("engine", "MLFF")
    body = [(r["observable"], r["unit"], (_fmt(r["study_aimd"]), "study"), (_fmt(r["study_mlmd"]), "study"),
             _fmt(r["ours_reference"]), _fmt(r["ours_mlmd"])) for r in rows]
    return _table(("observable", "unit", "study (VASP) AIMD", "study (VASP) MLMD",
                   f"ours: reference ({ref})", f"ours: MLMD ({ml})"), body,
                  ["", "", "num", "num", "num", "num"]) + (
        "<p class=\"note\">Study values: Miyagawa et al., J. Mater. Chem. A 2024 (VASP PBE AIMD; VASP "
        "on-the-fly MLFF). Ours come from the engines named in the header and, at demo size, from much "
        "smaller cells and shorter runs. Our D here is the study's estimator, eq. 7 "
        "(MSD(t_max)/6t_max), over the full runs after equilibration; the 10–60 % fit is in the "
        "diffusion table.</p>")


def _img(path: Path, caption: str, name: str) -> str:
    raw = path.read_bytes()
    data = base64.b64encode(raw).decode("ascii")
    w, h = struct.unpack(">II", raw[16:24])
    return (f"<figure id=\"fig-{_e(name)}\"><img src=\"data:image/png;base64,{data}\" width=\"{w // 2}\" "
            f"height=\"{h // 2}\" alt=\"{_e(caption)}\"><figcaption>{_e(caption)}</figcaption></figure>")


def _seed(x: Any) -> int | None:
    """Seed from a jobs-table cell (pandas turns integer columns with gaps into floats)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return int(f) if f == f else None


def _provenance(campaign_id: str, summaries: list[dict], jobs: list[dict] | None) -> str:
    out = [f"<p>Campaign <b>{_e(campaign_id)}</b>: {len(summaries)} studies; report written "
           f"{_dt.datetime.now().astimezone().isoformat(timespec='seconds')}.</p>"]
    try:
        from importlib.metadata import version

        out.append(f"<p class=\"note\">ssic-flows {_e(version('ssic-flows'))}</p>")
    except Exception:  # package metadata absent (source checkout not installed)
        pass
    rows = []
    for s in summaries:
        seeds = sorted({_seed(j.get("seed")) for j in (jobs or []) if j.get("study") == s.get("study")
                        and j.get("role") == "mlmd" and _seed(j.get("seed")) is not None})
        tr = s.get("training") or {}
        rows.append((s.get("study"), s.get("material"), s.get("formula"), s.get("n_atoms"),
                     _fmt(s.get("temperature_K"), "{:.0f}"), s.get("n_mlmd_runs"),
                     ", ".join(str(x) for x in seeds) or "–", s.get("n_frames_compared"),
                     (s.get("reference_engine") or {}).get("engine", "–"),
                     "yes" if (s.get("reference_engine") or {}).get("stands_in_for_dft") else "no",
                     (s.get("mlff_engine") or {}).get("engine", "–"),
                     f"{tr.get('n_training_structures', '–')} / {'yes' if tr.get('converged') else 'no'}"
                     if tr else "–"))
    out.append(_table(("study", "material", "formula", "atoms", "T (K)", "MLMD runs", "MLMD seeds",
                       "frames compared", "reference engine", "stands in for DFT", "MLFF engine",
                       "training structures / converged"), rows))
    return "".join(out)


def render_report(campaign_id: str, studies: list[tuple[dict, dict]], figures_dir: str | Path, *,
                  jobs: list[dict] | None = None, ref_values: dict | None = None) -> str:
    """The report's HTML for ``[(summary, curves), ...]``; figures are drawn into ``figures_dir``.

    A figure whose data are missing is listed with the reason instead of failing the report.
    """
    figures_dir = Path(figures_dir)
    summaries = [s for s, _ in studies]
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>ssic-flows report: {_e(campaign_id)}</title><style>{_CSS}</style></head><body>",
             f"<h1>ssic-flows campaign report: {_e(campaign_id)}</h1>",
             "<p class=\"note\">AIMD vs on-the-fly MLMD of solid-state ion conductors, after "
             "Miyagawa et al., J. Mater. Chem. A 2024.</p>"]
    if not studies:
        parts.append(f"<p class=\"warn\">No analysis results for campaign “{_e(campaign_id)}” in this "
                     "store: run the campaign first (ssic run FILE) or check --db-config.</p></body></html>")
        return "".join(parts)
    parts.append("<h2>Provenance</h2>" + _provenance(campaign_id, summaries, jobs))
    if any((s.get("reference_engine") or {}).get("stands_in_for_dft") for s in summaries):
        parts.append("<p class=\"warn\">At least one study uses a reference engine that <b>stands in for "
                     "DFT</b>; its “reference” results are a surrogate, not AIMD.</p>")
    parts.append("<nav><ul>" + "".join(f"<li><a href=\"#study-{_e(s.get('study'))}\">{_e(s.get('study'))}</a></li>"
                                       for s in summaries) + "</ul></nav>")
    for s, curves in studies:
        name = str(s.get("study") or s.get("material") or "study")
        parts.append(f"<h2 id=\"study-{_e(name)}\">{_e(name)}: {_e(s.get('formula', ''))}, "
                     f"{_fmt(s.get('temperature_K'), '{:.0f}')} K, {_e(s.get('n_atoms'))} atoms</h2>")
        parts.append(_engine_block("Reference engine", s.get("reference_engine") or {}))
        parts.append(_engine_block("MLFF engine", s.get("mlff_engine") or {}))
        parts.append("<h3>Summary</h3>" + _summary_tables(s, curves))
        left = left_domain_lines(s)
        if left:
            parts.append("<p class=\"warn\">Runs that left the MLFF's training domain:</p><ul>"
                         + "".join(f"<li>{_e(x)}</li>" for x in left) + "</ul>")
        parts.append("<h3>Beside the study's numbers</h3>" + _study_numbers(s, ref_values))
        parts.append("<h3>Comparisons and verdicts</h3>" + _verdicts(s))
        written, skipped = plot_all(s, curves or {}, figures_dir / _safe(name))
        parts.append("<h3>Figures</h3>")
        for fig_name, paths in written.items():
            parts.append(_img(paths[0], FIGURES[fig_name][1], f"{name}-{fig_name}"))
        if skipped:
            parts.append("<p class=\"note\">Figures not drawn:</p><ul class=\"note\">" + "".join(
                f"<li>{_e(k)}: {_e(v)}</li>" for k, v in skipped.items()) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "study"


def write_report(campaign_id: str, studies: list[tuple[dict, dict]], outdir: str | Path, *,
                 jobs: list[dict] | None = None) -> Path:
    """Write ``outdir/report.html`` (+ ``outdir/figures/<study>/*.png|svg``); returns the HTML path."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    page = render_report(campaign_id, studies, outdir / "figures", jobs=jobs)
    path = outdir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_campaign_report(campaign_id: str, cfg, outdir: str | Path) -> Path:
    """Read a campaign's summaries and curves from the store of ``cfg`` and write its report.

    Parameters
    ----------
    campaign_id : the campaign's id (``metadata.campaign_id`` of its jobs).
    cfg : :class:`~ssic_flows.store.config.StoreConfig`.
    outdir : directory for ``report.html`` and ``figures/``.
    """
    from ssic_flows.results import Results
    from ssic_flows.store.jobstore import get_jobstore

    res = Results(get_jobstore(cfg))
    summaries = res.summaries(campaign_id)
    studies = [(s, res.curves(s)) for s in summaries]
    jobs_df = res.jobs(campaign_id)
    jobs = jobs_df.to_dict(orient="records") if not jobs_df.empty else []
    return write_report(campaign_id, studies, outdir, jobs=jobs)
