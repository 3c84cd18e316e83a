"""Worker configuration: FireWorks workers and SLURM queue adapters per resource class.

The templates ship inside the package (``ssic_flows/data/worker_templates/``, read with
:mod:`importlib.resources`, so a wheel install has them): ``my_fworker_{cpu,gpu}.yaml`` and
``my_qadapter.yaml`` (and ``FW_config.yaml``, ``my_launchpad.yaml``, ``jobflow.yaml`` for
:mod:`ssic_flows.cluster.fw_config`). :func:`write_worker_configs` renders them for the
secret-free wrapper (``ssic cluster qlaunch/rlaunch --db-config``); edit the rendered copies
(account, partition, walltime, modules), never the packaged ones.

>>> from ssic_flows.cluster.workers import template_text
>>> "@PYTHON@" in template_text("my_qadapter.yaml")
True
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ssic_flows.cluster.routing import RESOURCE_CLASSES
from ssic_flows.store.mongo_compat import worker_query

if TYPE_CHECKING:  # importlib.resources.abc is Python >= 3.11
    from importlib.resources.abc import Traversable

__all__ = ["TEMPLATE_NAMES", "fworker_for", "load_fworker", "qadapter_for", "template_text",
           "templates", "write_worker_configs"]

#: The templates in ``ssic_flows/data/worker_templates/``.
TEMPLATE_NAMES = ("my_fworker_cpu.yaml", "my_fworker_gpu.yaml", "my_qadapter.yaml",
                  "FW_config.yaml", "my_launchpad.yaml", "jobflow.yaml")

# the directory holding the ssic_flows package (a source checkout's repository root)
_PKG_PARENT = Path(__file__).resolve().parents[2]

_CONFIGURE_HINT = "`ssic cluster configure --db-config DB --out DIR`"


def templates() -> Traversable:
    """The packaged worker-template directory (an :mod:`importlib.resources` Traversable)."""
    return resources.files("ssic_flows").joinpath("data", "worker_templates")


def template_text(name: str, template_dir: str | Path | None = None) -> str:
    """Text of worker template ``name`` from ``template_dir`` (default: the packaged ones)."""
    if template_dir is not None:
        return (Path(template_dir).expanduser() / name).read_text()
    return templates().joinpath(name).read_text(encoding="utf-8")


def fworker_for(resource_class: str, *, compat: str | None = "none", name: str | None = None,
                query: dict | None = None, env: dict | None = None):
    """An ``FWorker`` that pulls only jobs of ``resource_class`` (FireWorks category).

    ``compat`` is the db config's ``mongo_compat`` (adds the nx-27017 query guard).
    """
    from fireworks import FWorker

    if resource_class not in RESOURCE_CLASSES:
        raise ValueError(f"unknown resource class {resource_class!r}; use one of {RESOURCE_CLASSES}")
    return FWorker(name=name or f"ssic-{resource_class}", category=resource_class,
                   query=worker_query(compat, query), env=dict(env or {}))


def load_fworker(path: str | Path, compat: str | None):
    """A rendered FWorker YAML, checked, with the ``compat`` query guard added."""
    from fireworks import FWorker

    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"fworker file {p} not found; render one with {_CONFIGURE_HINT}")
    fw = FWorker.from_file(str(p))
    cat = fw.category
    if cat and cat != "__none__" and isinstance(cat, str) and cat not in RESOURCE_CLASSES:
        raise ValueError(f"{p}: category {cat!r} is not one of {RESOURCE_CLASSES}")
    return FWorker(name=fw.name, category=fw.category, query=worker_query(compat, fw._query),
                   env=dict(fw.env or {}))


def _render(text: str, values: Mapping[str, str]) -> str:
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    return text


def qadapter_for(template: str | Path | None = None, **overrides):
    """A FireWorks SLURM ``CommonAdapter`` from a rendered qadapter YAML, with keys
    overridden by ``overrides`` (the packaged, unrendered template is refused)."""
    import yaml
    from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter

    if template:
        where, text = str(template), Path(template).read_text()
    else:
        where, text = "the packaged my_qadapter.yaml", template_text("my_qadapter.yaml")
    d = yaml.safe_load(text)
    d.update(overrides)
    if "@" in str(d.get("rocket_launch", "")):
        raise ValueError(f"{where} still has @PLACEHOLDERS@; render it with "
                         f"{_CONFIGURE_HINT} or pass rocket_launch=...")
    return CommonAdapter.from_dict(d)


def write_worker_configs(out_dir: str | Path, db_config: str | Path, *,
                         python: str | None = None, template_dir: str | Path | None = None,
                         qadapter_overrides: Mapping[str, Any] | None = None,
                         rlaunch_mode: str | None = None) -> dict[str, Path]:
    """Render the worker templates (packaged, or ``template_dir``) for this machine into ``out_dir``.

    Writes ``my_fworker_{cpu,gpu}.yaml`` and ``my_qadapter_{cpu,gpu}.yaml`` (the GPU one asks
    SLURM for a GPU; its rocket pulls only ``gpu`` jobs). Placeholders: ``@PYTHON@`` (absolute
    interpreter: FireWorks' ``#!/bin/bash -l`` resets PATH), ``@DB_CONFIG@``, ``@FWORKER@``,
    ``@REPO@`` (the directory holding the package). ``rlaunch_mode`` replaces the template's
    ``singleshot`` (e.g. ``"rapidfire --sleep 5"``: one SLURM job runs jobs until none is
    left). No credentials are written: workers read the URI as the db config says.
    """
    import yaml

    from ssic_flows.store.config import load_store_config

    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    dbc = Path(db_config).expanduser().resolve()
    cfg = load_store_config(dbc)  # validates the db config early
    if cfg.mode != "server":
        raise ValueError(f"{dbc} is an embedded db config; SLURM workers need mode: server")
    paths: dict[str, Path] = {}
    for rc in RESOURCE_CLASSES:
        fwk = out / f"my_fworker_{rc}.yaml"
        vals = {"PYTHON": python or sys.executable, "DB_CONFIG": str(dbc), "FWORKER": str(fwk),
                "REPO": str(_PKG_PARENT)}
        fwk.write_text(_render(template_text(f"my_fworker_{rc}.yaml", template_dir), vals))
        q = yaml.safe_load(_render(template_text("my_qadapter.yaml", template_dir), vals))
        q["job_name"] = f"ssic_{rc}"
        if rlaunch_mode:
            rl = str(q["rocket_launch"]).rstrip()
            if not rl.endswith(" singleshot"):
                raise ValueError("rlaunch_mode needs a rocket_launch ending in 'singleshot'")
            q["rocket_launch"] = rl[: -len("singleshot")] + rlaunch_mode
        if rc == "gpu" and not q.get("gres") and not q.get("gpus_per_node"):
            q["gres"] = "gpu:1"
        if rc == "cpu":
            q.pop("gres", None)
        q.update(qadapter_overrides or {})
        qf = out / f"my_qadapter_{rc}.yaml"
        qf.write_text(yaml.safe_dump(q, sort_keys=False))
        paths[f"fworker_{rc}"], paths[f"qadapter_{rc}"] = fwk, qf
    return paths
