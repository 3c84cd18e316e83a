"""Fitting a GAP: training data on disk (extxyz, energies eV, forces eV/Å, stresses dropped
or given a virial σ), the descriptor string and the ``gap_fit`` run (quippy-ase's executable,
through :func:`~ssic_flows.engines.common.process.run_process`: timeout and kill on
interrupt; its peak memory and wall time are recorded).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError
from ssic_flows.engines.common.process import run_process
from ssic_flows.engines.common.training import labelled_atoms
from ssic_flows.engines.gap.sets import gap_settings

__all__ = [
    "append_training_xyz", "count_training_xyz", "file_sha256", "fit_gap", "fix_sidecar_names",
    "gap_fit_executable", "species_pairs_within",
]


def gap_fit_executable() -> str:
    exe = shutil.which("gap_fit")
    if exe is None:
        import sys

        cand = Path(sys.executable).parent / "gap_fit"
        if cand.exists():
            return str(cand)
        raise EngineError("gap_fit not found: pip install 'quippy-ase>=0.10.3' (it ships the "
                          "gap_fit executable) and put the venv's bin/ on PATH")
    return exe


def species_pairs_within(frames: list, cutoff_A: float) -> tuple[list[int], list[tuple[int, int]]]:
    """Atomic numbers present and the (Z1 ≤ Z2) pairs closer than ``cutoff_A`` in any frame.

    A 2-body descriptor for a pair that never occurs within the cutoff has no data and
    makes ``gap_fit`` abort (e.g. Sb–Sb in a small Na3SbS4 cell), so only these get one.
    """
    from ase.neighborlist import neighbor_list

    zs: set[int] = set()
    pairs: set[tuple[int, int]] = set()
    for at in frames:
        z = at.get_atomic_numbers()
        zs.update(int(v) for v in z)
        i, j = neighbor_list("ij", at, float(cutoff_A))
        a, b = np.minimum(z[i], z[j]), np.maximum(z[i], z[j])
        pairs.update(zip(a.tolist(), b.tolist()))
    return sorted(zs), sorted(pairs)


def _descriptor_string(s: dict, species_Z: list[int], pairs: list[tuple[int, int]]) -> str:
    """Explicit descriptors (``add_species=F``): one 2-body term per pair that occurs within
    the cutoff, one SOAP per centre species over all species."""
    c = float(s["cutoff_A"])
    parts = [
        "distance_2b Z1=%d Z2=%d cutoff=%g covariance_type=ard_se delta=%g theta_uniform=%g "
        "n_sparse=%d sparse_method=uniform add_species=F"
        % (z1, z2, c, s["two_body_delta_eV"], s["two_body_theta_A"], s["two_body_n_sparse"])
        for z1, z2 in pairs]
    zlist = " ".join(str(z) for z in species_Z)
    parts += [
        "soap l_max=%d n_max=%d atom_sigma=%g cutoff=%g cutoff_transition_width=1.0 delta=%g "
        "covariance_type=dot_product zeta=%g n_sparse=%d sparse_method=cur_points "
        "n_species=%d species_Z={{%s}} Z=%d add_species=F"
        % (s["soap_l_max"], s["soap_n_max"], s["soap_atom_sigma_A"], c, s["soap_delta_eV"],
           s["soap_zeta"], s["soap_n_sparse"], len(species_Z), zlist, z)
        for z in species_Z]
    return "{" + " : ".join(parts) + "}"


def append_training_xyz(path: Path, traj: Trajectory) -> int:
    """Append labelled frames (energy eV, forces eV/Å) to an extxyz file; returns #frames."""
    import ase.io

    frames = labelled_atoms(traj)
    ase.io.write(path, frames, format="extxyz", append=path.exists())
    return count_training_xyz(path)


def count_training_xyz(path: Path) -> int:
    import ase.io

    return len(ase.io.read(path, index=":", format="extxyz")) if Path(path).exists() else 0


_VIRIAL_KEYS = ("stress", "virial")


def _fit_frames_file(train_xyz: Path, frames: list, model_path: Path,
                     sigma_virial_eV: float | None) -> tuple[Path, float]:
    """The file ``gap_fit`` reads and the virial σ (eV) it gets.

    ``gap_fit`` turns a frame's ``stress`` into a virial target and aborts ("too small
    virial_sigma") when the virial σ is 0. With ``sigma_virial_eV`` those targets are fitted;
    with ``None`` (default) frames that carry stresses or virials are written without them to
    ``<model>.fit_frames.xyz`` and that file is fitted (energies and forces only).
    """
    if sigma_virial_eV is not None:
        if sigma_virial_eV <= 0:
            raise EngineError(f"sigma_virial_eV must be > 0 eV (or None to drop stresses), got "
                              f"{sigma_virial_eV}")
        return train_xyz, float(sigma_virial_eV)
    def places(at) -> list[dict]:  # ASE keeps read targets in info/arrays or calc.results
        return [at.info, at.arrays] + ([at.calc.results] if at.calc is not None else [])

    if not any(k in d for at in frames for d in places(at) for k in _VIRIAL_KEYS):
        return train_xyz, 0.0
    import ase.io

    for at in frames:
        for d in places(at):
            for k in _VIRIAL_KEYS:
                d.pop(k, None)
    out = model_path.parent / (model_path.stem + ".fit_frames.xyz")
    ase.io.write(out, frames, format="extxyz")
    return out, 0.0


def fit_gap(train_xyz: Path, model_path: Path, engine_settings: dict | None = None) -> dict:
    """Run ``gap_fit`` on ``train_xyz``; returns {"model_path", "fit_wall_s", "peak_rss_MB"}.

    Energies eV, forces eV/Å; stresses are fitted only with ``sigma_virial_eV`` set (else
    dropped, see :func:`_fit_frames_file`). ``gap_fit`` is killed after ``fit_timeout_s`` s.
    """
    s = gap_settings(engine_settings)
    train_xyz, model_path = Path(train_xyz), Path(model_path)
    import ase.io

    frames = ase.io.read(train_xyz, index=":", format="extxyz") if train_xyz.exists() else []
    if not frames:
        raise EngineError(f"{train_xyz} holds no training frames")
    species_Z, pairs = species_pairs_within(frames, s["cutoff_A"])
    model_path.parent.mkdir(parents=True, exist_ok=True)
    at_file, sigma_v = _fit_frames_file(train_xyz, frames, model_path, s["sigma_virial_eV"])
    cmd = [
        gap_fit_executable(), f"at_file={at_file.resolve()}", f"gp_file={model_path.name}",
        "e0_method=average",
        f"default_sigma={{{s['sigma_energy_eV']} {s['sigma_force_eV_A']} {sigma_v} 0.0}}",
        f"gap={_descriptor_string(s, species_Z, pairs)}", "energy_parameter_name=energy",
        "force_parameter_name=forces", f"sparse_jitter={s['sparse_jitter']}",
        "do_copy_at_file=F", "rnd_seed=1",
    ]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    log = model_path.parent / (model_path.stem + ".gap_fit.log")
    try:
        run = run_process(cmd, model_path.parent, log, env=env, append=False,
                          timeout_s=s["fit_timeout_s"])
    except subprocess.TimeoutExpired:
        raise EngineError(
            f"gap_fit exceeded fit_timeout_s={s['fit_timeout_s']} s on {train_xyz}; raise "
            "engine_settings['fit_timeout_s'] or lower soap_n_sparse / the training set") from None
    if run.returncode != 0 or not model_path.exists():
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise EngineError(f"gap_fit failed (exit {run.returncode}); log tail:\n{tail}\n"
                          "check the training data and the descriptor settings")
    return {"model_path": str(model_path), "fit_wall_s": run.wall_time_s,
            "peak_rss_MB": run.peak_rss_MB, "command": " ".join(cmd[1:])}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fix_sidecar_names(xml: Path, old_name: str) -> None:
    """Point a copied GAP xml at its copied ``.sparseX`` side files."""
    text = xml.read_text()
    if old_name + ".sparseX." in text:
        xml.write_text(text.replace(old_name + ".sparseX.", xml.name + ".sparseX."))
