"""The one small interface every engine implements.

A *reference* engine gives ab initio-quality (or stand-in) energies/forces and MD; an *MLFF*
engine is trained on the fly against a reference and then runs fast MD. The study graph
only talks to these two classes, so it does not care which engine it got.

Job contracts (all outputs are documents from :mod:`ssic_flows.schemas`):

- ``ReferenceEngine.md_maker(settings).make(structure) -> Job`` → :class:`MDOutput`
- ``ReferenceEngine.static_maker().make(frames: Trajectory) -> Job`` → :class:`StaticOutput`
- ``MLFFEngine.train_flow(structure, reference, settings) -> Job | Flow`` → :class:`TrainOutput`
  (a dynamic jobflow flow for on-the-fly engines)
- ``MLFFEngine.md_maker(settings).make(structure, model=TrainOutput) -> Job`` → :class:`MDOutput`
- ``MLFFEngine.predict(model, frames) -> forces (F, N, 3) eV/Å`` (validation)

Engines are looked up by name in :mod:`ssic_flows.engines.registry`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EngineError", "MDSettings", "MLFFEngine", "ReferenceEngine", "THERMOSTATS",
           "THERMOSTAT_ALIASES", "ThermostatError", "TrainSettings", "canonical_thermostat"]


class EngineError(RuntimeError):
    """An engine cannot run (unknown name, missing executable or data); says the fix."""


class ThermostatError(EngineError, ValueError):
    """An unknown thermostat name (a ``ValueError`` too, so campaign validation reports it)."""


#: The thermostats every engine offers: CSVR (Bussi), Langevin, Nosé–Hoover (chain).
THERMOSTATS: tuple[str, ...] = ("csvr", "langevin", "nose-hoover")
#: Other names accepted for them (after lower-casing and ``_`` → ``-``).
THERMOSTAT_ALIASES: dict[str, str] = {"bussi": "csvr", "nose": "nose-hoover", "nhc": "nose-hoover",
                                      "nose-hoover-chain": "nose-hoover"}


def canonical_thermostat(name: str) -> str:
    """The canonical thermostat name (one of :data:`THERMOSTATS`) of ``name`` or an alias.

    >>> canonical_thermostat("Nose_Hoover"), canonical_thermostat("bussi")
    ('nose-hoover', 'csvr')
    >>> canonical_thermostat("berendsen")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    ThermostatError: unknown thermostat 'berendsen'; choose one of ['csvr', 'langevin', 'nose-hoover'] (aliases: bussi, nose, nhc, nose-hoover-chain)
    """
    key = str(name).lower().replace("_", "-")
    key = THERMOSTAT_ALIASES.get(key, key)
    if key not in THERMOSTATS:
        raise ThermostatError(f"unknown thermostat {name!r}; choose one of {list(THERMOSTATS)} "
                              f"(aliases: {', '.join(THERMOSTAT_ALIASES)})")
    return key


@dataclass
class MDSettings:
    """NVT MD settings shared by all engines.

    temperature_K: thermostat target, K. timestep_fs: integration step, fs. n_steps: MD
    steps. save_every: store every n-th step. seed: velocity initialisation and thermostat
    RNG. thermostat: one of :data:`THERMOSTATS` or an alias (:func:`canonical_thermostat`).
    thermostat_time_fs: coupling time, fs. checkpoint_every: steps between checkpoints that
    a killed run resumes from.
    """

    temperature_K: float
    timestep_fs: float = 2.0
    n_steps: int = 1000
    save_every: int = 1
    seed: int = 0
    thermostat: str = "csvr"
    thermostat_time_fs: float = 100.0
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        if self.temperature_K <= 0:
            raise ValueError(f"temperature_K must be > 0 K, got {self.temperature_K}")
        if self.timestep_fs <= 0:
            raise ValueError(f"timestep_fs must be > 0 fs, got {self.timestep_fs}")
        if self.n_steps < 1 or self.save_every < 1 or self.checkpoint_every < 1:
            raise ValueError("n_steps, save_every and checkpoint_every must be >= 1")
        canonical_thermostat(self.thermostat)


#: Seed offset of an MLFF training's seed reference MD (``TrainSettings.seed + SEED_MD_OFFSET``),
#: so that its frames never coincide with a reference production run that validation draws
#: from, even when a caller passes the same seed to both. Used by every MLFF engine.
SEED_MD_OFFSET: int = 7919


@dataclass
class TrainSettings:
    """On-the-fly MLFF training settings.

    temperature_K: training MD temperature, K. beef_threshold_eV_A: a frame whose Bayesian
    force-error estimate exceeds this is labelled by the reference (eV/Å). n_seed_frames:
    reference frames to start from. segment_steps: MLMD steps per exploration segment.
    max_iterations: bound on fit→explore→label cycles. max_new_frames: frames labelled per
    cycle. engine_settings: engine-specific knobs (descriptor sizes, sparse points, ...).
    explore_temperature_factor: the exploration (training) MD runs at this factor ×
    ``temperature_K`` (:attr:`explore_temperature_K`), so the labelled data covers the tails of
    the distribution that production MD at ``temperature_K`` samples over long runs. Default
    1.25, measured: linear ACE for LGPS (100 atoms) explored at 600 K converged and then 2 of
    4 10-ps MLMD runs at 600 K left the training domain (a PS4 bond stretched to 2.5 Å, where
    there was no data); explored at 750 K, 4 of 4 ran 10 ps with BEEF ≤ 0.054 eV/Å. 1.0 is
    the study's protocol (VASP trains at the production temperature).
    """

    temperature_K: float
    timestep_fs: float = 2.0
    beef_threshold_eV_A: float = 0.05
    n_seed_frames: int = 5
    segment_steps: int = 100
    max_iterations: int = 5
    max_new_frames: int = 5
    seed: int = 0
    engine_settings: dict[str, Any] = field(default_factory=dict)
    explore_temperature_factor: float = 1.25

    def __post_init__(self) -> None:
        if not self.explore_temperature_factor >= 1.0:
            raise EngineError(f"explore_temperature_factor must be >= 1 (got "
                              f"{self.explore_temperature_factor}): training explores at or above "
                              "the production temperature")

    @property
    def explore_temperature_K(self) -> float:
        """Temperature of the exploration (training) MD, K."""
        return float(self.temperature_K) * float(self.explore_temperature_factor)


class ReferenceEngine(ABC):
    """Reference (AIMD or stand-in) engine."""

    name: str = "reference"
    stands_in_for_dft: bool = False

    @abstractmethod
    def md_maker(self, settings: MDSettings):
        """A jobflow Maker whose ``make(structure)`` returns a Job → MDOutput."""

    @abstractmethod
    def static_maker(self):
        """A jobflow Maker whose ``make(frames: Trajectory)`` returns a Job → StaticOutput."""

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """engine, engine_version, stands_in_for_dft, settings."""

    def check_available(self) -> None:
        """Raise :class:`EngineError` naming the fix if the engine cannot run here."""


class MLFFEngine(ABC):
    """Machine-learned force field engine trained against a :class:`ReferenceEngine`."""

    name: str = "mlff"

    @abstractmethod
    def train_flow(self, structure, reference: ReferenceEngine, settings: TrainSettings,
                   initial_model=None):
        """A Job or (dynamic) Flow whose output is a TrainOutput."""

    @abstractmethod
    def md_maker(self, settings: MDSettings):
        """A Maker whose ``make(structure, model)`` returns a Job → MDOutput."""

    @abstractmethod
    def predict(self, model, frames):
        """Forces (F, N, 3) in eV/Å predicted for each frame of a Trajectory."""

    def predict_with_sigma(self, model, frames):
        """(forces (F, N, 3) eV/Å, σ of each force component (F, N, 3) eV/Å or None,
        per-frame error estimate (F,) eV/Å or None): the engine's own error estimate
        beside its forces, for checking it against reference forces. None where the engine
        has no per-component force σ (the default)."""
        return self.predict(model, frames), None, None

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """engine, engine_version, settings."""

    def check_available(self) -> None:
        """Raise :class:`EngineError` naming the fix if the engine cannot run here."""
