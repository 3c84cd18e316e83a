"""The one geometry/units home of the analysis room: unwrapping, cell widths, constants."""

from __future__ import annotations

import numpy as np
import pytest

from ssic_flows.analysis.geometry import (
    perpendicular_widths_A,
    unwrap_fractional,
    unwrapped_displacements,
    unwrapped_positions,
)
from ssic_flows.analysis.units import (
    A2_PER_FS_TO_CM2_PER_S,
    FS_INV_TO_CM_INV,
    KB_EV_PER_K,
    frequency_per_fs_to_wavenumber_cm1,
    wavenumber_cm1_to_frequency_per_fs,
)


def _walk(nf=60, n=5, seed=0):
    rng = np.random.default_rng(seed)
    cell = np.array([[8.0, 0, 0], [1.5, 7.0, 0], [0.5, -1.0, 9.0]])
    x = np.cumsum(rng.normal(scale=0.6, size=(nf, n, 3)), axis=0)  # true path, Å
    frac = x @ np.linalg.inv(cell)
    wrapped = (frac - np.floor(frac)) @ cell
    return x, wrapped, cell


def test_unwrapping_recovers_the_path_whole_and_in_chunks():
    x, wrapped, cell = _walk()
    u = unwrapped_positions(wrapped, cell)
    np.testing.assert_allclose(u - u[:1], x - x[:1], atol=1e-9)
    # chunk by chunk, continuing from the last continuous position, gives the same path
    frac = wrapped @ np.linalg.inv(cell)
    parts, last = [], None
    for a in range(0, len(frac), 7):
        part = unwrap_fractional(frac[a:a + 7], last)
        last = part[-1]
        parts.append(part)
    np.testing.assert_allclose(np.concatenate(parts), unwrap_fractional(frac), atol=1e-12)
    # the fast row layout agrees with the general rule (triclinic constant cell and NPT)
    rows = unwrapped_displacements(wrapped, np.broadcast_to(cell, (len(x), 3, 3)), np.arange(5), chunk_atoms=2)
    np.testing.assert_allclose(rows.transpose(2, 0, 1), u - u[:1], atol=1e-9)
    cells = cell * (1 + 0.01 * np.sin(np.arange(len(x))))[:, None, None]
    frac_t = x @ np.linalg.inv(cell)
    wrapped_t = np.einsum("fnj,fjk->fnk", frac_t - np.floor(frac_t), cells)
    u_t = unwrapped_positions(wrapped_t, cells)
    np.testing.assert_allclose(unwrapped_displacements(wrapped_t, cells, np.arange(5)).transpose(2, 0, 1),
                               u_t - u_t[:1], atol=1e-9)


def test_perpendicular_widths_of_a_triclinic_cell():
    cell = np.array([[4.0, 0, 0], [2.0, 3.0, 0], [0, 0, 5.0]])
    w = perpendicular_widths_A(cell)
    assert w == pytest.approx([3.0 * 4.0 / np.hypot(2.0, 3.0), 3.0, 5.0])
    assert perpendicular_widths_A(np.stack([cell, 2 * cell])).shape == (2, 3)


def test_constants_are_codata():
    assert FS_INV_TO_CM_INV == pytest.approx(1e15 / 2.99792458e10, rel=1e-15)
    assert A2_PER_FS_TO_CM2_PER_S == pytest.approx(0.1, rel=1e-15)
    assert KB_EV_PER_K == pytest.approx(8.617333262e-5, rel=1e-9)
    assert float(frequency_per_fs_to_wavenumber_cm1(wavenumber_cm1_to_frequency_per_fs(5.0))) == pytest.approx(5.0)
