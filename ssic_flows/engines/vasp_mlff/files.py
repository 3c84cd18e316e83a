"""Staging VASP's machine-learning files (ML_AB, ML_ABN, ML_FF, ML_FFN; gzipped or not) between
job directories.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from atomate2.utils.path import strip_hostname

from ssic_flows.engines.base import EngineError
from ssic_flows.engines.vasp_mlff.sets import ML_MODES

__all__ = ["copy_plain", "existing_file", "open_maybe_gz", "stage_ml_files"]


def open_maybe_gz(path: Path, mode: str = "rt"):
    """Open ``path`` or ``path.gz`` (atomate2 gzips outputs after each job)."""
    path = Path(path)
    if path.exists():
        return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gzip.open(gz, mode)
    raise FileNotFoundError(path)


def existing_file(path: Path) -> Path | None:
    path = Path(path)
    for c in (path, path.with_name(path.name + ".gz")):
        if c.exists():
            return c
    return None


def copy_plain(src: Path, dest: Path) -> None:
    """Copy ``src`` (plain or .gz) to ``dest`` uncompressed."""
    if src.suffix == ".gz":
        with gzip.open(src, "rb") as fi, open(dest, "wb") as fo:
            shutil.copyfileobj(fi, fo)
    else:
        shutil.copyfile(src, dest)


def stage_ml_files(dest: str | Path, mode: str, *, prev_dir: str | Path | None = None,
                   ml_ab: str | Path | None = None, ml_ff: str | Path | None = None) -> dict[str, str]:
    """Put the input files of one ML step into ``dest``; returns ``{target: source}``.

    - ``train``: ``ML_AB`` from ``ml_ab`` or ``prev_dir/ML_ABN`` if either exists (a
      continuation); nothing otherwise (training from scratch).
    - ``refit``: ``ML_AB`` from ``ml_ab`` or ``prev_dir/ML_ABN``; required.
    - ``run``: ``ML_FF`` from ``ml_ff`` or ``prev_dir/ML_FFN``; required.

    Sources may be gzipped (atomate2 gzips job folders); targets are written uncompressed.
    A ``host:/path`` prefix (atomate2 ``dir_name``) is stripped.
    """
    if mode not in ML_MODES:
        raise EngineError(f"ML_MODE must be one of {ML_MODES}, got {mode!r}")
    dest = Path(dest)
    prev = Path(strip_hostname(str(prev_dir))) if prev_dir else None
    target, explicit, from_prev = (("ML_FF", ml_ff, "ML_FFN") if mode == "run"
                                   else ("ML_AB", ml_ab, "ML_ABN"))
    src = None
    if explicit:
        src = existing_file(Path(strip_hostname(str(explicit))))
        if src is None:
            raise EngineError(f"{target} source {explicit} does not exist")
    elif prev is not None:
        src = existing_file(prev / from_prev)
    if src is None:
        if mode == "train":
            return {}
        where = f"{prev}/{from_prev}" if prev else "no previous directory given"
        raise EngineError(f"ML_MODE={mode} needs {target} ({where}); pass the training "
                          f"directory or the {target} path")
    copy_plain(src, dest / target)
    return {target: str(src)}
