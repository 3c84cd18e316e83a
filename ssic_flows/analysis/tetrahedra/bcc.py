"""The ideal bcc lattice behind hot ligand positions, and its interstitial tetrahedra.

Units: Å; fractional coordinates refer to the periodic cell (rows = lattice vectors).

A thermal bcc sublattice cannot be tessellated reliably by Delaunay: every ideal bcc
Delaunay cell (the a√3/2 ×4, a ×2 disphenoid around a 12d site) has a circumsphere that
nearly touches further lattice points, so displacements of a few tenths of an Å flip some
cells to other shapes (the 128-atom α-AgI MLMD at 500 K: 0.66 Å rms off the lattice in one
frame, 0.75 Å on the mean of 0.5 ps, and 387–396 cells instead of 384).
:func:`bcc_interstitial_tetrahedra` fits the ideal lattice instead and builds the tetrahedra
on its sites:

1. Bragg peaks. I(h) = |Σ_j exp(2πi h·f_j)|² / n² over the integer Miller indices h of the
   cell. The reciprocal of bcc is fcc, whose 12 shortest vectors are the {110}
   reflections; the 12 strongest peaks within 1.25 |G_110| (|G_110| = 2π√2/a with
   a = (2V/n)^(1/3) from the density; the next reflection, {200}, lies at √2 |G_110|)
   must generate a reciprocal lattice L* of index n in the cell's, i.e. one site per atom.
2. The real lattice L is the dual of L*; its origin comes from the peak phases and is
   refined by the mean displacement.
3. Each atom goes to its nearest site of L; the assignment must be one-to-one and every
   displacement below half the nearest-neighbour distance (the insphere of the site's
   Voronoi cell, whose vertices are the 12d interstices themselves).
4. L's 8 shortest vectors (a√3/2) and next 6 (a) must match bcc within ``edge_tol`` and
   combine as in bcc: each second-neighbour vector A has 4 pairs (n1, n2) of nearest-
   neighbour vectors with A − n1, A − n2 nearest-neighbour and n1 − n2 second-neighbour
   vectors; {p, p + A, p + n1, p + n2} is a tetrahedron. These give 6 distinct tetrahedra per
   site (each counted once per vertex), 6 n in all, every one with the ideal edge pattern.

The assignment is by construction translation invariant, so a rigid drift of the
sublattice during the averaged frames does not matter.

Example
-------
>>> grid = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
>>> frac = ((grid + [[0, 0, 0], [0.5, 0.5, 0.5]]) / 2).reshape(-1, 3)
>>> tet = bcc_interstitial_tetrahedra(frac, np.eye(3) * 10.0, 0.1)
>>> tet.vertices.shape, round(float(tet.nearest_neighbour_A), 3)
((96, 4), 4.33)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

__all__ = ["BccFitError", "BccTetrahedra", "bcc_interstitial_tetrahedra"]

_PEAK_BALL = 1.25  # × |G_110|: holds the 12 {110} reflections, not the {200} at √2 ×
_MAX_DISPLACEMENT_NN = 0.5  # × nearest-neighbour distance: the insphere of a bcc Voronoi cell


class BccFitError(ValueError):
    """The positions are not those of a (thermal) bcc lattice; the message says which test failed."""


@dataclass(frozen=True, eq=False)
class BccTetrahedra:
    """Interstitial tetrahedra of the ideal bcc lattice fitted to n points.

    Attributes
    ----------
    vertices:
        Point indices (0..n-1) of each tetrahedron, sorted, shape (6 n, 4), int.
    reference_frac:
        Fractional coordinates of the ideal sites of those vertices, whole (no periodic jump
        inside a tetrahedron), vertex 0 within half a cell of its point, shape (6 n, 4, 3).
    nearest_neighbour_A:
        Nearest-neighbour distance a√3/2 of the fitted lattice, Å.
    displacement_A:
        Distance of each point from its ideal site, shape (n,), Å.
    """

    vertices: np.ndarray
    reference_frac: np.ndarray
    nearest_neighbour_A: float
    displacement_A: np.ndarray


def _bragg_peaks(frac: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 6 strongest reflections h (one of each ±h pair) within the {110} ball and their
    intensities |Σ_j exp(2πi h·f_j)|² / n² (1 for a perfect lattice, ~1/n for a liquid)."""
    n = len(frac)
    a_est = (2.0 * abs(np.linalg.det(cell)) / n) ** (1.0 / 3.0)
    g_max = _PEAK_BALL * np.sqrt(2.0) / a_est  # |G| / 2π, 1/Å
    hmax = np.ceil(g_max * np.linalg.norm(cell, axis=1)).astype(int)
    axes = [np.arange(-m, m + 1) for m in hmax]
    h = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    first = np.argmax(h != 0, axis=1)  # one of each ±h pair: first non-zero index positive
    h = h[np.any(h != 0, axis=1) & (h[np.arange(len(h)), first] > 0)]
    h = h[np.linalg.norm(h @ np.linalg.inv(cell).T, axis=1) <= g_max]
    if len(h) < 6:
        raise BccFitError(f"the cell holds only {len(h)} reflections inside the bcc {{110}} shell")
    amp = np.exp(2j * np.pi * (frac @ h.T)).sum(axis=0)
    s = np.abs(amp) ** 2 / n**2
    top = np.argsort(-s, kind="stable")[:6]
    return h[top], s[top]


def _reciprocal_basis(peaks: np.ndarray, n: int, s: np.ndarray) -> np.ndarray:
    """A basis (rows, integer Miller indices) of the lattice the 6 peaks generate, of index n."""
    best = None
    for tri in combinations(range(6), 3):
        d = abs(round(np.linalg.det(peaks[list(tri)].astype(float))))
        if d and (best is None or d < best[0]):
            best = (d, peaks[list(tri)])
    if best is None:
        raise BccFitError("the strongest reflections are coplanar (a layered, not a bcc, structure)")
    basis = best[1]
    coef = peaks @ np.linalg.inv(basis.astype(float))
    if not np.allclose(coef, np.round(coef), atol=1e-6) or best[0] != n:
        raise BccFitError(
            f"its 6 strongest reflections (intensities {np.round(s, 2).tolist()}, 1 for a perfect lattice) do "
            f"not span the reciprocal of a lattice with one site per point ({n} sites)")
    return basis


def _reduced(basis_A: np.ndarray) -> np.ndarray:
    """Unimodular U (integer) such that U @ basis_A is pairwise size-reduced (3D Gauss)."""
    u = np.eye(3, dtype=int)
    b = basis_A.copy()
    for _ in range(100):
        changed = False
        for i in range(3):
            for j in range(3):
                if i != j:
                    mu = int(np.round(b[i] @ b[j] / (b[j] @ b[j])))
                    if mu:
                        b[i] -= mu * b[j]
                        u[i] -= mu * u[j]
                        changed = True
        if not changed:
            return u
    raise BccFitError("the fitted lattice basis could not be reduced (degenerate cell)")


def _shells(basis_A: np.ndarray, edge_tol: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The 8 nearest- and 6 second-neighbour vectors (integer lattice coordinates) and a√3/2 (Å)."""
    u = _reduced(basis_A)
    m = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 3) @ u
    m = m[np.any(m != 0, axis=1)]
    length = np.linalg.norm(m @ basis_A, axis=1)
    o = np.argsort(length, kind="stable")
    m, length = m[o], length[o]
    d1 = float(length[:8].mean())
    a = 2.0 * d1 / np.sqrt(3.0)
    if (np.max(np.abs(length[:8] - d1)) > edge_tol * d1 or np.max(np.abs(length[8:14] - a)) > edge_tol * a
            or length[14] < length[13] * (1.0 + 1e-6)):
        raise BccFitError(
            f"the fitted lattice's shortest vectors {np.round(length[:15], 2).tolist()} Å are not bcc's "
            f"8 × a√3/2 and 6 × a (a ≈ {a:.3f} Å, edge_tol={edge_tol})")
    return m[:8], m[8:14], d1


def _motifs(nn: np.ndarray, nnn: np.ndarray) -> np.ndarray:
    """The 6 tetrahedra of a site as integer vertex offsets, shape (6, 4, 3): one per class
    of translates (each tetrahedron containing the site is seen from each of its 4 vertices)."""
    s1 = {tuple(v) for v in nn.tolist()}
    s2 = {tuple(v) for v in nnn.tolist()}
    motifs: dict[tuple, np.ndarray] = {}
    for big in nnn:
        common = [v for v in nn if tuple(big - v) in s1]
        pairs = [(p, q) for p, q in combinations(common, 2) if tuple(p - q) in s2]
        if len(pairs) != 4:
            raise BccFitError("the neighbour shells of the fitted lattice do not combine as bcc's")
        for p, q in pairs:
            verts = np.array([np.zeros(3, dtype=int), big, p, q])
            canon = min(tuple(sorted(map(tuple, (verts - v).tolist()))) for v in verts)
            motifs.setdefault(canon, verts)
    if len(motifs) != 6:
        raise BccFitError(f"the fitted lattice has {len(motifs)} tetrahedra per site, bcc has 6")
    return np.array(list(motifs.values()))


def _assign(frac: np.ndarray, h: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest site (integer lattice coordinates) and the residual (lattice coordinates) per point."""
    c = (frac - origin) @ h.T
    k = np.round(c).astype(int)
    return k, c - k


def bcc_interstitial_tetrahedra(frac: np.ndarray, cell: np.ndarray, edge_tol: float) -> BccTetrahedra:
    """The 6 n interstitial tetrahedra of the ideal bcc lattice fitted to n periodic points.

    Parameters
    ----------
    frac:
        Fractional coordinates of the lattice points (one frame or time-averaged), shape (n, 3).
    cell:
        Lattice vectors of the periodic cell as rows, shape (3, 3), Å.
    edge_tol:
        Relative tolerance of the fitted lattice's shells against bcc's a√3/2 and a (a cell
        strained away from cubic bcc).

    Returns
    -------
    BccTetrahedra

    Raises
    ------
    BccFitError
        The points are not one per site of a bcc lattice commensurate with the cell.
    """
    frac = np.asarray(frac, dtype=float)
    n = len(frac)
    peaks, s = _bragg_peaks(frac, cell)
    h = _reciprocal_basis(peaks, n, s)
    basis_frac = np.linalg.inv(h.astype(float)).T  # rows: real lattice basis, fractional
    basis_A = basis_frac @ cell
    nn, nnn, d1 = _shells(basis_A, edge_tol)
    motifs = _motifs(nn, nnn)
    phase = np.angle(np.exp(2j * np.pi * (frac @ h.T)).sum(axis=0)) / (2.0 * np.pi)
    origin = basis_frac.T @ phase
    for _ in range(3):  # refine: the origin that zeroes the mean displacement
        k, r = _assign(frac, h, origin)
        origin = origin + (r @ basis_frac).mean(axis=0)
    k, r = _assign(frac, h, origin)
    disp = np.linalg.norm(r @ basis_A, axis=1)
    site_key = np.round((k @ basis_frac) * n).astype(np.int64) % n  # exact: n (site frac) is integer
    code = (site_key[:, 0] * n + site_key[:, 1]) * n + site_key[:, 2]
    uniq, counts = np.unique(code, return_counts=True)
    rms = float(np.sqrt(np.mean(disp**2)))
    if uniq.size != n:
        raise BccFitError(
            f"{n - uniq.size} of the {n} sites of the fitted lattice are empty and others doubly occupied "
            f"(rms displacement {rms:.2f} Å = {rms / d1:.2f} × the nearest-neighbour distance {d1:.2f} Å)")
    worst = int(np.argmax(disp))
    if disp[worst] >= _MAX_DISPLACEMENT_NN * d1:
        raise BccFitError(
            f"point {worst} lies {disp[worst]:.2f} Å from its site, over half the nearest-neighbour distance "
            f"{d1:.2f} Å (rms displacement {rms:.2f} Å): a disordered or molten sublattice")
    atom_of = dict(zip(code.tolist(), range(n)))
    verts_k = k[:, None, None, :] + motifs[None]  # (n, 6, 4, 3) lattice coordinates
    vf = (verts_k @ basis_frac).reshape(-1, 4, 3)  # fractional, origin at 0
    vk = np.round(vf * n).astype(np.int64) % n
    atoms = np.array([atom_of[c] for c in ((vk[..., 0] * n + vk[..., 1]) * n + vk[..., 2]).ravel().tolist()])
    atoms = atoms.reshape(-1, 4)
    o = np.argsort(atoms, axis=1)
    atoms = np.take_along_axis(atoms, o, axis=1)
    vf = np.take_along_axis(vf, o[:, :, None], axis=1) + origin
    vf -= np.round(vf[:, :1] - frac[atoms[:, :1]])  # vertex 0 next to its point's image in frac
    return BccTetrahedra(vertices=atoms, reference_frac=vf, nearest_neighbour_A=d1, displacement_A=disp)
