"""``ssic study STRUCTURE``: the whole study for one's own structure file.

:func:`make_study_cmd` builds the command around the CLI's own ``run``/``submit`` commands
(handed in by :mod:`ssic_flows.cli`, so this module does not import it back).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

import typer


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def make_study_cmd(run_cmd: Callable[..., None], submit_cmd: Callable[..., None]) -> Callable[..., None]:
    """The ``ssic study`` command; ``run_cmd``/``submit_cmd`` are the CLI's ``run``/``submit``."""

    def study_cmd(
        structure: Path = typer.Argument(..., help="structure file: .cif (partial occupancies allowed), POSCAR, .extxyz"),
        mobile: list[str] = typer.Option(..., "--mobile", help="mobile species (repeatable), e.g. Li"),
        temperature: float = typer.Option(..., "--temperature", help="MD temperature, K"),
        atoms: Optional[int] = typer.Option(None, "--atoms", "-n", help="about this many atoms (default 128)"),
        engines: str = typer.Option("embedded,ace", "--engines", help="reference,mlff engines"),
        seeds: int = typer.Option(3, "--seeds", help="independent MLMD runs"),
        reference_ps: float = typer.Option(5.0, "--reference-ps", help="reference MD length, ps"),
        mlmd_ps: float = typer.Option(10.0, "--mlmd-ps", help="each MLMD run's length, ps"),
        dry_run: bool = typer.Option(False, "--dry-run", help="write the campaign and print its graph; run nothing"),
        db_config: Optional[Path] = typer.Option(None, "--db-config",
                                                 help="server db config: submit instead of running here"),
    ) -> None:
        """Write STRUCTURE's campaign (beside it) and run it here, or submit it with --db-config."""
        from ssic_flows.flows.quick_study import write_study_campaign
        from ssic_flows.flows.spec import CampaignSpecError

        ref, _, ml = engines.partition(",")
        try:
            path = write_study_campaign(structure, mobile, temperature, n_atoms=atoms,
                                        reference_engine=ref or "embedded", mlff_engine=ml or "ace",
                                        n_seeds=seeds, reference_ps=reference_ps, mlmd_ps=mlmd_ps)
        except CampaignSpecError as exc:
            _fail(str(exc))
        typer.echo(f"wrote {path}")
        if db_config is not None and not dry_run:
            submit_cmd(path, db_config=db_config)
        else:
            run_cmd(path, dry_run=dry_run, as_json=False, db_config=None)

    return study_cmd
