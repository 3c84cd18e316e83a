"""Run an external program (CP2K, ``gap_fit``) so that it can never outlive its job.

The program runs in its own process group (``start_new_session``); on a timeout, on an
interrupt (``KeyboardInterrupt``, ``SystemExit`` from a signal handler) or on any other
exception in the waiting parent, that group — only the processes this call started — gets
SIGTERM, then SIGKILL after ``grace_s``. On Linux the kernel also sends SIGTERM to the child
when the Python parent dies (``PR_SET_PDEATHSIG``), so a SIGKILLed worker leaves no program
writing into a checkpoint directory a resumed run will use. The child is reaped with
``os.wait4``, which also gives its peak resident memory.

Example
-------
>>> import sys, tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> run = run_process([sys.executable, "-c", "print('hi')"], d, d / "log")
>>> run.returncode, (d / "log").read_text()
(0, 'hi\\n')
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["ProcessRun", "run_process"]


@dataclass
class ProcessRun:
    """What one external process did: exit status, wall time (s), peak RSS (MB), log file."""

    returncode: int
    wall_time_s: float
    peak_rss_MB: float
    log: Path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: have the kernel send SIGTERM to the child if the Python parent dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux/glibc: no such safety net
        pass


def _wait(proc: subprocess.Popen, timeout_s: float | None) -> tuple[int, float]:
    """Reap ``proc`` (exit code, peak RSS MB); ``subprocess.TimeoutExpired`` after ``timeout_s``."""
    deadline = None if timeout_s is None else time.monotonic() + float(timeout_s)
    pause = 0.001
    while True:
        pid, status, ru = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, ru.ru_maxrss / 1024.0  # Linux: ru_maxrss in kB
        if time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout_s)
        time.sleep(pause)
        pause = min(2 * pause, 0.2)


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the process group this module started, SIGKILL after ``grace_s`` s; reap it."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        _wait(proc, grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _wait(proc, None)
    except (ProcessLookupError, ChildProcessError):
        pass


def run_process(cmd: Sequence[str], cwd: str | Path, log: str | Path, *,
                env: dict[str, str] | None = None, timeout_s: float | None = None,
                append: bool = True, grace_s: float = 10.0) -> ProcessRun:
    """Run ``cmd`` in ``cwd`` with stdout+stderr to ``log``; wait at most ``timeout_s`` s.

    Returns a :class:`ProcessRun` whatever the exit status (callers judge it). On timeout
    the process group is killed and ``subprocess.TimeoutExpired`` raised; on an interrupt
    it is killed and the interrupt re-raised.
    """
    t0 = time.perf_counter()
    with open(log, "ab" if append else "wb") as fh:
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=fh, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, preexec_fn=_die_with_parent)
        try:
            rc, peak = _wait(proc, timeout_s)
        except BaseException:
            _stop(proc, grace_s)
            raise
    return ProcessRun(returncode=rc, wall_time_s=time.perf_counter() - t0, peak_rss_MB=peak,
                      log=Path(log))
