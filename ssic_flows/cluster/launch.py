"""The secret-free worker entry points: run jobs here (``rlaunch``) or submit SLURM jobs (``qlaunch``).

The standard path is FireWorks' own ``rlaunch``/``qlaunch`` after ``ssic cluster init``
(:mod:`ssic_flows.cluster.fw_config`), whose ``my_launchpad.yaml`` and ``jobflow.yaml`` hold
the URI. These thin wrappers are the option where no file may: workers never read
credentials from a FireWorks file; the SLURM script runs
``python -m ssic_flows cluster rlaunch -c <db config> ...`` (the ``ssic cluster`` commands of
:mod:`ssic_flows.cli_cluster`), which builds the LaunchPad and the jobflow JobStore from the db config
(URI from the environment variable or the untracked file it names) and sets
``jobflow.SETTINGS.JOB_STORE`` in that process only.

>>> cfg, lp = open_server("db_config/server.yaml")                      # doctest: +SKIP
>>> rlaunch(cfg, lp, resource="cpu", mode="rapidfire")                  # doctest: +SKIP
0
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ssic_flows.cluster.workers import fworker_for, load_fworker, qadapter_for
from ssic_flows.store.mongo_compat import compat_mode

__all__ = ["open_server", "qlaunch", "rlaunch", "worker_env"]


def open_server(db_config: str | Path | None):
    """``(cfg, LaunchPad)`` of a server-mode db config (``None`` → ``$SSIC_DB_CONFIG``).

    Raises :class:`~ssic_flows.store.config.StoreConfigError` (with the fix) when the config
    is embedded or unreachable.
    """
    from ssic_flows.store.config import StoreConfigError, load_store_config
    from ssic_flows.store.launchpad import get_launchpad

    cfg = load_store_config(db_config)
    if cfg.mode != "server":
        raise StoreConfigError("this command needs a MongoDB LaunchPad (a db config with mode: "
                               "server): pass --db-config db_config/server.yaml or export "
                               "SSIC_DB_CONFIG; on embedded defaults use `ssic run`")
    return cfg, get_launchpad(cfg)


def worker_env() -> dict[str, str]:
    """Where this worker runs (host, pid, SLURM job id), for lost-run detection."""
    env = {"ssic_host": socket.gethostname(), "ssic_pid": str(os.getpid())}
    if os.environ.get("SLURM_JOB_ID"):
        env["ssic_slurm_job_id"] = os.environ["SLURM_JOB_ID"]
    return env


def _fworker(lp, fworker: str | Path | None, resource: str):
    mode = compat_mode(lp)
    return load_fworker(fworker, mode) if fworker else fworker_for(resource, compat=mode)


def rlaunch(cfg, lp, *, fworker: str | Path | None = None, resource: str = "cpu",
            mode: str = "singleshot", fw_id: int | None = None, nlaunches: int = 0,
            max_loops: int = -1, sleep_s: int | None = None, loglvl: str = "INFO") -> int:
    """Run READY fireworks of one resource class in this process; exit status (3: none ran).

    ``fworker``: a rendered FWorker YAML (else the class ``resource``). ``mode``:
    ``singleshot`` (one firework, optionally ``fw_id``) or ``rapidfire`` (until none is
    READY, at most ``nlaunches`` (0: no limit), ``sleep_s`` s between loops).
    """
    import jobflow
    from fireworks.core.rocket_launcher import launch_rocket, rapidfire

    from ssic_flows.store.jobstore import get_jobstore

    jobflow.SETTINGS.JOB_STORE = get_jobstore(cfg)
    fw = _fworker(lp, fworker, resource)
    fw.env.update(worker_env())
    if mode == "singleshot":
        return 0 if launch_rocket(lp, fw, fw_id=fw_id, strm_lvl=loglvl) else 3
    rapidfire(lp, fw, m_dir=os.getcwd(), nlaunches=nlaunches, max_loops=max_loops,
              sleep_time=sleep_s, strm_lvl=loglvl, local_redirect=False)
    return 0


def qlaunch(lp, qadapter: str | Path, *, fworker: str | Path | None = None,
            resource: str = "cpu", mode: str = "singleshot", launch_dir: str | Path = ".",
            nlaunches: int = 0, njobs_queue: int = 0, sleep_s: int | None = None,
            loglvl: str = "INFO") -> int:
    """Submit SLURM jobs (rendered ``qadapter``) whose body is ``rlaunch``; exit status.

    ``singleshot`` submits one job (3 if nothing is READY); ``rapidfire`` keeps at most
    ``njobs_queue`` queued (0: no limit) for at most ``nlaunches`` submissions.
    """
    from fireworks.queue.queue_launcher import launch_rocket_to_queue, rapidfire

    fw = _fworker(lp, fworker, resource)
    qa = qadapter_for(qadapter)
    ldir = Path(launch_dir).expanduser().resolve()
    ldir.mkdir(parents=True, exist_ok=True)
    if mode == "singleshot":
        ok = launch_rocket_to_queue(lp, fw, qa, launcher_dir=str(ldir), reserve=False,
                                    strm_lvl=loglvl, create_launcher_dir=True)
        return 0 if ok else 3
    rapidfire(lp, fw, qa, launch_dir=str(ldir), nlaunches=nlaunches, njobs_queue=njobs_queue,
              sleep_time=sleep_s, reserve=False, strm_lvl=loglvl)
    return 0
