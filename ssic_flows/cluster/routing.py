"""Which resource class (FireWorks category) each job runs on, by its ``metadata.role``.

>>> resource_class_for("mlmd"), resource_class_for("reference_md"), resource_class_for(None)
('gpu', 'cpu', 'cpu')
"""

from __future__ import annotations

from typing import Mapping

from ssic_flows.flows.graph import all_jobs

__all__ = ["DEFAULT_ROLE_RESOURCE", "RESOURCE_CLASSES", "ROLE_PRIORITY", "assign_categories",
           "assign_priorities", "resource_class_for"]

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


def resource_class_for(role: str | None, mapping: Mapping[str, str] | None = None,
                       default: str = "cpu") -> str:
    """The resource class of a job role (unknown or missing role → ``default``)."""
    table = {**DEFAULT_ROLE_RESOURCE, **(mapping or {})}
    rc = table.get(role or "", default)
    if rc not in RESOURCE_CLASSES:
        raise ValueError(f"resource class {rc!r} for role {role!r} is not one of "
                         f"{RESOURCE_CLASSES}; fix the role→resource mapping")
    return rc


def assign_categories(flow_or_job, mapping: Mapping[str, str] | None = None,
                      default: str = "cpu") -> dict[str, str]:
    """Set each job's FireWorks category from its ``metadata.role``; returns uuid → class.

    Uses ``job.update_config({"manager_config": {"_category": ...}})``, which jobflow copies
    into the firework spec, so only workers of that class
    (:func:`ssic_flows.cluster.workers.fworker_for`) pick it up.
    """
    out = {}
    for job in all_jobs(flow_or_job):
        rc = resource_class_for((job.metadata or {}).get("role"), mapping, default)
        job.update_config({"manager_config": {**(job.config.manager_config or {}), "_category": rc}})
        out[job.uuid] = rc
    return out


#: Job role → FireWorks ``spec._priority`` (larger first among READY fireworks). The
#: on-the-fly trainings are sequential chains that gate everything after them, so they go
#: first (their label and next-iteration jobs inherit the priority: jobflow passes the
#: manager config on to replacement jobs); then the long single jobs (reference MD,
#: transfer) before the many short MLMD runs, so no long job is left to start last.
ROLE_PRIORITY: dict[str, int] = {
    "build": 9, "train_mlff": 8, "label": 8, "retrain_hot": 7, "reference_md": 6, "transfer": 6,
    "mlmd": 5, "mlmd_hot": 5, "validate": 3, "analyze": 2,
}


def assign_priorities(flow_or_job, table: Mapping[str, int] | None = None) -> dict[str, int]:
    """Set each job's FireWorks ``_priority`` from its ``metadata.role`` (:data:`ROLE_PRIORITY`;
    unknown roles 1), keeping the rest of its manager config; returns uuid → priority."""
    prio = {**ROLE_PRIORITY, **(table or {})}
    out = {}
    for job in all_jobs(flow_or_job):
        p = int(prio.get((job.metadata or {}).get("role") or "", 1))
        job.update_config({"manager_config": {**(job.config.manager_config or {}), "_priority": p}})
        out[job.uuid] = p
    return out
