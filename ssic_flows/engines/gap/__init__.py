"""GAP MLFF engine (quippy-ase): :mod:`.sets` (engine settings), :mod:`.fit` (training data and
``gap_fit``), :mod:`.potential` (evaluation, BEEF proxy), :mod:`.jobs` (MLMD and the on-the-fly
loop), :mod:`.engine` (:class:`~ssic_flows.engines.gap.engine.GAPEngine`)."""
