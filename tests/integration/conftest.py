"""Fixtures for the production-path tests: nx-27017 wire server + local SLURM cluster.

The session fixture ``cluster`` starts both with the project's scripts
(``scripts/mongo_server.sh``, ``scripts/slurm_cluster.sh``). If a script says it cannot start
(no root, no SLURM packages, no PyPI for nx-27017) the tests are skipped with its message;
under CI (``CI`` set) they fail instead, so CI never passes them silently.

Every test gets its own database (``site`` fixture): a server-mode db config YAML with
``mongo_compat: nx27017``, rendered worker configs, and a launch directory. Workers inherit
``SSIC_MONGO_URI``, ``SSIC_HOME``, ``SLURM_CONF`` and ``PYTHONPATH`` from the environment
(``sbatch`` passes it on); the URI is never written to any file.

Timings are collected in ``TIMINGS`` and written to ``$SSIC_TIMINGS_FILE`` (default
``<repo>/.ssic_home/integration_timings.json``) at the end of the session.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cluster_helpers import SECRET, TIMINGS, squeue_ids  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _parse_exports(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"export (\w+)=(.*)$", line.strip())
        if m:
            out[m.group(1)] = shlex.split(m.group(2))[0] if m.group(2) else ""
    return out


def _unavailable(msg: str):
    if os.environ.get("CI"):
        pytest.fail(f"integration services must run in CI: {msg}")
    pytest.skip(msg)


@dataclass
class Services:
    root: Path
    mongo_env: dict[str, str]
    slurm_env: dict[str, str]
    script_env: dict[str, str]
    started_slurm: bool
    slurm_start_s: float = 0.0
    mongo_start_s: float = 0.0

    @property
    def uri(self) -> str:
        return self.mongo_env["SSIC_MONGO_URI"]

    def mongo(self, action: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(REPO / "scripts/mongo_server.sh"), action],
                              env=self.script_env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Services:
    root = tmp_path_factory.mktemp("cluster")
    script_env = dict(os.environ)
    script_env.update({"SSIC_MONGO_DIR": str(root / "mongo"),
                       "SSIC_MONGO_PORT": str(_free_port())})
    t0 = time.perf_counter()
    r = subprocess.run(["bash", str(REPO / "scripts/mongo_server.sh"), "start"], env=script_env,
                       capture_output=True, text=True, timeout=600)
    mongo_s = time.perf_counter() - t0
    if r.returncode != 0:
        _unavailable(f"scripts/mongo_server.sh start failed: {r.stderr.strip()[-500:]}")
    mongo_env = _parse_exports(r.stdout)
    already = subprocess.run(["bash", str(REPO / "scripts/slurm_cluster.sh"), "status"],
                             capture_output=True, text=True, timeout=60).returncode == 0
    t0 = time.perf_counter()
    r = subprocess.run(["bash", str(REPO / "scripts/slurm_cluster.sh"), "start"],
                       capture_output=True, text=True, timeout=600)
    slurm_s = time.perf_counter() - t0
    if r.returncode != 0:
        subprocess.run(["bash", str(REPO / "scripts/mongo_server.sh"), "stop"], env=script_env,
                       capture_output=True, timeout=60)
        _unavailable(f"scripts/slurm_cluster.sh start failed: {r.stderr.strip()[-500:]}")
    slurm_env = _parse_exports(r.stdout)
    home = root / "ssic_home"
    home.mkdir()
    saved = {k: os.environ.get(k) for k in ("SSIC_MONGO_URI", "SLURM_CONF", "SSIC_HOME",
                                            "PYTHONPATH", "SSIC_DB_CONFIG")}
    os.environ["SSIC_MONGO_URI"] = mongo_env["SSIC_MONGO_URI"]
    os.environ["SLURM_CONF"] = slurm_env["SLURM_CONF"]
    os.environ["SSIC_HOME"] = str(home)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS), str(REPO)] + ([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else []))
    os.environ.pop("SSIC_DB_CONFIG", None)
    svc = Services(root, mongo_env, slurm_env, script_env, not already, slurm_s, mongo_s)
    TIMINGS["mongo_server_start_s"] = round(mongo_s, 2)
    TIMINGS["slurm_cluster_start_s"] = round(slurm_s, 2)
    TIMINGS["slurm_was_already_up"] = float(already)
    try:
        yield svc
    finally:
        svc.mongo("stop")
        if svc.started_slurm and not os.environ.get("SSIC_KEEP_SLURM"):
            subprocess.run(["bash", str(REPO / "scripts/slurm_cluster.sh"), "stop"],
                           capture_output=True, timeout=120)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        out = Path(os.environ.get("SSIC_TIMINGS_FILE",
                                  REPO / ".ssic_home" / "integration_timings.json"))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(TIMINGS, indent=1, sort_keys=True))


@dataclass
class Site:
    """One test's database, configs, launch dir and helpers."""

    name: str
    dir: Path
    db_config: Path
    cfg: object
    lp: object
    workers: dict[str, Path]
    launch_dir: Path
    svc: Services
    procs: list = field(default_factory=list)

    def cluster_cmd(self, command: str, *args: str) -> list[str]:
        """``ssic cluster COMMAND --db-config <this site's db config> ARGS...`` as argv."""
        return [sys.executable, "-m", "ssic_flows", "cluster", command,
                "--db-config", str(self.db_config), *args]

    def qlaunch(self, rc: str = "cpu", mode: str = "singleshot", *extra: str,
                qadapter: Path | None = None) -> subprocess.CompletedProcess:
        """Submit SLURM job(s) through the project's qlaunch (as a user would)."""
        r = subprocess.run(
            self.cluster_cmd("qlaunch", "-q", str(qadapter or self.workers[f"qadapter_{rc}"]),
                             "-w", str(self.workers[f"fworker_{rc}"]), "--launch-dir",
                             str(self.launch_dir), "--loglvl", "ERROR", mode, *extra),
            capture_output=True, text=True, timeout=120, cwd=self.dir)
        assert r.returncode == 0, f"qlaunch failed:\n{r.stdout}\n{r.stderr}"
        return r

    def fw_states(self, campaign_id: str) -> dict[str, str]:
        from ssic_flows.cluster.submit import campaign_fireworks

        return {f["name"]: f["state"] for f in campaign_fireworks(self.lp, campaign_id)}

    def wait(self, pred, timeout: float, what: str, poll: float = 0.5,
             slurm_grace: float | None = 15.0):
        """Poll ``pred`` until truthy; fail after ``timeout`` s, or after ``slurm_grace`` s
        with nothing in the SLURM queue (no worker left that could make it true)."""
        t0 = time.perf_counter()
        idle_since = None
        while True:
            val = pred()
            if val:
                return val
            if slurm_grace is not None:
                if squeue_ids():
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.perf_counter()
                elif time.perf_counter() - idle_since > slurm_grace:
                    raise AssertionError(f"SLURM queue empty for {slurm_grace:.0f} s while "
                                         f"waiting for {what}; logs: {self.tail_logs()}")
            if time.perf_counter() - t0 > timeout:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                                     f"slurm: {squeue_ids()}; logs: {self.tail_logs()}")
            time.sleep(poll)

    def wait_done(self, campaign_id: str, timeout: float = 120) -> dict[str, str]:
        def done():
            st = self.fw_states(campaign_id)
            return st if all(s in ("COMPLETED", "FIZZLED") for s in st.values()) else None
        return self.wait(done, timeout, f"campaign {campaign_id} to finish")

    def tail_logs(self, n: int = 3000) -> str:
        out = []
        for p in sorted(self.launch_dir.rglob("*.error")):
            txt = p.read_text(errors="replace").strip()
            if txt:
                out.append(f"--- {p.name}\n{txt[-n:]}")
        return "\n".join(out[-3:])

    def job_docs(self, **crit) -> list[dict]:
        from pymongo import MongoClient

        c = MongoClient(self.svc.uri, serverSelectionTimeoutMS=5000)
        try:
            return list(c[self.cfg.database]["outputs"].find(crit))
        finally:
            c.close()


@pytest.fixture
def site(cluster, tmp_path, request) -> Site:
    from ssic_flows.cluster.workers import write_worker_configs
    from ssic_flows.store.config import load_store_config
    from ssic_flows.store.launchpad import get_launchpad

    name = re.sub(r"\W", "_", request.node.name)[:40] + "_" + uuid.uuid4().hex[:6]
    d = tmp_path / "site"
    d.mkdir()
    dbc = d / "db.yaml"
    dbc.write_text(f"mode: server\nuri_env: SSIC_MONGO_URI\ndatabase: it_{name}\n"
                   "mongo_compat: nx27017\nserver_timeout_ms: 3000\n")
    cfg = load_store_config(dbc)
    lp = get_launchpad(cfg)
    workers = write_worker_configs(
        d / "workers", dbc, qadapter_overrides={"walltime": "00:05:00", "queue": "debug"},
        rlaunch_mode="rapidfire --sleep 1")
    ld = d / "launches"
    ld.mkdir()
    s = Site(name, d, dbc, cfg, lp, workers, ld, cluster)
    yield s
    for p in s.procs:
        if p.poll() is None:
            p.kill()
