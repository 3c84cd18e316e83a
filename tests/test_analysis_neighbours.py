"""Pair-distance histograms of the constant-cell fast path against their definition."""

from __future__ import annotations

import numpy as np
import pytest

from ssic_flows.analysis.geometry import perpendicular_widths_A
from ssic_flows.analysis.neighbours import _method, pair_counts, single_image
from ssic_flows.analysis.rdf import partial_rdf
from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.analysis.vanhove import van_hove

BCC = np.array([[-1.0, 1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])  # body-centred vectors
IMAGES = np.array([(a, b, c) for a in range(-2, 3) for b in range(-2, 3) for c in range(-2, 3)])


def _definition(sa, sb, cell, r_max, dr, pairs):
    """Counts by the definition: every pair, every image n in {-2..2}^3, r < r_max."""
    nb = int(np.ceil(r_max / dr - 1e-9))
    out = np.zeros(nb, int)
    for a, b in zip(sa, sb):
        d = (b[None, :, None, :] - a[:, None, None, :] + IMAGES[None, None]) @ cell  # (na, nb, 27, 3)
        r = np.linalg.norm(d, axis=-1)
        keep = np.ones(r.shape[:2], bool)
        if pairs == "distinct":
            keep &= ~np.eye(len(a), dtype=bool)
        if pairs == "unique":
            keep &= np.triu(np.ones_like(keep), k=1)
        r = r[keep].ravel()
        out += np.bincount((r[r < r_max] / dr).astype(int), minlength=nb)[:nb]
    return out


def _coords(rng, nf, n):
    return rng.random((1, n, 3)) + np.cumsum(rng.normal(scale=0.03, size=(nf, n, 3)), axis=0)


@pytest.mark.parametrize("cell", [np.diag([7.0, 8.0, 9.0]),
                                  np.array([[7.0, 0.0, 0.0], [1.5, 8.0, 0.0], [-1.0, 2.0, 9.0]]),
                                  4.0 * BCC, 8.0 * BCC])
@pytest.mark.parametrize("pairs", ["cross", "distinct", "unique"])
def test_every_kernel_counts_equal_the_definition(cell, pairs):
    rng = np.random.default_rng(3)
    r_max = 0.5 * float(perpendicular_widths_A(cell).min())  # the largest single-image cutoff
    sa, sb = _coords(rng, 3, 12), _coords(rng, 3, 12)
    if pairs == "unique":
        sb = sa
    ref = _definition(sa, sb, cell, r_max, 0.1, pairs)
    for method in ("dense", "prefilter", "tree", "auto"):
        got = pair_counts(sa, sb, cell, r_max, 0.1, pairs=pairs, method=method)
        assert np.array_equal(got, ref), method
    assert ref.sum() > 0


def test_cutoff_above_half_width_is_refused():
    cell = np.eye(3) * 10.0
    assert single_image(cell, 5.0) and not single_image(cell, 5.01)
    assert not single_image(np.stack([cell, cell * 1.01]), 4.0)  # not one constant cell
    with pytest.raises(ValueError, match="half the smallest width"):
        pair_counts(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), cell, 5.5, 0.1)


def _supercell_trajectory(rng, nf=6):
    """A 2×2×2 supercell of a body-centred cell with 128 atoms (the k-d tree path)."""
    cell = 2 * 5.0 * BCC
    frac = _coords(rng, nf, 128)
    species = ["Ag"] * 64 + ["I"] * 64
    assert _method(perpendicular_widths_A(cell), cell, 3.0, 64, 64) != "dense"  # the tests use it
    return Trajectory(species, np.einsum("fnj,jk->fnk", frac, cell), cell, 1.0), cell


def test_gr_of_a_large_triclinic_cell_equals_the_definition():
    rng = np.random.default_rng(5)
    tr, cell = _supercell_trajectory(rng)
    r_max, dr = 3.0, 0.05
    r = partial_rdf(tr, r_max_A=r_max, dr_A=dr)
    frac = tr.positions @ np.linalg.inv(cell)
    ag, i = frac[:, :64], frac[:, 64:]
    edges = np.arange(int(np.ceil(r_max / dr - 1e-9)) + 1) * dr
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    vol = abs(np.linalg.det(cell))
    for key, (a, b, pairs, norm) in {"Ag-I": (ag, i, "cross", 64 * 64),
                                     "I-I": (i, i, "unique", 64 * 63 / 2)}.items():
        want = _definition(a, b, cell, r_max, dr, pairs) * vol / (norm * shell * tr.n_frames)
        assert want.sum() > 0 and np.allclose(r.g[key], want, rtol=1e-12, atol=0), key


def test_vanhove_gd_of_a_large_triclinic_cell_equals_the_definition():
    rng = np.random.default_rng(7)
    tr, cell = _supercell_trajectory(rng)
    r_max, dr, lags = 3.0, 0.1, [0, 2]
    vh = van_hove(tr, "Ag", lags_fs=lags, r_max_A=r_max, dr_A=dr, n_origins=10**6)
    frac = tr.positions[:, :64] @ np.linalg.inv(cell)
    edges = np.arange(int(np.ceil(r_max / dr - 1e-9)) + 1) * dr
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    for li, lag in enumerate(lags):
        c = _definition(frac[:tr.n_frames - lag], frac[lag:], cell, r_max, dr, "distinct")
        want = c * abs(np.linalg.det(cell)) / (64 * 63 * (tr.n_frames - lag) * shell)
        assert want.sum() > 0 and np.allclose(vh.Gd[li], want, rtol=1e-12, atol=0)
