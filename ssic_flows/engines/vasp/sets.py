"""VASP inputs for the study's AIMD (PAW-PBE, Γ point only, NVT) on atomate2's set generators.

INCAR choices (:data:`STUDY_INCAR`; the study's ESI values are not available, so these are
documented defaults, every one overridable with ``incar_overrides``):

- ``GGA = PE`` (PBE; atomate2's base set would give PBEsol), PAW ``PBE_54`` POTCARs with
  atomate2's choices (Ag, I, Li_sv, Ge_d, P, S, Na_pv, Sb, W_sv).
- ``ENCUT = 500`` eV (above the largest ENMAX of those POTCARs, Li_sv 499 eV), ``PREC =
  Normal``, ``LREAL = Auto`` (real-space projectors: 100+ atom cells), ``ALGO = Fast``,
  ``EDIFF = 1e-5`` eV, ``ISMEAR = 0``, ``SIGMA = 0.05`` eV, ``ISPIN = 1`` (closed-shell
  ionic conductors), ``ISYM = 0`` (required for MD), no CHGCAR/WAVECAR/LOCPOT/ELF output.
- KPOINTS: Γ only (1×1×1 Γ-centred), as in the study; custodian then runs ``vasp_gam``.
- MD: ``IBRION = 0``, ``POTIM`` = ``MDSettings.timestep_fs`` (fs), ``TEBEG = TEEND`` =
  ``temperature_K``, ``NSW = n_steps``, ``ISIF = 2`` (NVT). Thermostat from
  ``MDSettings.thermostat``: ``nose-hoover`` → ``MDALGO = 2`` with ``SMASS = 0`` (atomate2's
  NVT default: Nosé mass for a 40-step period), ``csvr`` → ``MDALGO = 5`` with
  ``CSVR_PERIOD = thermostat_time_fs / timestep_fs`` (steps, VASP ≥ 6.3), ``langevin`` →
  ``MDALGO = 3`` with ``LANGEVIN_GAMMA = 1000 / thermostat_time_fs`` ps⁻¹ per species.
- ``RANDOM_SEED = s 0 0`` (VASP 6 syntax: three integers, the last two VASP's counters):
  ``s = MDSettings.seed`` in a run's first segment and :func:`segment_seed` (a SeedSequence
  of ``(seed, k)``) in segment ``k`` ≥ 1, so the thermostat's and initial velocities' random
  numbers are reproducible, distinct between seeds and not repeated segment after segment.
  ``0 ≤ seed < 900 000 000`` (VASP's range).
"""

from __future__ import annotations

from typing import Any

from ssic_flows.engines.base import EngineError, MDSettings, canonical_thermostat

__all__ = ["STUDY_INCAR", "gamma_kpoints", "md_incar", "md_set_generator", "segment_seed",
           "static_set_generator"]


#: INCAR tags shared by AIMD and single points (study: PBE, Γ point). See module docstring.
STUDY_INCAR: dict[str, Any] = {
    "GGA": "PE", "ENCUT": 500, "PREC": "Normal", "LREAL": "Auto", "ALGO": "Fast",
    "EDIFF": 1e-5, "ISMEAR": 0, "SIGMA": 0.05, "ISPIN": 1, "MAGMOM": None, "ISYM": 0,
    "LWAVE": False, "LCHARG": False, "LAECHG": False, "LVTOT": False, "LELF": False,
    "LORBIT": None, "EDIFFG": None, "NELM": 200, "LASPH": True,
}


#: Tags that must not be overridden for the job to mean what it says.
_FIXED_MD = ("IBRION", "NSW", "POTIM", "TEBEG", "TEEND", "RANDOM_SEED")

#: VASP's RANDOM_SEED range: 0 ≤ seed < 900 000 000.
_SEED_MAX = 900_000_000


def segment_seed(seed: int, segment: int = 0) -> int:
    """VASP ``RANDOM_SEED`` of segment ``segment`` (0-based) of a run seeded ``seed``.

    Segment 0 uses ``seed`` itself; later ones a number drawn from
    ``numpy.random.SeedSequence([seed, segment])``, reproducible and distinct per segment.

    >>> segment_seed(7)
    7
    >>> segment_seed(7, 1) == segment_seed(7, 1) != segment_seed(7, 2)
    True
    """
    seed = int(seed)
    if not 0 <= seed < _SEED_MAX:
        raise EngineError(f"VASP RANDOM_SEED must be in 0..{_SEED_MAX - 1}, got seed={seed}")
    if segment == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, int(segment)]).generate_state(1)[0]) % _SEED_MAX


def gamma_kpoints():
    """A Γ-only (1×1×1 Γ-centred) pymatgen ``Kpoints``."""
    from pymatgen.io.vasp import Kpoints

    return Kpoints.gamma_automatic((1, 1, 1))


def md_incar(settings: MDSettings, species: list[str] | None = None,
             segment: int = 0) -> dict[str, Any]:
    """Thermostat/MD INCAR tags for segment ``segment`` (0-based) of a run with ``settings``
    (see module docstring for the mapping)."""
    th = canonical_thermostat(settings.thermostat)
    tags: dict[str, Any] = {"ISIF": 2, "IBRION": 0,
                            "RANDOM_SEED": [segment_seed(settings.seed, segment), 0, 0]}
    if th == "nose-hoover":
        tags.update(MDALGO=2, SMASS=0)
    elif th == "csvr":
        tags.update(MDALGO=5, SMASS=None,
                    CSVR_PERIOD=max(1, int(round(settings.thermostat_time_fs / settings.timestep_fs))))
    else:  # langevin
        n = len(dict.fromkeys(species or [])) or 1
        tags.update(MDALGO=3, SMASS=None,
                    LANGEVIN_GAMMA=[round(1000.0 / settings.thermostat_time_fs, 6)] * n)
    return tags


def md_set_generator(settings: MDSettings, n_steps: int, incar_overrides: dict, species: list[str],
                     potcar_functional: str, segment: int = 0):
    """atomate2 ``MDSetGenerator`` of segment ``segment`` (0-based; ``n_steps`` MD steps)."""
    from atomate2.vasp.sets.core import MDSetGenerator

    incar = {**STUDY_INCAR, **md_incar(settings, species, segment), **incar_overrides}
    bad = [k for k in _FIXED_MD if k in incar_overrides]
    if bad:
        raise EngineError(f"set {bad} through MDSettings, not incar_overrides")
    return MDSetGenerator(
        ensemble="nvt", start_temp=settings.temperature_K, end_temp=settings.temperature_K,
        nsteps=n_steps, time_step=settings.timestep_fs, user_incar_settings=incar,
        user_kpoints_settings=gamma_kpoints(), user_potcar_functional=potcar_functional,
        sort_structure=False, auto_ispin=False)


def static_set_generator(incar_overrides: dict, potcar_functional: str):
    from atomate2.vasp.sets.core import StaticSetGenerator

    incar = {**STUDY_INCAR, "NSW": 0, "IBRION": -1, **incar_overrides}
    return StaticSetGenerator(user_incar_settings=incar, user_kpoints_settings=gamma_kpoints(),
                              user_potcar_functional=potcar_functional, sort_structure=False,
                              auto_ispin=False)
