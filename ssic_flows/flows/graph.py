"""The jobs of a jobflow graph, through jobflow's own ``Flow.iterflow``.

>>> from jobflow import Flow, job
>>> @job
... def add(a, b):
...     return a + b
>>> a = add(1, 2); b = add(a.output, 3)
>>> [j.uuid for j in all_jobs(Flow([Flow([a]), b]))] == [a.uuid, b.uuid]
True
"""

from __future__ import annotations

import warnings

__all__ = ["all_jobs"]


def all_jobs(flow_or_job) -> list:
    """Every job of a (nested) ``Flow`` in ``Flow.iterflow`` (parents-first) order; ``[job]``
    for a single ``Job``.

    Independent branches of a campaign are unconnected by design, so jobflow's "not
    connected" ordering warning is silenced here.
    """
    from jobflow import Flow

    if not isinstance(flow_or_job, Flow):
        return [flow_or_job]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Some jobs are not connected")
        return [job for job, _ in flow_or_job.iterflow()]
