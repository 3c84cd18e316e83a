"""``ssic`` command line: composes the library; no physics or storage logic lives here.

Every command prints one clear line on stderr and exits with status 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ssic-flows: AIMD vs MLMD campaigns for solid-state ion conductors.")


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


@app.command("materials")
def materials_cmd(
    name: str = typer.Argument(..., help="agi | lgps | na3sbs4 | na3sbs4-w, or a structure file (.cif, POSCAR, .extxyz)"),
    atoms: Optional[int] = typer.Option(None, "--atoms", "-n", help="atoms in the cell (default: the study's)"),
    seed: int = typer.Option(0, "--seed", help="seed for the disordered-site assignment (>= 0)"),
    out: Path = typer.Option(..., "--out", "-o", help="output file: .cif, POSCAR/.vasp or .extxyz"),
    mobile: Optional[list[str]] = typer.Option(None, "--mobile", help="a structure file's mobile species"),
) -> None:
    """Build a material's supercell (built-in, or from a structure file) and write it."""
    from ssic_flows.materials import build_material, is_builtin, read_recipe, write_structure

    try:
        material = read_recipe(name, mobile or []) if not is_builtin(name) and Path(name).is_file() else name
        s = build_material(material, n_atoms=atoms, seed=seed)
        write_structure(s, out)
    except (ValueError, KeyError) as exc:
        _fail(str(exc).strip("'\""))
    typer.echo(f"wrote {out} ({len(s)} atoms, {s.composition.reduced_formula}, "
               f"{s.density:.3f} g/cm^3)")


DB_OPT = typer.Option(None, "--db-config", help="db config YAML (default: $SSIC_DB_CONFIG, else embedded)")


def _load_spec(file: Path):
    from ssic_flows.flows.spec import CampaignSpecError, load_campaign

    try:
        return load_campaign(file)
    except CampaignSpecError as exc:
        _fail(str(exc))


def _store_cfg(db_config: Optional[Path]):
    from ssic_flows.store.config import StoreConfigError, load_store_config

    try:
        return load_store_config(db_config)
    except StoreConfigError as exc:
        _fail(str(exc))


@app.command("run")
def run_cmd(
    file: Path = typer.Argument(..., help="campaign YAML, e.g. workflows/demo.yaml"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and print the graph; run nothing"),
    as_json: bool = typer.Option(False, "--json", help="with --dry-run: print the graph as JSON"),
    db_config: Optional[Path] = DB_OPT,
    workers: int = typer.Option(1, "--workers", "-j", min=1,
                                help="jobs at a time (worker processes; 1 = in this process)"),
) -> None:
    """Build a campaign and run it on the embedded store (resumes if run before)."""
    from ssic_flows.engines.base import EngineError
    from ssic_flows.flows.campaign import build_campaign, describe_graph

    spec = _load_spec(file)
    try:
        flow = build_campaign(spec)
    except (EngineError, ValueError) as exc:
        _fail(f"{file}: {exc}")
    if dry_run:
        graph = describe_graph(flow)
        if as_json:
            typer.echo(json.dumps(graph, indent=1))
        else:
            for j in graph["jobs"]:
                typer.echo(f"{j['name']:<32} role={j['role']:<13} T={j['temperature_K']} K "
                           f"atoms={j['n_atoms']} <- {', '.join(j['parents']) or '-'}")
            typer.echo(f"{graph['n_jobs']} jobs; nothing submitted (dry run)")
        return
    cfg = _store_cfg(db_config)
    if cfg.mode != "embedded":
        _fail("`ssic run` executes in-process on the embedded store; for a server use "
              "`ssic submit FILE` and then `qlaunch -r rapidfire` (see `ssic cluster init`)")
    from rich.console import Console

    from ssic_flows.display import RunProgress, print_summaries
    from ssic_flows.results import Results
    from ssic_flows.runner import run_embedded
    from ssic_flows.store.jobstore import get_jobstore
    from ssic_flows.store.launchpad import EmbeddedBusyError

    console = Console()
    console.print(f"campaign [bold]{spec.campaign_id}[/bold]: {len(spec.studies)} studies, "
                  f"reference={spec.reference_engine}, mlff={spec.mlff_engine}; store: {cfg.data_dir}")
    try:
        with RunProgress() as progress:
            report = run_embedded(flow, cfg, spec.campaign_id, on_event=progress,
                                  metadata={"source": str(file)}, workers=workers)
    except EmbeddedBusyError as exc:
        _fail(str(exc))
    res = Results(get_jobstore(cfg))
    print_summaries(res.summaries(spec.campaign_id), console)
    console.print(f"jobs: {report.states}; launched this run: {report.launched}; "
                  f"wall time {report.wall_time_s:.0f} s")
    if report.role_seconds:
        roles = sorted(report.role_seconds.items(), key=lambda kv: -kv[1])
        console.print("time per role (s): " + ", ".join(f"{r} {t:.0f}" for r, t in roles))
    console.print(f"results: JobStore {cfg.data_dir / 'jobstore'} (montydb), LaunchPad "
                  f"{cfg.data_dir / 'launchpad.json'}, launch dirs {cfg.data_dir / 'launches' / spec.campaign_id}")
    _after_run(spec, cfg, console)
    if report.failed:
        _fail(f"{len(report.failed)} job(s) failed: {', '.join(report.failed)}; fix and re-run "
              "the same command to retry them", code=1)


def _after_run(spec, cfg, console) -> None:
    """Hook for the report writer (kept separate so `run` stays a composition)."""
    try:
        from ssic_flows.report import write_campaign_report
    except ImportError:
        return
    path = write_campaign_report(spec.campaign_id, cfg, cfg.data_dir / "reports" / spec.campaign_id)
    console.print(f"report: {path}")


@app.command("results")
def results_cmd(
    campaign: str = typer.Option(..., "--campaign", help="campaign id"),
    material: Optional[str] = typer.Option(None, "--material"),
    observable: str = typer.Option("diffusion", "--observable",
                                   help="diffusion | band_center | gr_peak | conductivity | force_rmse | verdicts | jobs"),
    as_json: bool = typer.Option(False, "--json", help="print JSON records"),
    db_config: Optional[Path] = DB_OPT,
) -> None:
    """Query a campaign's results from the JobStore as a table."""
    from ssic_flows.results import Results
    from ssic_flows.store.jobstore import get_jobstore

    cfg = _store_cfg(db_config)
    try:
        df = Results(get_jobstore(cfg)).table(observable, campaign, material)
    except ValueError as exc:
        _fail(str(exc))
    if df.empty:
        _fail(f"no {observable} results for campaign {campaign!r}"
              f"{' and material ' + repr(material) if material else ''} in this store", code=1)
    if as_json:
        typer.echo(df.to_json(orient="records", indent=1, default_handler=str))
    else:
        typer.echo(df.to_string(index=False))


@app.command("analyze")
def analyze_cmd(
    trajectory: Path = typer.Argument(..., help="XDATCAR, vasprun.xml, .extxyz, .traj, CP2K -pos-1.xyz or .npz"),
    fmt: str = typer.Option("auto", "--format", help="auto | xdatcar | vasprun | extxyz | traj | cp2k | npz"),
    timestep_fs: Optional[float] = typer.Option(None, "--timestep-fs", help="time between frames, fs (if the file has none)"),
    species: Optional[list[str]] = typer.Option(None, "--species", help="mobile species (repeatable)"),
    equilibration_ps: float = typer.Option(0.0, "--equilibration-ps",
                                           help="ps cut from the start before analysis (default 0: the file as given)"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="write the JSON document here"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write one PNG per observable here"),
) -> None:
    """Every applicable observable of one trajectory."""
    from ssic_flows.analysis.readers import read_trajectory
    from ssic_flows.analysis.report_json import analyze_trajectory, write_json
    from ssic_flows.analysis.study import equilibrated
    from ssic_flows.analysis.trajectory import TrajectoryError
    from ssic_flows.materials import analysis_inputs

    try:
        traj = read_trajectory(trajectory, format=fmt, timestep_fs=timestep_fs)
        traj = equilibrated(traj, equilibration_ps)
        doc = analyze_trajectory(traj, species=species or None,
                                 **analysis_inputs(None, traj.species))
    except (TrajectoryError, ValueError, OSError) as exc:
        _fail(f"{trajectory}: {exc}" if str(trajectory) not in str(exc) else str(exc))
    if json_out:
        write_json(doc, json_out)
        typer.echo(f"wrote {json_out}")
    else:
        keys = ("D_cm2_s", "D_final_cm2_s", "D_status", "band_center_cm-1", "gr_first_peak_A")
        typer.echo(json.dumps({k: doc.get(k) for k in keys}, indent=1))
    if plot:
        from ssic_flows.analysis.quickplots import plot_analysis

        for p in plot_analysis(doc, plot):
            typer.echo(f"plot: {p}")


@app.command("report")
def report_cmd(
    campaign: str = typer.Option(..., "--campaign", help="campaign id"),
    out: Path = typer.Option(..., "--out", "-o", help="output directory (report.html + figures/)"),
    db_config: Optional[Path] = DB_OPT,
) -> None:
    """Write a campaign's self-contained HTML report (figures inline, no network needed)."""
    from ssic_flows.report import write_campaign_report
    from ssic_flows.results import Results
    from ssic_flows.store.jobstore import get_jobstore

    cfg = _store_cfg(db_config)
    if not Results(get_jobstore(cfg)).summaries(campaign):
        _fail(f"no analysis results for campaign {campaign!r} in this store (run it first, or "
              "check --db-config)", code=1)
    path = write_campaign_report(campaign, cfg, out)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def _server_lp(db_config: Optional[Path]):
    from ssic_flows.cluster.launch import open_server
    from ssic_flows.store.config import StoreConfigError

    try:
        return open_server(db_config)
    except StoreConfigError as exc:
        _fail(str(exc))


@app.command("submit")
def submit_cmd(
    file: Path = typer.Argument(..., help="campaign YAML"),
    db_config: Optional[Path] = DB_OPT,
) -> None:
    """Add a campaign to a MongoDB LaunchPad (once: resubmitting adds nothing); then run
    `qlaunch -r rapidfire` (see README, "Running on a cluster")."""
    from ssic_flows.cluster.submit import submit_campaign
    from ssic_flows.engines.base import EngineError
    from ssic_flows.flows.campaign import build_campaign

    spec = _load_spec(file)
    cfg, lp = _server_lp(db_config)
    try:
        flow = build_campaign(spec)
    except (EngineError, ValueError) as exc:
        _fail(f"{file}: {exc}")
    res = submit_campaign(lp, flow, spec.campaign_id, metadata={"source": str(file)})
    if res.added:
        typer.echo(f"submitted campaign {spec.campaign_id}: {res.n_jobs} fireworks "
                   f"(root fw_id {res.fw_id}; categories {res.categories}) in {res.seconds:.2f} s")
    else:
        typer.echo(f"campaign {spec.campaign_id} is already on the LaunchPad (root fw_id "
                   f"{res.fw_id}, {res.n_jobs} fireworks); nothing added")


@app.command("rerun")
def rerun_cmd(
    campaign: str = typer.Option(..., "--campaign", help="campaign id"),
    lost: bool = typer.Option(False, "--lost", help="also find runs whose worker died (SLURM job gone, "
                              "process gone or heartbeat expired) and rerun them"),
    expiration_secs: float = typer.Option(4 * 3600, "--expiration-secs",
                                          help="heartbeat age that counts as lost, s"),
    db_config: Optional[Path] = DB_OPT,
) -> None:
    """Rerun a campaign's FIZZLED (and with --lost, lost) fireworks; then qlaunch again.
    On embedded defaults, re-running `ssic run FILE` does this by itself."""
    from ssic_flows.cluster.lost import detect_lost
    from ssic_flows.cluster.submit import rerun_failed

    cfg, lp = _server_lp(db_config)
    if lost:
        res = detect_lost(lp, expiration_secs, rerun=True, campaign_id=campaign)
        for lid in res.launch_ids:
            typer.echo(f"lost launch {lid}: {res.reasons.get(lid, 'lost')}")
        typer.echo(f"lost fireworks rerun: {res.rerun_fw_ids}")
    ids = rerun_failed(lp, campaign)
    typer.echo(f"FIZZLED fireworks rerun: {ids}")


@app.command("status")
def status_cmd(
    campaign: Optional[str] = typer.Option(None, "--campaign", help="campaign id (default: every campaign in the store)"),
    watch: bool = typer.Option(False, "--watch", help="refresh until nothing is READY, RESERVED or RUNNING"),
    interval: float = typer.Option(10.0, "--interval", help="seconds between refreshes with --watch"),
    db_config: Optional[Path] = DB_OPT,
) -> None:
    """Per study and role, jobs by state; what runs where (host, SLURM job, last heartbeat);
    FIZZLED jobs with their error and the rerun command. Embedded stores are read without
    their lock (a running `ssic run` keeps it)."""
    import time

    from ssic_flows.cluster.status import campaign_ids, campaign_status, format_status, is_settled

    cfg = _store_cfg(db_config)
    embedded = cfg.mode == "embedded"
    db_opt = f" --db-config {db_config}" if db_config else ""
    while True:
        if embedded:
            from ssic_flows.store.launchpad import embedded_snapshot

            lp = embedded_snapshot(cfg)
            if lp is None:
                _fail(f"no LaunchPad in the embedded store {cfg.data_dir} (nothing run there yet)", code=1)
        else:
            lp = _server_lp(db_config)[1]
        ids = [campaign] if campaign else campaign_ids(lp)
        if not ids:
            _fail("no campaign in this store (check --db-config)", code=1)
        try:
            states = [campaign_status(lp, c) for c in ids]
        except KeyError as exc:
            _fail(str(exc.args[0]), code=1)
        if watch and sys.stdout.isatty():
            typer.clear()
        for st in states:
            typer.echo("\n".join(format_status(st, embedded=embedded, db_option=db_opt)))
        if not watch or all(is_settled(st) for st in states):
            return
        typer.echo(f"-- refreshing every {interval:g} s (Ctrl-C to stop)")
        time.sleep(interval)


# ------------------------------------------------------------------ sub-command groups
from ssic_flows.cli_cluster import cluster_app  # noqa: E402
from ssic_flows.cli_mlff import mlff_app  # noqa: E402
from ssic_flows.cli_study import make_study_cmd  # noqa: E402

app.command("study")(make_study_cmd(run_cmd, submit_cmd))

app.add_typer(cluster_app, name="cluster")
app.add_typer(mlff_app, name="mlff")

def main() -> None:
    """Console entry point."""
    import warnings

    # independent branches of a campaign are unconnected by design (seeds run in parallel)
    warnings.filterwarnings("ignore", message="Some jobs are not connected")
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":
    main()
