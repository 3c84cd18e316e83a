"""Submit a jobflow Flow to a FireWorks LaunchPad and (embedded mode) run it in-process.

Embedded mode keeps submission and launching in one process under a file lock (the
file-backed LaunchPad cannot be shared) and flushes the LaunchPad after every launch, so
re-running the same command resumes: completed jobs are kept, jobs left RUNNING/RESERVED by
a killed process and FIZZLED jobs are rerun, then everything READY is launched.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

from ssic_flows.launch_pool import launch_order
from ssic_flows.store.config import StoreConfig

__all__ = ["RunReport", "find_workflow", "run_embedded", "submit_flow"]


@dataclass
class RunReport:
    """What a run did: counts of fireworks by state and wall time (s)."""

    campaign_id: str
    wf_id: int
    states: dict[str, int] = field(default_factory=dict)
    launched: int = 0
    resumed: bool = False
    wall_time_s: float = 0.0
    failed: list[str] = field(default_factory=list)
    #: wall time (s) of the jobs launched in this run, summed per job role
    role_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return set(self.states) <= {"COMPLETED"}


def _detach_log_handlers(stream) -> None:
    """Drop logging handlers that write to ``stream`` (about to be closed); FireWorks and
    jobflow create theirs on first use and keep them for the process's life."""
    import logging

    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for h in list(lg.handlers):
            if getattr(h, "stream", None) is stream:
                lg.removeHandler(h)


def find_workflow(lp, campaign_id: str) -> dict | None:
    """The LaunchPad workflow document of a campaign, if it was submitted before."""
    return lp.workflows.find_one({"metadata.campaign_id": campaign_id})


def submit_flow(lp, flow, campaign_id: str, *, metadata: dict | None = None) -> tuple[int, bool]:
    """Add ``flow`` as one workflow tagged with ``campaign_id``; idempotent.

    Returns ``(root fw_id, newly_added)``. A campaign already on the LaunchPad is never
    added twice.
    """
    from jobflow.managers.fireworks import flow_to_workflow

    existing = find_workflow(lp, campaign_id)
    if existing is not None:
        return int(existing["nodes"][0]), False
    from ssic_flows.cluster.routing import assign_priorities

    assign_priorities(flow)  # the training chains first, long jobs before short ones
    meta = {"campaign_id": campaign_id, **(metadata or {})}
    wf = flow_to_workflow(flow, metadata=meta)
    wf.name = f"ssic:{campaign_id}"
    mapping = lp.add_wf(wf)
    return int(min(mapping.values())), True


def _wf_fws(lp, campaign_id: str) -> list[dict]:
    wf = find_workflow(lp, campaign_id)
    if wf is None:
        return []
    out = []
    for d in lp.fireworks.find({"fw_id": {"$in": wf["nodes"]}},
                               {"fw_id": 1, "state": 1, "name": 1, "spec._priority": 1}):
        # a dotted projection comes back nested (mongomock) or flat (some wire servers)
        prio = (d.get("spec") or {}).get("_priority", d.get("spec._priority"))
        out.append({"fw_id": d["fw_id"], "state": d["state"], "name": d.get("name"),
                    "priority": int(prio or 0)})
    return out



def _role(lp, fw_id: int) -> str:
    """The jobflow role of a firework (``metadata.role`` of its job), or 'other'."""
    doc = lp.fireworks.find_one({"fw_id": fw_id}, {"spec._tasks": 1}) or {}
    for task in doc.get("spec", {}).get("_tasks", []):
        job = task.get("job") if isinstance(task, dict) else None
        if isinstance(job, dict):
            return str((job.get("metadata") or {}).get("role") or "other")
    return "other"


def run_embedded(
    flow,
    cfg: StoreConfig,
    campaign_id: str,
    *,
    metadata: dict | None = None,
    on_event: Callable[[str, dict], None] | None = None,
    max_launches: int | None = None,
    quiet: bool = True,
    workers: int = 1,
) -> RunReport:
    """Submit (or resume) ``flow`` on the embedded store and run every READY job in-process.

    ``on_event(kind, info)`` receives ``("start", {...})``, ``("launch", {"name", "done",
    "total"})``, ``("failed", {"name", "log"})``, ``("done", {...})`` for progress displays.
    ``quiet``: the jobs' stdout/stderr (engine chatter, FireWorks and jobflow logs) go to
    ``launches/<campaign>/run-<time>.log`` instead of the terminal. ``workers``: jobs run at a
    time; 1 runs them in this process, more run them in worker processes through FireWorks'
    offline mode (:mod:`ssic_flows.launch_pool`), this process being the only LaunchPad writer.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    import contextlib
    import jobflow
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import launch_rocket

    from ssic_flows.store.jobstore import get_jobstore, prime_embedded_stores
    from ssic_flows.store.launchpad import embedded_lock, flush_launchpad, get_launchpad

    if cfg.mode != "embedded":
        raise ValueError("run_embedded needs an embedded store config; use `ssic submit` + qlaunch")
    emit = on_event or (lambda kind, info: None)
    t0 = time.perf_counter()
    with embedded_lock(cfg):
        lp = get_launchpad(cfg)
        store = get_jobstore(cfg)
        prime_embedded_stores(store)  # tables exist before worker processes write at once
        jobflow.SETTINGS.JOB_STORE = store
        wf_id, added = submit_flow(lp, flow, campaign_id, metadata=metadata)
        report = RunReport(campaign_id=campaign_id, wf_id=wf_id, resumed=not added)
        if not added:
            for fw in _wf_fws(lp, campaign_id):
                if fw["state"] in ("RUNNING", "RESERVED", "FIZZLED"):
                    lp.rerun_fw(fw["fw_id"])
        flush_launchpad(lp)
        launch_root = cfg.data_dir / "launches" / campaign_id
        launch_root.mkdir(parents=True, exist_ok=True)
        fworker = FWorker(name="ssic-embedded")
        cwd = os.getcwd()
        log_path = log_fh = None
        if quiet:  # one log per run: the jobs' stdout/stderr and FireWorks/jobflow logging
            log_path = launch_root / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
            log_fh = open(log_path, "a", buffering=1)  # noqa: SIM115 - closed in finally
        fws = _wf_fws(lp, campaign_id)
        emit("start", {"total": len(fws), "done": sum(f["state"] == "COMPLETED" for f in fws),
                       "resumed": report.resumed})
        try:
            if workers > 1:
                from ssic_flows.launch_pool import run_pool

                run_pool(lp, cfg, lambda: _wf_fws(lp, campaign_id), launch_root, workers,
                         flush=flush_launchpad, role_of=lambda i: _role(lp, i), emit=emit,
                         report=report, log_path=log_path, max_launches=max_launches)
            while workers == 1 and (max_launches is None or report.launched < max_launches):
                fws = _wf_fws(lp, campaign_id)
                ready = launch_order(fws)
                if not ready:
                    break
                nxt = ready[0]
                done = sum(f["state"] == "COMPLETED" for f in fws)
                emit("launch", {"name": nxt["name"], "done": done, "total": len(fws)})
                ldir = launch_root / f"fw_{nxt['fw_id']}"
                ldir.mkdir(parents=True, exist_ok=True)
                os.chdir(ldir)
                role = _role(lp, nxt["fw_id"])
                t_job = time.perf_counter()
                try:
                    with contextlib.ExitStack() as stack:
                        if log_fh is not None:
                            stack.enter_context(contextlib.redirect_stdout(log_fh))
                            stack.enter_context(contextlib.redirect_stderr(log_fh))
                            print(f"==== fw_id {nxt['fw_id']} {nxt['name']} ({ldir})", flush=True)
                        launch_rocket(lp, fworker, fw_id=nxt["fw_id"], strm_lvl="ERROR")
                finally:
                    os.chdir(cwd)
                    flush_launchpad(lp)
                    report.role_seconds[role] = (report.role_seconds.get(role, 0.0)
                                                 + time.perf_counter() - t_job)
                report.launched += 1
                state = lp.fireworks.find_one({"fw_id": nxt["fw_id"]}, {"state": 1})["state"]
                if state == "FIZZLED":
                    emit("failed", {"name": nxt["name"], "log": str(log_path or ldir)})
                else:
                    emit("finished", {"name": nxt["name"], "role": role, "done": done + 1,
                                      "total": len(fws),
                                      "seconds": time.perf_counter() - t_job})
        finally:
            flush_launchpad(lp)
            if log_fh is not None:
                _detach_log_handlers(log_fh)
                log_fh.close()
        fws = _wf_fws(lp, campaign_id)
        states: dict[str, int] = {}
        for f in fws:
            states[f["state"]] = states.get(f["state"], 0) + 1
        report.states = states
        report.failed = [f["name"] for f in fws if f["state"] == "FIZZLED"]
        report.wall_time_s = time.perf_counter() - t0
        emit("done", {"total": len(fws), "done": states.get("COMPLETED", 0)})
        return report
