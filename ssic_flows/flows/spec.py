"""Campaign definitions (``workflows/*.yaml``) validated before anything is submitted.

A campaign is a list of studies (one material each) sharing engines. Unknown keys, wrong
types, T ≤ 0, too many seeds ... raise :class:`CampaignSpecError` with one line naming the
key, e.g. ``workflows/x.yaml: studies[0].temperature_K: Input should be greater than 0``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from ssic_flows.engines.base import MDSettings, TrainSettings, canonical_thermostat

__all__ = ["DEFAULT_EQUILIBRATION_PS", "MAX_SEEDS", "MD_FIELDS", "CampaignSpec", "CampaignSpecError", "StudySpec",
           "TrainSpec", "check_equilibration", "load_campaign", "run_steps"]

#: The engines' defaults (``MDSettings``, ``TrainSettings``): the one place they are defined.
_MD = {f.name: f.default for f in fields(MDSettings)}
_TRAIN = {f.name: f.default for f in fields(TrainSettings)}

#: StudySpec fields that are MD settings of every run (:meth:`StudySpec.md_settings`).
MD_FIELDS = ("timestep_fs", "save_every", "thermostat", "thermostat_time_fs", "checkpoint_every")

#: Upper bound on independent MLMD runs per study (guards against typos such as 500).
MAX_SEEDS = 20

#: Time discarded at the start of every run before any observable, ps. Every run starts
#: from the ideal built structure (no disorder, no thermal expansion): 1 ps lets the
#: thermostat (τ = 0.1 ps by default) heat it and the ions leave their ideal sites.
DEFAULT_EQUILIBRATION_PS = 1.0


def run_steps(study) -> dict[str, int]:
    """Steps of each kind of run of a :class:`StudySpec` that equilibration cuts."""
    runs = {"reference_steps": study.reference_steps, "mlmd_steps": study.mlmd_steps}
    if study.transfer:
        runs["transfer_steps"] = study.transfer_steps or study.mlmd_steps
    return runs


def check_equilibration(equilibration_ps: float, timestep_fs: float, runs: dict[str, int]) -> None:
    """Raise ``ValueError`` (one line) unless ``equilibration_ps`` is at most half of every run.

    Parameters
    ----------
    equilibration_ps : time cut from the start of every run, ps.
    timestep_fs : MD timestep, fs.
    runs : steps per run, e.g. ``{"reference_steps": 1000, "mlmd_steps": 1000}``.

    >>> check_equilibration(1.0, 2.0, {"reference_steps": 10000})
    >>> check_equilibration(1.0, 2.0, {"transfer_steps": 40})
    Traceback (most recent call last):
    ...
    ValueError: equilibration_ps = 1 ps is more than half of transfer_steps (40 steps x 2 fs = 0.08 ps): lower equilibration_ps to <= 0.04 ps or lengthen the run
    """
    for name, steps in runs.items():
        length_ps = steps * timestep_fs / 1000.0
        if equilibration_ps > 0.5 * length_ps:
            raise ValueError(f"equilibration_ps = {equilibration_ps:g} ps is more than half of {name} "
                             f"({steps} steps x {timestep_fs:g} fs = {length_ps:g} ps): lower "
                             f"equilibration_ps to <= {0.5 * length_ps:g} ps or lengthen the run")



class CampaignSpecError(ValueError):
    """A campaign file is invalid; the message names the file, the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainSpec(_Strict):
    """On-the-fly training knobs (see :class:`ssic_flows.engines.base.TrainSettings`)."""

    beef_threshold_eV_A: float = Field(_TRAIN["beef_threshold_eV_A"], gt=0,
                                       description="label frames above this BEEF, eV/Å")
    n_seed_frames: int = Field(_TRAIN["n_seed_frames"], ge=1)
    segment_steps: int = Field(_TRAIN["segment_steps"], ge=1, description="MLMD steps per exploration segment")
    max_iterations: int = Field(_TRAIN["max_iterations"], ge=1)
    max_new_frames: int = Field(_TRAIN["max_new_frames"], ge=1)
    explore_temperature_factor: float = Field(
        _TRAIN["explore_temperature_factor"], ge=1.0,
        description="exploration MD at this factor x the study's temperature (the hot retraining "
                    "explores at its own temperature); see TrainSettings")
    engine_settings: dict[str, Any] = Field(default_factory=dict)

    def train_settings(self, temperature_K: float, timestep_fs: float, seed: int,
                       explore_at_temperature: bool = False) -> TrainSettings:
        """The engines' :class:`TrainSettings` of these knobs at ``temperature_K`` (K);
        ``explore_at_temperature``: explore at ``temperature_K`` itself (factor 1)."""
        kw = self.model_dump()
        if explore_at_temperature:
            kw["explore_temperature_factor"] = 1.0
        return TrainSettings(temperature_K=temperature_K, timestep_fs=timestep_fs, seed=seed, **kw)


class StudySpec(_Strict):
    """One material's study: reference MD, MLFF training, MLMD ensemble, analysis."""

    name: str | None = Field(None, description="unique study name (default: material)")
    structure: dict[str, Any] | None = Field(
        None, description="a structure-file material's recipe (ssic_flows.materials.user), filled "
                          "in from `material`: the file's text travels with the campaign, not its path")
    material: str = Field(..., description="built-in (agi, lgps, na3sbs4, na3sbs4-w) or a structure "
                                           "file (.cif, POSCAR, .extxyz) relative to the campaign file")
    mobile_species: list[str] | None = Field(None, description="a structure file's mobile species, e.g. [Li]")
    oxidation_states: dict[str, float] | None = Field(
        None, description="a structure file's oxidation states (default: guessed), e.g. {Fe: 2}")
    dope: dict[str, Any] | None = Field(
        None, description="doping rule, e.g. {replace: Sb, with: W, fraction: 0.0625, compensate: {vacancy: Na}}")
    n_atoms: int | None = Field(None, gt=0, description="atoms in the training cell")
    structure_seed: int = Field(0, ge=0, description="seed of the disordered-site assignment")
    temperature_K: float = Field(..., gt=0, description="production temperature, K")
    timestep_fs: float = Field(_MD["timestep_fs"], gt=0, le=10, description="MD timestep, fs")
    reference_steps: int = Field(..., ge=10, description="reference (AIMD) MD steps")
    mlmd_steps: int = Field(..., ge=10, description="steps of each MLMD production run")
    save_every: int = Field(_MD["save_every"], ge=1, description="store every n-th MD step")
    equilibration_ps: float = Field(
        DEFAULT_EQUILIBRATION_PS, ge=0,
        description="ps cut from the start of every run (reference, MLMD, transfer, hot) before "
                    "any observable (default 1 ps; at most half of the shortest run)")
    n_seeds: int = Field(5, ge=1, le=MAX_SEEDS, description="independent MLMD runs")
    transfer: bool = Field(False, description="MLMD with the same model on a 2x2x2 supercell")
    transfer_steps: int | None = Field(None, ge=10)
    retrain_hot: bool = Field(False, description="retrain at retrain_temperature_K, then MLMD at temperature_K")
    retrain_temperature_K: float = Field(800.0, gt=0)
    train: TrainSpec = Field(default_factory=TrainSpec)
    train_from: str | None = Field(None, description="study whose MLFF seeds this training")
    validation_snapshots: int = Field(10, ge=1, description="random reference frames for force RMSE")
    thermostat: str = Field(_MD["thermostat"], description="csvr, langevin or nose-hoover (or an alias)")
    thermostat_time_fs: float = Field(_MD["thermostat_time_fs"], gt=0)
    checkpoint_every: int = Field(_MD["checkpoint_every"], ge=1)

    @property
    def study_name(self) -> str:
        return self.name or (self.structure or {}).get("name") or self.material

    def material_ref(self) -> str | dict[str, Any]:
        """What ``build_material``/``resolve_material`` take: the recipe, else the built-in key."""
        return self.structure or self.material

    def md_settings(self, temperature_K: float, n_steps: int, seed: int) -> MDSettings:
        """The engines' :class:`MDSettings` of one run of this study (K, steps, seed)."""
        return MDSettings(temperature_K=temperature_K, n_steps=n_steps, seed=seed,
                          **{k: getattr(self, k) for k in MD_FIELDS})

    @field_validator("thermostat")
    @classmethod
    def _thermostat(cls, v: str) -> str:
        return canonical_thermostat(v)

    @field_validator("material")
    @classmethod
    def _material(cls, v: str, info: ValidationInfo) -> str:
        from ssic_flows.materials import builtin_names, is_builtin, resolve_material

        if is_builtin(v):
            return resolve_material(v).key
        if info.data.get("structure") is None and not _material_path(v, info).is_file():
            raise ValueError(f"{v!r} is neither a built-in material ({builtin_names()}) nor a structure "
                             f"file (no file {_material_path(v, info)}); give a name or a .cif/POSCAR/.extxyz path")
        return v

    @model_validator(mode="after")
    def _material_recipe(self, info: ValidationInfo) -> StudySpec:
        from ssic_flows.materials import is_builtin, read_recipe, resolve_material
        from ssic_flows.materials.doping import DopingRule

        if self.structure is None and is_builtin(self.material):
            if self.mobile_species or self.oxidation_states:
                raise ValueError(f"mobile_species/oxidation_states are for structure files; {self.material} "
                                 "is built in (remove them)")
            if self.dope:
                rule = DopingRule.from_dict(self.dope)
                self.structure = {"base": self.material, "name": f"{self.material}+{rule.with_}",
                                  "dope": rule.as_dict()}
        elif self.structure is None:
            self.structure = read_recipe(_material_path(self.material, info), self.mobile_species or [],
                                         oxidation_states=self.oxidation_states, dope=self.dope)
        resolve_material(self.material_ref()).check_n_atoms(self.n_atoms)
        return self

    @model_validator(mode="after")
    def _equilibration_fits(self) -> StudySpec:
        check_equilibration(self.equilibration_ps, self.timestep_fs, run_steps(self))
        return self


def _material_path(v: str, info: ValidationInfo) -> Path:
    """``v`` relative to the campaign file's folder (``context["base_dir"]``), else as given."""
    base = Path((info.context or {}).get("base_dir", "."))
    return Path(v) if Path(v).is_absolute() else base / v


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
        return CampaignSpec.model_validate(data, context={"base_dir": "." if isinstance(path, dict) else Path(path).parent})
    except ValidationError as exc:
        errs = exc.errors()
        # a misspelt key hides the required one it was meant to be: name the typo first
        err = next((e for e in errs if e["type"] == "extra_forbidden"), errs[0])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            missing = [str(e["loc"][-1]) for e in errs if e["type"] == "missing"
                       and e["loc"][:-1] == err["loc"][:-1]]
            close = difflib.get_close_matches(str(err["loc"][-1]), missing, n=1)
            msg = (f"unknown key (did you mean {close[0]}?)" if close else
                   "unknown key (check spelling; see workflows/demo.yaml for the schema)")
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise CampaignSpecError(f"{src}: {_loc(err['loc'])}: {msg}{more}") from exc
