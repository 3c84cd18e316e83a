"""Parsing VASP's ML_LOGFILE and ML_AB/ML_ABN files.

:func:`read_ml_logfile` extracts the BEEF curve (``BEEF`` lines: nstep, bee_energy eV/atom,
bee_max_force eV/Å, bee_ave_force eV/Å, threshold eV/Å, bee_max_stress kB, bee_ave_stress
kB) and the STATUS/LCONF records; :func:`read_ml_ab_header` reads the number of training
structures from an ML_AB/ML_ABN header; :func:`read_ml_ab_configurations` the training data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError
from ssic_flows.engines.vasp_mlff.files import open_maybe_gz

__all__ = [
    "read_ml_ab_configurations", "read_ml_ab_header", "read_ml_logfile", "training_trajectory",
]


_BEEF_COLUMNS = ["nstep", "bee_energy", "bee_max_force", "bee_ave_force", "threshold",
                 "bee_max_stress", "bee_ave_stress"]


def read_ml_logfile(path: str | Path) -> dict[str, Any]:
    """Parse a VASP ML_LOGFILE (plain or .gz).

    Returns ``beef`` (dict of arrays by column name, from the ``# BEEF`` header if present:
    nstep, bee_energy eV/atom, bee_max_force eV/Å, bee_ave_force eV/Å, threshold eV/Å,
    bee_max_stress kB, bee_ave_stress kB), ``status`` (nstep, state, doabin per step),
    ``n_abinitio`` (steps with an ab initio calculation), ``lconf`` (last count of local
    reference configurations per species), ``n_existing_structures`` (from the
    "AVAILABLE AB INITIO DATA" section of a continuation run, else 0) and ``err`` (nstep,
    rmse_energy, rmse_force, rmse_stress).
    """
    cols = list(_BEEF_COLUMNS)
    beef_rows, err_rows, status = [], [], []
    lconf: dict[str, int] = {}
    n_existing = 0
    with open_maybe_gz(Path(path)) as fh:
        for ln in fh:
            t = ln.split()
            if not t:
                continue
            if t[0] == "#":
                if len(t) > 3 and t[1] == "BEEF" and t[2] == "nstep":
                    cols = t[2:]
                continue
            key = t[0]
            if key == "BEEF":
                beef_rows.append([float(x) for x in t[1:1 + len(cols)]])
            elif key == "ERR":
                err_rows.append([float(x) for x in t[1:5]])
            elif key == "STATUS" and len(t) >= 5 and t[1].isdigit():
                status.append((int(t[1]), t[2], t[4] == "T"))
            elif key == "LCONF" and len(t) >= 5:
                # LCONF nstep species n_before n_after [species n_before n_after ...]
                rest = t[2:]
                for k in range(0, len(rest) - 2, 3):
                    lconf[rest[k]] = int(rest[k + 2])
            elif ln.strip().startswith("Number of stored (maximum) ab initio structures"):
                n_existing = int(ln.split(":")[1].split()[0])
    beef_arr = np.array(beef_rows, dtype=float).reshape(-1, len(cols))
    beef = {c: beef_arr[:, i] for i, c in enumerate(cols)}
    beef["nstep"] = beef["nstep"].astype(int)
    err = np.array(err_rows, dtype=float).reshape(-1, 4)
    return {
        "beef": beef,
        "err": {"nstep": err[:, 0].astype(int), "rmse_energy": err[:, 1],
                "rmse_force": err[:, 2], "rmse_stress": err[:, 3]},
        "status": status,
        "n_abinitio": sum(1 for _, _, doabin in status if doabin),
        "lconf": lconf,
        "n_existing_structures": n_existing,
    }


def _sections(lines: list[str]):
    """(title, body lines) of an ML_AB file, split at the ``****``/``====``/``----`` ledgers."""
    out, title, body, state = [], None, [], "title"
    for ln in lines:
        s = ln.strip()
        if s.startswith("****") or s.startswith("===="):
            if title is not None:
                out.append((title, body))
            title, body, state = None, [], "title"
            continue
        if s.startswith("----"):
            state = "body"
            continue
        if state == "title":
            if s:
                title = s if title is None else title
        else:
            body.append(s)
    if title is not None:
        out.append((title, body))
    return out


def read_ml_ab_header(path: str | Path) -> dict[str, Any]:
    """Header of an ML_AB/ML_ABN file: ``n_configurations``, ``atom_types``, ``version``."""
    with open_maybe_gz(Path(path)) as fh:
        head = []
        for ln in fh:
            head.append(ln)
            if "Configuration num." in ln:
                break
    if not head or "Version" not in head[0]:
        raise EngineError(f"{path}: not an ML_AB/ML_ABN file (no 'Version' header line)")
    info: dict[str, Any] = {"version": head[0].split()[0]}
    for title, body in _sections(head[1:]):
        if title == "The number of configurations":
            info["n_configurations"] = int(body[0].split()[0])
        elif title == "The atom types in the data file":
            info["atom_types"] = " ".join(body).split()
    if "n_configurations" not in info:
        raise EngineError(f"{path}: no 'The number of configurations' entry")
    return info


def read_ml_ab_configurations(path: str | Path) -> list[dict[str, Any]]:
    """Training structures of an ML_AB/ML_ABN file: species, lattice (Å), positions (Å),
    energy (eV), forces (eV/Å), ctifor (eV/Å or None), system name."""
    with open_maybe_gz(Path(path)) as fh:
        text = fh.read().splitlines()
    starts = [i for i, ln in enumerate(text) if "Configuration num." in ln]
    confs = []
    for k, i0 in enumerate(starts):
        i1 = starts[k + 1] - 1 if k + 1 < len(starts) else len(text)
        secs = dict(_sections(text[i0 + 1:i1]))
        species: list[str] = []
        for row in secs.get("Atom types and atom numbers", []):
            if row:
                el, n = row.split()
                species += [el] * int(n)

        def arr(name: str) -> np.ndarray:
            return np.array([[float(x) for x in r.split()] for r in secs[name] if r])

        confs.append({
            "name": (secs.get("System name") or [""])[0],
            "species": species,
            "lattice": arr("Primitive lattice vectors (ang.)"),
            "positions": arr("Atomic positions (ang.)"),
            "energy": float(secs["Total energy (eV)"][0]),
            "forces": arr("Forces (eV ang.^-1)"),
            "ctifor": float(secs["CTIFOR"][0]) if "CTIFOR" in secs else None,
        })
    return confs


def training_trajectory(confs: list[dict[str, Any]]) -> Trajectory | None:
    """The training structures as one Trajectory (forces eV/Å, energies eV), if they all
    share one species list (else None: a Trajectory has fixed atoms)."""
    if not confs or any(c["species"] != confs[0]["species"] for c in confs):
        return None
    return Trajectory(species=confs[0]["species"], positions=[c["positions"] for c in confs],
                      cells=np.stack([c["lattice"] for c in confs]), timestep_fs=1.0,
                      forces=np.stack([c["forces"] for c in confs]),
                      energies=[c["energy"] for c in confs],
                      metadata={"source": "ML_ABN", "note": "frames are training structures, "
                                "not a time series"})
