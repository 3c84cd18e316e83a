"""The one trajectory type every engine produces and every observable consumes.

Units: positions and cells in Å, velocities in Å/fs, forces in eV/Å, energies in eV,
time in fs. Pure numpy: this module knows nothing of jobflow or databases.

Example
-------
>>> import numpy as np
>>> t = Trajectory(species=["Ag", "I"], positions=np.zeros((3, 2, 3)),
...                cells=np.eye(3) * 5.0, timestep_fs=2.0)
>>> t.n_frames, t.n_atoms, t.times_fs[-1]
(3, 2, 4.0)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from monty.json import MSONable

from ssic_flows.analysis.geometry import unwrapped_positions

__all__ = ["Trajectory", "TrajectoryError", "pack_array", "unpack_array"]


class TrajectoryError(ValueError):
    """A trajectory is malformed (wrong shapes, missing data); the message names the fix."""


def _opt(a: Any, dtype=float) -> np.ndarray | None:
    return None if a is None else np.asarray(a, dtype=dtype)


_ARRAYS = ("positions", "cells", "velocities", "forces", "energies", "steps")


def pack_array(a: np.ndarray | None) -> dict | None:
    """An array as ``{"dtype", "shape", "base64"}`` (its bytes, exact; JSON/BSON-safe).

    >>> pack_array(np.array([1.5, 2.0]))["shape"], unpack_array(pack_array(np.eye(2))).tolist()
    ([2], [[1.0, 0.0], [0.0, 1.0]])
    """
    if a is None:
        return None
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "base64": base64.b64encode(a.tobytes()).decode("ascii")}


def unpack_array(v: Any) -> Any:
    """The array of :func:`pack_array`'s dict (a writable copy); anything else unchanged."""
    if isinstance(v, dict) and "base64" in v:
        buf = base64.b64decode(v["base64"])
        return np.frombuffer(buf, dtype=np.dtype(v["dtype"])).reshape(v["shape"]).copy()
    return v


@dataclass(eq=False)
class Trajectory(MSONable):
    """An MD trajectory.

    Attributes
    ----------
    species:
        Element symbol per atom (length N).
    positions:
        Cartesian positions, shape (F, N, 3), Å. May be wrapped into the cell; use
        :meth:`unwrapped` for continuous paths.
    cells:
        Lattice vectors as rows, shape (F, 3, 3) Å (NPT) or (3, 3) (constant cell).
    timestep_fs:
        Time between *stored* frames, fs (MD step × stride).
    velocities:
        Å/fs, shape (F, N, 3), when the engine wrote them, or derived from positions by
        :meth:`with_finite_difference_velocities` (then marked in
        ``metadata["velocities_derived"]``).
    forces:
        eV/Å, shape (F, N, 3), when present.
    energies:
        Potential energy per frame, eV, shape (F,), when present.
    steps:
        MD step index of each frame, shape (F,), int. Defaults to 0..F-1.
    metadata:
        Free-form provenance: engine, engine_version, temperature_K, seed, ...
    """

    species: list[str]
    positions: np.ndarray
    cells: np.ndarray
    timestep_fs: float
    velocities: np.ndarray | None = None
    forces: np.ndarray | None = None
    energies: np.ndarray | None = None
    steps: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.species = [str(s) for s in self.species]
        self.positions = np.asarray(self.positions, dtype=float)
        if self.positions.ndim == 2:
            self.positions = self.positions[None]
        if self.positions.ndim != 3 or self.positions.shape[2] != 3:
            raise TrajectoryError(
                f"positions must have shape (frames, atoms, 3), got {self.positions.shape}"
            )
        nf, na, _ = self.positions.shape
        if len(self.species) != na:
            raise TrajectoryError(
                f"{len(self.species)} species given for {na} atoms; pass one symbol per atom"
            )
        cells = np.asarray(self.cells, dtype=float)
        if cells.shape == (3,):
            cells = np.diag(cells)
        if cells.shape == (3, 3):
            cells = np.broadcast_to(cells, (nf, 3, 3)).copy()
        if cells.shape != (nf, 3, 3):
            raise TrajectoryError(
                f"cells must have shape (3, 3) or ({nf}, 3, 3), got {cells.shape}"
            )
        self.cells = cells
        self.velocities = _opt(self.velocities)
        self.forces = _opt(self.forces)
        self.energies = _opt(self.energies)
        for name in ("velocities", "forces"):
            a = getattr(self, name)
            if a is not None and a.shape != self.positions.shape:
                raise TrajectoryError(f"{name} shape {a.shape} != positions shape {self.positions.shape}")
        if self.energies is not None and self.energies.shape != (nf,):
            raise TrajectoryError(f"energies must have shape ({nf},), got {self.energies.shape}")
        self.steps = np.arange(nf) if self.steps is None else np.asarray(self.steps, dtype=int)
        if self.steps.shape != (nf,):
            raise TrajectoryError(f"steps must have shape ({nf},), got {self.steps.shape}")
        if not (float(self.timestep_fs) > 0):
            raise TrajectoryError(f"timestep_fs must be > 0, got {self.timestep_fs}")
        self.timestep_fs = float(self.timestep_fs)

    # ------------------------------------------------------------------ basic info
    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[1])

    @property
    def times_fs(self) -> np.ndarray:
        """Time of each frame relative to the first, fs."""
        return np.arange(self.n_frames) * self.timestep_fs

    @property
    def constant_cell(self) -> bool:
        return bool(np.allclose(self.cells, self.cells[0]))

    @property
    def volumes_A3(self) -> np.ndarray:
        """Cell volume per frame, Å³."""
        return np.abs(np.linalg.det(self.cells))

    @property
    def elements(self) -> list[str]:
        """Distinct species in order of first appearance."""
        return list(dict.fromkeys(self.species))

    def indices(self, species: str) -> np.ndarray:
        """Atom indices of one species."""
        idx = np.flatnonzero(np.asarray(self.species) == species)
        if idx.size == 0:
            raise TrajectoryError(f"no atoms of species {species!r}; present: {self.elements}")
        return idx

    @property
    def masses_amu(self) -> np.ndarray:
        """Atomic masses, amu (from ASE's table)."""
        from ase.data import atomic_masses, atomic_numbers

        return np.array([atomic_masses[atomic_numbers[s]] for s in self.species])

    # ------------------------------------------------------------------ transforms
    def fractional(self) -> np.ndarray:
        """Fractional coordinates, shape (F, N, 3)."""
        inv = np.linalg.inv(self.cells)
        return np.einsum("fnj,fjk->fnk", self.positions, inv)

    def unwrapped(self) -> np.ndarray:
        """Continuous Cartesian positions (F, N, 3), Å.

        The package's one unwrapping rule (:func:`~ssic_flows.analysis.geometry.unwrapped_positions`):
        each frame-to-frame fractional displacement is brought into [-0.5, 0.5) (an atom
        moves less than half a cell between stored frames) and accumulated. Works for
        NPT: displacements are taken in fractional space and mapped with each frame's cell.
        """
        return unwrapped_positions(self.positions, self.cells)

    def with_finite_difference_velocities(self) -> Trajectory:
        """A copy whose velocities (Å/fs) are central differences of unwrapped positions.

        For engines and files that store positions only (vasprun.xml, XDATCAR, extxyz
        without velocities): v(t) = [x(t + Δt) − x(t − Δt)] / (2Δt), Δt = ``timestep_fs``
        (the *stored* frame spacing), second-order one-sided differences at the two ends
        (:func:`numpy.gradient`, ``edge_order=2``).

        Error: central differencing is a linear filter with response sin(ωΔt)/(ωΔt). A
        harmonic mode x = A cos(ωt + φ) gets the velocity −Aω sin(ωt + φ) · sin(ωΔt)/(ωΔt)
        exactly, so its power (VDOS weight) is scaled by sinc²(2πνΔt) and its frequency is
        unchanged. At ν̃ = 400 cm⁻¹ (ν = 0.012 fs⁻¹): −0.19 % in power for Δt = 1 fs, −0.76 %
        for 2 fs, −4.6 % for 5 fs; it reaches 0 at the Nyquist frequency 1/(2Δt) (motion
        faster than that aliases, as with any sampled data). :func:`~ssic_flows.analysis.vdos.vdos`
        divides the spectrum by this response (see there), so band centres are unbiased.

        The copy is marked: ``metadata["velocities_derived"] = {"method": ..., "timestep_fs": Δt}``
        (what the VDOS and the analysis JSON report). Needs frames close enough that no atom
        moves half a cell between them (the unwrapping rule of :meth:`unwrapped`).

        Examples
        --------
        >>> t = np.arange(400) * 2.0
        >>> x = 0.1 * np.cos(0.05 * t)[:, None, None] * np.ones((1, 1, 3))
        >>> tr = Trajectory(["Na"], x, np.eye(3) * 10, 2.0).with_finite_difference_velocities()
        >>> v_true = -0.1 * 0.05 * np.sin(0.05 * t[200])
        >>> bool(np.isclose(tr.velocities[200, 0, 0], v_true * np.sin(0.1) / 0.1))
        True
        """
        if self.n_frames < 3:
            raise TrajectoryError(f"finite-difference velocities need >= 3 frames, got {self.n_frames}")
        x = self.unwrapped()
        v = np.gradient(x, self.timestep_fs, axis=0, edge_order=2)
        meta = dict(self.metadata, velocities_derived={
            "method": "central differences of unwrapped positions",
            "timestep_fs": self.timestep_fs})
        return self.replace(velocities=v, metadata=meta)

    def replace(self, **kw: Any) -> Trajectory:
        d = {k: getattr(self, k) for k in (
            "species", "positions", "cells", "timestep_fs", "velocities", "forces",
            "energies", "steps", "metadata")}
        d.update(kw)
        return Trajectory(**d)

    def __getitem__(self, item: slice | np.ndarray | list[int]) -> Trajectory:
        """Frame selection; a slice with a stride multiplies ``timestep_fs``."""
        if isinstance(item, int):
            item = slice(item, item + 1 if item != -1 else None)
        dt = self.timestep_fs
        if isinstance(item, slice) and item.step not in (None, 1):
            dt = dt * item.step

        def sel(a):
            return None if a is None else a[item]

        return Trajectory(
            species=self.species, positions=self.positions[item], cells=self.cells[item],
            timestep_fs=dt, velocities=sel(self.velocities), forces=sel(self.forces),
            energies=sel(self.energies), steps=self.steps[item], metadata=dict(self.metadata),
        )

    @classmethod
    def concatenate(cls, parts: list[Trajectory]) -> Trajectory:
        """Join segments (e.g. a resumed run), dropping frames whose step index repeats.

        Raises if the segments do not share species and timestep.
        """
        parts = [p for p in parts if p.n_frames]
        if not parts:
            raise TrajectoryError("nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if p.species != first.species:
                raise TrajectoryError("segments have different species lists")
            if not np.isclose(p.timestep_fs, first.timestep_fs):
                raise TrajectoryError("segments have different timesteps")
        keep = []
        last = -np.inf
        for p in parts:
            m = p.steps > last
            keep.append((p, m))
            if m.any():
                last = p.steps[m].max()

        def cat(name):
            arrs = [getattr(p, name) for p, _ in keep]
            if any(a is None for a in arrs):
                return None
            return np.concatenate([a[m] for a, (_, m) in zip(arrs, keep)])

        return cls(
            species=first.species, positions=cat("positions"), cells=cat("cells"),
            timestep_fs=first.timestep_fs, velocities=cat("velocities"), forces=cat("forces"),
            energies=cat("energies"), steps=cat("steps"), metadata=dict(first.metadata),
        )

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path) -> Path:
        """Write the compact binary format (compressed ``.npz``) the workflow stores."""
        path = Path(path)
        import json

        arrays = {"positions": self.positions, "cells": self.cells, "steps": self.steps,
                  "species": np.asarray(self.species), "timestep_fs": np.asarray(self.timestep_fs),
                  "metadata_json": np.asarray(json.dumps(self.metadata, default=str))}
        for k in ("velocities", "forces", "energies"):
            if getattr(self, k) is not None:
                arrays[k] = getattr(self, k)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trajectory:
        """Read a file written by :meth:`save`."""
        import json

        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise TrajectoryError(f"{path}: not a ssic_flows trajectory .npz ({exc})") from exc
        with z:
            if "positions" not in z.files:
                raise TrajectoryError(f"{path}: no 'positions' array; not a ssic_flows trajectory")
            return cls(
                species=[str(s) for s in z["species"]], positions=z["positions"], cells=z["cells"],
                timestep_fs=float(z["timestep_fs"]),
                velocities=z["velocities"] if "velocities" in z.files else None,
                forces=z["forces"] if "forces" in z.files else None,
                energies=z["energies"] if "energies" in z.files else None,
                steps=z["steps"], metadata=json.loads(str(z["metadata_json"])),
            )

    def as_dict(self) -> dict:
        """MSON dict; arrays packed as ``{"dtype", "shape", "base64"}`` (:func:`pack_array`).

        Packed rather than nested lists: a job that resolves a stored trajectory then decodes
        one string per array instead of walking and converting ~10⁶ floats (jobflow walks
        every resolved output for references; BSON decodes every list element).
        :meth:`from_dict` reads both forms.
        """
        return {
            "@module": type(self).__module__, "@class": type(self).__name__,
            "species": self.species, "positions": pack_array(self.positions),
            "cells": pack_array(self.cells), "timestep_fs": self.timestep_fs,
            "velocities": pack_array(self.velocities), "forces": pack_array(self.forces),
            "energies": pack_array(self.energies), "steps": pack_array(self.steps),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Trajectory:
        """From :meth:`as_dict` (packed arrays) or the older form with nested lists."""
        d = {k: unpack_array(v) if k in _ARRAYS else v for k, v in d.items() if not k.startswith("@")}
        return cls(**d)

    def to_ase(self, frame: int = -1):
        """One frame as an ASE ``Atoms`` (periodic), with velocities if present."""
        from ase import Atoms

        at = Atoms(self.species, positions=self.positions[frame], cell=self.cells[frame], pbc=True)
        if self.velocities is not None:
            from ase import units

            at.set_velocities(self.velocities[frame] * units.Ang / units.fs)
        return at

    def to_structure(self, frame: int = -1):
        """One frame as a pymatgen ``Structure``."""
        from pymatgen.core import Lattice, Structure

        return Structure(Lattice(self.cells[frame]), self.species, self.positions[frame],
                         coords_are_cartesian=True)
