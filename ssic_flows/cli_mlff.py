"""``ssic mlff``: fit a linear-ACE MLFF to one's own labelled frames, and predict with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

mlff_app = typer.Typer(no_args_is_help=True, help="Train and use an MLFF on your own frames.")


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


@mlff_app.command("fit")
def fit_cmd(
    frames: Path = typer.Argument(..., help="labelled frames: .extxyz, .traj, vasprun.xml, OUTCAR, CP2K, .npz"),
    out: Path = typer.Option(..., "--out", "-o", help="model directory to write"),
    engine: str = typer.Option("ace", "--engine", help="MLFF engine (ace)"),
    fmt: str = typer.Option("auto", "--format", help="file format (default: from the name)"),
    basis: str = typer.Option("auto", "--basis", help="auto | tiny | compact | small | medium"),
    cutoff_A: float = typer.Option(5.0, "--cutoff", help="neighbour cutoff, Å"),
) -> None:
    """Fit a linear ACE by Bayesian linear regression (energies, forces, stresses if present)."""
    if engine != "ace":
        _fail(f"engine {engine!r} cannot be fitted from a file here; use --engine ace")
    from ssic_flows.engines.ace.fit import fit_ace
    from ssic_flows.engines.ace.frames_io import read_labelled_frames

    if out.exists() and any(out.iterdir()):
        _fail(f"{out} exists and is not empty; choose a new --out directory")
    try:
        data = read_labelled_frames(frames, fmt)
        model = fit_ace(data, {"basis": basis, "cutoff_A": cutoff_A})
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    model.save(out)
    i = model.info
    rm = ", ".join(f"{k} {v:.1f}" for k, v in i["train_force_rmse_meV_A"].items())
    typer.echo(f"wrote {out}: {i['n_coefficients']} coefficients ({model.size['name']} basis) "
               f"from {i['n_frames']} frames ({i['n_stress_frames']} with stress); training force "
               f"RMSE meV/Å: {rm}; noise σ {1000 * model.noise_sigma_force_eV_A:.1f} meV/Å")


@mlff_app.command("predict")
def predict_cmd(
    model_dir: Path = typer.Argument(..., help="model directory from `ssic mlff fit`"),
    frames: Path = typer.Argument(..., help="frames to predict (labels not needed)"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="write predictions here"),
    fmt: str = typer.Option("auto", "--format", help="file format (default: from the name)"),
) -> None:
    """Energies, forces and their Bayesian errors (σ per component, BEEF per frame)."""
    from ssic_flows.engines.ace.frames_io import predictions_document, read_frames_any
    from ssic_flows.engines.ace.model import load_model

    try:
        model = load_model(model_dir)
        doc = predictions_document(model, read_frames_any(frames, fmt))
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    if json_out:
        json_out.write_text(json.dumps(doc))
        typer.echo(f"wrote {json_out} ({len(doc['frames'])} frames)")
    else:
        typer.echo(json.dumps([{"energy_eV": f["energy_eV"], "beef_eV_A": f["beef_eV_A"]}
                               for f in doc["frames"]], indent=1))
