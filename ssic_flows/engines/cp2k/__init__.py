"""CP2K reference engine: :mod:`.sets` (settings, data files, input writing), :mod:`.run`
(executable, running), :mod:`.parsing` (output files → Trajectory), :mod:`.jobs` (MD and
single-point jobs and Makers), :mod:`.engine`
(:class:`~ssic_flows.engines.cp2k.engine.CP2KReference`)."""
