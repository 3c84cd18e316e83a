"""Where a campaign stands: counts per study and role, what runs where, what failed and why.

Pure functions over a LaunchPad's ``fireworks``, ``launches`` and ``workflows`` collections
(a server ``LaunchPad``, or the read-only copy of an embedded one,
:func:`ssic_flows.store.launchpad.embedded_snapshot`); ``ssic status`` only composes them.

* :func:`campaign_status` – a :class:`CampaignStatus`: state counts per (study, role); the
  RUNNING/RESERVED jobs with host, SLURM job id and last heartbeat (from the launches); the
  FIZZLED jobs with their one-line error;
* :func:`rerun_hint` – the command that reruns the FIZZLED ones (after fixing the cause);
* :func:`format_status` – the lines ``ssic status`` prints.

>>> st = campaign_status(lp, "ci")                                  # doctest: +SKIP
>>> st.totals(), st.fizzled[0].error                                # doctest: +SKIP
({'COMPLETED': 14, 'FIZZLED': 1, 'WAITING': 1}, 'ValueError: value must be >= 0, got -4.0')
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["CampaignStatus", "FailedJob", "RunningJob", "STATE_ORDER", "campaign_ids",
           "campaign_status", "format_status", "is_settled", "launch_slurm_job_id", "rerun_hint"]

#: Column order of the state counts (FireWorks states).
STATE_ORDER = ("COMPLETED", "RUNNING", "RESERVED", "READY", "WAITING", "FIZZLED", "PAUSED",
               "DEFUSED", "ARCHIVED")


@dataclass
class RunningJob:
    """A RUNNING (or RESERVED: queued in SLURM by ``qlaunch -r``) firework and its launch."""

    fw_id: int
    name: str
    study: str
    role: str
    state: str
    host: str | None = None
    slurm_job_id: str | None = None
    heartbeat: dt.datetime | None = None  # last FireWorks ping of the launch (UTC)


@dataclass
class FailedJob:
    """A FIZZLED firework and the last line of its error."""

    fw_id: int
    name: str
    study: str
    role: str
    error: str


@dataclass
class CampaignStatus:
    """What :func:`campaign_status` found for one campaign."""

    campaign_id: str
    counts: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    running: list[RunningJob] = field(default_factory=list)
    fizzled: list[FailedJob] = field(default_factory=list)
    source: str | None = None  # the campaign file it was submitted from

    def totals(self) -> dict[str, int]:
        """Firework counts by state over the whole campaign."""
        out: Counter = Counter()
        for c in self.counts.values():
            out.update(c)
        return {s: out[s] for s in STATE_ORDER if out[s]} | {s: n for s, n in out.items()
                                                             if s not in STATE_ORDER}


def campaign_ids(lp) -> list[str]:
    """Every campaign id on the LaunchPad (workflows tagged ``metadata.campaign_id``)."""
    ids = {((w.get("metadata") or {}).get("campaign_id"))
           for w in lp.workflows.find({}, {"metadata": 1})}
    return sorted(i for i in ids if i)


def _job_meta(fw: dict) -> dict:
    # nx-27017 returns a dotted projection flat; a real MongoDB nests it
    tasks = (fw.get("spec") or {}).get("_tasks", fw.get("spec._tasks")) or []
    for task in tasks:
        job = task.get("job") if isinstance(task, dict) else None
        if isinstance(job, dict):
            return job.get("metadata") or {}
    return {}


def _when(value) -> dt.datetime | None:
    """A FireWorks time stamp (ISO string or datetime) as an aware UTC datetime."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def launch_slurm_job_id(launch: dict) -> str | None:
    """SLURM job id of a launch: the ssic worker's env, or ``qlaunch -r``'s reservation id."""
    env = ((launch.get("fworker") or {}).get("env") or {})
    if env.get("ssic_slurm_job_id"):
        return str(env["ssic_slurm_job_id"])
    for h in launch.get("state_history") or []:
        if h.get("reservation_id"):
            return str(h["reservation_id"])
    return None


def _heartbeat(launch: dict) -> dt.datetime | None:
    for h in reversed(launch.get("state_history") or []):
        if h.get("state") == "RUNNING":
            return _when(h.get("updated_on") or h.get("created_on"))
    return None


def _error_line(launch: dict | None) -> str:
    """The last line of the launch's stored traceback (the exception and its message)."""
    exc = (((launch or {}).get("action") or {}).get("stored_data") or {}).get("_exception") or {}
    trace = str(exc.get("_stacktrace") or "").strip()
    if trace:
        line = trace.splitlines()[-1].strip()
        return line if len(line) <= 240 else line[:237] + "..."
    return "no error recorded (a lost run marked FIZZLED, or see the launch directory)"


def campaign_status(lp, campaign_id: str) -> CampaignStatus:
    """The :class:`CampaignStatus` of ``campaign_id``; ``KeyError`` if it is not on ``lp``."""
    wf = lp.workflows.find_one({"metadata.campaign_id": campaign_id})
    if wf is None:
        raise KeyError(f"campaign {campaign_id!r} is not in this store; submit (or run) it "
                       "first, or check --db-config")
    st = CampaignStatus(campaign_id, source=(wf.get("metadata") or {}).get("source"))
    fws = sorted(lp.fireworks.find({"fw_id": {"$in": list(wf["nodes"])}},
                                   {"fw_id": 1, "name": 1, "state": 1, "spec._tasks": 1,
                                    "launches": 1}), key=lambda d: d["fw_id"])
    last = {f["fw_id"]: f["launches"][-1] for f in fws
            if f.get("launches") and f["state"] in ("RUNNING", "RESERVED", "FIZZLED")}
    launches = {d["launch_id"]: d for d in lp.launches.find({"launch_id": {"$in": list(last.values())}})}
    counts: dict[tuple[str, str], Counter] = {}
    for f in fws:
        meta = _job_meta(f)
        study, role = str(meta.get("study") or "-"), str(meta.get("role") or "other")
        counts.setdefault((study, role), Counter())[f["state"]] += 1
        launch = launches.get(last.get(f["fw_id"], -1))
        if f["state"] in ("RUNNING", "RESERVED"):
            st.running.append(RunningJob(f["fw_id"], f.get("name") or "", study, role, f["state"],
                                         (launch or {}).get("host"),
                                         launch_slurm_job_id(launch or {}), _heartbeat(launch or {})))
        elif f["state"] == "FIZZLED":
            st.fizzled.append(FailedJob(f["fw_id"], f.get("name") or "", study, role,
                                        _error_line(launch)))
    st.counts = {k: dict(v) for k, v in sorted(counts.items())}
    return st


def is_settled(st: CampaignStatus) -> bool:
    """Nothing is READY, RESERVED or RUNNING: the campaign will not move by itself."""
    return not any(st.totals().get(s) for s in ("READY", "RESERVED", "RUNNING"))


def rerun_hint(st: CampaignStatus, *, embedded: bool = False, db_option: str = "") -> str | None:
    """The command that reruns the FIZZLED jobs (after fixing the cause); ``None`` if none."""
    if not st.fizzled:
        return None
    if embedded:
        return f"fix the cause, then run `ssic run {st.source or 'CAMPAIGN_FILE'}` again"
    ids = " ".join(str(f.fw_id) for f in st.fizzled)
    return (f"fix the cause, then `lpad rerun_fws -i {ids}` (or `ssic rerun --campaign "
            f"{st.campaign_id}{db_option}`) and qlaunch again")


def _age(t: dt.datetime | None, now: dt.datetime) -> str:
    if t is None:
        return "no heartbeat yet"
    s = max(0.0, (now - t).total_seconds())
    ago = f"{s:.0f} s" if s < 120 else (f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h")
    return f"last heartbeat {ago} ago ({t:%Y-%m-%d %H:%M:%S} UTC)"


def format_status(st: CampaignStatus, *, embedded: bool = False, db_option: str = "",
                  now: dt.datetime | None = None) -> list[str]:
    """The lines of ``ssic status`` for one campaign (plain text, no colour)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    tot = st.totals()
    lines = [f"campaign {st.campaign_id}: {sum(tot.values())} jobs: "
             + ", ".join(f"{s} {n}" for s, n in tot.items())]
    states = [s for s in tot]
    w_study = max([5] + [len(k[0]) for k in st.counts])
    w_role = max([4] + [len(k[1]) for k in st.counts])
    lines.append(f"  {'study':<{w_study}}  {'role':<{w_role}}  "
                 + "  ".join(f"{s:>9}" for s in states))
    for (study, role), c in st.counts.items():
        lines.append(f"  {study:<{w_study}}  {role:<{w_role}}  "
                     + "  ".join(f"{c.get(s, 0):>9}" for s in states))
    for r in st.running:
        where = (f"on {r.host}" if r.host else "queued") + (
            f", SLURM job {r.slurm_job_id}" if r.slurm_job_id else "")
        beat = _age(r.heartbeat, now) if r.state == "RUNNING" else "reserved, not started"
        lines.append(f"  {r.state} fw {r.fw_id} {r.name} ({r.role}) {where}; {beat}")
    for f in st.fizzled:
        lines.append(f"  FIZZLED fw {f.fw_id} {f.name} ({f.role}): {f.error}")
    hint = rerun_hint(st, embedded=embedded, db_option=db_option)
    if hint:
        lines.append(f"  rerun: {hint}")
    return lines
