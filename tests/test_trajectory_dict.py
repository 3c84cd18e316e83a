"""Trajectory.as_dict packs arrays (one string each), exactly, and still reads nested lists."""

from __future__ import annotations

import json

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory


def _traj() -> Trajectory:
    rng = np.random.default_rng(0)
    return Trajectory(["Li", "S", "S"], rng.normal(size=(5, 3, 3)) * 3, np.eye(3) * 4.1, 2.0,
                      velocities=rng.normal(size=(5, 3, 3)), energies=rng.normal(size=5),
                      steps=np.arange(5) * 10, metadata={"seed": 1})


def test_arrays_are_packed_and_round_trip_bit_for_bit_through_json():
    t = _traj()
    d = t.as_dict()
    for k in ("positions", "cells", "velocities", "energies", "steps"):
        assert isinstance(d[k]["base64"], str), k  # no nested lists for jobflow/BSON to walk
    assert d["forces"] is None
    u = Trajectory.from_dict(json.loads(json.dumps(d)))
    for k in ("positions", "cells", "velocities", "energies", "steps"):
        a, b = getattr(t, k), getattr(u, k)
        assert a.dtype == b.dtype and np.array_equal(a, b), k
    assert u.forces is None and u.metadata == {"seed": 1} and u.timestep_fs == 2.0
    u.positions[0, 0, 0] = 0.0  # a writable copy, not a view of the decoded bytes


def test_the_older_nested_list_form_is_still_read():
    t = _traj()
    old = {"@module": "ssic_flows.analysis.trajectory", "@class": "Trajectory", "species": t.species,
           "positions": t.positions.tolist(), "cells": t.cells.tolist(), "timestep_fs": 2.0,
           "velocities": t.velocities.tolist(), "forces": None, "energies": t.energies.tolist(),
           "steps": t.steps.tolist(), "metadata": {}}
    u = Trajectory.from_dict(old)
    assert np.array_equal(u.positions, t.positions) and np.array_equal(u.steps, t.steps)
