"""Production path: campaigns on a MongoDB LaunchPad, run by SLURM workers.

One concern per module (the commands are ``ssic submit``, ``ssic rerun``, ``ssic status`` in
:mod:`ssic_flows.cli` and ``ssic cluster ...`` in :mod:`ssic_flows.cli_cluster`):

* :mod:`~ssic_flows.cluster.routing` – job role → resource class (``cpu``/``gpu`` FireWorks
  category);
* :mod:`~ssic_flows.cluster.submit` – claimed, idempotent submission; campaign states; reruns;
* :mod:`~ssic_flows.cluster.lost` – runs whose worker died (SLURM job or process gone, no
  heartbeat);
* :mod:`~ssic_flows.cluster.status` – where a campaign stands (counts, running, FIZZLED);
* :mod:`~ssic_flows.cluster.fw_config` – the FireWorks config directory + ``jobflow.yaml`` for
  FireWorks' own ``lpad``/``qlaunch``/``rlaunch`` (``ssic cluster init``);
* :mod:`~ssic_flows.cluster.workers` – worker configs rendered from the packaged templates;
* :mod:`~ssic_flows.cluster.launch` – the secret-free worker entry points (``rlaunch``/``qlaunch``).
"""
