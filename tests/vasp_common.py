"""Helpers shared by the VASP engine tests (no POTCARs here: atomate2's potcar_spec mode)."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure


@pytest.fixture(autouse=True)
def _no_potcars(monkeypatch):
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)


def agi4() -> Structure:
    return Structure(Lattice.cubic(5.07), ["I", "I", "Ag", "Ag"],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0, 0.5], [0.5, 0.75, 0]])
