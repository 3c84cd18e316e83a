"""Histograms of pair distances below a cutoff in a constant periodic cell (the fast path).

Used by g(r) (:mod:`ssic_flows.analysis.rdf`) and the distinct van Hove function
(:mod:`ssic_flows.analysis.vanhove`) whenever the cell is constant and the cutoff
``r_max_A`` is at most half the smallest perpendicular width ``w`` of the cell (the usual
case; :func:`single_image`). Then the per-component wrapped fractional difference
``d - rint(d)`` is the only image of a pair that can lie within ``r_max_A``: every other
lattice translate has some ``|d_k + n_k| ≥ 1/2`` and so lies at least ``w_k / 2`` away.

Distances, Å: ``r² = Σ_k (d_k L_k)²`` for an orthorhombic cell with lengths ``L``, else
``r² = dᵀ G d`` with the metric ``G = H Hᵀ`` of the cell ``H`` (lattice vectors as rows).
A pair goes into bin ``floor(r / dr_A)`` when ``r² < r_max_A²``.

Three kernels, one result (each evaluates the same float64 formula on a superset of the
pairs within the cutoff, so the counts are identical; the cheapest is chosen by
:func:`_method`):

* *dense*: all pairs of a block of frames, component-major (contiguous (c, a, b) arrays per
  Cartesian component), in blocks of about :data:`BLOCK_PAIRS` pairs that stay in cache;
* *prefilter*: the dense kernel in float32 on coordinates wrapped into [0, 1) picks the
  pairs below the cutoff plus a margin that bounds the float32 error
  (:func:`_prefilter_threshold`); those are evaluated exactly. Pays when the cutoff sphere
  is a small part of the cell (e.g. 5 % for a 2×2×2 supercell at half the cell's width);
* *tree*: candidates from a periodic k-d tree (:class:`scipy.spatial.cKDTree`) in the
  scaled fractional space ``y_k = s_k w_k`` (an orthorhombic box of sides ``w``) under the
  Chebyshev metric. A pair within ``r_max_A`` has ``|d_k| w_k ≤ r`` for every k (``d_k`` is
  the projection of the Cartesian difference on the reciprocal vector, of length 1/w_k), so
  the candidates are a superset; the exact distance then decides. It pays when the
  cutoff cube is a small part of the box (e.g. 1/8 for a 2×2×2 supercell).

Pair sets (``pairs``): ``"cross"`` every (a, b); ``"distinct"`` a_i with b_j for i ≠ j (the
same atoms, e.g. at two times); ``"unique"`` i < j within ``sa`` (``sb`` is ``sa``).

Example
-------
>>> import numpy as np
>>> cell = np.eye(3) * 10.0
>>> s = np.array([[[0.0, 0.0, 0.0], [0.95, 0.0, 0.0], [0.0, 0.3, 0.0]]])  # (1 frame, 3, 3)
>>> pair_counts(s, s, cell, r_max_A=5.0, dr_A=0.5, pairs="unique").nonzero()[0].tolist()
[1, 6]
"""

from __future__ import annotations

import numpy as np

from ssic_flows.analysis.geometry import perpendicular_widths_A

__all__ = ["BLOCK_PAIRS", "pair_counts", "single_image"]

#: Pairs per block of the dense kernel (arrays of 2 MiB: they stay in the cache).
BLOCK_PAIRS: int = 2**18
_PAIRS = ("cross", "distinct", "unique")


def single_image(cells: np.ndarray, r_max_A: float) -> bool:
    """True when ``cells`` are one constant cell and ``r_max_A`` ≤ half its smallest width.

    >>> single_image(np.eye(3) * 10.0, 5.0), single_image(np.eye(3) * 10.0, 5.1)
    (True, False)
    """
    cells = np.reshape(np.asarray(cells, float), (-1, 3, 3))
    return bool(np.allclose(cells, cells[0])
                and r_max_A <= 0.5 * float(perpendicular_widths_A(cells[0]).min()))


class _Metric:
    """Squared distances, Å², of wrapped fractional differences given per component
    (in the precision ``dtype`` of the coefficients: float64, or float32 for the prefilter)."""

    def __init__(self, cell: np.ndarray, dtype: type = np.float64):
        self.cell = np.asarray(cell, float)
        self.orthorhombic = bool(np.allclose(self.cell, np.diag(np.diag(self.cell))))
        g = self.cell @ self.cell.T
        self.lengths = np.diag(self.cell).astype(dtype)
        self.g = g.astype(dtype)
        self.g2 = (2.0 * g).astype(dtype)  # off-diagonal terms of dᵀ G d, counted twice

    def r2(self, d0: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
        """r² of the wrapped differences (d0, d1, d2); overwrites them (scratch)."""
        if self.orthorhombic:
            d0 *= self.lengths[0]
            d0 *= d0
            for k, dk in ((1, d1), (2, d2)):
                dk *= self.lengths[k]
                dk *= dk
                d0 += dk
            return d0
        g, g2 = self.g, self.g2
        t = d1 * g2[0, 1]  # r² = d0 (G00 d0 + 2G01 d1 + 2G02 d2) + d1 (G11 d1 + 2G12 d2) + G22 d2²
        r2 = d0 * g[0, 0]
        r2 += t
        np.multiply(d2, g2[0, 2], out=t)
        r2 += t
        r2 *= d0
        np.multiply(d1, g[1, 1], out=t)
        np.multiply(d2, g2[1, 2], out=d0)
        t += d0
        t *= d1
        r2 += t
        d2 *= d2
        d2 *= g[2, 2]
        r2 += d2
        return r2


def _wrap(d: np.ndarray) -> np.ndarray:
    d -= np.rint(d)
    return d


def _bins(r2: np.ndarray, r_max_A: float, dr_A: float, nbins: int) -> np.ndarray:
    """floor(r / dr) of each r² (scratch), ``nbins`` where r² ≥ r_max²."""
    outside = r2 >= r_max_A * r_max_A
    np.sqrt(r2, out=r2)
    r2 *= 1.0 / dr_A
    b = r2.astype(np.intp)
    np.putmask(b, outside, nbins)
    return b


def _count(b: np.ndarray, nbins: int) -> np.ndarray:
    return np.bincount(b.ravel(), minlength=nbins + 1)[:nbins]


def _components(sa: np.ndarray, sb: np.ndarray, pairs: str):
    """(C, na, nb, fa, fb): fractional coordinates as contiguous per-component blocks
    (3, C, n); fb is fa for ``pairs="unique"``."""
    nc, na = sa.shape[:2]
    fa = np.ascontiguousarray(sa.transpose(2, 0, 1))
    fb = fa if pairs == "unique" else np.ascontiguousarray(sb.transpose(2, 0, 1))
    return nc, na, sb.shape[1], fa, fb


def _blocks(nc: int, na: int, nb: int, rows: int):
    """(c0, c1, a0, a1): blocks of frames × row atoms of about BLOCK_PAIRS pairs each, for
    ``rows`` row atoms per block against ``nb`` column atoms."""
    frames = max(1, BLOCK_PAIRS // max(rows * nb, 1))
    for c0 in range(0, nc, frames):
        for a0 in range(0, na, rows):
            yield c0, min(nc, c0 + frames), a0, min(na, a0 + rows)


def _dense(sa: np.ndarray, sb: np.ndarray, metric: _Metric, r_max_A: float, dr_A: float,
           nbins: int, pairs: str) -> np.ndarray:
    """Counts over every pair of each frame (then corrected for the pair set)."""
    nc, na, nb, fa, fb = _components(sa, sb, pairs)
    rows = max(1, min(na, BLOCK_PAIRS // max(nb, 1)))
    counts = np.zeros(nbins, np.int64)
    for c0, c1, a0, a1 in _blocks(nc, na, nb, rows):
        d = [_wrap(fb[k, c0:c1, None, :] - fa[k, c0:c1, a0:a1, None]) for k in range(3)]
        b = _bins(metric.r2(*d), r_max_A, dr_A, nbins)  # (c, a, b)
        counts += _count(b, nbins)
        if pairs != "cross":  # the i = j entries of this block
            i = np.arange(a1 - a0)
            counts -= _count(b[:, i, a0 + i], nbins)
    if pairs == "unique":  # every i ≠ j pair was counted in both orders, at one distance
        counts //= 2
    return counts


def _prefilter_threshold(metric: _Metric, r_max_A: float) -> float:
    """r² below which the float32 r² of a pair must lie if its exact r < r_max, Å².

    Wrapped coordinates in [0, 1) carry ≤ 3u error per difference (u = 2⁻²⁴); r² = dᵀGd
    with |d_k| ≤ ½ then errs by ≲ 6u Σ|G_kl|; the margin is four times 16u Σ|G_kl| (and
    at least 10⁻⁴ r_max²), so no pair within r_max is lost.
    """
    bound = 16.0 * 2.0 ** -24 * float(np.abs(metric.cell @ metric.cell.T).sum())
    return r_max_A * r_max_A + max(1e-4 * r_max_A * r_max_A, 4.0 * bound)


def _prefiltered(sa: np.ndarray, sb: np.ndarray, metric: _Metric, r_max_A: float, dr_A: float,
                 nbins: int, pairs: str) -> np.ndarray:
    """Counts over the pairs whose float32 r² passes :func:`_prefilter_threshold`, each
    then evaluated exactly (float64, the dense kernel's formula)."""
    nc, na, nb, fa, fb = _components(sa, sb, pairs)  # float64, as given
    ga = (fa - np.floor(fa)).astype(np.float32)  # wrapped into [0, 1]: small rounding errors
    gb = ga if pairs == "unique" else (fb - np.floor(fb)).astype(np.float32)
    m32 = _Metric(metric.cell, np.float32)
    thr = np.float32(_prefilter_threshold(metric, r_max_A))
    rows = max(1, min(na, BLOCK_PAIRS // max(nb, 1)))
    if pairs == "unique":  # row blocks see only the columns j ≥ their first row: ~half the work
        rows = max(1, min(rows, -(-na // 8)))
    counts = np.zeros(nbins, np.int64)
    for c0, c1, a0, a1 in _blocks(nc, na, nb, rows):
        j0 = a0 if pairs == "unique" else 0
        d = [_wrap(gb[k, c0:c1, None, j0:] - ga[k, c0:c1, a0:a1, None]) for k in range(3)]
        flat = np.flatnonzero(m32.r2(*d) < thr)  # into (c1 - c0, a1 - a0, nb - j0)
        c, rest = np.divmod(flat, (a1 - a0) * (nb - j0))
        i, j = np.divmod(rest, nb - j0)
        i += a0
        j += j0
        c += c0
        if pairs == "distinct":
            keep = i != j
        elif pairs == "unique":
            keep = i < j
        else:
            keep = None
        if keep is not None:
            c, i, j = c[keep], i[keep], j[keep]
        ia, jb = c * na + i, c * nb + j
        dx = [_wrap(np.take(fb[k], jb) - np.take(fa[k], ia)) for k in range(3)]
        counts += _count(_bins(metric.r2(*dx), r_max_A, dr_A, nbins), nbins)
    return counts


def _tree_candidates(ya: np.ndarray, yb: np.ndarray, w: np.ndarray, r: float,
                     pairs: str) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial import cKDTree

    ta = cKDTree(ya, boxsize=w)
    if pairs == "unique":
        ij = ta.query_pairs(r, p=np.inf, output_type="ndarray")
        return ij[:, 0], ij[:, 1]
    sm = ta.sparse_distance_matrix(cKDTree(yb, boxsize=w), r, p=np.inf, output_type="ndarray")
    i, j = sm["i"], sm["j"]
    if pairs == "distinct":
        keep = i != j
        i, j = i[keep], j[keep]
    return i, j


def _scaled(s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Fractional coordinates wrapped into [0, 1) and scaled by the widths, (n, 3)."""
    y = s - np.floor(s)
    y[y >= 1.0] = 0.0  # -1e-17 wraps to 1.0 in floating point
    return y * w


def _tree(sa: np.ndarray, sb: np.ndarray, metric: _Metric, w: np.ndarray, r_max_A: float,
          dr_A: float, nbins: int, pairs: str) -> np.ndarray:
    """Counts over the k-d tree candidates of each frame."""
    counts = np.zeros(nbins, np.int64)
    r = r_max_A * (1.0 + 1e-9)  # a superset also under rounding; the exact test follows
    for c in range(sa.shape[0]):
        a = sa[c]
        b = a if pairs == "unique" else sb[c]
        i, j = _tree_candidates(_scaled(a, w), _scaled(b, w), w, r, pairs)
        if i.size == 0:
            continue
        d = [_wrap(b[j, k] - a[i, k]) for k in range(3)]
        counts += _count(_bins(metric.r2(*d), r_max_A, dr_A, nbins), nbins)
    return counts


def _method(w: np.ndarray, cell: np.ndarray, r_max_A: float, na: int, nb: int) -> str:
    """The cheapest kernel by a cost model measured on one core (ns): ~25 per dense pair;
    prefilter ~9 per pair plus ~30 per pair within the cutoff sphere; tree ~110 per
    candidate in the cutoff cube plus ~250 per atom to build."""
    pairs = float(na) * nb
    cube = float(np.prod(np.minimum(1.0, 2.0 * r_max_A / w)))  # tree candidates / pairs
    sphere = min(1.0, 4.0 / 3.0 * np.pi * r_max_A ** 3 / abs(np.linalg.det(cell)))
    cost = {"dense": 25.0 * pairs, "prefilter": 9.0 * pairs + 30.0 * sphere * pairs,
            "tree": 110.0 * cube * pairs + 250.0 * (na + nb)}
    return min(cost, key=cost.get)


def pair_counts(sa: np.ndarray, sb: np.ndarray, cell: np.ndarray, r_max_A: float, dr_A: float,
                nbins: int | None = None, pairs: str = "cross", method: str = "auto") -> np.ndarray:
    """Histogram of pair distances below ``r_max_A``, summed over frames.

    Parameters
    ----------
    sa, sb : (C, na, 3) and (C, nb, 3) fractional coordinates (any range) of the two sets
        in C frames (pairs are formed within a frame: ``sa[c]`` with ``sb[c]``).
    cell : (3, 3) the constant cell, lattice vectors as rows, Å.
    r_max_A : cutoff, Å; at most half the smallest perpendicular width of ``cell``.
    dr_A : bin width, Å. nbins: number of bins (default ⌈r_max / dr⌉).
    pairs : "cross", "distinct" or "unique" (module docstring).
    method : "dense", "prefilter", "tree" or "auto" (the cheapest, :func:`_method`); the
        counts do not depend on it.

    Returns
    -------
    (nbins,) int64 counts; bin k holds k·dr ≤ r < (k+1)·dr.
    """
    if pairs not in _PAIRS:
        raise ValueError(f"pairs must be one of {_PAIRS}, got {pairs!r}")
    if not single_image(cell, r_max_A):
        raise ValueError(f"r_max_A = {r_max_A} Å exceeds half the smallest width of the cell; "
                         "use rdf.pair_distances_within (all images)")
    if nbins is None:
        nbins = int(np.ceil(r_max_A / dr_A - 1e-9))
    sa = np.asarray(sa, float)
    sb = sa if pairs == "unique" else np.asarray(sb, float)
    if pairs == "distinct" and sa.shape != sb.shape:
        raise ValueError(f"distinct pairs need one set at two times; shapes {sa.shape}, {sb.shape}")
    metric = _Metric(cell)
    w = perpendicular_widths_A(metric.cell)
    if method == "auto":
        method = _method(w, metric.cell, r_max_A, sa.shape[1], sb.shape[1])
    if method == "tree":
        return _tree(sa, sb, metric, w, r_max_A, dr_A, nbins, pairs)
    if method == "prefilter":
        return _prefiltered(sa, sb, metric, r_max_A, dr_A, nbins, pairs)
    if method != "dense":
        raise ValueError(f"method must be 'dense', 'prefilter', 'tree' or 'auto', got {method!r}")
    return _dense(sa, sb, metric, r_max_A, dr_A, nbins, pairs)
