"""VASP output → :class:`~ssic_flows.analysis.trajectory.Trajectory` through the one vasprun
parser, :func:`ssic_flows.analysis.readers.vasprun_frames` (Å, eV/Å, eV).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.engines.base import EngineError

__all__ = ["read_vasprun_trajectory", "require_md_time_series", "require_vasp_version",
           "vasp_incar", "vasp_version"]


def _find(directory: Path, name: str) -> Path:
    for cand in (directory / name, directory / f"{name}.gz"):
        if cand.exists():
            return cand
    gz = sorted(directory.glob(f"{name}*"))
    if gz:
        return gz[-1]
    raise EngineError(f"{directory}: no {name}; did VASP finish? (check OUTCAR/std_err.txt)")


def read_vasprun_trajectory(directory: str | Path, *, timestep_fs: float, first_step: int = 0,
                            stride: int = 1, metadata: dict | None = None) -> Trajectory:
    """Frames of a VASP run from ``vasprun.xml[.gz]`` (pymatgen): positions Å, cells Å,
    forces eV/Å, energies eV (``e_fr_energy``, the free energy whose derivative the forces
    are, PSTRESS·V removed; parsed by :func:`ssic_flows.analysis.readers.vasprun_frames`).
    ``steps`` count from ``first_step`` in units of ``stride`` MD steps (frame 0 = the
    input structure; ``timestep_fs`` is per MD step and multiplied by ``stride``). vasprun does
    not hold velocities, so ``velocities`` is None.
    """
    from ssic_flows.analysis.readers import vasprun_frames

    path = _find(Path(directory), "vasprun.xml")
    try:
        fr = vasprun_frames(path, exception_on_bad_xml=False)
    except TrajectoryError as exc:
        raise EngineError(f"{path}: no ionic steps ({exc})") from exc
    if fr.forces_eV_A is None or fr.energies_eV is None:
        raise EngineError(f"{path}: ionic steps without forces or energies")
    species, pos, cells = fr.species, fr.positions_A, fr.cells_A
    forces, energies = fr.forces_eV_A, fr.energies_eV
    return Trajectory(species=species, positions=pos, cells=cells,
                      timestep_fs=timestep_fs * stride, forces=forces, energies=energies,
                      steps=np.arange(len(pos)) * stride + first_step,
                      metadata=dict(metadata or {}))


def vasp_version(directory: Path) -> str:
    """``"VASP 6.4.2"`` from ``directory``'s vasprun.xml[.gz] (its ``version`` field), or ``""``."""
    try:
        path = _find(directory, "vasprun.xml")
    except EngineError:
        return ""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        head = fh.read(4000)
    import re

    m = re.search(r'name="version"[^>]*>\s*([^<\s]+)', head)
    return f"VASP {m.group(1)}" if m else ""


def require_vasp_version(directory: str | Path, minimum: tuple[int, int], why: str) -> str:
    """The VASP version that wrote ``directory`` (``"VASP 6.4.2"``); :class:`EngineError`
    (one line naming the fix) when it is older than ``minimum`` (major, minor) or cannot be
    read from vasprun.xml. ``why``: what needs ``minimum`` (e.g. ``"ML_MODE"``).
    """
    import re

    version = vasp_version(Path(directory))
    m = re.search(r"(\d+)\.(\d+)", version)
    need = ".".join(map(str, minimum))
    if m is None:
        raise EngineError(f"{directory}: VASP version not determined (no version in vasprun.xml); "
                          f"{why} needs VASP >= {need}: check the run finished with VASP >= {need}")
    if (int(m.group(1)), int(m.group(2))) < tuple(minimum):
        raise EngineError(f"{directory}: {version} is older than {need}; {why}; "
                          f"run with VASP >= {need} (e.g. load a vasp/{need} module in the job script)")
    return version


def vasp_incar(directory: str | Path) -> dict[str, str]:
    """The INCAR tags VASP echoed in the ``<incar>`` block of ``directory``'s vasprun.xml[.gz]
    (tag → value text as written there, e.g. ``{"ML_LMLFF": "T", "NSW": "1000"}``); ``{}``
    without a vasprun.xml. The tags VASP read, which the ``<parameters>`` block pymatgen
    exposes as ``Vasprun.parameters`` does not list for the ML_* tags."""
    import re

    try:
        path = _find(Path(directory), "vasprun.xml")
    except EngineError:
        return {}
    opener = gzip.open if path.suffix == ".gz" else open
    head = []
    with opener(path, "rt", errors="replace") as fh:
        for ln in fh:
            head.append(ln)
            if "</incar>" in ln or len(head) > 2000:
                break
    text = "".join(head)
    block = text[text.find("<incar>"):] if "<incar>" in text else ""
    return {m.group(1).upper(): m.group(2).strip()
            for m in re.finditer(r'<[iv]\b[^>]*\bname="([^"]+)"[^>]*>([^<]*)</[iv]>', block)}


def _true(value: str) -> bool:
    return value.strip().strip(".").upper() in ("T", "TRUE")


def require_md_time_series(directory: str | Path, n_frames: int) -> None:
    """:class:`EngineError` unless the ``n_frames`` ionic steps of ``directory``'s vasprun.xml
    are the consecutive MD steps of one complete run.

    - An on-the-fly training run (``ML_LMLFF = T`` and ``ML_MODE`` other than ``run``, or no
      ML_MODE and ``ML_ISTART`` ≠ 2) writes only the steps with an ab initio calculation
      (a genuine VASP 6.4.0 training run: 59 of NSW = 1000 steps, see
      ``tests/test_vasp_genuine.py``): its frames are not a time series.
    - A DFT MD run (no ML_LMLFF) writes NSW ionic steps, the first at the input structure;
      fewer means the run stopped early (wall time, STOPCAR, a crash) and the segment must be
      rerun. A force-field run (``ML_MODE = run``) writes every ``ML_OUTBLOCK``-th step; its
      count is not checked here.
    """
    incar = vasp_incar(Path(directory))
    nsw = int(float(incar.get("NSW", "0") or 0))
    if _true(incar.get("ML_LMLFF", "F")):
        mode = incar.get("ML_MODE", "").strip().lower()
        istart = incar.get("ML_ISTART", "").strip()
        if mode == "run" or (not mode and istart == "2"):
            return
        raise EngineError(
            f"{directory}: vasprun.xml is from an on-the-fly training run (ML_LMLFF = T, "
            f"ML_MODE = {mode or 'not set'}); it holds only the steps with an ab initio "
            f"calculation ({n_frames} of NSW = {nsw}), not consecutive MD frames: take MD "
            "frames from an ML_MODE = run or a DFT-only run")
    if nsw and n_frames < nsw:
        raise EngineError(
            f"{directory}: vasprun.xml holds {n_frames} ionic steps but NSW = {nsw}: the "
            "segment did not run to its end (wall time, STOPCAR or a crash); rerun it")
    if nsw and n_frames > nsw:
        raise EngineError(f"{directory}: vasprun.xml holds {n_frames} ionic steps, more than "
                          f"NSW = {nsw}: not the output of one MD run")
