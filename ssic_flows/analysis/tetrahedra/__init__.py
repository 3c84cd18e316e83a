"""Tetrahedral units of the host lattice: θ angles (eq. 4), ω (eq. 5), ρ(θ), ρ(ω), by concern.

* :mod:`.detect` — :func:`~.detect.find_tetrahedra` (polyanions AX4, interstitial X4 of a
  bcc ligand lattice) and the :class:`~.detect.TetrahedraIndex` it returns;
* :mod:`.bcc` — the ideal bcc lattice fitted to hot ligand positions and its tetrahedra;
* :mod:`.angles` — θ(t) of every face angle, :func:`~.angles.tetrahedral_angles`;
* :mod:`.omega` — θ filtering, ω(t) and the densities ρ(θ), ρ(ω);
* :mod:`.report` — the ``tetrahedra`` section of an analysis document, driven by a
  :class:`~.report.HostLattice` that the caller (the materials room) passes in.

The generic zero-phase low-pass filter lives in :mod:`ssic_flows.analysis.filters`.
"""
