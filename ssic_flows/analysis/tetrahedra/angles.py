"""θ(t): the face angles (eq. 4) of tetrahedral units followed through a trajectory.

Units: positions and cells in Å, time in fs, angles in deg.

Vertex vectors are taken relative to vertex 0 of each tetrahedron and followed continuously
in time (the package's unwrapping rule, :func:`~ssic_flows.analysis.geometry.unwrap_fractional`,
chunk by chunk), anchored at the first frame to the image that is closest to the reference
geometry stored in the index. This is exact for wrapped trajectories, for rotating
polyanions and for cells whose width equals an edge length (the 4×4×2 α-AgI cell, where a
plain minimum image of an a-long edge is ambiguous).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ssic_flows.analysis.geometry import unwrap_fractional
from ssic_flows.analysis.tetrahedra.detect import TetrahedraError, TetrahedraIndex, angles_from_vertices_deg
from ssic_flows.analysis.trajectory import Trajectory

__all__ = ["ThetaResult", "tetrahedral_angles"]


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
        out[start:stop] = angles_from_vertices_deg(verts, select=(tet, slot))
    return ThetaResult(
        theta_deg=out, times_fs=traj.times_fs, tetrahedron=tet, angle_slot=slot,
        reference_angle_deg=ref_angles[tet, slot], label=index.label, timestep_fs=traj.timestep_fs,
    )
