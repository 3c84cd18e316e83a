"""Campaign definitions (``workflows/*.yaml``) validated before anything is submitted.

A campaign is a list of studies (one material each) sharing engines. Unknown keys, wrong
types, T ≤ 0, too many seeds ... raise :class:`CampaignSpecError` with one line naming the
key, e.g. ``workflows/x.yaml: studies[0].temperature_K: Input should be greater than 0``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["MAX_SEEDS", "CampaignSpec", "CampaignSpecError", "StudySpec", "TrainSpec", "load_campaign"]

#: Upper bound on independent MLMD runs per study (guards against typos such as 500).
MAX_SEEDS = 20

MaterialName = Literal["agi", "lgps", "na3sbs4", "na3sbs4-w"]


class CampaignSpecError(ValueError):
    """A campaign file is invalid; the message names the file, the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainSpec(_Strict):
    """On-the-fly training knobs (see :class:`ssic_flows.engines.base.TrainSettings`)."""

    beef_threshold_eV_A: float = Field(0.05, gt=0, description="label frames above this BEEF, eV/Å")
    n_seed_frames: int = Field(5, ge=1)
    segment_steps: int = Field(100, ge=1, description="MLMD steps per exploration segment")
    max_iterations: int = Field(5, ge=1)
    max_new_frames: int = Field(5, ge=1)
    engine_settings: dict[str, Any] = Field(default_factory=dict)


class StudySpec(_Strict):
    """One material's study: reference MD, MLFF training, MLMD ensemble, analysis."""

    name: str | None = Field(None, description="unique study name (default: material)")
    material: MaterialName
    n_atoms: int | None = Field(None, gt=0, description="atoms in the training cell")
    structure_seed: int = Field(0, ge=0, description="seed of the disordered-site assignment")
    temperature_K: float = Field(..., gt=0, description="production temperature, K")
    timestep_fs: float = Field(2.0, gt=0, le=10, description="MD timestep, fs")
    reference_steps: int = Field(..., ge=10, description="reference (AIMD) MD steps")
    mlmd_steps: int = Field(..., ge=10, description="steps of each MLMD production run")
    save_every: int = Field(1, ge=1, description="store every n-th MD step")
    n_seeds: int = Field(5, ge=1, le=MAX_SEEDS, description="independent MLMD runs")
    transfer: bool = Field(False, description="MLMD with the same model on a 2x2x2 supercell")
    transfer_steps: int | None = Field(None, ge=10)
    retrain_hot: bool = Field(False, description="retrain at retrain_temperature_K, then MLMD at temperature_K")
    retrain_temperature_K: float = Field(800.0, gt=0)
    train: TrainSpec = Field(default_factory=TrainSpec)
    train_from: str | None = Field(None, description="study whose MLFF seeds this training")
    validation_snapshots: int = Field(10, ge=1, description="random reference frames for force RMSE")
    thermostat: Literal["csvr", "langevin", "nose-hoover"] = "csvr"
    thermostat_time_fs: float = Field(100.0, gt=0)
    checkpoint_every: int = Field(50, ge=1)

    @property
    def study_name(self) -> str:
        return self.name or self.material


class CampaignSpec(_Strict):
    """A campaign: studies sharing a reference engine and an MLFF engine."""

    campaign_id: str = Field(..., min_length=1, max_length=64)
    description: str = ""
    reference_engine: str = "embedded"
    reference_settings: dict[str, Any] = Field(default_factory=dict)
    mlff_engine: str = "gap"
    mlff_settings: dict[str, Any] = Field(default_factory=dict)
    studies: list[StudySpec] = Field(..., min_length=1)

    @field_validator("campaign_id")
    @classmethod
    def _id_chars(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", v):
            raise ValueError("use letters, digits, '_', '.', '-' only")
        return v

    @field_validator("reference_engine")
    @classmethod
    def _ref_engine(cls, v: str) -> str:
        from ssic_flows.engines.registry import REFERENCE_ENGINES

        if v.lower() not in REFERENCE_ENGINES:
            raise ValueError(f"unknown reference engine {v!r}; choose one of {sorted(REFERENCE_ENGINES)}")
        return v.lower()

    @field_validator("mlff_engine")
    @classmethod
    def _mlff_engine(cls, v: str) -> str:
        from ssic_flows.engines.registry import MLFF_ENGINES

        if v.lower() not in MLFF_ENGINES:
            raise ValueError(f"unknown MLFF engine {v!r}; choose one of {sorted(MLFF_ENGINES)}")
        return v.lower()

    @field_validator("studies")
    @classmethod
    def _names(cls, studies: list[StudySpec]) -> list[StudySpec]:
        names = [s.study_name for s in studies]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"study names must be unique; repeated: {sorted(dup)} (set 'name')")
        for s in studies:
            if s.train_from is not None:
                if s.train_from not in names:
                    raise ValueError(f"study {s.study_name!r}: train_from {s.train_from!r} is not a study here")
                if names.index(s.train_from) >= names.index(s.study_name):
                    raise ValueError(f"study {s.study_name!r}: train_from must name an earlier study")
        return studies


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_campaign(path: str | Path | dict) -> CampaignSpec:
    """Read and validate a campaign YAML file (or an already-parsed dict)."""
    if isinstance(path, dict):
        src, data = "<dict>", path
    else:
        p = Path(path)
        src = str(p)
        if not p.exists():
            raise CampaignSpecError(f"{src}: no such campaign file")
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise CampaignSpecError(f"{src}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise CampaignSpecError(f"{src}: the top level must be a mapping with campaign_id and studies")
    try:
        return CampaignSpec(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check spelling; see workflows/demo.yaml for the schema)"
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise CampaignSpecError(f"{src}: {_loc(err['loc'])}: {msg}{more}") from exc
