"""Which resource class (FireWorks category) each job runs on, by its ``metadata.role``.

>>> resource_class_for("mlmd"), resource_class_for("reference_md"), resource_class_for(None)
('gpu', 'cpu', 'cpu')
"""

from __future__ import annotations

import warnings
from typing import Mapping

__all__ = ["DEFAULT_ROLE_RESOURCE", "RESOURCE_CLASSES", "assign_categories", "flow_jobs",
           "resource_class_for"]

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


def flow_jobs(flow_or_job) -> list:
    """Every job of a (nested) jobflow ``Flow`` (``Flow.iterflow`` order), or ``[job]``.

    Independent branches of a campaign are unconnected by design, so jobflow's "not
    connected" ordering warning is silenced here (the order does not matter to callers).
    """
    from jobflow import Flow

    if not isinstance(flow_or_job, Flow):
        return [flow_or_job]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Some jobs are not connected")
        return [job for job, _ in flow_or_job.iterflow()]


def assign_categories(flow_or_job, mapping: Mapping[str, str] | None = None,
                      default: str = "cpu") -> dict[str, str]:
    """Set each job's FireWorks category from its ``metadata.role``; returns uuid → class.

    Uses ``job.update_config({"manager_config": {"_category": ...}})``, which jobflow copies
    into the firework spec, so only workers of that class
    (:func:`ssic_flows.cluster.workers.fworker_for`) pick it up.
    """
    out = {}
    for job in flow_jobs(flow_or_job):
        rc = resource_class_for((job.metadata or {}).get("role"), mapping, default)
        job.update_config({"manager_config": {"_category": rc}})
        out[job.uuid] = rc
    return out
