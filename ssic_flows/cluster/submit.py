"""Campaigns on a MongoDB LaunchPad: claimed (idempotent) submission, state, reruns.

* :func:`submit_campaign` – add a flow once per ``campaign_id`` (of racing submitters exactly
  one adds it), each job routed to a resource class (:mod:`ssic_flows.cluster.routing`);
* :func:`campaign_fireworks` / :func:`campaign_states` – where a campaign stands;
* :func:`rerun_failed` – rerun its FIZZLED fireworks (after fixing the input).

Fireworks are submitted with ``store=None``, so no store (and no URI) is ever serialized
into a spec; workers build the JobStore from their own db config
(:mod:`ssic_flows.cluster.launch`).

>>> from ssic_flows.cluster.launch import open_server                       # doctest: +SKIP
>>> cfg, lp = open_server("db_config/server.yaml")                            # doctest: +SKIP
>>> submit_campaign(lp, flow, "demo").added, campaign_states(lp, "demo")      # doctest: +SKIP
(True, {'READY': 3, 'WAITING': 9})
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ssic_flows.cluster.routing import assign_categories
from ssic_flows.flows.graph import all_jobs

__all__ = ["CLAIMS", "SubmitResult", "campaign_fireworks", "campaign_states", "rerun_failed",
           "submit_campaign"]


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
    exactly one adds it (atomic claim in the ``ssic_campaign_claims`` collection). Every job's
    metadata gets
    ``campaign_id`` (job documents are queried by it). With ``route_by_role`` each
    job gets the FireWorks category of its role
    (:func:`ssic_flows.cluster.routing.assign_categories`). The store is
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
    for job in all_jobs(flow):
        if (job.metadata or {}).get("campaign_id") not in (None, campaign_id):
            raise ValueError(f"job {job.name} carries campaign_id "
                             f"{job.metadata['campaign_id']!r}, not {campaign_id!r}")
    # so job documents are queryable by campaign
    flow.update_metadata({"campaign_id": campaign_id}, dynamic=False)
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
