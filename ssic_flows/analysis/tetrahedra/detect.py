"""Tetrahedral units of the host lattice: θ angles (eq. 4), ω (eq. 5), ρ(θ), ρ(ω).

Units: positions and cells in Å, time in fs, angles in deg, angular velocities in deg/fs,
filter cutoffs in cm^-1 (wavenumber; ν̃[cm^-1] = f[1/fs] × 1e15 / c[cm/s]).

Two kinds of tetrahedra are recognised by :func:`find_tetrahedra`:

* **Polyanions** AX4 (PS4, GeS4, SbS4, WS4 with X = S): a centre atom A and its 4 nearest
  ligands X under the minimum-image convention, checked for a sane bond-length spread and
  a clear gap to the 5th ligand.
* **Interstitial tetrahedra of a bcc ligand lattice** (α-AgI, ``center=None``): the study's
  "AgI4 tetrahedra" have no fixed centre atom (Ag hops between the 12d sites); they are the
  I4 groups that enclose the tetrahedral 12d interstices of the bcc iodide lattice, i.e. the
  cells of the Delaunay tessellation of the I sublattice. In an ideal bcc lattice of
  parameter a every such tetrahedron has two opposite edges of length a and four of length
  a√3/2, so each of its 4 faces is isosceles with angles 70.53° (opposite the a edge; the
  study's "expected value of 70.5°") and 2 × 54.74°. There are 6 tetrahedra per lattice
  point (12 per conventional cubic cell, one per 12d site); the 128-atom α-AgI cell (64 I)
  thus holds 384 of them and 4608 I–I–I angles. The study's "48 tetrahedra"/"48 different
  tetrahedral angles" (Fig. 3b) is a subset whose choice is not stated (it matches e.g.
  4 tetrahedra × 12 angles or 12 tetrahedra × the 4 apex angles); this module therefore
  finds the complete set, and callers restrict it with :meth:`TetrahedraIndex.subset` and
  the ``reference_angle_deg`` selector of :func:`tetrahedral_angles` (70.5 keeps the 4
  apex angles per tetrahedron).

θ (eq. 4) is the angle inside a triangular face of the tetrahedron from the law of cosines,
θ_i = arccos[(d_ij² + d_ik² − d_jk²) / (2 d_ij d_ik)], with d the ligand–ligand distances
(I–I–I or S–S–S angle). Every tetrahedron has 12 such angles (4 faces × 3). ω (eq. 5) is the
forward difference [θ(t + dt) − θ(t)] / dt of the (optionally low-pass filtered) θ series,
with dt the spacing of the *stored* frames.

Vertex vectors are taken relative to vertex 0 of each tetrahedron and followed continuously
in time (frame-to-frame minimum image of fractional displacements, like
:meth:`Trajectory.unwrapped`), anchored at the first frame to the image that is closest to
the reference geometry stored in the index. This is exact for wrapped trajectories, for
rotating polyanions and for cells whose width equals an edge length (the 4×4×2 α-AgI cell,
where a plain minimum image of an a-long edge is ambiguous).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Iterator, Sequence

import numpy as np

from ssic_flows.analysis.geometry import minimum_image, perpendicular_widths_A, unwrap_fractional
from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.analysis.units import frequency_per_fs_to_wavenumber_cm1, wavenumber_cm1_to_frequency_per_fs

__all__ = [
    "ANGLE_TRIPLES",
    "EDGE_PAIRS",
    "TetrahedraError",
    "TetrahedraIndex",
    "ThetaResult",
    "OmegaResult",
    "AngleDensity",
    "find_tetrahedra",
    "find_tetrahedra_from_trajectory",
    "tetrahedral_angles",
    "angles_from_vertices_deg",
    "theta_density",
    "omega_density",
    "lowpass_zero_phase",
    "filter_theta",
    "angular_velocity",
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


def angles_from_vertices_deg(vertices_A: np.ndarray) -> np.ndarray:
    """The 12 face angles (eq. 4) of tetrahedra given their vertex positions.

    Parameters
    ----------
    vertices_A:
        Cartesian vertex positions, shape (..., 4, 3), Å, already made whole (no periodic
        jumps inside a tetrahedron).

    Returns
    -------
    np.ndarray
        Angles θ in deg, shape (..., 12), ordered as :data:`ANGLE_TRIPLES`.
    """
    v = np.asarray(vertices_A, dtype=float)
    edges = v[..., EDGE_PAIRS[:, 1], :] - v[..., EDGE_PAIRS[:, 0], :]
    d2 = np.einsum("...ek,...ek->...e", edges, edges)  # (..., 6) squared distances, Å²
    dij2 = d2[..., _TRIPLE_EDGES[:, 0]]
    dik2 = d2[..., _TRIPLE_EDGES[:, 1]]
    djk2 = d2[..., _TRIPLE_EDGES[:, 2]]
    denom = 2.0 * np.sqrt(dij2 * dik2)
    if np.any(denom <= 0):
        raise TetrahedraError("a tetrahedron has two coincident vertices (zero edge length); check the index")
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
        Whole (unwrapped) vertex positions in the reference structure, shape (T, 4, 3), Å.
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
    from scipy.spatial import Delaunay

    li = _species_indices(species, ligand, "ligand")
    n = li.size
    if n < 2:
        raise TetrahedraError(f"only {n} {ligand} atom(s); interstitial tetrahedra need a ligand lattice")
    inv = np.linalg.inv(cell)
    frac = pos[li] @ inv
    frac -= np.floor(frac)
    pts_frac = (frac[None, :, :] + _SHIFTS[:, None, :]).reshape(-1, 3)
    try:
        tri = Delaunay(pts_frac @ cell)
    except Exception as exc:  # noqa: BLE001 - Qhull raises its own error type
        raise TetrahedraError(f"Delaunay tessellation of the {ligand} sublattice failed ({exc})") from exc
    simp = tri.simplices  # (S, 4) into 27 n replicated points
    cen = pts_frac[simp].mean(axis=1)
    eps = 1e-6
    keep = np.all((cen >= -eps) & (cen < 1.0 + eps), axis=1)
    simp = simp[keep]
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
    atom, ref = atom[vol_ok], ref[vol_ok]
    idx = TetrahedraIndex(
        vertices=li[atom].astype(int), centers=np.full(len(atom), -1, dtype=int), center_species=None,
        ligand_species=ligand, kind="interstitial", reference_vertices_A=ref, reference_cell_A=cell.copy(),
    )
    if lattice is None:
        return idx
    if lattice != "bcc":
        raise TetrahedraError(f"lattice must be 'bcc' or None, got {lattice!r}")
    edges = np.sort(idx.reference_edges_A, axis=1)
    d1 = float(np.median(edges[:, :4]))  # nearest-neighbour distance a√3/2, Å
    a = 2.0 * d1 / np.sqrt(3.0)
    short_ok = np.all(np.abs(edges[:, :4] - d1) <= edge_tol * d1, axis=1)
    long_ok = np.all(np.abs(edges[:, 4:] - a) <= edge_tol * a, axis=1)
    bad = np.flatnonzero(~(short_ok & long_ok))
    if bad.size or idx.n_tetrahedra != 6 * n:
        ex = f"; e.g. edges {np.round(edges[bad[0]], 2).tolist()} Å" if bad.size else ""
        raise TetrahedraError(
            f"{ligand} sublattice is not a recognisable bcc lattice: found {idx.n_tetrahedra} tetrahedra "
            f"(bcc has 6 per {ligand} = {6 * n}), {bad.size} without the a√3/2 ×4, a ×2 edge pattern "
            f"(a ≈ {a:.3f} Å, edge_tol={edge_tol}){ex}. Build the index from time-averaged positions "
            "(find_tetrahedra_from_trajectory(..., average_frames=...)), raise edge_tol, or pass lattice=None")
    return idx


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
        the ligand sublattice (α-AgI: I4 groups around the 12d sites), from the Delaunay
        tessellation of the periodic ligand positions.
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
        Interstitial only: ``"bcc"`` checks the a√3/2 ×4, a ×2 edge pattern and the count
        of 6 tetrahedra per ligand; ``None`` accepts every Delaunay tetrahedron.
    edge_tol:
        Interstitial bcc check: relative tolerance on each edge length.

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
        Averaging over ~0.1–1 ps removes thermal noise from a bcc host lattice (α-AgI);
        keep 1 for rotating polyanions.
    **kwargs:
        Passed to :func:`find_tetrahedra`.
    """
    if not 1 <= int(average_frames) <= traj.n_frames:
        raise TetrahedraError(f"average_frames must be in [1, {traj.n_frames}], got {average_frames}")
    sub = traj[: int(average_frames)]
    pos = sub.unwrapped().mean(axis=0) if average_frames > 1 else sub.positions[0]
    return find_tetrahedra(traj.species, pos, traj.cells[0], center, ligand, **kwargs)


# ---------------------------------------------------------------------------- θ(t)
def _continuous_vertex_vectors(
    traj: Trajectory, index: TetrahedraIndex, chunk_frames: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (start, stop, vertices_A) with whole tetrahedra, shape (C, T, 4, 3), Å, vertex 0 at origin."""
    atoms, inv_map = np.unique(index.vertices, return_inverse=True)
    col = inv_map.reshape(index.vertices.shape)  # (T, 4) columns into atoms
    ref = index.reference_vertices_A
    ref_rel_frac = (ref[:, 1:] - ref[:, :1]) @ np.linalg.inv(index.reference_cell_A)  # (T, 3, 3)
    last = None
    anchor = None
    for start in range(0, traj.n_frames, chunk_frames):
        stop = min(start + chunk_frames, traj.n_frames)
        cells = traj.cells[start:stop]
        frac = np.einsum("fnj,fjk->fnk", traj.positions[start:stop][:, atoms], np.linalg.inv(cells))
        cont = unwrap_fractional(frac, last)
        last = cont[-1]
        rel = cont[:, col[:, 1:]] - cont[:, col[:, :1]]  # (C, T, 3, 3) fractional
        if anchor is None:
            anchor = np.round(ref_rel_frac - rel[0])
        rel = rel + anchor[None]
        cart = np.einsum("ctvj,cjk->ctvk", rel, cells)
        out = np.concatenate([np.zeros_like(cart[:, :, :1]), cart], axis=2)
        yield start, stop, out


@dataclass(frozen=True, eq=False)
class ThetaResult:
    """θ(t) series, one column per (tetrahedron, angle slot).

    Attributes
    ----------
    theta_deg:
        Angles, shape (F, M), deg. With all 12 slots kept, M = 12 T in tetrahedron-major
        order and ``theta_deg.reshape(F, T, 12)`` recovers the per-tetrahedron layout.
    times_fs:
        Frame times, shape (F,), fs.
    tetrahedron:
        Tetrahedron number (row of the index) per column, shape (M,).
    angle_slot:
        Angle slot (row of :data:`ANGLE_TRIPLES`) per column, shape (M,).
    reference_angle_deg:
        The angle of each column in the index's reference structure, shape (M,), deg.
    label:
        Unit name (``"PS4"``, ``"I4"``, ...).
    timestep_fs:
        Spacing of the frames, fs.
    filter_cutoff_cm1:
        Low-pass cutoff applied to the series, cm^-1, or None (raw).
    """

    theta_deg: np.ndarray
    times_fs: np.ndarray
    tetrahedron: np.ndarray
    angle_slot: np.ndarray
    reference_angle_deg: np.ndarray
    label: str
    timestep_fs: float
    filter_cutoff_cm1: float | None = None

    @property
    def n_frames(self) -> int:
        return int(self.theta_deg.shape[0])

    @property
    def n_series(self) -> int:
        return int(self.theta_deg.shape[1])

    def to_dict(self) -> dict:
        return {
            "label": self.label, "timestep_fs": self.timestep_fs, "filter_cutoff_cm1": self.filter_cutoff_cm1,
            "theta_deg": self.theta_deg.tolist(), "times_fs": self.times_fs.tolist(),
            "tetrahedron": self.tetrahedron.tolist(), "angle_slot": self.angle_slot.tolist(),
            "reference_angle_deg": self.reference_angle_deg.tolist(),
        }


def tetrahedral_angles(
    traj: Trajectory,
    index: TetrahedraIndex,
    *,
    reference_angle_deg: float | None = None,
    reference_tol_deg: float = 5.0,
    chunk_frames: int = 1024,
) -> ThetaResult:
    """θ(t) of every face angle (eq. 4) of every tetrahedron in ``index``.

    Parameters
    ----------
    traj:
        Trajectory (Å, fs); wrapped positions are fine.
    index:
        From :func:`find_tetrahedra` on a structure of this trajectory.
    reference_angle_deg:
        Keep only the angle slots whose value in the reference structure is within
        ``reference_tol_deg`` of this, deg. For α-AgI, 70.5 keeps the 4 apex I–I–I angles
        of each tetrahedron (the study's "expected 70.5°"); None keeps all 12.
    reference_tol_deg:
        Tolerance of that selection, deg.
    chunk_frames:
        Frames processed at once (bounds memory to ~ chunk × T × 200 bytes).

    Returns
    -------
    ThetaResult
    """
    if max(index.vertices.max(), index.centers.max()) >= traj.n_atoms:
        raise TetrahedraError(
            f"index refers to atom {int(index.vertices.max())} but the trajectory has {traj.n_atoms} atoms; "
            "build the index from a structure of this trajectory")
    sp = np.asarray(traj.species)
    if np.any(sp[index.vertices] != index.ligand_species):
        raise TetrahedraError(
            f"index vertices are not all {index.ligand_species!r} in this trajectory; rebuild the index from it")
    if int(chunk_frames) < 1:
        raise TetrahedraError(f"chunk_frames must be >= 1, got {chunk_frames}")
    ref_angles = index.reference_angles_deg  # (T, 12)
    if reference_angle_deg is None:
        mask = np.ones_like(ref_angles, dtype=bool)
    else:
        mask = np.abs(ref_angles - float(reference_angle_deg)) <= reference_tol_deg
        if not mask.any():
            raise TetrahedraError(
                f"no reference angle within {reference_tol_deg}° of {reference_angle_deg}°; reference angles span "
                f"{ref_angles.min():.1f}–{ref_angles.max():.1f}°; pass another reference_angle_deg or None")
    tet, slot = np.nonzero(mask)
    out = np.empty((traj.n_frames, tet.size))
    for start, stop, verts in _continuous_vertex_vectors(traj, index, int(chunk_frames)):
        out[start:stop] = angles_from_vertices_deg(verts)[:, tet, slot]
    return ThetaResult(
        theta_deg=out, times_fs=traj.times_fs, tetrahedron=tet, angle_slot=slot,
        reference_angle_deg=ref_angles[tet, slot], label=index.label, timestep_fs=traj.timestep_fs,
    )


# ---------------------------------------------------------------------------- densities
@dataclass(frozen=True, eq=False)
class AngleDensity:
    """Histogram probability density of θ (deg) or ω (deg/fs) on a fixed grid.

    Attributes
    ----------
    bin_edges:
        Grid edges, shape (B + 1,), in ``unit``.
    bin_centers:
        Shape (B,), in ``unit``.
    density:
        ρ per ``unit``, shape (B,); Σ ρ Δ = 1 over the samples inside the grid.
    unit:
        ``"deg"`` (θ) or ``"deg/fs"`` (ω).
    n_samples:
        Samples inside the grid.
    fraction_outside:
        Fraction of samples that fell outside the grid (not in ``density``).
    """

    bin_edges: np.ndarray
    bin_centers: np.ndarray
    density: np.ndarray
    unit: str
    n_samples: int
    fraction_outside: float

    @property
    def peak(self) -> float:
        """Centre of the most populated bin, in ``unit``."""
        return float(self.bin_centers[int(np.argmax(self.density))])

    def to_dict(self) -> dict:
        return {
            "unit": self.unit, "bin_edges": self.bin_edges.tolist(), "bin_centers": self.bin_centers.tolist(),
            "density": self.density.tolist(), "n_samples": self.n_samples,
            "fraction_outside": self.fraction_outside,
        }


def _density(values: np.ndarray, lo: float, hi: float, width: float, unit: str) -> AngleDensity:
    if not (hi > lo) or not (width > 0):
        raise TetrahedraError(f"density grid needs hi > lo and bin width > 0, got [{lo}, {hi}], width {width}")
    nb = int(round((hi - lo) / width))
    if nb < 1 or not np.isclose(nb * width, hi - lo, rtol=1e-9, atol=1e-12):
        raise TetrahedraError(f"range {hi - lo} {unit} is not a whole number of bins of {width} {unit}")
    edges = np.linspace(lo, hi, nb + 1)
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise TetrahedraError("no finite samples to histogram")
    counts, _ = np.histogram(v, bins=edges)
    n_in = int(counts.sum())
    if n_in == 0:
        raise TetrahedraError(
            f"all {v.size} samples ({v.min():.3g}…{v.max():.3g} {unit}) lie outside the grid [{lo}, {hi}] {unit}; "
            "widen the range")
    return AngleDensity(
        bin_edges=edges, bin_centers=0.5 * (edges[1:] + edges[:-1]), density=counts / (n_in * width),
        unit=unit, n_samples=n_in, fraction_outside=1.0 - n_in / v.size,
    )


def theta_density(
    theta: ThetaResult | np.ndarray, *, range_deg: tuple[float, float] = (0.0, 180.0), bin_width_deg: float = 0.5
) -> AngleDensity:
    """ρ(θ): histogram density of all θ samples (all frames, all columns), per deg."""
    v = theta.theta_deg if isinstance(theta, ThetaResult) else theta
    return _density(v, range_deg[0], range_deg[1], bin_width_deg, "deg")


def omega_density(
    omega: OmegaResult | np.ndarray,
    *,
    range_deg_per_fs: tuple[float, float] = (-1.0, 1.0),
    bin_width_deg_per_fs: float = 0.005,
) -> AngleDensity:
    """ρ(ω): histogram density of all ω samples, per (deg/fs)."""
    v = omega.omega_deg_per_fs if isinstance(omega, OmegaResult) else omega
    return _density(v, range_deg_per_fs[0], range_deg_per_fs[1], bin_width_deg_per_fs, "deg/fs")


# ---------------------------------------------------------------------------- filtering, ω
def _edge_pivots(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Slow level of (F, m) series at both ends: a quadratic least-squares fit over the
    first/last ``window`` samples, evaluated at the end sample.

    Reflecting through this level (rather than through the end sample itself) keeps fast,
    to-be-removed components from leaking a step into the padding.
    """
    w = int(min(max(window, 3), x.shape[0]))
    s = np.arange(w, dtype=float) / w
    vander = np.vander(s, 3)
    lo = np.linalg.lstsq(vander, x[:w], rcond=None)[0]
    hi = np.linalg.lstsq(vander, x[-w:], rcond=None)[0]
    return vander[0] @ lo, vander[-1] @ hi


def _odd_pad(x: np.ndarray, window: int) -> tuple[np.ndarray, int]:
    """Point-reflect (F, m) series through the edge pivots on both ends (F − 1 samples each)."""
    p = x.shape[0] - 1
    lo, hi = _edge_pivots(x, window)
    left = 2.0 * lo[None] - x[p:0:-1]
    right = 2.0 * hi[None] - x[-2:-p - 2:-1]
    return np.concatenate([left, x, right], axis=0), p


def _fft_lowpass_2d(x: np.ndarray, dt_fs: float, fc_per_fs: float, window: int) -> np.ndarray:
    """Brick-wall FFT low-pass along axis 0 of (F, m), with odd-reflection padding and tapering."""
    from scipy import fft as sfft

    n = x.shape[0]
    mu = x.mean(axis=0, keepdims=True)
    y, p = _odd_pad(x - mu, window)
    w = 0.5 * (1.0 - np.cos(np.pi * np.arange(p) / p))[:, None]
    y[:p] *= w
    y[-p:] *= w[::-1]
    nfft = sfft.next_fast_len(y.shape[0], real=True)
    spec = sfft.rfft(y, n=nfft, axis=0)
    spec[sfft.rfftfreq(nfft, dt_fs) > fc_per_fs] = 0.0
    return sfft.irfft(spec, n=nfft, axis=0)[p:p + n] + mu


def lowpass_zero_phase(
    x: np.ndarray,
    dt_fs: float,
    cutoff_cm1: float,
    *,
    axis: int = 0,
    method: str = "fft",
    order: int = 4,
    max_block_bytes: int = 64 * 2**20,
) -> np.ndarray:
    """Zero-phase low-pass filter of time series (no time shift of any component).

    Parameters
    ----------
    x:
        Series, time along ``axis``, sampled every ``dt_fs`` fs (any unit; returned in it).
    dt_fs:
        Sampling interval, fs.
    cutoff_cm1:
        Cutoff wavenumber, cm^-1 (study: 5 cm^-1); f_c[1/fs] = ν̃ × c × 1e-15.
    method:
        ``"fft"`` (default, the study's "Fourier filter"): brick-wall mask of the real FFT
        (components above f_c set to 0, those below kept exactly). The series is first
        extended on both ends by a point reflection through its slow end level (quadratic
        fit over one cutoff period 1/f_c), cosine-tapered to the mean, so that the periodic
        FFT sees no jump. ``"butterworth"``: forward–backward (``scipy.signal.sosfiltfilt``)
        Butterworth of ``order``, gain 1/(1 + (f/f_c)^(2·order)), with the same padding.
        Both are real and symmetric in frequency, hence zero phase. Within about one cutoff
        period 1/f_c (6.7 ps at 5 cm^-1) of either end the result carries edge effects of a
        few % of the removed amplitude (unavoidable for a finite series); a straight line is
        kept to ~1e-4 of its span ("fft") or exactly ("butterworth").
    order:
        Butterworth order.
    max_block_bytes:
        Columns are filtered in blocks of at most about this much memory.

    Returns
    -------
    np.ndarray
        Filtered series, same shape as ``x``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 0 or x.shape[axis] < 3:
        raise TetrahedraError(f"need at least 3 samples along axis {axis} to filter, got shape {x.shape}")
    if not (dt_fs > 0):
        raise TetrahedraError(f"dt_fs must be > 0, got {dt_fs}")
    nyq_cm1 = float(frequency_per_fs_to_wavenumber_cm1(0.5 / dt_fs))
    if not (0 < cutoff_cm1 < nyq_cm1):
        raise TetrahedraError(
            f"cutoff_cm1={cutoff_cm1} must be in (0, Nyquist = {nyq_cm1:.1f} cm^-1) for dt = {dt_fs} fs")
    if not np.all(np.isfinite(x)):
        raise TetrahedraError("series contains NaN/inf; filter finite data only")
    fc = float(wavenumber_cm1_to_frequency_per_fs(cutoff_cm1))
    xt = np.moveaxis(x, axis, 0)
    shp = xt.shape
    x2 = xt.reshape(shp[0], -1)
    out = np.empty_like(x2)
    window = int(round(1.0 / (fc * dt_fs)))  # one cutoff period, samples
    block = max(1, int(max_block_bytes // (3 * shp[0] * 8 * 4)))
    if method == "fft":
        for j in range(0, x2.shape[1], block):
            out[:, j:j + block] = _fft_lowpass_2d(x2[:, j:j + block], dt_fs, fc, window)
    elif method == "butterworth":
        from scipy.signal import butter, sosfiltfilt

        sos = butter(int(order), fc, btype="low", fs=1.0 / dt_fs, output="sos")
        for j in range(0, x2.shape[1], block):
            y, p = _odd_pad(x2[:, j:j + block], window)
            out[:, j:j + block] = sosfiltfilt(sos, y, axis=0, padtype=None)[p:p + shp[0]]
    else:
        raise TetrahedraError(f"method must be 'fft' or 'butterworth', got {method!r}")
    return np.moveaxis(out.reshape(shp), 0, axis)


def filter_theta(theta: ThetaResult, cutoff_cm1: float = 5.0, *, method: str = "fft") -> ThetaResult:
    """θ(t) low-pass filtered at ``cutoff_cm1`` (cm^-1) with :func:`lowpass_zero_phase`."""
    if theta.filter_cutoff_cm1 is not None:
        raise TetrahedraError("theta is already filtered; pass the raw ThetaResult from tetrahedral_angles")
    f = lowpass_zero_phase(theta.theta_deg, theta.timestep_fs, cutoff_cm1, axis=0, method=method)
    return ThetaResult(
        theta_deg=f, times_fs=theta.times_fs, tetrahedron=theta.tetrahedron, angle_slot=theta.angle_slot,
        reference_angle_deg=theta.reference_angle_deg, label=theta.label, timestep_fs=theta.timestep_fs,
        filter_cutoff_cm1=float(cutoff_cm1),
    )


@dataclass(frozen=True, eq=False)
class OmegaResult:
    """ω(t) series (eq. 5), one column per θ column.

    Attributes
    ----------
    omega_deg_per_fs:
        [θ(t + dt) − θ(t)] / dt, shape (F − 1, M), deg/fs.
    times_fs:
        t of each forward difference (left point), shape (F − 1,), fs.
    tetrahedron, angle_slot:
        As in :class:`ThetaResult`.
    label:
        Unit name.
    timestep_fs:
        dt, the spacing of the stored frames, fs.
    filter_cutoff_cm1:
        Low-pass cutoff of θ before differencing, cm^-1, or None.
    """

    omega_deg_per_fs: np.ndarray
    times_fs: np.ndarray
    tetrahedron: np.ndarray
    angle_slot: np.ndarray
    label: str
    timestep_fs: float
    filter_cutoff_cm1: float | None

    def to_dict(self) -> dict:
        return {
            "label": self.label, "timestep_fs": self.timestep_fs, "filter_cutoff_cm1": self.filter_cutoff_cm1,
            "omega_deg_per_fs": self.omega_deg_per_fs.tolist(), "times_fs": self.times_fs.tolist(),
            "tetrahedron": self.tetrahedron.tolist(), "angle_slot": self.angle_slot.tolist(),
        }


def angular_velocity(
    theta: ThetaResult, *, cutoff_cm1: float | None = 5.0, method: str = "fft"
) -> OmegaResult:
    """ω(t) by eq. 5: forward difference of θ over the frame spacing, deg/fs.

    Parameters
    ----------
    theta:
        Raw θ from :func:`tetrahedral_angles` (or an already filtered one, with
        ``cutoff_cm1=None``).
    cutoff_cm1:
        θ is low-pass filtered (zero phase, :func:`lowpass_zero_phase`) at this wavenumber
        before differencing, cm^-1; the study's methods state 5 cm^-1. Differencing and
        filtering are linear and commute, so this equals filtering ω. None: no filter.
        Note: the ω spreads quoted in the study (±0.2 deg/fs in α-AgI, ±0.5 deg/fs in SbS4)
        are of the size of the *unfiltered* librational ω; compare both.
    method:
        ``"fft"`` or ``"butterworth"`` (see :func:`lowpass_zero_phase`).
    """
    if theta.n_frames < 2:
        raise TetrahedraError("ω needs at least 2 frames")
    th = theta
    if cutoff_cm1 is not None:
        th = filter_theta(theta, cutoff_cm1, method=method)
    om = np.diff(th.theta_deg, axis=0) / theta.timestep_fs
    return OmegaResult(
        omega_deg_per_fs=om, times_fs=theta.times_fs[:-1], tetrahedron=theta.tetrahedron,
        angle_slot=theta.angle_slot, label=theta.label, timestep_fs=theta.timestep_fs,
        filter_cutoff_cm1=th.filter_cutoff_cm1,
    )


# ---------------------------------------------------------------------------- report hook
#: Polyanion centres looked for (with S ligands) by :func:`analyze_for_report`.
POLYANION_CENTRES = ("P", "Ge", "Sb", "W")


def _unit_indices(traj: Trajectory) -> tuple[dict[str, TetrahedraIndex], dict[str, str]]:
    """Tetrahedral units present in ``traj``: polyanions AS4, else the I4 units of α-AgI."""
    found: dict[str, TetrahedraIndex] = {}
    skipped: dict[str, str] = {}
    els = set(traj.species)
    if "S" in els:
        for c in POLYANION_CENTRES:
            if c in els:
                try:
                    found[f"{c}S4"] = find_tetrahedra_from_trajectory(traj, c, "S")
                except TetrahedraError as exc:
                    skipped[f"{c}S4"] = str(exc)
    elif "I" in els and "Ag" in els:
        try:
            found["AgI4"] = find_tetrahedra_from_trajectory(
                traj, None, "I", average_frames=min(traj.n_frames, 50))
        except TetrahedraError as exc:
            skipped["AgI4"] = str(exc)
    return found, skipped


def analyze_for_report(traj: Trajectory, *, cutoff_cm1: float = 5.0, theta_bin_deg: float = 1.0,
                       omega_bin_deg_per_fs: float = 0.005, n_series: int = 3,
                       max_series_points: int = 2000) -> dict | None:
    """Host-lattice section of an analysis document (used by ``analyze_trajectory``).

    For every tetrahedral unit type present (PS4, GeS4, SbS4, WS4; the I4 units of α-AgI,
    keeping the I–I–I angles that are 70.5° in the ideal lattice, the study's θ): ρ(θ) over
    all angles and frames; ω by eq. 5 from θ(t) low-pass filtered at ``cutoff_cm1`` (zero
    phase, the study's 5 cm⁻¹) and ρ(ω), plus ρ(ω) of the unfiltered series; θ(t) raw and
    filtered of ``n_series`` tetrahedra (strided to ≤ ``max_series_points``) for plots.
    Returns None when the trajectory has no tetrahedral units.
    """
    if traj.n_frames < 3:
        return None
    units, skipped = _unit_indices(traj)
    if not units and not skipped:
        return None
    out: dict = {"cutoff_cm-1": cutoff_cm1, "units": {}, "skipped": skipped}
    for label, idx in units.items():
        ref = 70.5 if label == "AgI4" else None
        th = tetrahedral_angles(traj, idx, reference_angle_deg=ref)
        filt = filter_theta(th, cutoff_cm1)
        om = angular_velocity(th, cutoff_cm1=cutoff_cm1)
        om_raw = angular_velocity(th, cutoff_cm1=None)
        stride = max(1, th.n_frames // max_series_points)
        pick = np.unique(np.linspace(0, th.n_series - 1, min(n_series, th.n_series)).astype(int))
        out["units"][label] = {
            "n_tetrahedra": idx.n_tetrahedra, "n_angles": int(th.n_series),
            "theta_mean_deg": float(th.theta_deg.mean()), "theta_std_deg": float(th.theta_deg.std()),
            "rho_theta": theta_density(th.theta_deg, bin_width_deg=theta_bin_deg).to_dict(),
            "rho_omega": omega_density(om.omega_deg_per_fs,
                                       bin_width_deg_per_fs=omega_bin_deg_per_fs).to_dict(),
            "rho_omega_unfiltered": omega_density(om_raw.omega_deg_per_fs,
                                                  bin_width_deg_per_fs=omega_bin_deg_per_fs).to_dict(),
            "theta_series": {
                "times_fs": th.times_fs[::stride].tolist(),
                "raw_deg": th.theta_deg[::stride, pick].T.tolist(),
                "filtered_deg": filt.theta_deg[::stride, pick].T.tolist(),
                "tetrahedron": th.tetrahedron[pick].tolist(),
            },
        }
    cation = next((c for c in ("Li", "Na", "Ag") if c in traj.species), None)
    centres = [c for c in POLYANION_CENTRES if f"{c}S4" in units]
    if cation and centres:
        from ssic_flows.analysis.rphi import r_phi_by_polyanion

        r_max = min(6.0, np.floor((0.5 * float(perpendicular_widths_A(traj.cells[0]).min()) - 1e-6) * 10) / 10)
        try:
            maps = r_phi_by_polyanion(traj, cation, centers=tuple(centres), r_max_A=r_max,
                                      r_bin_A=0.1, phi_bin_deg=2.0)
            out["rphi"] = {"cation": cation, "maps": {k: v.to_dict() for k, v in maps.items()}}
        except ValueError as exc:
            out["skipped"]["rphi"] = str(exc)
    return out
