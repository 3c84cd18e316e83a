"""Embedded reference engine (CHGNet standing in for DFT): :mod:`.calculator` (the model as
an ASE calculator, single points), :mod:`.jobs` (MD/static jobs and Makers), :mod:`.engine`
(:class:`~ssic_flows.engines.embedded.engine.EmbeddedReference`)."""
