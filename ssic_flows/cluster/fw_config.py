"""A standard FireWorks config directory + jobflow ``jobflow.yaml``, for FireWorks' own CLI.

After ``ssic cluster init DIR`` (:func:`write_fw_config`) and the two ``export`` lines it
prints, FireWorks' unmodified ``lpad``, ``qlaunch`` and ``rlaunch`` run our campaigns, as
atomate2's documentation teaches::

    DIR/FW_config.yaml       CONFIG_FILE_DIR: DIR                (FW_CONFIG_FILE)
    DIR/my_launchpad.yaml    the LaunchPad: holds the URI, mode 600
    DIR/my_fworker.yaml      pulls both resource classes (one kind of node)
    DIR/my_fworker_{cpu,gpu}.yaml, DIR/my_qadapter_{cpu,gpu}.yaml   split CPU/GPU nodes
    DIR/my_qadapter.yaml     SLURM; the job body is FireWorks' own rlaunch
    DIR/jobflow.yaml         MongoStore "outputs" + GridFSStore "outputs_data" as the
                             "data" store; holds the URI, mode 600 (JOBFLOW_CONFIG_FILE)

Every file is rendered from the package's templates (``ssic_flows/data/worker_templates/``),
the one home of these formats; ``db_config/fireworks/`` holds the same rendering with a
placeholder URI as an example (:func:`write_examples`, kept in sync by a test).

The URI comes from the db config (environment variable or untracked file) and goes only
into the two mode-600 files; it is never printed. With ``mongo_compat: nx27017`` (the
nx-27017 test server only) the FWorker files carry the ``$or`` query guard
(:func:`ssic_flows.store.mongo_compat.worker_query`); a real MongoDB needs nothing.

>>> files = render_fw_config("/fw", uri="mongodb://h/", database="db", rlaunch="/v/rlaunch")
>>> files["FW_config.yaml"].splitlines()[-1]
'CONFIG_FILE_DIR: /fw'
>>> sorted(files)[:3]
['FW_config.yaml', 'jobflow.yaml', 'my_fworker.yaml']
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ssic_flows.cluster.routing import RESOURCE_CLASSES
from ssic_flows.cluster.workers import template_text
from ssic_flows.store.mongo_compat import worker_query

__all__ = ["EXAMPLE_DIR", "EXAMPLE_URI", "SECRET_FILES", "example_files", "export_lines",
           "render_fw_config", "write_examples",
           "write_fw_config", "write_launchpad_file"]

#: Files that hold the URI (written mode 600).
SECRET_FILES = ("my_launchpad.yaml", "jobflow.yaml")
#: The placeholder URI of the ``db_config/fireworks/`` example.
EXAMPLE_URI = "mongodb://USER:PASSWORD@mongo.example.org:27017/?authSource=admin"

_REPO = Path(__file__).resolve().parents[2]  # a source checkout's repository root


def _scalar(v) -> str:
    """A YAML scalar for ``v`` (JSON is valid YAML: quotes and escapes are safe)."""
    return json.dumps(v)


def _set_key(text: str, key: str, value: str, comment: str = "") -> str:
    """Replace the top-level line ``key: ...`` (appended if absent) by ``key: value``."""
    line = f"{key}: {value}" + (f"  # {comment}" if comment else "")
    pat = re.compile(rf"^{re.escape(key)}:.*$", re.M)
    return pat.sub(lambda _: line, text, count=1) if pat.search(text) else text + line + "\n"


def _strip_header(text: str) -> str:
    """``text`` without its leading comment block (the template's own instructions)."""
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def _fworker(rc: str | None, compat: str) -> str:
    """``my_fworker[_rc].yaml``: the class ``rc`` (``None``: every class), query as FireWorks reads it."""
    text = template_text(f"my_fworker_{rc or 'cpu'}.yaml")
    guard = " (nx-27017 test server guard: mongo_compat nx27017)" if compat != "none" else ""
    if rc is None:
        text = _set_key(_strip_header(text), "name", "ssic")
        text = _set_key(text, "category", _scalar(list(RESOURCE_CLASSES)))
        text = ("# FireWorks worker pulling every resource class (cpu and gpu jobs): one kind of\n"
                "# node. Split CPU/GPU nodes use my_fworker_cpu.yaml / my_fworker_gpu.yaml.\n" + text)
    q = json.dumps(worker_query(compat, {}))
    return _set_key(text, "query", f"'{q}'", "extra MongoDB filter on fireworks" + guard)


def _qadapter(config_dir: str, rlaunch: str, rc: str | None) -> str:
    """``my_qadapter[_rc].yaml`` whose job body is FireWorks' own ``rlaunch``."""
    fworker = f"{config_dir}/my_fworker{'_' + rc if rc else ''}.yaml"
    text = _strip_header(template_text("my_qadapter.yaml"))
    text = _set_key(text, "rocket_launch", _scalar(
        f"{rlaunch} -l {config_dir}/my_launchpad.yaml -w {fworker} singleshot"))
    text = _set_key(text, "pre_rocket", _scalar(
        f"export FW_CONFIG_FILE={config_dir}/FW_config.yaml; "
        f"export JOBFLOW_CONFIG_FILE={config_dir}/jobflow.yaml"))
    if rc:
        text = _set_key(text, "job_name", f"ssic_{rc}")
    if rc == "gpu":
        text = _set_key(text, "gres", _scalar("gpu:1"), "--gres: one GPU per job")
    which = f"{rc} jobs only (qlaunch -w my_fworker_{rc}.yaml)" if rc else "every job class"
    return (f"# FireWorks SLURM queue adapter (CommonAdapter): {which}.\n"
            "# The job body is FireWorks' own rlaunch. Edit the SLURM fields: account, queue\n"
            "# (partition), walltime, nodes, ntasks, cpus_per_task, mem; pre_rocket for modules.\n"
            "# `qlaunch -r` (reservation mode) records the SLURM job id in the launch, which\n"
            "# `ssic status` shows.\n" + text)


def render_fw_config(config_dir: str | Path, *, uri: str, database: str,
                     launchpad_database: str | None = None, compat: str = "none",
                     rlaunch: str | None = None, server_timeout_ms: int = 5000) -> dict[str, str]:
    """File name → text of the FireWorks config directory ``config_dir`` and ``jobflow.yaml``.

    ``rlaunch``: absolute path of FireWorks' ``rlaunch`` (default: next to this Python).
    Pure: writes nothing (:func:`write_fw_config` writes, with modes).
    """
    d = str(config_dir)
    rl = rlaunch or str(Path(sys.executable).parent / "rlaunch")
    vals = {"CONFIG_DIR": d, "URI": _scalar(uri), "DATABASE": database,
            "LP_DATABASE": launchpad_database or database, "TIMEOUT_MS": str(server_timeout_ms)}

    def render(name: str) -> str:
        text = template_text(name)
        for k, v in vals.items():
            text = text.replace(f"@{k}@", v)
        return text

    files = {n: render(n) for n in ("FW_config.yaml", "my_launchpad.yaml", "jobflow.yaml")}
    files["my_fworker.yaml"] = _fworker(None, compat)
    files["my_qadapter.yaml"] = _qadapter(d, rl, None)
    for rc in RESOURCE_CLASSES:
        files[f"my_fworker_{rc}.yaml"] = _fworker(rc, compat)
        files[f"my_qadapter_{rc}.yaml"] = _qadapter(d, rl, rc)
    return dict(sorted(files.items()))


def _refuse_in_repo(p: Path) -> None:
    """A file holding the URI may not be written inside the repository unless git ignores it."""
    if _REPO not in p.parents:
        return
    try:
        ignored = subprocess.run(["git", "-C", str(_REPO), "check-ignore", "-q", str(p)],
                                 timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ignored = False
    if not ignored:
        raise ValueError(f"{p} is inside the repository and not git-ignored; it would hold the "
                         "MongoDB URI: write it under $SSIC_HOME (e.g. ~/.ssic_flows/fw_config)")


def _write(path: Path, text: str, secret: bool) -> None:
    if secret:
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    else:
        path.write_text(text)


def write_fw_config(out_dir: str | Path, cfg, *, rlaunch: str | None = None) -> dict[str, Path]:
    """Render the config directory for the server-mode db config ``cfg`` into ``out_dir``.

    The two files holding the URI (:data:`SECRET_FILES`) are mode 600 and refused inside the
    repository unless git-ignored. Returns name → path. Raises ``ValueError`` for an embedded
    config and :class:`~ssic_flows.store.config.StoreConfigError` without a URI.
    """
    if cfg.mode != "server":
        raise ValueError("FireWorks' lpad/qlaunch/rlaunch need a MongoDB LaunchPad: pass a db "
                         "config with mode: server (e.g. db_config/server.yaml)")
    out = Path(out_dir).expanduser().resolve()
    for name in SECRET_FILES:
        _refuse_in_repo(out / name)
    files = render_fw_config(out, uri=cfg.uri(), database=cfg.database,
                             launchpad_database=cfg.launchpad_database, compat=cfg.mongo_compat,
                             rlaunch=rlaunch, server_timeout_ms=cfg.server_timeout_ms)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in files.items():
        _write(out / name, text, name in SECRET_FILES)
        paths[name] = out / name
    return paths


def write_launchpad_file(cfg, path: str | Path) -> Path:
    """Only ``my_launchpad.yaml`` (mode 600, same rendering as :func:`write_fw_config`)."""
    p = Path(path).expanduser().resolve()
    _refuse_in_repo(p)
    text = render_fw_config(p.parent, uri=cfg.uri(), database=cfg.database,
                            launchpad_database=cfg.launchpad_database,
                            server_timeout_ms=cfg.server_timeout_ms)["my_launchpad.yaml"]
    p.parent.mkdir(parents=True, exist_ok=True)
    _write(p, text, True)
    return p


def export_lines(out_dir: str | Path) -> list[str]:
    """The two ``export`` lines that point FireWorks and jobflow at ``out_dir``."""
    d = Path(out_dir).expanduser().resolve()
    return [f"export FW_CONFIG_FILE={d / 'FW_config.yaml'}",
            f"export JOBFLOW_CONFIG_FILE={d / 'jobflow.yaml'}"]


#: Where the example rendering lives, and the values it is rendered with.
EXAMPLE_DIR = _REPO / "db_config" / "fireworks"
EXAMPLE_VALUES = {"config_dir": "/home/USER/.ssic_flows/fw_config", "uri": EXAMPLE_URI,
                  "database": "ssic_flows", "rlaunch": "/path/to/venv/bin/rlaunch"}


def example_files() -> dict[str, str]:
    """The ``db_config/fireworks/`` example: the templates rendered with a placeholder URI."""
    v = dict(EXAMPLE_VALUES)
    return render_fw_config(v.pop("config_dir"), **v)


def write_examples(out_dir: str | Path = EXAMPLE_DIR) -> list[Path]:
    """(Re)write the example directory from the templates (no secret: placeholder URI)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in example_files().items():
        (out / name).write_text(text)
        paths.append(out / name)
    return paths
