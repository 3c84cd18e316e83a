"""``ssic cluster``: the FireWorks config directory for FireWorks' own CLI (``init``) and the
secret-free worker commands (``rlaunch``, the SLURM job body; ``qlaunch``; ``configure``;
``lost``) that build the LaunchPad and JobStore from a db config instead of files holding the
URI. Composition only: the logic is in :mod:`ssic_flows.cluster`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

cluster_app = typer.Typer(no_args_is_help=True, help=(
    "Cluster side: `init` writes the FireWorks config directory + jobflow.yaml for FireWorks' "
    "own lpad/qlaunch/rlaunch; rlaunch/qlaunch/configure/lost are the secret-free wrappers "
    "(LaunchPad and JobStore from a db config)."))


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _server_lp(db_config: Optional[Path]):
    from ssic_flows.cluster.launch import open_server
    from ssic_flows.store.config import StoreConfigError

    try:
        return open_server(db_config)
    except StoreConfigError as exc:
        _fail(str(exc))


class LaunchMode(str, Enum):
    """How many jobs a launcher runs: one, or until none is READY."""

    singleshot = "singleshot"
    rapidfire = "rapidfire"


class Resource(str, Enum):
    """Resource classes (:data:`ssic_flows.cluster.routing.RESOURCE_CLASSES`)."""

    cpu = "cpu"
    gpu = "gpu"


CDB_OPT = typer.Option(None, "--db-config", "-c", help="server-mode db config YAML (default: $SSIC_DB_CONFIG)")
MODE_ARG = typer.Argument(..., help="singleshot: one job; rapidfire: until none is READY")
FWORKER_OPT = typer.Option(None, "--fworker", "-w", help="rendered FWorker YAML (my_fworker_*.yaml)")
RESOURCE_OPT = typer.Option(Resource.cpu, "--resource", "-r",
                            help="resource class when no FWorker file is given")
NLAUNCHES_OPT = typer.Option(0, "--nlaunches", help="0 = until no job is READY")
SLEEP_OPT = typer.Option(None, "--sleep", help="seconds between rapidfire loops")
LOGLVL_OPT = typer.Option("INFO", "--loglvl")


@cluster_app.command("rlaunch")
def cluster_rlaunch_cmd(mode: LaunchMode = MODE_ARG, db_config: Optional[Path] = CDB_OPT,
                        fworker: Optional[Path] = FWORKER_OPT, resource: Resource = RESOURCE_OPT,
                        fw_id: Optional[int] = typer.Option(None, "--fw-id"),
                        nlaunches: int = NLAUNCHES_OPT,
                        max_loops: int = typer.Option(-1, "--max-loops"),
                        sleep: Optional[int] = SLEEP_OPT, loglvl: str = LOGLVL_OPT) -> None:
    """Run jobs in this process (the SLURM job body); exit 3 if singleshot found none."""
    from ssic_flows.cluster.launch import rlaunch

    cfg, lp = _server_lp(db_config)
    raise typer.Exit(rlaunch(cfg, lp, fworker=fworker, resource=resource.value,
                             mode=mode.value, fw_id=fw_id, nlaunches=nlaunches, max_loops=max_loops,
                             sleep_s=sleep, loglvl=loglvl))


@cluster_app.command("qlaunch")
def cluster_qlaunch_cmd(mode: LaunchMode = MODE_ARG, db_config: Optional[Path] = CDB_OPT,
                        qadapter: Path = typer.Option(..., "--qadapter", "-q",
                                                      help="rendered qadapter YAML"),
                        fworker: Optional[Path] = FWORKER_OPT, resource: Resource = RESOURCE_OPT,
                        launch_dir: Path = typer.Option(Path("."), "--launch-dir"),
                        nlaunches: int = NLAUNCHES_OPT,
                        njobs_queue: int = typer.Option(0, "--njobs-queue"),
                        sleep: Optional[int] = SLEEP_OPT, loglvl: str = LOGLVL_OPT) -> None:
    """Submit SLURM jobs that run `rlaunch`; exit 3 if singleshot found nothing READY."""
    from ssic_flows.cluster.launch import qlaunch

    _, lp = _server_lp(db_config)
    raise typer.Exit(qlaunch(lp, qadapter, fworker=fworker, resource=resource.value,
                             mode=mode.value, launch_dir=launch_dir, nlaunches=nlaunches,
                             njobs_queue=njobs_queue, sleep_s=sleep, loglvl=loglvl))


@cluster_app.command("configure")
def cluster_configure_cmd(out: Path = typer.Option(..., "--out", help="directory for the rendered configs"),
                          db_config: Optional[Path] = CDB_OPT,
                          template_dir: Optional[Path] = typer.Option(
                              None, "--template-dir", help="own templates (default: the packaged ones)")) -> None:
    """Render the worker configs (my_fworker_*/my_qadapter_*.yaml) for this machine."""
    import os

    from ssic_flows.cluster.workers import write_worker_configs
    from ssic_flows.store.config import StoreConfigError

    try:
        paths = write_worker_configs(out, db_config or os.environ.get("SSIC_DB_CONFIG", ""),
                                     template_dir=template_dir)
    except (StoreConfigError, ValueError, OSError) as exc:
        _fail(str(exc))
    for k, v in paths.items():
        typer.echo(f"{k}: {v}")


@cluster_app.command("lost")
def cluster_lost_cmd(db_config: Optional[Path] = CDB_OPT,
                     expiration_secs: float = typer.Option(4 * 3600, "--expiration-secs",
                                                           help="heartbeat age that counts as lost, s"),
                     no_rerun: bool = typer.Option(False, "--no-rerun", help="only report"),
                     campaign: Optional[str] = typer.Option(None, "--campaign",
                                                            help="only this campaign")) -> None:
    """Detect runs whose worker died (all campaigns by default) and rerun them."""
    from ssic_flows.cluster.lost import detect_lost

    _, lp = _server_lp(db_config)
    res = detect_lost(lp, expiration_secs, rerun=not no_rerun, campaign_id=campaign)
    for lid in res.launch_ids:
        typer.echo(f"launch {lid}: {res.reasons.get(lid, 'lost')}")
    typer.echo(f"lost fireworks: {res.fw_ids}; rerun: {res.rerun_fw_ids}")


@cluster_app.command("init")
def cluster_init_cmd(out: Path = typer.Argument(..., help="config directory to write, e.g. ~/.ssic_flows/fw_config"),
                     db_config: Optional[Path] = CDB_OPT) -> None:
    """Write a FireWorks config directory (FW_config.yaml, my_launchpad.yaml, my_fworker*.yaml,
    my_qadapter*.yaml) and jobflow.yaml for the db config's MongoDB; print the two exports.

    my_launchpad.yaml and jobflow.yaml hold the URI (that is how FireWorks and jobflow read
    it): they are written mode 600 and refused inside the repository. The URI is never printed.
    """
    from ssic_flows.cluster.fw_config import SECRET_FILES, export_lines, write_fw_config
    from ssic_flows.store.config import StoreConfigError, load_store_config
    from ssic_flows.store.launchpad import get_launchpad

    try:
        cfg = load_store_config(db_config)
        paths = write_fw_config(out, cfg)
        get_launchpad(cfg)  # reachable; an empty LaunchPad database is initialised once
    except (StoreConfigError, ValueError, OSError) as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - pymongo: server not reachable
        _fail(f"wrote {out}, but the MongoDB server is not reachable: {type(exc).__name__}")
    for name, p in paths.items():
        note = "  (mode 600: holds the MongoDB URI; keep it private)" if name in SECRET_FILES else ""
        typer.echo(f"wrote {p}{note}", err=True)
    if cfg.mongo_compat != "none":
        typer.echo(f"note: mongo_compat {cfg.mongo_compat}: the my_fworker*.yaml query carries the "
                   "test server's guard; never run `lpad reset` or `lpad admin tuneup` there",
                   err=True)
    for line in export_lines(out):
        typer.echo(line)
