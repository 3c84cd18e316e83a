"""VASP on-the-fly MLFF engine: :mod:`.sets` (ML_* INCAR tags), :mod:`.files` (staging ML
files), :mod:`.parsing` (ML_LOGFILE, ML_AB), :mod:`.jobs` (training/MLMD jobs and Makers),
:mod:`.engine` (:class:`~ssic_flows.engines.vasp_mlff.engine.VaspMLFF`)."""
