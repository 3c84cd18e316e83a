"""Partial radial distribution functions g_AB(r) for periodic (triclinic, NPT) trajectories.

Definition (the study's eq. 1, with the finite-size convention stated here)::

    g_AB(r) = < V_f / (N_A (N_B - δ_AB)) · Σ_{i∈A} Σ_{j∈B, j≠i} δ(r - r_ij) / (4π r²) >_frames

``V_f`` is each frame's own cell volume (Å³), so NPT trajectories are normalised frame by
frame. ``N_B - δ_AB`` (rather than ``N_B``) makes g → 1 exactly for an ideal gas of any
size. The 4πr² dr of a bin is the exact shell volume 4/3 π (r_hi³ - r_lo³).

All periodic images within ``r_max_A`` are counted, for any cell shape: fractional
differences are wrapped into [-0.5, 0.5) and then shifted by every lattice translation
``n`` that can still bring a pair within ``r_max_A``. A translation with
``(|n_k| - 1/2) w_k >= r_max`` (``w_k`` the perpendicular width of the cell along axis k)
cannot, so for ``r_max_A <= min(w)/2`` only ``n = 0`` is used (plain minimum image, exact
even for skewed cells); larger ``r_max_A`` is still correct, just slower.

A constant cell with ``r_max_A <= min(w)/2`` (the usual case) is counted per species pair
by :func:`ssic_flows.analysis.neighbours.pair_counts` (dense component-major blocks, or a
periodic k-d tree in large cells); anything else (NPT, larger cutoffs) goes through the
all-images path, frames in chunks sized to keep the pair buffer around ``chunk_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Iterable

import numpy as np

from ssic_flows.analysis.geometry import perpendicular_widths_A
from ssic_flows.analysis.neighbours import pair_counts, single_image
from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError

__all__ = ["RDFResult", "partial_rdf", "image_shifts",
           "pair_distances_within"]


def image_shifts(cells: np.ndarray, r_max_A: float) -> np.ndarray:
    """Integer lattice translations that can bring a wrapped pair within ``r_max_A``.

    Parameters
    ----------
    cells : (3, 3) or (F, 3, 3) lattice vectors as rows, Å.
    r_max_A : cutoff, Å.

    Returns
    -------
    (S, 3) int array of translations (always contains (0, 0, 0) first).
    """
    w = perpendicular_widths_A(np.reshape(cells, (-1, 3, 3))).min(axis=0)
    # need |n_k| < r_max / w_k + 1/2
    nmax = np.ceil(r_max_A / w + 0.5).astype(int) - 1
    rng = [range(-m, m + 1) for m in nmax]
    shifts = np.array(sorted(product(*rng), key=lambda s: (s != (0, 0, 0), s)), dtype=int)
    return shifts


def pair_distances_within(dfrac: np.ndarray, cells: np.ndarray, r_max_A: float,
                          shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances < ``r_max_A`` over all images for a block of fractional differences.

    Parameters
    ----------
    dfrac : (C, P, 3) fractional differences (any range; wrapped here).
    cells : (C, 3, 3) cells of each of the C rows, Å.
    r_max_A : cutoff, Å.
    shifts : (S, 3) lattice translations from :func:`image_shifts`.

    Returns
    -------
    (dist_A, flat_index): 1-D distances in Å and the flat index ``c * P + p`` of the
    pair each distance belongs to (one pair can appear several times for large cutoffs).
    """
    d = np.rint(dfrac)
    np.subtract(dfrac, d, out=d)  # wrapped into [-0.5, 0.5]
    x = np.matmul(d, cells)  # (C, P, 3) @ (C, 3, 3): minimum-image-ish Cartesian vectors, Å
    x2 = np.einsum("cpk,cpk->cp", x, x)
    rc2 = r_max_A * r_max_A
    out_r, out_i = [], []
    for s in shifts:
        if s.any():
            sc = np.einsum("j,cjk->ck", s.astype(float), cells)  # (C, 3) lattice translation
            r2 = x2 + 2.0 * np.matmul(x, sc[:, :, None])[..., 0] + np.einsum("ck,ck->c", sc, sc)[:, None]
        else:
            r2 = x2
        i = np.flatnonzero(r2 < rc2)
        out_r.append(np.sqrt(np.maximum(np.take(r2, i), 0.0)))  # take: faster than a mask
        out_i.append(i)
    return np.concatenate(out_r), np.concatenate(out_i)


def _pair_key(a: str, b: str) -> str:
    return f"{a}-{b}"


@dataclass(frozen=True)
class RDFResult:
    """Partial radial distribution functions.

    Attributes
    ----------
    r_A : (B,) bin centres, Å.
    g : ``{"A-B": (B,) array}`` dimensionless g(r), one entry per unordered pair
        (elements in order of first appearance; :meth:`get` accepts either order).
    coordination : ``{"A-B": float}`` number of B atoms around an A atom up to the first
        minimum after the first peak (both orders present).
    first_peak_A : ``{"A-B": float}`` position of the first peak, Å.
    first_min_A : ``{"A-B": float}`` position of the first minimum used for coordination, Å.
    running_coordination : ``{"A-B": (B,) array}`` n_AB(r) = cumulative B count around A
        up to each bin's upper edge.
    n_frames_used : number of frames averaged.
    """

    r_A: np.ndarray
    g: dict
    coordination: dict
    first_peak_A: dict
    first_min_A: dict = field(default_factory=dict)
    running_coordination: dict = field(default_factory=dict)
    n_frames_used: int = 0

    def get(self, a: str, b: str) -> np.ndarray:
        """g(r) of pair a-b in either order."""
        for k in (_pair_key(a, b), _pair_key(b, a)):
            if k in self.g:
                return self.g[k]
        raise KeyError(f"pair {a}-{b} not computed; available: {sorted(self.g)}")

    def to_dict(self) -> dict:
        return {
            "r_A": self.r_A.tolist(),
            "g": {k: v.tolist() for k, v in self.g.items()},
            "coordination": {k: float(v) for k, v in self.coordination.items()},
            "first_peak_A": {k: _f(v) for k, v in self.first_peak_A.items()},
            "first_min_A": {k: _f(v) for k, v in self.first_min_A.items()},
            "running_coordination": {k: v.tolist() for k, v in self.running_coordination.items()},
            "n_frames_used": int(self.n_frames_used),
        }


def _f(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def first_peak_and_min(r_A: np.ndarray, g: np.ndarray, smooth_A: float = 0.15,
                       rel_prominence: float = 0.1) -> tuple[float, float, int]:
    """First peak and the following minimum of a g(r) curve.

    Peaks are found by *prominence* (:func:`scipy.signal.find_peaks`) on a lightly smoothed
    copy of g: a Savitzky–Golay filter (order 2) over ``smooth_A`` Å (an odd number of bins,
    at least 5; no smoothing when the grid is coarser), clipped at 0 so its side lobes next
    to a delta-like crystal peak do not create fake minima. The first peak is the first
    maximum whose prominence (its height above the higher of the two deepest points
    separating it from higher ground) is at least ``rel_prominence`` × the smoothed
    global maximum, so a noise bump on the rising edge (prominence ≈ the noise) is skipped
    wherever it sits, unlike a height threshold. The first minimum is the lowest point of
    the smoothed curve between that peak and the next such peak (or ``r_max``); on a flat
    zero stretch its first bin.

    Parameters
    ----------
    r_A : (B,) uniform bin centres, Å.
    g : (B,) g(r).
    smooth_A : smoothing window, Å (0: none).
    rel_prominence : minimum prominence as a fraction of the maximum of the smoothed g.

    Returns
    -------
    (peak_r_A, min_r_A, min_index); NaN / -1 when g is identically zero.

    Examples
    --------
    >>> r = np.arange(0.01, 6, 0.02)
    >>> g = 3 * np.exp(-((r - 2.77) / 0.15) ** 2) + (r > 3.2)
    >>> round(first_peak_and_min(r, g)[0], 2)
    2.77
    """
    from scipy.signal import find_peaks, savgol_filter

    g = np.asarray(g, dtype=float)
    if not np.any(g > 0):
        return float("nan"), float("nan"), -1
    dr = float(r_A[1] - r_A[0]) if len(r_A) > 1 else 1.0
    win = int(round(smooth_A / dr)) | 1 if smooth_A > 0 else 0
    gs = np.maximum(savgol_filter(g, win, 2, mode="interp"), 0.0) if 5 <= win <= g.size else g
    # pad with -inf-like zeros so a peak in the first / last bin can be found
    pad = np.concatenate([[0.0], gs, [0.0]])
    idx, _ = find_peaks(pad, prominence=rel_prominence * float(gs.max()))
    idx = idx - 1
    if idx.size == 0:  # monotonic: take the global maximum
        idx = np.array([int(np.argmax(gs))])
    p = int(idx[0])
    end = int(idx[1]) if idx.size > 1 else g.size
    seg = gs[p:end]
    m = p + int(np.argmin(seg)) if seg.size else p
    return float(r_A[p]), float(r_A[m]), m


def partial_rdf(traj: Trajectory, r_max_A: float | None = None, dr_A: float = 0.02,
                pairs: Iterable[tuple[str, str] | str] | None = None, stride: int = 1,
                chunk_bytes: int = 64 * 2**20) -> RDFResult:
    """Partial g_AB(r) for every species pair (or the given ``pairs``).

    Parameters
    ----------
    traj : trajectory (wrapped or unwrapped positions; cells (F, 3, 3), Å).
    r_max_A : largest distance, Å. Default: half the smallest perpendicular cell width of
        the first frame (the largest plain minimum-image radius). Larger values are
        allowed: periodic images are then counted too.
    dr_A : bin width, Å.
    pairs : ``[("Ag", "I"), "I-I", ...]``; default every unordered pair of species.
    stride : use every ``stride``-th frame.
    chunk_bytes : approximate size of the per-chunk pair buffer, bytes.

    Returns
    -------
    RDFResult
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if dr_A <= 0:
        raise ValueError(f"dr_A must be > 0 Å, got {dr_A}")
    cells_all = traj.cells[::stride]
    if r_max_A is None:
        r_max_A = 0.5 * float(perpendicular_widths_A(cells_all[0]).min())
    if r_max_A <= dr_A:
        raise ValueError(f"r_max_A ({r_max_A} Å) must exceed dr_A ({dr_A} Å)")
    elements = traj.elements
    if pairs is None:
        # every pair; a species with a single atom (e.g. the one W dopant) has no self pair
        n_of = {e: int(traj.indices(e).size) for e in elements}
        pair_list = [(a, b) for i, a in enumerate(elements) for b in elements[i:]
                     if a != b or n_of[a] > 1]
    else:
        pair_list = []
        for p in pairs:
            a, b = p.split("-") if isinstance(p, str) else p
            for s in (a, b):
                if s not in elements:
                    raise TrajectoryError(f"pair {a}-{b}: species {s!r} not in trajectory "
                                          f"(present: {elements})")
            if elements.index(a) > elements.index(b):
                a, b = b, a
            if (a, b) not in pair_list:
                pair_list.append((a, b))
    involved = [e for e in elements if any(e in p for p in pair_list)]
    atom_idx = np.concatenate([traj.indices(e) for e in involved])
    spec = np.asarray(traj.species)[atom_idx]
    tcode = np.array([involved.index(s) for s in spec])
    nt = len(involved)
    counts_per_type = np.bincount(tcode, minlength=nt)

    nbins = int(np.ceil(r_max_A / dr_A - 1e-9))
    edges = np.arange(nbins + 1) * dr_A
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)

    inv_all = np.linalg.inv(cells_all)
    vols = np.abs(np.linalg.det(cells_all))
    nf = cells_all.shape[0]
    frame_ids = np.arange(0, traj.n_frames, stride)
    if single_image(cells_all, r_max_A):  # constant cell, minimum image: per species pair
        acc, raw = _counts_single_image(traj, frame_ids, involved, pair_list, inv_all[0],
                                        cells_all[0], float(vols[0]), r_max_A, dr_A, nbins)
    else:
        wanted = np.zeros((nt, nt), bool)
        for a, b in pair_list:
            wanted[tuple(sorted((involved.index(a), involved.index(b))))] = True
        acc, raw = _counts_all_images(traj, frame_ids, atom_idx, tcode, wanted, cells_all,
                                      inv_all, vols, r_max_A, dr_A, nbins, chunk_bytes)

    r_c = 0.5 * (edges[1:] + edges[:-1])
    g, coord, peak, mins, running = {}, {}, {}, {}, {}
    for a, b in pair_list:
        x, y = involved.index(a), involved.index(b)
        lo_, hi_ = min(x, y), max(x, y)
        na, nb = counts_per_type[x], counts_per_type[y]
        same = a == b
        # unordered pair counts -> ordered (centre A, neighbour B) counts
        ordered = acc[lo_, hi_] * (2.0 if same else 1.0)
        ordered_raw = raw[lo_, hi_] * (2.0 if same else 1.0)
        denom = na * (nb - (1 if same else 0))
        key = _pair_key(a, b)
        if denom <= 0:
            raise TrajectoryError(f"pair {key}: only one {a} atom, g(r) undefined; drop this pair")
        g[key] = ordered / (denom * shell * nf)
        pk, mn, mi = first_peak_and_min(r_c, g[key])
        peak[key] = pk
        mins[key] = mn
        cum_ab = np.cumsum(ordered_raw) / (na * nf)  # B around A
        cum_ba = np.cumsum(ordered_raw) / (nb * nf)  # A around B
        running[key] = cum_ab
        coord[key] = float(cum_ab[mi]) if mi >= 0 else 0.0
        if not same:
            rkey = _pair_key(b, a)
            running[rkey] = cum_ba
            coord[rkey] = float(cum_ba[mi]) if mi >= 0 else 0.0
            peak[rkey], mins[rkey] = pk, mn
    return RDFResult(r_A=r_c, g=g, coordination=coord, first_peak_A=peak, first_min_A=mins,
                     running_coordination=running, n_frames_used=nf)


def _counts_single_image(traj: Trajectory, frame_ids: np.ndarray, involved: list[str],
                         pair_list: list[tuple[str, str]], inv: np.ndarray, cell: np.ndarray,
                         vol: float, r_max_A: float, dr_A: float, nbins: int,
                         frames_per_chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(V-weighted, raw) unordered pair counts (nt, nt, nbins) of a constant cell with
    ``r_max_A`` ≤ half its smallest width (:func:`ssic_flows.analysis.neighbours.pair_counts`)."""
    nt = len(involved)
    raw = np.zeros((nt, nt, nbins))
    idx = {e: traj.indices(e) for e in involved}
    for f0 in range(0, frame_ids.size, frames_per_chunk):
        fids = frame_ids[f0:f0 + frames_per_chunk]
        frac = {e: np.einsum("fnj,jk->fnk", traj.positions[fids][:, idx[e]], inv) for e in involved}
        for a, b in pair_list:
            x, y = sorted((involved.index(a), involved.index(b)))
            if a == b:
                raw[x, y] += pair_counts(frac[a], frac[a], cell, r_max_A, dr_A, nbins, "unique")
            else:
                raw[x, y] += pair_counts(frac[involved[x]], frac[involved[y]], cell, r_max_A, dr_A,
                                         nbins, "cross")
    return raw * vol, raw


def _counts_all_images(traj: Trajectory, frame_ids: np.ndarray, atom_idx: np.ndarray,
                       tcode: np.ndarray, wanted: np.ndarray, cells_all: np.ndarray,
                       inv_all: np.ndarray, vols: np.ndarray, r_max_A: float, dr_A: float,
                       nbins: int, chunk_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(V_f-weighted, raw) unordered pair counts (nt, nt, nbins) over all periodic images
    (any cell, NPT), frames in chunks of about ``chunk_bytes`` of pair buffer.

    ``tcode``: type index of each atom of ``atom_idx``; ``wanted``: (nt, nt) the unordered
    type pairs (lo, hi) to count.
    """
    nt = wanted.shape[0]
    iu, ju = np.triu_indices(atom_idx.size, k=1)
    ta, tb = tcode[iu], tcode[ju]
    ptype = np.minimum(ta, tb) * nt + np.maximum(ta, tb)  # unordered type pair
    keep = wanted.ravel()[ptype]
    iu, ju, ptype = iu[keep], ju[keep], ptype[keep]
    npairs = iu.size
    shifts = image_shifts(cells_all, r_max_A)
    acc = np.zeros(nt * nt * nbins)
    raw = np.zeros(nt * nt * nbins)
    nf = cells_all.shape[0]
    chunk = max(1, int(chunk_bytes // max(1, npairs * 3 * 8 * 3)))
    for s0 in range(0, nf, chunk):
        fids = frame_ids[s0:s0 + chunk]
        pos = traj.positions[fids][:, atom_idx]
        frac = np.einsum("fnj,fjk->fnk", pos, inv_all[s0:s0 + chunk])
        dfrac = frac[:, ju] - frac[:, iu]
        r, flat = pair_distances_within(dfrac, cells_all[s0:s0 + chunk], r_max_A, shifts)
        c, p = np.divmod(flat, npairs)
        b = (r / dr_A).astype(np.int64)
        ok = b < nbins
        key = ptype[p[ok]] * nbins + b[ok]
        acc += np.bincount(key, weights=vols[s0:s0 + chunk][c[ok]], minlength=acc.size)
        raw += np.bincount(key, minlength=raw.size)
    return acc.reshape(nt, nt, nbins), raw.reshape(nt, nt, nbins)
