"""Design rows of labelled frames kept on disk between the fits of one on-the-fly training.

Every iteration of the on-the-fly loop refits on all frames so far; the force rows of a
frame (the B-function gradients, pyace's slowest output: ~55 ms for 100 atoms) depend only
on the frame and the basis, so they are computed once per (basis, frame) and read back
afterwards. The basis signature covers the elements, the basis size, the cutoff and the
inner (ZBL) cutoffs, so a changed basis never reads stale rows; rows are stored as float64,
so a fit from cached rows equals the uncached one exactly. The loop freezes the inner
cutoffs at its first fit (they would otherwise move with every new shortest pair and
invalidate the cache) and deletes the cache when training ends.

Example
-------
>>> cache = RowsCache("/tmp/run/rows_cache")            # doctest: +SKIP
>>> rows = cache.rows(evaluator, signature, atoms, stress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ssic_flows.engines.ace.design import DesignEvaluator, FrameRows

__all__ = ["RowsCache", "basis_signature", "frame_key"]


def basis_signature(elements: list[str], size: dict[str, Any], cutoff_A: float,
                    r_in_A: dict, dcut_in_A: float) -> str:
    """A short hash naming one basis (elements, size, cutoff Å, inner cutoffs Å, switch Å)."""
    doc = {"elements": sorted(elements), "size": size, "cutoff_A": float(cutoff_A),
           "r_in_A": {("-".join(k) if isinstance(k, tuple) else k): round(float(v), 10)
                      for k, v in sorted(r_in_A.items())},
           "dcut_in_A": float(dcut_in_A)}
    return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def frame_key(atoms, stress: bool) -> str:
    """A hash of a frame's species, positions (Å), cell (Å) and periodicity."""
    h = hashlib.sha1()
    h.update(" ".join(atoms.get_chemical_symbols()).encode())
    h.update(np.ascontiguousarray(atoms.positions, dtype=float).tobytes())
    h.update(np.ascontiguousarray(np.array(atoms.cell), dtype=float).tobytes())
    h.update(bytes(atoms.pbc.astype(np.uint8)) + (b"s" if stress else b"-"))
    return h.hexdigest()[:24]


class RowsCache:
    """Per-(basis, frame) design rows under ``directory`` (one ``.npz`` per frame)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    def rows(self, evaluator: DesignEvaluator, signature: str, atoms, stress: bool) -> FrameRows:
        """The frame's rows: read back if cached for this basis, else computed and stored."""
        path = self.directory / signature / f"{frame_key(atoms, stress)}.npz"
        if path.exists():
            try:
                with np.load(path) as z:
                    self.hits += 1
                    return FrameRows(
                        energy=z["energy"], forces=z["forces"],
                        stress=z["stress"] if "stress" in z else None, n_atoms=int(z["n_atoms"]),
                        core_energy_eV=float(z["core_energy_eV"]),
                        core_forces_eV_A=z["core_forces_eV_A"],
                        core_stress_eV_A3=z["core_stress_eV_A3"] if "core_stress_eV_A3" in z else None)
            except (OSError, ValueError, KeyError):  # a torn write: recompute
                pass
        self.misses += 1
        r = evaluator.rows(atoms, forces=True, stress=stress)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"energy": r.energy, "forces": r.forces, "n_atoms": np.array(r.n_atoms),
                  "core_energy_eV": np.array(r.core_energy_eV),
                  "core_forces_eV_A": r.core_forces_eV_A}
        if r.stress is not None:
            arrays["stress"] = r.stress
            arrays["core_stress_eV_A3"] = r.core_stress_eV_A3
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
        return r

    def clear(self) -> None:
        """Delete the cache directory."""
        shutil.rmtree(self.directory, ignore_errors=True)
