"""Running CP2K: executable discovery, the command line (``mpirun -np n`` optional) and one run
in a directory through :func:`~ssic_flows.engines.common.process.run_process` (own process
group, timeout, killed on interrupt or when the parent dies).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ssic_flows.engines.base import EngineError
from ssic_flows.engines.common.process import run_process
from ssic_flows.engines.cp2k.sets import Cp2kSettings

__all__ = [
    "CP2K_CMD_ENV", "Cp2kRun", "cp2k_command", "cp2k_version", "find_cp2k_executable",
    "run_cp2k",
]


CP2K_CMD_ENV = "SSIC_CP2K_CMD"


_EXECUTABLES = ("cp2k.psmp", "cp2k.ssmp", "cp2k.popt", "cp2k.sopt", "cp2k")


def find_cp2k_executable() -> str:
    """The CP2K command: ``$SSIC_CP2K_CMD`` (may hold arguments) or the first of
    ``cp2k.psmp``/``cp2k.ssmp``/``cp2k.popt``/``cp2k.sopt``/``cp2k`` on PATH.

    Raises :class:`EngineError` naming the fix when none is found.
    """
    env = os.environ.get(CP2K_CMD_ENV, "").strip()
    if env:
        exe = shlex.split(env)[0]
        if shutil.which(exe) is None:
            raise EngineError(
                f"{CP2K_CMD_ENV}={env!r} but {exe!r} is not an executable on PATH; "
                f"fix {CP2K_CMD_ENV} or unset it to search PATH for cp2k.psmp/cp2k.ssmp"
            )
        return env
    for name in _EXECUTABLES:
        path = shutil.which(name)
        if path:
            return path
    raise EngineError(
        "CP2K executable not found (looked for cp2k.psmp, cp2k.ssmp, cp2k on PATH): "
        f"install it (Debian/Ubuntu: apt-get install cp2k) or set {CP2K_CMD_ENV} to the "
        "command, e.g. SSIC_CP2K_CMD=/opt/cp2k/bin/cp2k.psmp"
    )


def cp2k_version(command: str | None = None) -> str:
    """CP2K version string, e.g. ``'CP2K version 2023.1'`` (empty if it cannot be read)."""
    cmd = shlex.split(command or find_cp2k_executable())
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60,
                             env=_run_env(1)).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(r"CP2K version\s+\S+", out)
    return m.group(0) if m else ""


def _run_env(omp_threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(omp_threads)
    # Open MPI refuses to start as root without these (containers, CI).
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.update(extra or {})
    return env


def cp2k_command(settings: Cp2kSettings, input_name: str) -> list[str]:
    """argv for one CP2K run: ``[mpirun -np N --bind-to none] cp2k.psmp -i input``."""
    exe = shlex.split(find_cp2k_executable())
    cmd = [*exe, "-i", input_name]
    if settings.n_mpi > 1:
        mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
        if mpirun is None:
            raise EngineError(
                f"n_mpi={settings.n_mpi} needs mpirun on PATH: install Open MPI "
                "(apt-get install openmpi-bin) or set n_mpi=1"
            )
        cmd = [mpirun, "-np", str(settings.n_mpi), "--bind-to", "none", *cmd]
    return cmd


@dataclass
class Cp2kRun:
    """What one CP2K process did: directory, exit status, wall time (s), output file."""

    directory: Path
    returncode: int
    wall_time_s: float
    output: Path


def run_cp2k(directory: str | Path, input_text: str, settings: Cp2kSettings,
             *, input_name: str = "cp2k.inp", output_name: str = "cp2k.out") -> Cp2kRun:
    """Write ``input_text`` and run CP2K in ``directory`` (its own process group).

    On timeout the process group (only the processes this call started) is killed and an
    :class:`EngineError` raised; a non-zero exit raises with the tail of the output.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / input_name).write_text(input_text)
    cmd = cp2k_command(settings, input_name)
    out = directory / output_name
    try:
        # interrupted (KeyboardInterrupt, SystemExit from a signal handler, ...): run_process
        # never leaves a CP2K writing into a checkpoint directory a resumed run will use
        proc = run_process(cmd, directory, out, timeout_s=settings.timeout_s,
                           env=_run_env(settings.omp_threads, settings.extra_env))
    except subprocess.TimeoutExpired:
        raise EngineError(
            f"CP2K exceeded timeout_s={settings.timeout_s} s in {directory}; raise "
            "Cp2kSettings.timeout_s, use more MPI ranks (n_mpi) or a smaller cell. The MD "
            "restart file (if any) is kept, so rerunning the job continues from it."
        ) from None
    rc, wall = proc.returncode, proc.wall_time_s
    if rc != 0:
        tail = "\n".join(out.read_text(errors="replace").splitlines()[-25:])
        raise EngineError(f"CP2K failed (exit {rc}) in {directory}; last lines of {out.name}:\n{tail}")
    return Cp2kRun(directory=directory, returncode=rc, wall_time_s=wall, output=out)
