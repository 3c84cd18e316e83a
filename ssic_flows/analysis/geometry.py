"""Periodic-cell geometry: cell widths, the minimum image and unwrapping of MD paths.

Units: positions and cells in Å (lattice vectors as rows), fractional coordinates
dimensionless. Pure numpy over arrays; every observable that needs continuous paths or
minimum-image distances takes them from here.

Unwrapping rule (one for the whole package): between two *stored* frames an atom moves
less than half a cell, so each frame-to-frame step in fractional coordinates is brought
into [-0.5, 0.5) and the steps are accumulated; each frame's own cell maps the result back
to Å, which makes the rule exact for NPT runs too.

Example
-------
>>> import numpy as np
>>> cell = np.eye(3) * 10.0
>>> x = np.array([[[9.5, 0, 0]], [[0.5, 0, 0]]])  # crosses the x face between the frames
>>> unwrapped_positions(x, cell)[:, 0, 0].tolist()
[9.5, 10.5]
>>> perpendicular_widths_A(cell).round(9).tolist()
[10.0, 10.0, 10.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["perpendicular_widths_A", "minimum_image", "unwrap_fractional", "unwrapped_positions",
           "atom_positions", "unwrapped_displacements"]


def perpendicular_widths_A(cells: np.ndarray) -> np.ndarray:
    """Perpendicular widths of cells (distance between opposite faces), Å.

    Parameters
    ----------
    cells : (..., 3, 3) array, lattice vectors as rows, Å.

    Returns
    -------
    (..., 3) array: width along a, b, c, Å (volume / area of the opposite face).
    """
    cells = np.asarray(cells, dtype=float)
    vol = np.abs(np.linalg.det(cells))
    a, b, c = cells[..., 0, :], cells[..., 1, :], cells[..., 2, :]
    areas = np.stack([np.linalg.norm(np.cross(b, c), axis=-1),
                      np.linalg.norm(np.cross(c, a), axis=-1),
                      np.linalg.norm(np.cross(a, b), axis=-1)], axis=-1)
    return vol[..., None] / areas


def minimum_image(d_frac: np.ndarray) -> np.ndarray:
    """Fractional differences brought into [-0.5, 0.5] in place (and returned).

    >>> minimum_image(np.array([0.7, -0.6, 0.2])).round(6).tolist()
    [-0.3, 0.4, 0.2]
    """
    d_frac -= np.round(d_frac)
    return d_frac


def unwrap_fractional(frac: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Continuous path of fractional coordinates (F, n, 3) by the module's unwrapping rule.

    Parameters
    ----------
    frac : (F, n, 3) fractional coordinates, wrapped or not.
    start : optional (n, 3) continuous position of the frame just before ``frac[0]`` (to
        continue a path chunk by chunk); None starts the path at ``frac[0]``.

    Returns
    -------
    (F, n, 3) continuous fractional coordinates.
    """
    ref = frac[:1] if start is None else np.asarray(start)[None]
    d = np.diff(np.concatenate([ref, frac], axis=0), axis=0)
    minimum_image(d)
    return ref + np.cumsum(d, axis=0)


def _to_fractional(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    if cells.ndim == 2:
        return positions @ np.linalg.inv(cells)
    return np.einsum("fnj,fjk->fnk", positions, np.linalg.inv(cells))


def _to_cartesian(frac: np.ndarray, cells: np.ndarray) -> np.ndarray:
    if cells.ndim == 2:
        return frac @ cells
    return np.einsum("fnj,fjk->fnk", frac, cells)


def unwrapped_positions(positions: np.ndarray, cells: np.ndarray,
                        start_frac: np.ndarray | None = None) -> np.ndarray:
    """Continuous Cartesian positions (F, n, 3), Å.

    Parameters
    ----------
    positions : (F, n, 3) Cartesian positions, Å (wrapped or not).
    cells : (3, 3) constant cell or (F, 3, 3) one per frame, rows = lattice vectors, Å.
    start_frac : as ``start`` of :func:`unwrap_fractional`.
    """
    cells = np.asarray(cells, dtype=float)
    cont = unwrap_fractional(_to_fractional(np.asarray(positions, dtype=float), cells), start_frac)
    return _to_cartesian(cont, cells)


def atom_positions(positions: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``positions[:, idx]``, (F, n, 3): a view when ``idx`` is a contiguous run of atoms
    (the usual species block), else a gather."""
    idx = np.asarray(idx)
    if idx.size and idx[-1] - idx[0] + 1 == idx.size and np.all(np.diff(idx) == 1):
        return positions[:, idx[0]:idx[-1] + 1]
    return positions[:, idx]


def _prefix_sum_rows(d: np.ndarray, block: int = 32) -> None:
    """In-place cumulative sum of ``d`` (T, m) along axis 0 (time), vectorised over columns.

    ``np.cumsum(axis=0)`` walks each column separately; here ``block − 1`` vector adds
    build the prefix sums inside blocks of ``block`` rows, a short cumsum over the block
    ends gives the carries, and one add applies them: about twice as fast, same result up
    to rounding (sums in a different order).
    """
    nt = d.shape[0]
    nb = nt // block
    if nb < 2:
        np.cumsum(d, axis=0, out=d)
        return
    x = d[:nb * block].reshape(nb, block, d.shape[1])
    for j in range(1, block):
        x[:, j] += x[:, j - 1]
    carry = np.cumsum(x[:, -1], axis=0)
    x[1:] += carry[:-1, None, :]
    np.cumsum(d[nb * block - 1:], axis=0, out=d[nb * block - 1:])  # the ragged tail


class RowUnwrapper:
    """Unwrapped displacements of chunks of atoms, in time-contiguous rows of a buffer.

    The fast path of the module's unwrapping rule, in the layout FFTs want: row 3·i + k
    holds component k of atom i over all F frames, as the continuous displacement
    u(t) = x(t) − x(0), Å (MSDs and drift terms are differences, so the origin drops out,
    and small numbers keep FFT sums accurate).

    Frame-to-frame steps are taken in the frame-major layout (vectorised over the atoms of
    the chunk); the steps across the cell (|Δs| > ½ in fractional coordinates, rare) are
    found with one comparison and corrected sparsely; a blocked prefix sum rebuilds the
    path; one transposing copy writes the rows. No copy of the whole trajectory is made;
    the scratch space is three chunks.

    Constant orthorhombic cells use per-component lengths, constant triclinic cells their
    inverse; variable cells (NPT) fall back to :func:`unwrapped_positions` for each chunk.

    Parameters
    ----------
    positions : (F, N, 3) Cartesian positions, Å.
    cells : (F, 3, 3) cells, Å.
    max_atoms : largest chunk of atoms that :meth:`into` will be given.
    """

    def __init__(self, positions: np.ndarray, cells: np.ndarray, max_atoms: int):
        self.positions = positions
        self.cells = np.asarray(cells)
        self.nf = positions.shape[0]
        self.cell = self.cells[0]
        self.constant = bool(np.allclose(self.cells, self.cell))
        lengths = np.diag(self.cell)
        self.orthorhombic = self.constant and bool(np.allclose(self.cell, np.diag(lengths)))
        self.inv = np.linalg.inv(self.cell)
        self.len_rows = np.tile(lengths, max_atoms)
        self.half_rows = self.len_rows / 2
        # flat scratch, viewed per chunk as contiguous (rows, 3·n) arrays
        self._pos = np.empty(self.nf * 3 * max_atoms)
        self._d = np.empty((self.nf - 1) * 3 * max_atoms)
        self._mask = np.empty(self._d.size, dtype=bool)

    def into(self, idx: np.ndarray, out: np.ndarray) -> None:
        """Write u(t) = x(t) − x(0) of atoms ``idx`` into ``out`` (3·len(idx), F), Å."""
        nf, n3 = self.nf, 3 * idx.size
        if not self.constant:
            x = unwrapped_positions(atom_positions(self.positions, idx), self.cells).reshape(nf, n3)
            np.subtract(x.T, x[0][:, None], out=out)
            return
        pos = self._pos[:nf * n3].reshape(nf, n3)
        np.copyto(pos, atom_positions(self.positions, idx).reshape(nf, n3))  # one strided gather
        d = self._d[:(nf - 1) * n3].reshape(nf - 1, n3)
        np.subtract(pos[1:], pos[:-1], out=d)  # steps, Å
        if self.orthorhombic:
            scratch, mask = pos[1:], self._mask[:d.size].reshape(d.shape)
            np.abs(d, out=scratch)
            np.greater(scratch, self.half_rows[:n3], out=mask)
            jump = np.flatnonzero(mask)  # steps that crossed the cell: few
            if jump.size:
                col = jump % n3
                flat = d.reshape(-1)
                flat[jump] -= self.len_rows[col] * np.rint(flat[jump] / self.len_rows[col])
        else:
            d3 = d.reshape(nf - 1, idx.size, 3)
            d3 -= np.rint(d3 @ self.inv) @ self.cell
        _prefix_sum_rows(d)
        out[:, 0] = 0.0
        np.copyto(out[:, 1:], d.T)


def unwrapped_displacements(positions: np.ndarray, cells: np.ndarray, idx: np.ndarray,
                            chunk_atoms: int = 16) -> np.ndarray:
    """Continuous displacements u(t) = x(t) − x(0) of atoms ``idx``, shape (n, 3, F), Å.

    Time-contiguous layout, built ``chunk_atoms`` at a time by :class:`RowUnwrapper`, so
    the peak memory is one copy of these atoms' positions plus a few chunks (constant
    cells; NPT unwraps per chunk too).

    Parameters
    ----------
    positions : (F, N, 3) Cartesian positions, Å.
    cells : (F, 3, 3) cells, Å.
    idx : atom indices.
    """
    idx = np.asarray(idx)
    nf = positions.shape[0]
    out = np.empty((3 * idx.size, nf))
    unwrap = RowUnwrapper(positions, cells, min(chunk_atoms, max(idx.size, 1)))
    for a0 in range(0, idx.size, chunk_atoms):
        sl = idx[a0:a0 + chunk_atoms]
        unwrap.into(sl, out[3 * a0:3 * (a0 + sl.size)])
    return out.reshape(idx.size, 3, nf)
