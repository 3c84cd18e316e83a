"""VASP MLFF inputs: ML_* INCAR tags per ``ML_MODE`` and the MD set generator.

INCAR tags (VASP wiki names; overridable through ``TrainSettings.engine_settings``):

- ``ML_LMLFF = .TRUE.``, ``ML_MODE`` as above.
- ``ML_CTIFOR = TrainSettings.beef_threshold_eV_A`` (eV/Å): initial BEEF threshold for
  sampling a structure with DFT, written in the *first* training segment only.
  ``ML_ICRITERIA = 1`` (VASP's default: the threshold is then updated from the BEEF history)
  — set ``ML_ICRITERIA = 0`` for a fixed threshold. Continuations keep VASP's updated
  threshold, which ML_AB (the previous ML_ABN) carries; writing ML_CTIFOR again would reset it.
- ``RANDOM_SEED``: per segment, as for AIMD (:func:`~ssic_flows.engines.vasp.sets.segment_seed`).
- ``ML_CDOUB = 2.0`` (VASP default: BEEF > ML_CDOUB × threshold forces immediate learning).
- ``ML_RCUT1 = 8.0`` Å, ``ML_RCUT2 = 5.0`` Å: cutoffs of the radial (2-body) and angular
  (3-body) descriptors (VASP 6.4 defaults; the study: 2- and 3-body descriptors).
- DFT part: the reference's :data:`~ssic_flows.engines.vasp.sets.STUDY_INCAR` (PBE, Γ only,
  ENCUT 500 eV, ...) — the same ab initio settings for every continuation, as VASP requires.
- ``run``: ``ML_OUTBLOCK = MDSettings.save_every`` (vasprun/XDATCAR written every n-th
  step) and ``ML_IERR = 0`` (no error estimates: a refit force field cannot give them).
"""

from __future__ import annotations

from typing import Any

from ssic_flows.engines.base import EngineError, MDSettings
from ssic_flows.engines.vasp.sets import STUDY_INCAR, gamma_kpoints, md_incar

__all__ = ["ML_DEFAULTS", "ML_MIN_VERSION", "ML_MIN_VERSION_WHY", "ML_MODES", "ml_incar",
           "ml_overrides", "mlff_generator"]


ML_MODES = ("train", "refit", "run")

#: Oldest VASP (major, minor) that reads ML_MODE; older ones ignore it.
ML_MIN_VERSION = (6, 4)
ML_MIN_VERSION_WHY = ("it ignores ML_MODE (a refit or 'run' job would retrain with DFT, "
                      "a continuation would restart training)")


#: VASP defaults we state explicitly (see module docstring).
ML_DEFAULTS: dict[str, Any] = {"ML_ICRITERIA": 1, "ML_CDOUB": 2.0, "ML_RCUT1": 8.0,
                               "ML_RCUT2": 5.0}


def ml_incar(mode: str, *, beef_threshold_eV_A: float | None = None, save_every: int = 1,
             overrides: dict | None = None) -> dict[str, Any]:
    """The machine-learning INCAR tags of one step (``train``, ``refit`` or ``run``)."""
    if mode not in ML_MODES:
        raise EngineError(f"ML_MODE must be one of {ML_MODES}, got {mode!r}")
    tags: dict[str, Any] = {"ML_LMLFF": True, "ML_MODE": mode}
    if mode in ("train", "refit"):
        tags.update(ML_DEFAULTS)
    if mode == "train" and beef_threshold_eV_A is not None:
        tags["ML_CTIFOR"] = float(beef_threshold_eV_A)
    if mode == "run":
        tags.update(ML_OUTBLOCK=int(save_every), ML_IERR=0)
    tags.update(overrides or {})
    return tags


def mlff_generator(mode: str, md: MDSettings, n_steps: int, *, reference_incar: dict,
                   beef_threshold_eV_A: float | None, ml_overrides: dict,
                   species: list[str], potcar_functional: str = "PBE_54", segment: int = 0):
    """atomate2 ``MDSetGenerator`` with the study's DFT settings plus the ML tags of ``mode``
    for segment ``segment`` (0-based; sets RANDOM_SEED). ``beef_threshold_eV_A``: ML_CTIFOR,
    to pass for the first training segment only (None in continuations)."""
    from atomate2.vasp.sets.core import MDSetGenerator

    incar = {**STUDY_INCAR, **md_incar(md, species, segment), **reference_incar,
             **ml_incar(mode, beef_threshold_eV_A=beef_threshold_eV_A,
                        save_every=md.save_every, overrides=ml_overrides)}
    return MDSetGenerator(
        ensemble="nvt", start_temp=md.temperature_K, end_temp=md.temperature_K,
        nsteps=n_steps, time_step=md.timestep_fs, user_incar_settings=incar,
        user_kpoints_settings=gamma_kpoints(), user_potcar_functional=potcar_functional,
        sort_structure=False, auto_ispin=False)


def ml_overrides(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k.isupper()}
