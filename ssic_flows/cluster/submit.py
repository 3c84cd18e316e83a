"""Production path: campaigns on a MongoDB LaunchPad, run by SLURM workers (qlaunch/rlaunch).

Pure functions over a FireWorks ``LaunchPad`` (get one with
:func:`ssic_flows.store.launchpad.get_launchpad` from a server-mode db config):

* :func:`submit_campaign` – add a flow once per ``campaign_id`` (idempotent), each job routed
  to a resource class (``cpu``/``gpu`` FireWorks category) by its ``metadata.role``;
* :func:`campaign_fireworks` / :func:`campaign_states` – where a campaign stands;
* :func:`rerun_failed` – rerun its FIZZLED fireworks (after fixing the input);
* :func:`detect_lost` – find RUNNING fireworks whose worker died (SLURM job gone, process
  gone, or no heartbeat for ``expiration_secs``), mark them FIZZLED and rerun them;
* :func:`fworker_for` / :func:`qadapter_for` / :func:`write_worker_configs` – worker
  configuration per resource class.

Workers never read credentials from a FireWorks file: the SLURM script runs
``python -m ssic_flows.cluster rlaunch -c <db config> ...``, which builds the LaunchPad and
the jobflow JobStore from the db config (URI from the environment variable or the untracked
file it names) and sets ``jobflow.SETTINGS.JOB_STORE`` in that process only. Fireworks are
submitted with ``store=None``, so no store (and no URI) is ever serialized into a spec.

Command line (``python -m ssic_flows.cluster --help``)::

    rlaunch  -c DB [-w FWORKER | -r cpu|gpu] singleshot|rapidfire   # run jobs here
    qlaunch  -c DB -q QADAPTER [-w FWORKER] singleshot|rapidfire      # submit SLURM jobs
    configure -c DB --out DIR                                         # render worker configs
    lost     -c DB [--expiration-secs S] [--no-rerun]                 # detect + rerun lost runs
    rerun    -c DB CAMPAIGN_ID                                        # rerun FIZZLED jobs
    launchpad-file -c DB --out FILE                                   # for the plain `lpad` CLI
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ssic_flows.store.compat import compat_mode, worker_query

__all__ = [
    "DEFAULT_ROLE_RESOURCE",
    "LostRuns",
    "RESOURCE_CLASSES",
    "SubmitResult",
    "assign_categories",
    "campaign_fireworks",
    "campaign_states",
    "detect_lost",
    "fworker_for",
    "main",
    "qadapter_for",
    "rerun_failed",
    "resource_class_for",
    "slurm_alive_jobs",
    "submit_campaign",
    "write_launchpad_file",
    "write_worker_configs",
]

#: Resource classes = FireWorks categories (``spec._category``) that workers pull.
RESOURCE_CLASSES = ("cpu", "gpu")

#: Job role (``metadata.role``, see :data:`ssic_flows.schemas.ROLES`) → resource class.
#: ML potentials (training, fine-tuning, MLMD, exploration) go to GPU nodes; reference
#: (DFT/AIMD) calculations, labelling, fitting GAP, validation and analysis to CPU nodes.
DEFAULT_ROLE_RESOURCE: dict[str, str] = {
    "build": "cpu", "reference_md": "cpu", "label": "cpu", "fit": "cpu", "validate": "cpu",
    "analyze": "cpu",
    "train_mlff": "gpu", "transfer": "gpu", "retrain_hot": "gpu", "mlmd": "gpu",
    "mlmd_hot": "gpu", "explore": "gpu",
}

_REPO = Path(__file__).resolve().parent.parent
_TEMPLATE_DIR = _REPO / "db_config"


# ----------------------------------------------------------------------------- routing
def resource_class_for(role: str | None, mapping: Mapping[str, str] | None = None,
                       default: str = "cpu") -> str:
    """The resource class of a job role (unknown or missing role → ``default``)."""
    table = {**DEFAULT_ROLE_RESOURCE, **(mapping or {})}
    rc = table.get(role or "", default)
    if rc not in RESOURCE_CLASSES:
        raise ValueError(f"resource class {rc!r} for role {role!r} is not one of "
                         f"{RESOURCE_CLASSES}; fix the role→resource mapping")
    return rc


def _iter_jobs(flow_or_job) -> Iterable:
    from jobflow import Flow

    if isinstance(flow_or_job, Flow):
        for j in flow_or_job.jobs:
            yield from _iter_jobs(j)
    else:
        yield flow_or_job


def assign_categories(flow_or_job, mapping: Mapping[str, str] | None = None,
                      default: str = "cpu") -> dict[str, str]:
    """Set each job's FireWorks category from its ``metadata.role``; returns uuid → class.

    Uses ``job.update_config({"manager_config": {"_category": ...}})``, which jobflow copies
    into the firework spec, so only workers of that class (:func:`fworker_for`) pick it up.
    """
    out = {}
    for job in _iter_jobs(flow_or_job):
        rc = resource_class_for((job.metadata or {}).get("role"), mapping, default)
        job.update_config({"manager_config": {"_category": rc}})
        out[job.uuid] = rc
    return out


# ----------------------------------------------------------------------------- submit
@dataclass
class SubmitResult:
    """Outcome of :func:`submit_campaign`."""

    campaign_id: str
    fw_id: int
    added: bool
    n_jobs: int
    categories: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def submit_campaign(lp, flow, campaign_id: str, metadata: dict | None = None, *,
                    role_resources: Mapping[str, str] | None = None,
                    route_by_role: bool = True) -> SubmitResult:
    """Add ``flow`` to the LaunchPad as campaign ``campaign_id``, once.

    Submitting a campaign that is already on the LaunchPad adds nothing and returns
    ``added=False`` (the existing workflow's root ``fw_id``); of several submitters racing,
    exactly one adds it (atomic claim in the ``ssic_campaign_claims`` collection). Every job's metadata gets
    ``campaign_id`` (job documents are queried by it). With ``route_by_role`` each
    job gets the FireWorks category of its role (:func:`assign_categories`). The store is
    never serialized into the fireworks (``flow_to_workflow(store=None)``): workers use the
    JobStore of their own db config.
    """
    from ssic_flows.runner import find_workflow, submit_flow

    if not campaign_id or not isinstance(campaign_id, str):
        raise ValueError("campaign_id must be a non-empty string (it makes submission idempotent)")
    t0 = time.perf_counter()
    existing = find_workflow(lp, campaign_id)
    if existing is not None:
        return SubmitResult(campaign_id, int(min(existing["nodes"])), False,
                            len(existing["nodes"]), seconds=time.perf_counter() - t0)
    for job in _iter_jobs(flow):  # so job documents are queryable by campaign
        if (job.metadata or {}).get("campaign_id") not in (None, campaign_id):
            raise ValueError(f"job {job.name} carries campaign_id "
                             f"{job.metadata['campaign_id']!r}, not {campaign_id!r}")
        job.metadata = {**(job.metadata or {}), "campaign_id": campaign_id}
    cats = assign_categories(flow, role_resources) if route_by_role else {}
    token = _claim_campaign(lp, campaign_id)
    if token is None:  # another submitter owns it: wait for its workflow
        wf = _wait_for_workflow(lp, campaign_id)
        return SubmitResult(campaign_id, int(min(wf["nodes"])), False, len(wf["nodes"]),
                            seconds=time.perf_counter() - t0)
    fw_id, added = submit_flow(lp, flow, campaign_id, metadata=metadata)
    lp.db[CLAIMS].update_one({"_id": campaign_id, "token": token}, {"$set": {"state": "added"}})
    wf = find_workflow(lp, campaign_id)
    return SubmitResult(campaign_id, fw_id, added, len(wf["nodes"]) if wf else 0,
                        dict(Counter(cats.values())), time.perf_counter() - t0)


#: LaunchPad-database collection of campaign submission claims (one document per campaign).
CLAIMS = "ssic_campaign_claims"


def _claim_campaign(lp, campaign_id: str, stale_after_s: float = 120.0) -> str | None:
    """Atomically claim the right to add ``campaign_id``; ``None`` if someone else holds it.

    Inserting a document whose ``_id`` is the campaign id is atomic: of two racing
    submitters exactly one insert succeeds, the other gets ``DuplicateKeyError``. A claim
    older than ``stale_after_s`` whose workflow never appeared (its submitter died) is taken
    over.
    """
    import datetime
    import uuid

    from pymongo.errors import DuplicateKeyError

    from ssic_flows.runner import find_workflow

    coll = lp.db[CLAIMS]
    token = uuid.uuid4().hex
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    try:
        coll.insert_one({"_id": campaign_id, "token": token, "at": now, "state": "claimed"})
        return token
    except DuplicateKeyError:
        doc = coll.find_one({"_id": campaign_id})
    if doc is not None and now - float(doc.get("at", now)) > stale_after_s \
            and find_workflow(lp, campaign_id) is None:
        res = coll.update_one({"_id": campaign_id, "token": doc["token"]},
                              {"$set": {"token": token, "at": now}})
        if res.modified_count == 1:
            return token
    return None


def _wait_for_workflow(lp, campaign_id: str, timeout_s: float = 60.0) -> dict:
    from ssic_flows.runner import find_workflow

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        wf = find_workflow(lp, campaign_id)
        if wf is not None:
            return wf
        time.sleep(0.2)
    raise RuntimeError(f"campaign {campaign_id!r} is being submitted by another process that "
                       f"has not finished in {timeout_s:.0f} s; retry later (a claim older than "
                       f"2 minutes without a workflow is taken over)")


def campaign_fireworks(lp, campaign_id: str) -> list[dict]:
    """``fw_id, name, state, category, launches`` of every firework of a campaign."""
    from ssic_flows.runner import find_workflow

    wf = find_workflow(lp, campaign_id)
    if wf is None:
        raise KeyError(f"campaign {campaign_id!r} is not on this LaunchPad; submit it first "
                       "(check the db config / database name)")
    docs = lp.fireworks.find({"fw_id": {"$in": list(wf["nodes"])}},
                             {"fw_id": 1, "name": 1, "state": 1, "spec._category": 1,
                              "launches": 1, "archived_launches": 1})
    return sorted(({"fw_id": d["fw_id"], "name": d.get("name"), "state": d["state"],
                    # nx-27017 returns a dotted projection flat ("spec._category")
                    "category": (d.get("spec") or {}).get("_category",
                                                          d.get("spec._category")),
                    "launches": list(d.get("launches") or []),
                    "archived_launches": list(d.get("archived_launches") or [])}
                   for d in docs), key=lambda d: d["fw_id"])


def campaign_states(lp, campaign_id: str) -> dict[str, int]:
    """Counts of a campaign's fireworks by state, e.g. ``{"COMPLETED": 5, "FIZZLED": 1}``."""
    return dict(Counter(f["state"] for f in campaign_fireworks(lp, campaign_id)))


def rerun_failed(lp, campaign_id: str, states: Iterable[str] = ("FIZZLED",)) -> list[int]:
    """Rerun (FireWorks ``rerun_fw``) every firework of the campaign in ``states``.

    Fix the cause first (input, code, environment); the rerun firework becomes READY and its
    WAITING children run after it. Returns the rerun ``fw_id`` s. Completed work is kept.
    """
    wanted = set(states)
    bad = wanted - {"FIZZLED", "RUNNING", "RESERVED", "DEFUSED", "PAUSED", "COMPLETED"}
    if bad:
        raise ValueError(f"cannot rerun states {sorted(bad)}")
    ids = [f["fw_id"] for f in campaign_fireworks(lp, campaign_id) if f["state"] in wanted]
    for fw_id in ids:
        lp.rerun_fw(fw_id)
    return ids


# ----------------------------------------------------------------------------- lost runs
@dataclass
class LostRuns:
    """What :func:`detect_lost` found: launches and fireworks, and which were rerun."""

    launch_ids: list[int] = field(default_factory=list)
    fw_ids: list[int] = field(default_factory=list)
    rerun_fw_ids: list[int] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)


def slurm_alive_jobs() -> set[str] | None:
    """SLURM job ids that are pending or running (``squeue``), or ``None`` without SLURM."""
    squeue = shutil.which("squeue")
    if squeue is None:
        return None
    try:
        out = subprocess.run([squeue, "-h", "-o", "%i %T"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    alive = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] not in ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT",
                                                "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY"):
            alive.add(parts[0])
    return alive


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def detect_lost(lp, expiration_secs: float = 4 * 3600, rerun: bool = True, *,
                campaign_id: str | None = None,
                alive_jobs: Callable[[], set[str] | None] | None = slurm_alive_jobs,
                ) -> LostRuns:
    """Find RUNNING fireworks whose worker is gone; mark them FIZZLED and (``rerun``) rerun.

    A launch is lost when (a) it was started by ``ssic_flows.cluster rlaunch`` inside a SLURM
    job that ``squeue`` no longer lists, (b) it was started outside SLURM on this host by a
    process that no longer exists, or (c) FireWorks' own ``detect_lostruns``: no heartbeat
    for ``expiration_secs`` (FireWorks pings every ``PING_TIME_SECS``; keep
    ``expiration_secs`` well above it). A rerun MD job resumes from its last checkpoint.
    ``alive_jobs=None`` disables the SLURM check.
    """
    query = None
    fw_ids_scope: list[int] | None = None
    if campaign_id is not None:
        fw_ids_scope = [f["fw_id"] for f in campaign_fireworks(lp, campaign_id)]
        query = {"fw_id": {"$in": fw_ids_scope}}
    found = LostRuns()

    # (a) + (b): dead worker, no need to wait for the heartbeat to expire
    launch_q: dict[str, Any] = {"state": "RUNNING"}
    if fw_ids_scope is not None:
        launch_q["fw_id"] = {"$in": fw_ids_scope}
    alive: set[str] | None = None
    alive_checked = False
    host = socket.gethostname()
    for ld in list(lp.launches.find(launch_q, {"launch_id": 1, "fw_id": 1, "fworker": 1})):
        env = ((ld.get("fworker") or {}).get("env") or {})
        reason = None
        job_id = env.get("ssic_slurm_job_id")
        if job_id:
            if not alive_checked:
                alive, alive_checked = (alive_jobs() if alive_jobs else None), True
            if alive is not None and str(job_id) not in alive:
                reason = f"SLURM job {job_id} is no longer queued or running"
        elif env.get("ssic_host") == host and env.get("ssic_pid"):
            if not _pid_alive(int(env["ssic_pid"])):
                reason = f"worker process {env['ssic_pid']} on {host} is gone"
        if reason:
            found.launch_ids.append(ld["launch_id"])
            found.reasons[ld["launch_id"]] = reason
    for lid in found.launch_ids:
        fw_id = lp.launches.find_one({"launch_id": lid}, {"fw_id": 1})["fw_id"]
        fw = lp.fireworks.find_one({"fw_id": fw_id}, {"state": 1, "launches": 1})
        if fw and fw["state"] == "RUNNING":
            found.fw_ids.append(fw_id)
        if rerun:
            lp.mark_fizzled(lid)
    # (c): FireWorks' heartbeat-based detection
    l_ids, f_ids, _ = lp.detect_lostruns(expiration_secs=expiration_secs, fizzle=False,
                                         rerun=False, query=query)
    for lid in l_ids:
        if lid not in found.launch_ids:
            found.launch_ids.append(lid)
            found.reasons[lid] = f"no heartbeat for {expiration_secs:.0f} s"
            if rerun:
                lp.mark_fizzled(lid)
    for fid in f_ids:
        if fid not in found.fw_ids:
            found.fw_ids.append(fid)
    if rerun:
        for fw_id in found.fw_ids:
            state = lp.fireworks.find_one({"fw_id": fw_id}, {"state": 1})["state"]
            if state in ("FIZZLED", "RUNNING"):
                lp.rerun_fw(fw_id)
                found.rerun_fw_ids.append(fw_id)
    return found


# ----------------------------------------------------------------------------- workers
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


def _load_fworker(path: str | Path, compat: str | None):
    from fireworks import FWorker

    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"fworker file {p} not found; render one with "
                                "`python -m ssic_flows.cluster configure -c DB --out DIR`")
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
    """A FireWorks SLURM ``CommonAdapter`` from a qadapter YAML (default: the rendered
    ``db_config/my_qadapter.yaml``), with keys overridden by ``overrides``."""
    import yaml
    from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter

    p = Path(template) if template else _TEMPLATE_DIR / "my_qadapter.yaml"
    d = yaml.safe_load(p.read_text())
    d.update(overrides)
    if "@" in str(d.get("rocket_launch", "")):
        raise ValueError(f"{p} still has @PLACEHOLDERS@; render it with "
                         "`python -m ssic_flows.cluster configure` or pass rocket_launch=...")
    return CommonAdapter.from_dict(d)


def write_worker_configs(out_dir: str | Path, db_config: str | Path, *,
                         python: str | None = None, template_dir: str | Path | None = None,
                         qadapter_overrides: Mapping[str, Any] | None = None,
                         rlaunch_mode: str | None = None) -> dict[str, Path]:
    """Render the worker templates of ``db_config/`` for this machine into ``out_dir``.

    Writes ``my_fworker_{cpu,gpu}.yaml`` and ``my_qadapter_{cpu,gpu}.yaml`` (the GPU one asks
    SLURM for a GPU; its rocket pulls only ``gpu`` jobs). Placeholders: ``@PYTHON@`` (absolute
    interpreter: FireWorks' ``#!/bin/bash -l`` resets PATH), ``@DB_CONFIG@``, ``@FWORKER@``,
    ``@REPO@``. ``rlaunch_mode`` replaces the template's ``singleshot`` (e.g.
    ``"rapidfire --sleep 5"``: one SLURM job runs jobs until none is left). No credentials are
    written: workers read the URI as the db config says.
    """
    import yaml

    from ssic_flows.store.config import load_store_config

    tdir = Path(template_dir) if template_dir else _TEMPLATE_DIR
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
                "REPO": str(_REPO)}
        fwk.write_text(_render((tdir / f"my_fworker_{rc}.yaml").read_text(), vals))
        q = yaml.safe_load(_render((tdir / "my_qadapter.yaml").read_text(), vals))
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


def write_launchpad_file(cfg, path: str | Path) -> Path:
    """An ``my_launchpad.yaml`` for FireWorks' own ``lpad`` CLI, mode 0600.

    It contains the URI (that is how FireWorks reads it), so it must live outside the
    repository (default in the CLI: ``$SSIC_HOME/my_launchpad.yaml``). Note: the plain
    ``lpad`` does not get the nx-27017 shims; against that test server use this module.
    """
    import yaml

    p = Path(path).expanduser().resolve()
    if _REPO in p.parents:
        try:
            tracked = subprocess.run(["git", "-C", str(_REPO), "check-ignore", "-q", str(p)],
                                     timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            tracked = False
        if not tracked:
            raise ValueError(f"{p} is inside the repository and not git-ignored; a launchpad "
                             "file holds the MongoDB URI: write it under $SSIC_HOME instead")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(p), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump({"host": cfg.uri(), "uri_mode": True,
                        "name": cfg.launchpad_database or cfg.database,
                        "mongoclient_kwargs": {"serverSelectionTimeoutMS": cfg.server_timeout_ms},
                        "strm_lvl": "ERROR"}, fh)
    return p


def worker_jobstore(cfg):
    """The JobStore a worker uses: :func:`ssic_flows.store.jobstore.get_jobstore` of ``cfg``."""
    from ssic_flows.store.jobstore import get_jobstore

    return get_jobstore(cfg)


def _worker_env() -> dict[str, str]:
    env = {"ssic_host": socket.gethostname(), "ssic_pid": str(os.getpid())}
    if os.environ.get("SLURM_JOB_ID"):
        env["ssic_slurm_job_id"] = os.environ["SLURM_JOB_ID"]
    return env


def _open(db_config: str | None):
    from ssic_flows.store.config import load_store_config
    from ssic_flows.store.launchpad import get_launchpad

    cfg = load_store_config(db_config)
    if cfg.mode != "server":
        raise SystemExit("ssic_flows.cluster needs a server-mode db config (mode: server); "
                         "pass -c db_config/server.yaml or export SSIC_DB_CONFIG")
    return cfg, get_launchpad(cfg)


# ----------------------------------------------------------------------------- CLI
def _cmd_rlaunch(a) -> int:
    import jobflow
    from fireworks.core.rocket_launcher import launch_rocket, rapidfire

    cfg, lp = _open(a.db_config)
    jobflow.SETTINGS.JOB_STORE = worker_jobstore(cfg)
    mode = compat_mode(lp)
    if a.fworker:
        fworker = _load_fworker(a.fworker, mode)
    else:
        fworker = fworker_for(a.resource, compat=mode)
    fworker.env.update(_worker_env())
    if a.mode == "singleshot":
        ok = launch_rocket(lp, fworker, fw_id=a.fw_id, strm_lvl=a.loglvl)
        return 0 if ok else 3
    rapidfire(lp, fworker, m_dir=os.getcwd(), nlaunches=a.nlaunches, max_loops=a.max_loops,
              sleep_time=a.sleep, strm_lvl=a.loglvl, local_redirect=False)
    return 0


def _cmd_qlaunch(a) -> int:
    from fireworks.queue.queue_launcher import launch_rocket_to_queue, rapidfire

    cfg, lp = _open(a.db_config)
    mode = compat_mode(lp)
    fworker = _load_fworker(a.fworker, mode) if a.fworker else fworker_for(a.resource, compat=mode)
    qadapter = qadapter_for(a.qadapter)
    launch_dir = Path(a.launch_dir).expanduser().resolve()
    launch_dir.mkdir(parents=True, exist_ok=True)
    if a.mode == "singleshot":
        ok = launch_rocket_to_queue(lp, fworker, qadapter, launcher_dir=str(launch_dir),
                                    reserve=False, strm_lvl=a.loglvl, create_launcher_dir=True)
        return 0 if ok else 3
    rapidfire(lp, fworker, qadapter, launch_dir=str(launch_dir), nlaunches=a.nlaunches,
              njobs_queue=a.njobs_queue, sleep_time=a.sleep, reserve=False, strm_lvl=a.loglvl)
    return 0


def _cmd_configure(a) -> int:
    paths = write_worker_configs(a.out, a.db_config or os.environ.get("SSIC_DB_CONFIG", ""))
    for k, v in paths.items():
        print(f"{k}: {v}")
    return 0


def _cmd_lost(a) -> int:
    _, lp = _open(a.db_config)
    res = detect_lost(lp, a.expiration_secs, rerun=not a.no_rerun, campaign_id=a.campaign)
    for lid in res.launch_ids:
        print(f"launch {lid}: {res.reasons.get(lid, 'lost')}")
    print(f"lost fireworks: {res.fw_ids}; rerun: {res.rerun_fw_ids}")
    return 0


def _cmd_rerun(a) -> int:
    _, lp = _open(a.db_config)
    ids = rerun_failed(lp, a.campaign_id)
    print(f"rerun {len(ids)} firework(s): {ids}")
    return 0


def _cmd_launchpad_file(a) -> int:
    from ssic_flows.store.config import load_store_config, ssic_home

    cfg = load_store_config(a.db_config)
    print(write_launchpad_file(cfg, a.out or ssic_home() / "my_launchpad.yaml"))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m ssic_flows.cluster`` entry point."""
    ap = argparse.ArgumentParser(prog="python -m ssic_flows.cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--db-config", default=None,
                    help="server-mode db config YAML (default: $SSIC_DB_CONFIG)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def launcher(p, queue: bool):
        g = p.add_mutually_exclusive_group()
        g.add_argument("-w", "--fworker", help="FWorker YAML (db_config/my_fworker_*.yaml)")
        g.add_argument("-r", "--resource", default="cpu", choices=RESOURCE_CLASSES,
                       help="resource class when no FWorker file is given")
        p.add_argument("--loglvl", default="INFO")
        p.add_argument("mode", choices=("singleshot", "rapidfire"))
        p.add_argument("--nlaunches", type=int, default=0, help="0 = until no job is READY")
        p.add_argument("--sleep", type=int, default=None)
        if queue:
            p.add_argument("-q", "--qadapter", required=True, help="qadapter YAML")
            p.add_argument("--launch-dir", default=".")
            p.add_argument("--njobs-queue", type=int, default=0)
        else:
            p.add_argument("--fw-id", type=int, default=None)
            p.add_argument("--max-loops", type=int, default=-1)

    launcher(sub.add_parser("rlaunch", help="run jobs in this process (SLURM job body)"), False)
    launcher(sub.add_parser("qlaunch", help="submit SLURM jobs that run rlaunch"), True)
    p = sub.add_parser("configure", help="render worker configs for this machine")
    p.add_argument("--out", required=True)
    p = sub.add_parser("lost", help="detect lost runs and rerun them")
    p.add_argument("--expiration-secs", type=float, default=4 * 3600)
    p.add_argument("--no-rerun", action="store_true")
    p.add_argument("--campaign", default=None)
    p = sub.add_parser("rerun", help="rerun the FIZZLED jobs of a campaign")
    p.add_argument("campaign_id")
    p = sub.add_parser("launchpad-file", help="write my_launchpad.yaml for the lpad CLI")
    p.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    return {"rlaunch": _cmd_rlaunch, "qlaunch": _cmd_qlaunch, "configure": _cmd_configure,
            "lost": _cmd_lost, "rerun": _cmd_rerun,
            "launchpad-file": _cmd_launchpad_file}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
