"""Tetrahedral units of the host lattice: finding them (the index every θ/ω analysis uses).

Units: positions and cells in Å, angles in deg.

Two kinds of tetrahedra are recognised by :func:`find_tetrahedra`; which centre, ligand and
kind a material has is the caller's knowledge (``ssic_flows.materials`` passes it in as
data), never this module's:

* **Polyanions** AX4 (e.g. PS4, GeS4, SbS4, WS4 with X = S): a centre atom A and its 4
  nearest ligands X under the minimum-image convention, checked for a sane bond-length
  spread and a clear gap to the 5th ligand.
* **Interstitial tetrahedra of a bcc ligand lattice** (α-AgI, ``center=None``): the study's
  "AgI4 tetrahedra" have no fixed centre atom (Ag hops between the 12d sites); they are the
  I4 groups that enclose the tetrahedral 12d interstices of the bcc iodide lattice, i.e. the
  Delaunay cells of the ideal bcc lattice fitted to the I positions
  (:mod:`~ssic_flows.analysis.tetrahedra.bcc`; a Delaunay tessellation of the hot positions
  themselves is not the ideal one, see there). In an ideal bcc lattice of
  parameter a every such tetrahedron has two opposite edges of length a and four of length
  a√3/2, so each of its 4 faces is isosceles with angles 70.53° (opposite the a edge; the
  study's "expected value of 70.5°") and 2 × 54.74°. There are 6 tetrahedra per lattice
  point (12 per conventional cubic cell, one per 12d site); the 128-atom α-AgI cell (64 I)
  thus holds 384 of them and 4608 I–I–I angles. The study's "48 tetrahedra"/"48 different
  tetrahedral angles" (Fig. 3b) is a subset whose choice is not stated (it matches e.g.
  4 tetrahedra × 12 angles or 12 tetrahedra × the 4 apex angles); this module therefore
  finds the complete set, and callers restrict it with :meth:`TetrahedraIndex.subset` and
  the ``reference_angle_deg`` selector of
  :func:`~ssic_flows.analysis.tetrahedra.angles.tetrahedral_angles` (70.5 keeps the 4 apex
  angles per tetrahedron).

θ (eq. 4) is the angle inside a triangular face of the tetrahedron from the law of cosines,
θ_i = arccos[(d_ij² + d_ik² − d_jk²) / (2 d_ij d_ik)], with d the ligand–ligand distances
(I–I–I or S–S–S angle); every tetrahedron has 12 such angles (4 faces × 3), ordered as
:data:`ANGLE_TRIPLES` (:func:`angles_from_vertices_deg`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np

from ssic_flows.analysis.geometry import minimum_image, perpendicular_widths_A
from ssic_flows.analysis.tetrahedra.bcc import BccFitError, bcc_interstitial_tetrahedra
from ssic_flows.analysis.trajectory import Trajectory

__all__ = [
    "ANGLE_TRIPLES",
    "EDGE_PAIRS",
    "TetrahedraError",
    "TetrahedraIndex",
    "angles_from_vertices_deg",
    "find_tetrahedra",
    "find_tetrahedra_from_trajectory",
]

EDGE_PAIRS = np.array(list(combinations(range(4), 2)), dtype=int)
"""The 6 edges (vertex pairs) of a tetrahedron, shape (6, 2)."""

ANGLE_TRIPLES = np.array(
    [(a, b, c) for a in range(4) for b, c in combinations([v for v in range(4) if v != a], 2)],
    dtype=int,
)
"""The 12 face angles as (apex, j, k) vertex triples, shape (12, 3); angle slot s is the
angle at vertex ``ANGLE_TRIPLES[s, 0]`` between the edges to the two other vertices."""

_EDGE_OF = {tuple(p): e for e, p in enumerate(EDGE_PAIRS.tolist())}
_EDGE_OF.update({(j, i): e for (i, j), e in list(_EDGE_OF.items())})
_TRIPLE_EDGES = np.array(
    [[_EDGE_OF[(a, b)], _EDGE_OF[(a, c)], _EDGE_OF[(b, c)]] for a, b, c in ANGLE_TRIPLES]
)  # (12, 3): edges apex–j, apex–k, j–k


class TetrahedraError(ValueError):
    """Bad input to a tetrahedra analysis; the message names the problem and the fix."""


# ---------------------------------------------------------------------------- helpers
def _as_cell(cell_A: np.ndarray) -> np.ndarray:
    cell = np.asarray(cell_A, dtype=float)
    if cell.shape == (3,):
        cell = np.diag(cell)
    if cell.shape != (3, 3):
        raise TetrahedraError(f"cell_A must have shape (3, 3) (rows = lattice vectors, Å), got {cell.shape}")
    if abs(np.linalg.det(cell)) < 1e-9:
        raise TetrahedraError("cell_A is singular (zero volume); pass the periodic lattice vectors as rows in Å")
    return cell


def _species_indices(species: Sequence[str], symbol: str, role: str) -> np.ndarray:
    sp = np.asarray([str(s) for s in species])
    idx = np.flatnonzero(sp == symbol)
    if idx.size == 0:
        present = list(dict.fromkeys(sp.tolist()))
        raise TetrahedraError(f"no {role} atoms of species {symbol!r}; species present: {present}")
    return idx


def angles_from_vertices_deg(vertices_A: np.ndarray,
                             select: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The 12 face angles (eq. 4) of tetrahedra given their vertex positions.

    Parameters
    ----------
    vertices_A:
        Cartesian vertex positions, shape (..., T, 4, 3), Å, already made whole (no periodic
        jumps inside a tetrahedron).
    select:
        Optional (tetrahedron, angle slot) index arrays of length M: only those angles are
        evaluated (the same numbers as ``angles[..., tet, slot]`` of the full result).

    Returns
    -------
    np.ndarray
        Angles θ in deg, shape (..., T, 12) ordered as :data:`ANGLE_TRIPLES`, or (..., M).
    """
    v = np.asarray(vertices_A, dtype=float)
    edges = v[..., EDGE_PAIRS[:, 1], :] - v[..., EDGE_PAIRS[:, 0], :]
    d2 = np.einsum("...ek,...ek->...e", edges, edges)  # (..., 6) squared distances, Å²
    if np.any(d2 <= 0):  # every edge is a side of some angle: its denominator would vanish
        raise TetrahedraError("a tetrahedron has two coincident vertices (zero edge length); check the index")
    if select is None:
        dij2 = d2[..., _TRIPLE_EDGES[:, 0]]
        dik2 = d2[..., _TRIPLE_EDGES[:, 1]]
        djk2 = d2[..., _TRIPLE_EDGES[:, 2]]
    else:
        tet, slot = select
        dij2, dik2, djk2 = (d2[..., tet, _TRIPLE_EDGES[slot, c]] for c in range(3))
    denom = 2.0 * np.sqrt(dij2 * dik2)
    cos = np.clip((dij2 + dik2 - djk2) / denom, -1.0, 1.0)
    return np.degrees(np.arccos(cos))


# ---------------------------------------------------------------------------- index
@dataclass(frozen=True, eq=False)
class TetrahedraIndex:
    """Tetrahedral units found in one reference structure; atom indices stay fixed in time.

    Attributes
    ----------
    vertices:
        Ligand atom indices (into the trajectory's atom list), shape (T, 4), int.
    centers:
        Centre atom index per tetrahedron, shape (T,), int; -1 where there is no centre
        (interstitial tetrahedra of a bcc lattice).
    center_species:
        Centre element (``"P"``, ``"Ge"``, ``"Sb"``, ``"W"``) or None.
    ligand_species:
        Ligand element (``"S"``, ``"I"``).
    kind:
        ``"polyanion"`` or ``"interstitial"``.
    reference_vertices_A:
        Whole (unwrapped) vertex positions in the reference structure, shape (T, 4, 3), Å;
        for a bcc ligand lattice those of the fitted ideal sites (reference angles exactly
        70.53° and 54.74°), vertex 0 within half a cell of its atom.
    reference_cell_A:
        Lattice vectors (rows) of the reference structure, shape (3, 3), Å.
    """

    vertices: np.ndarray
    centers: np.ndarray
    center_species: str | None
    ligand_species: str
    kind: str
    reference_vertices_A: np.ndarray
    reference_cell_A: np.ndarray

    @property
    def n_tetrahedra(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def label(self) -> str:
        """Unit name: ``"PS4"``, ``"GeS4"``, ... or ``"I4"`` for interstitial tetrahedra."""
        return f"{self.center_species or ''}{self.ligand_species}4"

    @property
    def reference_edges_A(self) -> np.ndarray:
        """Edge lengths of the reference tetrahedra, shape (T, 6), Å, ordered as :data:`EDGE_PAIRS`."""
        v = self.reference_vertices_A
        return np.linalg.norm(v[:, EDGE_PAIRS[:, 1]] - v[:, EDGE_PAIRS[:, 0]], axis=-1)

    @property
    def reference_angles_deg(self) -> np.ndarray:
        """The 12 face angles of the reference tetrahedra, shape (T, 12), deg."""
        return angles_from_vertices_deg(self.reference_vertices_A)

    def subset(self, which: np.ndarray | Sequence[int] | slice) -> TetrahedraIndex:
        """A new index holding only the selected tetrahedra (indices, boolean mask or slice)."""
        sel = np.arange(self.n_tetrahedra)[which]
        sel = np.atleast_1d(sel)
        if sel.size == 0:
            raise TetrahedraError("subset selects no tetrahedra; pass at least one index")
        return TetrahedraIndex(
            vertices=self.vertices[sel], centers=self.centers[sel],
            center_species=self.center_species, ligand_species=self.ligand_species,
            kind=self.kind, reference_vertices_A=self.reference_vertices_A[sel],
            reference_cell_A=self.reference_cell_A,
        )

    def to_dict(self) -> dict:
        return {
            "label": self.label, "kind": self.kind, "center_species": self.center_species,
            "ligand_species": self.ligand_species, "n_tetrahedra": self.n_tetrahedra,
            "vertices": self.vertices.tolist(), "centers": self.centers.tolist(),
            "reference_vertices_A": self.reference_vertices_A.tolist(),
            "reference_cell_A": self.reference_cell_A.tolist(),
        }


def _polyanion_tetrahedra(
    species: Sequence[str], pos: np.ndarray, cell: np.ndarray, center: str, ligand: str,
    max_bond_A: float | None, max_bond_spread: float, min_shell_gap: float,
) -> TetrahedraIndex:
    ci = _species_indices(species, center, "centre")
    li = _species_indices(species, ligand, "ligand")
    if li.size < 4:
        raise TetrahedraError(f"only {li.size} {ligand} atoms; a {center}{ligand}4 unit needs 4")
    inv = np.linalg.inv(cell)
    df = (pos[li][None, :, :] - pos[ci][:, None, :]) @ inv  # (C, L, 3) fractional
    minimum_image(df)
    dv = df @ cell
    dist = np.linalg.norm(dv, axis=-1)
    order = np.argsort(dist, axis=1)
    near = order[:, :4]
    bonds = np.take_along_axis(dist, near, axis=1)  # (C, 4) Å
    half = 0.5 * perpendicular_widths_A(cell).min()
    if bonds.max() >= half:
        raise TetrahedraError(
            f"{center}–{ligand} bond {bonds.max():.2f} Å is not below half the smallest cell width "
            f"({half:.2f} Å): the minimum image is ambiguous; use a larger supercell")
    mean = bonds.mean(axis=1)
    spread = (bonds.max(axis=1) - bonds.min(axis=1)) / mean
    bad = np.flatnonzero(spread > max_bond_spread)
    if bad.size:
        c = bad[0]
        raise TetrahedraError(
            f"{bad.size} {center} centre(s) have an irregular {ligand}4 shell, e.g. atom {ci[c]} with "
            f"bonds {np.round(bonds[c], 3).tolist()} Å (relative spread {spread[c]:.2f} > "
            f"max_bond_spread={max_bond_spread}); check center/ligand species or raise max_bond_spread")
    if max_bond_A is not None and bonds.max() > max_bond_A:
        c = int(np.argmax(bonds.max(axis=1)))
        raise TetrahedraError(
            f"{center}–{ligand} bond of atom {ci[c]} is {bonds[c].max():.3f} Å > max_bond_A={max_bond_A}; "
            "this is not a bonded polyanion (wrong species?) or max_bond_A is too small")
    if li.size > 4:
        fifth = np.take_along_axis(dist, order[:, 4:5], axis=1)[:, 0]
        ratio = fifth / bonds.max(axis=1)
        badg = np.flatnonzero(ratio < min_shell_gap)
        if badg.size:
            c = badg[0]
            raise TetrahedraError(
                f"{badg.size} {center} centre(s) have a 5th {ligand} at {fifth[c]:.3f} Å, too close to the 4th "
                f"({bonds[c].max():.3f} Å; ratio {ratio[c]:.2f} < min_shell_gap={min_shell_gap}): the "
                f"{center}{ligand}4 unit is not well defined; check the structure or lower min_shell_gap")
    verts = li[near]
    flat, counts = np.unique(verts, return_counts=True)
    if np.any(counts > 1):
        raise TetrahedraError(
            f"{ligand} atom(s) {flat[counts > 1][:5].tolist()} belong to more than one {center}{ligand}4 unit; "
            "polyanions must not share ligands (wrong species or a distorted structure)")
    # sort ligands of each unit by atom index for determinism
    o = np.argsort(verts, axis=1)
    verts = np.take_along_axis(verts, o, axis=1)
    vec = np.take_along_axis(dv, near[:, :, None], axis=1)
    vec = np.take_along_axis(vec, o[:, :, None], axis=1)
    ref = pos[ci][:, None, :] + vec
    return TetrahedraIndex(
        vertices=verts.astype(int), centers=ci.astype(int), center_species=center,
        ligand_species=ligand, kind="polyanion", reference_vertices_A=ref, reference_cell_A=cell.copy(),
    )


_SHIFTS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=int)


def _interstitial_tetrahedra(
    species: Sequence[str], pos: np.ndarray, cell: np.ndarray, ligand: str,
    lattice: str | None, edge_tol: float,
) -> TetrahedraIndex:
    if lattice not in ("bcc", None):
        raise TetrahedraError(f"lattice must be 'bcc' or None, got {lattice!r}")
    li = _species_indices(species, ligand, "ligand")
    n = li.size
    if n < 2:
        raise TetrahedraError(f"only {n} {ligand} atom(s); interstitial tetrahedra need a ligand lattice")
    frac = pos[li] @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    if lattice == "bcc":
        try:
            fit = bcc_interstitial_tetrahedra(frac, cell, edge_tol)
        except BccFitError as exc:
            raise TetrahedraError(
                f"{ligand} sublattice is not a recognisable bcc lattice: {exc}. Check the structure (a molten or "
                "non-bcc sublattice has no such tetrahedra), raise edge_tol for a strained cell, or pass "
                "lattice=None for the Delaunay tetrahedra of the positions") from exc
        atom, ref = fit.vertices, fit.reference_frac @ cell
    else:
        atom, ref = _delaunay_tetrahedra(frac, cell, ligand)
    return TetrahedraIndex(
        vertices=li[atom].astype(int), centers=np.full(len(atom), -1, dtype=int), center_species=None,
        ligand_species=ligand, kind="interstitial", reference_vertices_A=ref, reference_cell_A=cell.copy(),
    )


def _delaunay_tetrahedra(frac: np.ndarray, cell: np.ndarray, ligand: str) -> tuple[np.ndarray, np.ndarray]:
    """Delaunay cells of the periodic points ``frac`` (n, 3): point indices (T, 4), sorted, and
    whole vertex positions (T, 4, 3), Å, vertex 0 at its point in the cell."""
    n = len(frac)
    pts_frac = (frac[None, :, :] + _SHIFTS[:, None, :]).reshape(-1, 3)
    spacing = (abs(np.linalg.det(cell)) / n) ** (1.0 / 3.0)  # mean point spacing, Å
    simp = _cell_simplices(pts_frac, cell, 2.0 * spacing, ligand)
    if simp is None:  # a circumsphere reaches past the margin: every point of the 27 cells
        simp = _cell_simplices(pts_frac, cell, None, ligand)
    atom = simp % n
    shift = _SHIFTS[simp // n]  # (K, 4, 3)
    key = atom * 27 + ((shift[..., 0] + 1) * 9 + (shift[..., 1] + 1) * 3 + (shift[..., 2] + 1))
    o = np.argsort(key, axis=1)
    atom = np.take_along_axis(atom, o, axis=1)
    shift = np.take_along_axis(shift, o[:, :, None], axis=1)
    shift = shift - shift[:, :1, :]
    if np.any(atom[:, 1:] == atom[:, :-1]):
        raise TetrahedraError(
            f"a tetrahedron of the {ligand} sublattice contains two periodic images of one atom: the cell is too "
            "small; use a supercell at least 2 lattice spacings wide in every direction")
    packed = np.concatenate([atom, shift.reshape(len(atom), -1)], axis=1)
    packed = np.unique(packed, axis=0)
    atom = packed[:, :4]
    shift = packed[:, 4:].reshape(-1, 4, 3)
    ref = (frac[atom] + shift) @ cell  # (T, 4, 3)
    # drop flat slivers Qhull may produce on the hull of the replicated block (never inside)
    e = ref[:, 1:] - ref[:, :1]
    vol = np.abs(np.einsum("ti,ti->t", e[:, 0], np.cross(e[:, 1], e[:, 2]))) / 6.0
    vol_ok = vol > 1e-6 * np.median(vol)
    return atom[vol_ok], ref[vol_ok]


def _cell_simplices(pts_frac: np.ndarray, cell: np.ndarray, margin_A: float | None,
                    ligand: str) -> np.ndarray | None:
    """Delaunay simplices (K, 4) of the replicated points whose centroid lies in the cell.

    ``pts_frac``: (27 n, 3) fractional coordinates of the 27 replicas. With ``margin_A`` only
    the points within that distance of the cell are tessellated (far fewer); the result is
    then the full tessellation's only if every kept simplex's circumsphere lies inside the
    tessellated region (no left-out point can be in it): otherwise None (tessellate all).
    Indices refer to ``pts_frac`` either way.
    """
    from scipy.spatial import Delaunay

    use = np.arange(len(pts_frac))
    if margin_A is not None:
        m = margin_A / perpendicular_widths_A(cell)  # fractional margin per axis
        use = np.flatnonzero(np.all((pts_frac >= -m) & (pts_frac < 1.0 + m), axis=1))
    try:
        tri = Delaunay(pts_frac[use] @ cell)
    except Exception as exc:  # noqa: BLE001 - Qhull raises its own error type
        raise TetrahedraError(f"Delaunay tessellation of the {ligand} sublattice failed ({exc})") from exc
    simp = use[tri.simplices]  # (S, 4) into the 27 n replicated points
    cen = pts_frac[simp].mean(axis=1)
    eps = 1e-6
    simp = simp[np.all((cen >= -eps) & (cen < 1.0 + eps), axis=1)]
    if margin_A is None:
        return simp
    v = pts_frac[simp] @ cell  # (K, 4, 3) Å
    e = v[:, 1:] - v[:, :1]
    try:  # circumcentre c: 2 (v_i - v_0)·(c - v_0) = |v_i - v_0|²
        c = v[:, 0] + np.linalg.solve(2.0 * e, np.einsum("kij,kij->ki", e, e)[..., None])[..., 0]
    except np.linalg.LinAlgError:  # a flat simplex: let the full tessellation decide
        return None
    radius = np.linalg.norm(c - v[:, 0], axis=1)
    cf = c @ np.linalg.inv(cell)
    room = np.minimum(cf + m, 1.0 + m - cf) * perpendicular_widths_A(cell)  # to the region's faces, Å
    return simp if bool(np.all(room.min(axis=1) > radius * (1 + 1e-9) + 1e-9)) else None


def find_tetrahedra(
    species: Sequence[str],
    positions_A: np.ndarray,
    cell_A: np.ndarray,
    center: str | None,
    ligand: str,
    *,
    max_bond_A: float | None = None,
    max_bond_spread: float = 0.15,
    min_shell_gap: float = 1.15,
    lattice: str | None = "bcc",
    edge_tol: float = 0.1,
) -> TetrahedraIndex:
    """Find the AX4 / X4 tetrahedra of one structure (one frame).

    Parameters
    ----------
    species:
        Element symbol per atom, length N.
    positions_A:
        Cartesian positions, shape (N, 3), Å (wrapped or not).
    cell_A:
        Lattice vectors as rows, shape (3, 3), Å.
    center:
        Centre element of a polyanion (``"P"``, ``"Ge"``, ``"Sb"``, ``"W"``): each centre gets
        its 4 nearest ``ligand`` atoms (minimum image). ``None``: interstitial tetrahedra of
        the ligand sublattice (α-AgI: I4 groups around the 12d sites), see ``lattice``.
    ligand:
        Ligand element (``"S"``, ``"I"``).
    max_bond_A:
        Polyanions only: optional upper bound on centre–ligand bonds, Å.
    max_bond_spread:
        Polyanions only: largest allowed (max − min)/mean of the 4 bond lengths.
    min_shell_gap:
        Polyanions only: the 5th nearest ligand must be at least this factor farther than
        the 4th.
    lattice:
        Interstitial only: ``"bcc"`` fits the ideal bcc lattice (one site per ligand, every
        ligand closer than half the nearest-neighbour distance to its own site) and returns
        its 6 tetrahedra per ligand, each with the a√3/2 ×4, a ×2 edge pattern
        (:func:`~ssic_flows.analysis.tetrahedra.bcc.bcc_interstitial_tetrahedra`); ``None``
        returns the Delaunay tetrahedra of the positions as they are.
    edge_tol:
        Interstitial bcc: relative tolerance of the fitted lattice's a√3/2 and a shells (a
        cell strained away from cubic).

    Returns
    -------
    TetrahedraIndex
        Atom indices into ``species``, valid for every frame of the trajectory.

    Raises
    ------
    TetrahedraError
        Unknown species, shapes, irregular polyanions, a non-bcc ligand lattice.
    """
    species = [str(s) for s in species]
    pos = np.asarray(positions_A, dtype=float)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise TetrahedraError(
            f"positions_A must have shape (N, 3) for one frame, got {pos.shape}; pass traj.positions[i]")
    if len(species) != pos.shape[0]:
        raise TetrahedraError(f"{len(species)} species for {pos.shape[0]} positions; pass one symbol per atom")
    if not np.all(np.isfinite(pos)):
        raise TetrahedraError("positions_A contains NaN/inf; pass finite Cartesian positions in Å")
    cell = _as_cell(cell_A)
    if center is not None:
        if center == ligand:
            raise TetrahedraError(f"center and ligand are both {center!r}; pass e.g. center='P', ligand='S'")
        return _polyanion_tetrahedra(species, pos, cell, center, ligand, max_bond_A, max_bond_spread, min_shell_gap)
    return _interstitial_tetrahedra(species, pos, cell, ligand, lattice, edge_tol)


def find_tetrahedra_from_trajectory(
    traj: Trajectory, center: str | None, ligand: str, *, average_frames: int = 1, **kwargs
) -> TetrahedraIndex:
    """:func:`find_tetrahedra` on the mean unwrapped positions of the first frames.

    Parameters
    ----------
    traj:
        The trajectory the index will be used with.
    center, ligand:
        As in :func:`find_tetrahedra`.
    average_frames:
        Number of leading frames whose unwrapped positions (Å) are averaged; 1 uses frame 0.
        The bcc fit does not need it (α-AgI at 500 K: the same 384 tetrahedra from one frame
        as from 0.5–4 ps); averaging ~0.5 ps lowers the thermal part of the displacements the
        fit checks. A rigid drift of the sublattice only translates the mean positions.
        Keep 1 for rotating polyanions.
    **kwargs:
        Passed to :func:`find_tetrahedra`.
    """
    if not 1 <= int(average_frames) <= traj.n_frames:
        raise TetrahedraError(f"average_frames must be in [1, {traj.n_frames}], got {average_frames}")
    sub = traj[: int(average_frames)]
    pos = sub.unwrapped().mean(axis=0) if average_frames > 1 else sub.positions[0]
    return find_tetrahedra(traj.species, pos, traj.cells[0], center, ligand, **kwargs)
