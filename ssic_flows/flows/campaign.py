"""A campaign: a Flow of StudyMaker flows, plus its dry-run description.

>>> from ssic_flows.flows.spec import load_campaign
>>> spec = load_campaign("workflows/demo.yaml")               # doctest: +SKIP
>>> flow = build_campaign(spec)                               # doctest: +SKIP
>>> graph = describe_graph(flow)["jobs"]                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from jobflow import Flow

from ssic_flows.flows.spec import CampaignSpec
from ssic_flows.flows.study import StudyMaker

__all__ = ["build_campaign", "describe_graph"]


def _find(flow: Flow, name: str):
    for j in flow.jobs:
        if j.name == name:
            return j
    raise KeyError(name)


def build_campaign(spec: CampaignSpec) -> Flow:
    """One Flow holding every study's Flow; ``train_from`` links studies' training."""
    flows: dict[str, Flow] = {}
    for s in spec.studies:
        maker = StudyMaker(
            study=s, campaign_id=spec.campaign_id, reference_engine=spec.reference_engine,
            reference_settings=dict(spec.reference_settings), mlff_engine=spec.mlff_engine,
            mlff_settings=dict(spec.mlff_settings))
        initial = None
        if s.train_from is not None:
            initial = _find(flows[s.train_from], f"{s.train_from}:train_mlff").output
        flows[s.study_name] = maker.make(initial_model=initial)
    campaign = Flow(list(flows.values()), name=f"campaign:{spec.campaign_id}",
                    output={k: f.output for k, f in flows.items()})
    campaign.update_metadata({"campaign_id": spec.campaign_id}, dynamic=True)
    return campaign


def describe_graph(flow: Flow) -> dict[str, Any]:
    """The graph as JSON-able data, without running anything.

    ``{"jobs": [{"name", "uuid", "material", "study", "role", "seed", "temperature_K",
    "n_atoms", "parents": [names]}]}`` in topological order.
    """
    order = list(flow.iterflow())
    names = {j.uuid: j.name for j, _ in order}
    out = []
    for job, parents in order:
        m = job.metadata or {}
        out.append({
            "name": job.name, "uuid": job.uuid, "material": m.get("material"),
            "study": m.get("study"), "role": m.get("role"), "seed": m.get("seed"),
            "temperature_K": m.get("temperature_K"), "n_atoms": m.get("n_atoms"),
            "parents": sorted(names[p] for p in parents if p in names),
        })
    return {"campaign_id": (flow.jobs[0].metadata or {}).get("campaign_id") if flow.jobs else None,
            "n_jobs": len(out), "jobs": out}
