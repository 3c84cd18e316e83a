"""Run a campaign's READY fireworks on several cores of one machine over the embedded stores.

The embedded LaunchPad (mongomock persisted to one file) must have one writer, so the parent
process keeps it and uses FireWorks' own *offline* (reservation) mode, the one ``qlaunch -r``
uses on clusters without database access from the compute nodes:

1. the parent reserves a firework (``LaunchPad.reserve_fw``) and writes ``FW.json`` /
   ``FW_offline.json`` into its launch directory (``setup_offline_job``);
2. a worker process runs it there with ``launch_rocket(None, ...)`` (offline rocket: no
   database access; the jobflow JobStore — montydb on sqlite, which serialises concurrent
   writers with file locks — receives the job outputs);
3. when the worker returns, the parent ingests the result with
   ``LaunchPad.recover_offline`` (state, FWAction — including the detours and additions
   of dynamic jobflow flows) and flushes the LaunchPad file.

So at most ``workers`` jobs run at a time, and the LaunchPad stays consistent: only the
parent writes it. A killed parent leaves RESERVED/RUNNING fireworks, which the next
``ssic run`` reruns (as for the in-process runner). Worker processes are started with
``spawn`` (no inherited threads or open files) and load their models once.
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable

__all__ = ["launch_order", "run_pool", "settle_ping"]

_STORE = None


def _init_worker(cfg_json: str) -> None:
    """Worker set-up: the JobStore from the same embedded config (no LaunchPad)."""
    global _STORE
    import jobflow

    from ssic_flows.store.config import StoreConfig
    from ssic_flows.store.jobstore import get_jobstore

    _STORE = get_jobstore(StoreConfig.model_validate_json(cfg_json))
    jobflow.SETTINGS.JOB_STORE = _STORE


def _offline_zopen_compat() -> None:
    """FireWorks 2.1.4's offline rocket reads ``FW_offline.json`` with ``zopen(path)`` and
    no mode, which monty ≥ 2025 refuses (mode is required): give it monty's old default,
    text read, in this worker process only."""
    import fireworks.core.rocket as rocket
    from monty.io import zopen

    def _zopen(path, mode="rt", **kwargs):
        return zopen(path, mode, **kwargs)

    rocket.zopen = _zopen


def _run_offline(launch_dir: str, log_path: str | None) -> None:
    """Run the reserved firework in ``launch_dir`` as an offline rocket."""
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import launch_rocket

    _offline_zopen_compat()
    os.chdir(launch_dir)
    with contextlib.ExitStack() as stack:
        if log_path:
            fh = stack.enter_context(open(log_path, "a", buffering=1))
            stack.enter_context(contextlib.redirect_stdout(fh))
            stack.enter_context(contextlib.redirect_stderr(fh))
            print(f"==== {launch_dir} (worker pid {os.getpid()})", flush=True)
        launch_rocket(None, FWorker(name="ssic-embedded"), strm_lvl="ERROR")


def settle_ping(launch_dir: Path, tries: int = 30, wait_s: float = 0.1) -> bool:
    """Make ``FW_ping.json`` of a finished offline launch readable before the LaunchPad
    reads it back. FireWorks' rocket stops its ping thread without joining it, so a ping
    may still be half-written when the rocket returns; ``recover_offline`` then failed on
    the truncated JSON and fizzled a completed job (seen once in the main job: a 1-s build
    job). Waits up to ``tries`` × ``wait_s`` s for valid JSON, else removes the file (the
    ping only refreshes the launch's last-seen time). Returns True when it had to wait or
    remove."""
    import json

    ping = Path(launch_dir) / "FW_ping.json"
    for k in range(tries):
        try:
            json.loads(ping.read_text())
            return k > 0
        except FileNotFoundError:
            return k > 0
        except ValueError:
            time.sleep(wait_s)
    ping.unlink(missing_ok=True)
    return True


def launch_order(fws: list[dict]) -> list[dict]:
    """READY fireworks in launch order: FireWorks' own rule, ``spec._priority`` highest
    first (see :data:`ssic_flows.cluster.routing.ROLE_PRIORITY`), then the lowest fw_id."""
    return sorted((f for f in fws if f["state"] == "READY"),
                  key=lambda f: (-int(f.get("priority") or 0), f["fw_id"]))


def run_pool(lp, cfg, ready_fws: Callable[[], list[dict]], launch_root: Path, workers: int, *,
             flush: Callable[[Any], None], role_of: Callable[[int], str],
             emit: Callable[[str, dict], None], report, log_path: Path | None,
             max_launches: int | None = None) -> None:
    """Launch READY fireworks (``ready_fws()`` → [{fw_id, name, state}] of the campaign) on
    ``workers`` processes until none is READY and none runs; updates ``report``."""
    import multiprocessing

    from fireworks import FWAction, FWorker
    from fireworks.queue.queue_launcher import setup_offline_job

    fworker = FWorker(name="ssic-embedded")
    running: dict = {}
    ctx = multiprocessing.get_context("spawn")
    # workers start (lazily, at a submit) in the parent's working directory: make it one
    # that exists for the whole run
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.chdir(launch_root))
    with stack, ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(cfg.model_dump_json(),)) as pool:
        while True:
            fws = ready_fws()
            busy = {info["fw_id"] for info in running.values()}
            ready = [f for f in launch_order(fws) if f["fw_id"] not in busy]
            while ready and len(running) < workers and (
                    max_launches is None or report.launched + len(running) < max_launches):
                nxt = ready.pop(0)
                ldir = launch_root / f"fw_{nxt['fw_id']}"
                ldir.mkdir(parents=True, exist_ok=True)
                fw, launch_id = lp.reserve_fw(fworker, str(ldir), fw_id=nxt["fw_id"])
                with contextlib.chdir(ldir):
                    setup_offline_job(lp, fw, launch_id)
                flush(lp)
                done = sum(f["state"] == "COMPLETED" for f in fws)
                emit("launch", {"name": nxt["name"], "done": done, "total": len(fws)})
                fut = pool.submit(_run_offline, str(ldir), str(log_path) if log_path else None)
                running[fut] = {"fw_id": nxt["fw_id"], "name": nxt["name"], "launch_id": launch_id,
                                "role": role_of(nxt["fw_id"]), "t0": time.perf_counter(),
                                "dir": ldir}
            if not running:
                return
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                info = running.pop(fut)
                exc = fut.exception()
                if exc is None:
                    settle_ping(info["dir"])
                    lp.recover_offline(info["launch_id"])
                else:  # the worker failed outside the rocket (or died): the job failed
                    import traceback

                    tb = "".join(traceback.format_exception(exc))
                    lp.complete_launch(info["launch_id"], FWAction(stored_data={
                        "_message": "worker process failed", "_exception": {
                            "_stacktrace": tb, "_details": None}}, exit=True), "FIZZLED")
                flush(lp)
                secs = time.perf_counter() - info["t0"]
                report.role_seconds[info["role"]] = report.role_seconds.get(info["role"], 0.0) + secs
                report.launched += 1
                state = lp.fireworks.find_one({"fw_id": info["fw_id"]}, {"state": 1})["state"]
                fws = ready_fws()
                if state == "FIZZLED":
                    emit("failed", {"name": info["name"], "log": str(log_path or info["dir"])})
                else:
                    emit("finished", {"name": info["name"], "role": info["role"],
                                      "done": sum(f["state"] == "COMPLETED" for f in fws),
                                      "total": len(fws), "seconds": secs})
