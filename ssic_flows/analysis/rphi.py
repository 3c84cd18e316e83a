"""ρ(r_M–S, ϕ): cation–sulfur distance vs the A–S–M angle around AS4 polyanions.

Units: Å, deg, fs. ρ is a probability density per Å per deg.

Definition (study, Figs. 7c/f and 10c/f, text: "Li–S distances, r_Li–S, as a function of
P–S–Li bond angles, ϕ"; the Na3SbS4 section calls the same angle "dihedral"): for every
polyanion AS4 of one type (A = P, Ge, Sb or W), every one of its 4 S atoms, every mobile
cation M (Li, Na) with S–M distance r < ``r_max_A`` (default 6 Å) and every frame,

* r = |r_M − r_S| (minimum image), Å;
* ϕ = ∠(A, S, M) = arccos[(r_A − r_S)·(r_M − r_S) / (|r_A − r_S| |r_M − r_S|)], the bond
  angle at the S vertex between the S→A bond and the S→M direction, deg in [0, 180].

ϕ ≈ 180° puts the cation on the extension of the A–S bond (outside the tetrahedron);
ϕ ≈ 90° beside the S atom; small ϕ means the cation sits over the polyanion. Every (unit,
S, cation, frame) within r_max counts once, so a cation near two polyanions of the type
contributes to both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssic_flows.analysis.geometry import minimum_image, perpendicular_widths_A
from ssic_flows.analysis.tetrahedra.detect import TetrahedraError, TetrahedraIndex, find_tetrahedra
from ssic_flows.analysis.trajectory import Trajectory

__all__ = ["RPhiResult", "r_phi_density", "r_phi_by_polyanion"]


@dataclass(frozen=True, eq=False)
class RPhiResult:
    """2D probability density ρ(r, ϕ) for one polyanion type and one cation.

    Attributes
    ----------
    label:
        Polyanion (``"PS4"``, ``"GeS4"``, ``"SbS4"``, ``"WS4"``).
    cation:
        Mobile cation element (``"Li"``, ``"Na"``).
    r_edges_A:
        Distance bin edges, shape (R + 1,), Å.
    phi_edges_deg:
        Angle bin edges, shape (P + 1,), deg.
    density_per_A_deg:
        ρ(r, ϕ), shape (R, P), 1/(Å·deg); Σ ρ Δr Δϕ = 1.
    counts:
        Pair-frame counts per bin, shape (R, P).
    n_frames:
        Frames analysed.
    n_pairs:
        Total (unit, S, cation, frame) samples with r < r_max.
    """

    label: str
    cation: str
    r_edges_A: np.ndarray
    phi_edges_deg: np.ndarray
    density_per_A_deg: np.ndarray
    counts: np.ndarray
    n_frames: int
    n_pairs: int

    @property
    def r_centers_A(self) -> np.ndarray:
        return 0.5 * (self.r_edges_A[1:] + self.r_edges_A[:-1])

    @property
    def phi_centers_deg(self) -> np.ndarray:
        return 0.5 * (self.phi_edges_deg[1:] + self.phi_edges_deg[:-1])

    @property
    def pairs_per_frame(self) -> float:
        return self.n_pairs / self.n_frames

    def mode(self) -> tuple[float, float]:
        """(r in Å, ϕ in deg) at the centre of the most populated bin."""
        i, j = np.unravel_index(int(np.argmax(self.counts)), self.counts.shape)
        return float(self.r_centers_A[i]), float(self.phi_centers_deg[j])

    def marginal_phi(self) -> np.ndarray:
        """ρ(ϕ) = ∫ ρ(r, ϕ) dr, shape (P,), 1/deg."""
        return self.density_per_A_deg.sum(axis=0) * np.diff(self.r_edges_A)[0]

    def to_dict(self) -> dict:
        return {
            "label": self.label, "cation": self.cation, "r_edges_A": self.r_edges_A.tolist(),
            "phi_edges_deg": self.phi_edges_deg.tolist(),
            "density_per_A_deg": self.density_per_A_deg.tolist(), "counts": self.counts.tolist(),
            "n_frames": self.n_frames, "n_pairs": self.n_pairs,
        }


def _grid(lo: float, hi: float, width: float, what: str) -> np.ndarray:
    nb = int(round((hi - lo) / width))
    if not (width > 0) or nb < 1 or not np.isclose(nb * width, hi - lo, rtol=1e-9, atol=1e-12):
        raise TetrahedraError(f"{what}: range [{lo}, {hi}] is not a whole number of bins of width {width}")
    return np.linspace(lo, hi, nb + 1)


def r_phi_density(
    traj: Trajectory,
    index: TetrahedraIndex,
    cation: str,
    *,
    r_max_A: float = 6.0,
    r_bin_A: float = 0.05,
    phi_bin_deg: float = 1.0,
    frames: slice | None = None,
    max_chunk_bytes: int = 64 * 2**20,
) -> RPhiResult:
    """ρ(r_M–S, ϕ) of one polyanion type (see the module docstring for the definition).

    Parameters
    ----------
    traj:
        Trajectory (Å, fs), wrapped or not; constant or variable cell.
    index:
        Polyanion index from :func:`~ssic_flows.analysis.tetrahedra.detect.find_tetrahedra`
        with a centre (e.g. ``center="P", ligand="S"``).
    cation:
        Mobile cation element, e.g. ``"Li"`` or ``"Na"``.
    r_max_A:
        Largest S–M distance counted, Å (study: 6 Å); must be below half the smallest
        cell width so the minimum image is unique.
    r_bin_A, phi_bin_deg:
        Bin widths, Å and deg; r spans [0, r_max], ϕ spans [0, 180].
    frames:
        Optional frame slice (e.g. ``slice(1000, None)`` to drop equilibration).
    max_chunk_bytes:
        Frames are processed in chunks whose pair arrays stay below about this size.

    Returns
    -------
    RPhiResult
    """
    if index.kind != "polyanion" or np.any(index.centers < 0):
        raise TetrahedraError(
            "r_phi_density needs a polyanion index with centre atoms; call find_tetrahedra(..., center='P', "
            "ligand='S')")
    if max(int(index.vertices.max()), int(index.centers.max())) >= traj.n_atoms:
        raise TetrahedraError("index refers to atoms beyond this trajectory; build it from this trajectory")
    sp = np.asarray(traj.species)
    if np.any(sp[index.centers] != index.center_species) or np.any(sp[index.vertices] != index.ligand_species):
        raise TetrahedraError(f"index species do not match this trajectory; rebuild the {index.label} index from it")
    mob = np.flatnonzero(sp == cation)
    if mob.size == 0:
        raise TetrahedraError(f"no {cation!r} atoms in the trajectory; species present: {traj.elements}")
    if not (r_max_A > 0):
        raise TetrahedraError(f"r_max_A must be > 0, got {r_max_A}")
    sub = traj if frames is None else traj[frames]
    if sub.n_frames == 0:
        raise TetrahedraError(f"frame selection {frames} is empty")
    half = 0.5 * perpendicular_widths_A(sub.cells).min()
    if r_max_A >= half:
        raise TetrahedraError(
            f"r_max_A={r_max_A} Å is not below half the smallest cell width ({half:.2f} Å): pairs would be "
            "missed or double counted under the minimum image; lower r_max_A or use a larger supercell")
    r_edges = _grid(0.0, float(r_max_A), float(r_bin_A), "r")
    phi_edges = _grid(0.0, 180.0, float(phi_bin_deg), "phi")
    counts = np.zeros((r_edges.size - 1, phi_edges.size - 1), dtype=np.int64)

    s_idx = index.vertices.ravel()  # (4T,)
    a_idx = np.repeat(index.centers, 4)  # (4T,)
    ns, nm = s_idx.size, mob.size
    chunk = max(1, int(max_chunk_bytes // (ns * nm * 3 * 8 * 3)))
    for start in range(0, sub.n_frames, chunk):
        stop = min(start + chunk, sub.n_frames)
        cells = sub.cells[start:stop]
        inv = np.linalg.inv(cells)
        frac = np.einsum("fnj,fjk->fnk", sub.positions[start:stop], inv)
        fs = frac[:, s_idx]
        d_sa = frac[:, a_idx] - fs
        minimum_image(d_sa)
        u = np.einsum("fnj,fjk->fnk", d_sa, cells)  # S→A, (C, 4T, 3) Å
        d_sm = frac[:, mob][:, None, :, :] - fs[:, :, None, :]
        minimum_image(d_sm)
        w = np.einsum("fsmj,fjk->fsmk", d_sm, cells)  # S→M, (C, 4T, Nm, 3) Å
        r = np.linalg.norm(w, axis=-1)
        sel = (r < r_max_A) & (r > 0)
        if not sel.any():
            continue
        f_i, s_i, _ = np.nonzero(sel)
        wr = w[sel]
        ur = u[f_i, s_i]
        cos = np.einsum("pk,pk->p", ur, wr) / (np.linalg.norm(ur, axis=-1) * r[sel])
        phi = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        h, _, _ = np.histogram2d(r[sel], phi, bins=(r_edges, phi_edges))
        counts += h.astype(np.int64)
    n_pairs = int(counts.sum())
    if n_pairs == 0:
        raise TetrahedraError(
            f"no {cation}–{index.ligand_species} pairs within r_max_A={r_max_A} Å around {index.label}; "
            "check the cation species or raise r_max_A")
    dens = counts / (n_pairs * r_bin_A * phi_bin_deg)
    return RPhiResult(
        label=index.label, cation=cation, r_edges_A=r_edges, phi_edges_deg=phi_edges, density_per_A_deg=dens,
        counts=counts, n_frames=sub.n_frames, n_pairs=n_pairs,
    )


def r_phi_by_polyanion(
    traj: Trajectory,
    cation: str,
    centers: tuple[str, ...],
    ligand: str,
    *,
    index_frame: int = 0,
    **kwargs,
) -> dict[str, RPhiResult]:
    """ρ(r, ϕ) for each polyanion type, e.g. PS4 and GeS4 in LGPS, SbS4 and WS4 in Na3SbS4:W.

    Parameters
    ----------
    traj:
        Trajectory (Å, fs).
    cation:
        Mobile cation element.
    centers:
        Polyanion centre elements (e.g. ``("P", "Ge")``, the material's knowledge); each
        gets its own index built on frame ``index_frame``.
    ligand:
        Ligand element (e.g. ``"S"``).
    **kwargs:
        Passed to :func:`r_phi_density`.

    Returns
    -------
    dict
        Unit label (``"PS4"``, ...) → :class:`RPhiResult`.
    """
    out: dict[str, RPhiResult] = {}
    for c in centers:
        idx = find_tetrahedra(traj.species, traj.positions[index_frame], traj.cells[index_frame], c, ligand)
        res = r_phi_density(traj, idx, cation, **kwargs)
        out[res.label] = res
    return out
