"""VASP reference engine (atomate2): :mod:`.sets` (INCAR/KPOINTS, set generators),
:mod:`.parsing` (vasprun → Trajectory), :mod:`.jobs` (MD/static jobs and Makers),
:mod:`.engine` (:class:`~ssic_flows.engines.vasp.engine.VaspReference`)."""
