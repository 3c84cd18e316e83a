"""Linear ACE (atomic cluster expansion, python-ace) fitted by Bayesian linear regression.

Rooms: :mod:`.basis` (basis sized to the data, inner cutoffs), :mod:`.design` (design
rows), :mod:`.blr` (evidence-maximised Bayesian regression), :mod:`.fit` (the fit),
:mod:`.model` (the model, its files, BEEF), :mod:`.calculator` (ASE calculator),
:mod:`.sets` (settings), :mod:`.jobs` (MLMD and the on-the-fly loop), :mod:`.engine` (the
adapter). Licence of python-ace: ICAMS Academic Software License.
"""

from ssic_flows.engines.ace.engine import AceEngine

__all__ = ["AceEngine"]
