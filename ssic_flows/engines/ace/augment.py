"""Short-distance frames for the training set: teach the repulsive wall below the sampled data.

A linear ACE extrapolates polynomially outside its data. MD seeds at the training
temperature rarely sample a pair closer than it typically comes, and a model that has never
seen one may be *attractive* there: measured on AgI-128 at 500 K, 3 of 5 20-ps MLMD runs
collapsed (I–I pairs pulled from 3.1 Å to 1.6 Å) with a model trained on seed and
on-the-fly frames only. The fix used by the ACE community (pacemaker's augmentation) is
data: for every element pair of the seed frames, the closest pair of that kind is pushed
to ``fractions`` × the shortest distance of that pair in the frames (one atom moved along
the bond, everything else unchanged) and the frame is labelled by the *reference* engine,
so the wall comes from the reference's physics, not from a guessed potential.

Example
-------
>>> aug = compressed_pair_frames(seed_traj, fractions=(0.85, 0.92))   # doctest: +SKIP
>>> aug.metadata["pairs"]                                             # doctest: +SKIP
['Ag-Ag', 'Ag-I', 'I-I']
"""

from __future__ import annotations

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.ace.fit import AUGMENTED

__all__ = ["compressed_pair_frames"]


def compressed_pair_frames(traj: Trajectory, fractions: tuple[float, ...] = (0.85, 0.92),
                           cutoff_A: float = 5.0, min_other_A: float = 1.2) -> Trajectory | None:
    """Frames with one pair of each element pair pushed to ``fractions`` × its shortest
    distance in ``traj`` (Å), in the frame where that pair is closest; a displaced atom
    that would come closer than ``min_other_A`` (Å) to a third atom is skipped. Returns
    None when no pair is found. Positions Å; no labels."""
    from ase.neighborlist import neighbor_list

    sym = np.array(traj.species)
    frames, pairs = [], []
    base = [traj.to_ase(i) for i in range(traj.n_frames)]
    dmin: dict[tuple[str, str], tuple[float, int, int, int, np.ndarray]] = {}
    for fi, at in enumerate(base):
        i, j, d, D = neighbor_list("ijdD", at, float(cutoff_A))
        for a, b, dist, vec in zip(i, j, d, D):
            if a >= b:
                continue
            key = tuple(sorted((sym[a], sym[b])))
            if key not in dmin or dist < dmin[key][0]:
                dmin[key] = (float(dist), fi, int(a), int(b), np.array(vec))
    for key in sorted(dmin):
        dist, fi, a, b, vec = dmin[key]
        for f in fractions:
            at = base[fi].copy()
            unit = vec / np.linalg.norm(vec)
            pos = at.get_positions()
            pos[b] = pos[a] + unit * f * dist
            at.set_positions(pos)
            others = np.delete(np.arange(len(at)), [a, b])
            dd = at.get_distances(b, others, mic=True)
            if dd.size and dd.min() < min_other_A:
                continue
            frames.append(at)
            pairs.append("-".join(key))
    if not frames:
        return None
    return Trajectory(species=list(traj.species), positions=np.array([x.positions for x in frames]),
                      cells=np.array([np.array(x.cell) for x in frames]), timestep_fs=1.0,
                      metadata={"kind": "compressed-pair frames (not a time series)",
                                "pairs": sorted(set(pairs)), "fractions": list(fractions),
                                "selected_by": AUGMENTED})
