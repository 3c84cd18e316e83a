"""``ssic`` command line: composes the library; no physics or storage logic lives here.

Every command prints one clear line on stderr and exits with status 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ssic-flows: AIMD vs MLMD campaigns for solid-state ion conductors.")


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


@app.command("materials")
def materials_cmd(
    name: str = typer.Argument(..., help="agi | lgps | na3sbs4 | na3sbs4-w"),
    atoms: Optional[int] = typer.Option(None, "--atoms", "-n", help="atoms in the cell (default: the study's)"),
    seed: int = typer.Option(0, "--seed", help="seed for the disordered-site assignment (>= 0)"),
    out: Path = typer.Option(..., "--out", "-o", help="output file: .cif, POSCAR/.vasp or .extxyz"),
) -> None:
    """Build a study material's supercell and write it (format from OUT's extension)."""
    from ssic_flows.materials import build_material, write_structure

    try:
        s = build_material(name, n_atoms=atoms, seed=seed)
        write_structure(s, out)
    except (ValueError, KeyError) as exc:
        _fail(str(exc).strip("'\""))
    typer.echo(f"wrote {out} ({len(s)} atoms, {s.composition.reduced_formula}, "
               f"{s.density:.3f} g/cm^3)")


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":
    main()
