"""Structure files: the format a name implies, writing and reading (pymatgen, ASE for extxyz).

``POSCAR``/``CONTCAR`` (with or without a suffix such as ``POSCAR.agi``) and ``*.vasp``/
``*.poscar`` are VASP POSCAR files; ``*.cif`` is CIF; ``*.extxyz``/``*.xyz`` is extended XYZ.
Lengths in Å.

Example
-------
>>> structure_format("POSCAR.agi"), structure_format("cell.cif"), structure_format("run.xyz")
('poscar', 'cif', 'extxyz')
"""

from __future__ import annotations

from pathlib import Path

from pymatgen.core import Structure

from .tools import UnsupportedFormatError

__all__ = ["read_structure", "structure_format", "structure_from_text", "write_structure"]

_FORMATS = {".cif": "cif", ".vasp": "poscar", ".poscar": "poscar", ".extxyz": "extxyz", ".xyz": "extxyz"}


def structure_format(path: str | Path) -> str:
    """File format (``"cif"``, ``"poscar"`` or ``"extxyz"``) implied by a file name.

    ``POSCAR``/``CONTCAR`` (with or without a suffix such as ``POSCAR.agi``) and ``*.vasp``/
    ``*.poscar`` are VASP POSCAR files; ``*.cif`` is CIF; ``*.extxyz``/``*.xyz`` is extended XYZ.

    Raises
    ------
    UnsupportedFormatError
        For any other name.
    """
    p = Path(path)
    name = p.name
    if name.upper().startswith(("POSCAR", "CONTCAR")):
        return "poscar"
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise UnsupportedFormatError(
            f"cannot tell the structure format of {str(path)!r} (extension {p.suffix or 'none'!r}); "
            "use .cif, .vasp/.poscar or a POSCAR/CONTCAR name, or .extxyz/.xyz"
        )
    return fmt


def write_structure(structure: Structure, path: str | Path) -> Path:
    """Write ``structure`` to ``path`` in the format implied by its name.

    The format is decided (and an unknown extension rejected) before anything is created;
    missing parent directories are then created.

    Parameters
    ----------
    structure
        Ordered structure to write.
    path
        Target file: ``*.cif``; ``POSCAR``/``CONTCAR``/``*.vasp``/``*.poscar``; ``*.extxyz``/``*.xyz``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    UnsupportedFormatError
        If the extension is unknown (nothing is written).
    """
    fmt = structure_format(path)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "extxyz":  # not a pymatgen format: through ASE
        from pymatgen.io.ase import AseAtomsAdaptor

        AseAtomsAdaptor.get_atoms(structure).write(p, format="extxyz")
    elif fmt == "poscar":
        structure.to(filename=str(p), fmt="poscar", comment=structure.composition.formula.replace(" ", ""))
    else:
        structure.to(filename=str(p), fmt=fmt)
    return p


def read_structure(path: str | Path) -> Structure:
    """Read a structure written by :func:`write_structure` (same format rules).

    Raises
    ------
    UnsupportedFormatError
        If the extension is unknown.
    FileNotFoundError
        If the file does not exist.
    """
    fmt = structure_format(path)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no structure file at {str(p)!r}")
    return structure_from_text(p.read_text(), fmt)


def structure_from_text(text: str, fmt: str) -> Structure:
    """Parse a structure file's content (``fmt``: ``"cif"``, ``"poscar"`` or ``"extxyz"``).

    CIF partial occupancies are kept (a disordered ``Structure``). Raises pymatgen's/ASE's
    own errors on malformed text.
    """
    if fmt == "extxyz":  # not a pymatgen format: through ASE
        import io

        from ase.io import read as ase_read
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(ase_read(io.StringIO(text), format="extxyz"))
    # pymatgen's reader for the format this module's name rules chose (Structure.from_file
    # would guess again from the name, differently for e.g. "POSCAR.cif")
    return Structure.from_str(text, fmt=fmt)

