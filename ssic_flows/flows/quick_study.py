"""The whole study for one structure file: a validated campaign written beside the file.

``ssic study STRUCTURE --mobile Li --temperature 600`` (:mod:`ssic_flows.cli_study`) is this
function plus ``ssic run``/``ssic submit`` on the file it writes.

Example
-------
>>> path = write_study_campaign("LiFePO4.cif", ["Li"], 600.0)  # doctest: +SKIP
>>> path.name                                                   # doctest: +SKIP
'LiFePO4.campaign.yaml'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ssic_flows.flows.spec import CampaignSpecError, load_campaign

__all__ = ["study_campaign", "write_study_campaign"]


def study_campaign(structure: str | Path, mobile: Sequence[str], temperature_K: float, *,
                   n_atoms: int | None = None, reference_engine: str = "embedded",
                   mlff_engine: str = "ace", n_seeds: int = 3, timestep_fs: float = 2.0,
                   reference_ps: float = 5.0, mlmd_ps: float = 10.0,
                   equilibration_ps: float = 1.0) -> dict[str, Any]:
    """The campaign (a dict, as in ``workflows/*.yaml``) of one study of ``structure``.

    Lengths in ps are turned into steps of ``timestep_fs`` fs. The campaign's ``material``
    is the file's name: the campaign is meant to lie beside it.
    """
    p = Path(structure)
    cid = re.sub(r"[^A-Za-z0-9_.-]", "_", p.name.replace("POSCAR.", "").rsplit(".", 1)[0] if "." in p.name else p.name)
    study: dict[str, Any] = {
        "material": p.name, "mobile_species": list(mobile), "temperature_K": float(temperature_K),
        "timestep_fs": float(timestep_fs), "reference_steps": int(round(1000 * reference_ps / timestep_fs)),
        "mlmd_steps": int(round(1000 * mlmd_ps / timestep_fs)), "equilibration_ps": float(equilibration_ps),
        "n_seeds": int(n_seeds)}
    if n_atoms is not None:
        study["n_atoms"] = int(n_atoms)
    return {"campaign_id": f"study-{cid}"[:64],
            "description": f"ssic study {p.name}: mobile {', '.join(mobile)} at {temperature_K:g} K",
            "reference_engine": reference_engine, "mlff_engine": mlff_engine, "studies": [study]}


def write_study_campaign(structure: str | Path, mobile: Sequence[str], temperature_K: float,
                         **kw) -> Path:
    """Validate :func:`study_campaign` and write it to ``<structure stem>.campaign.yaml`` beside
    the file; nothing is written when it does not validate.

    Raises
    ------
    CampaignSpecError
        One line naming the problem (unreadable file, no such mobile species, charged cell,
        impossible atom count, ...) and the fix.
    """
    p = Path(structure)
    if not p.is_file():
        raise CampaignSpecError(f"{p}: no such structure file; give the path of a .cif, POSCAR or .extxyz file")
    d = study_campaign(p, mobile, temperature_K, **kw)
    try:
        spec = load_campaign({**d, "studies": [{**d["studies"][0], "material": str(p.resolve())}]})
    except CampaignSpecError as exc:  # name the structure file, not the in-memory campaign
        raise CampaignSpecError(f"{p}: {str(exc).split(': ', 2)[-1]}") from exc
    out = p.parent / f"{spec.studies[0].study_name}.campaign.yaml"
    out.write_text(f"# written by `ssic study {p.name}`; run: ssic run {out.name}\n"
                   + yaml.safe_dump(d, sort_keys=False))
    return out
