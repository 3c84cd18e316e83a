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
"""

from __future__ import annotations

from typing import Any

from ssic_flows.engines.base import EngineError, MDSettings, canonical_thermostat

__all__ = ["STUDY_INCAR", "gamma_kpoints", "md_incar", "md_set_generator", "static_set_generator"]


#: INCAR tags shared by AIMD and single points (study: PBE, Γ point). See module docstring.
STUDY_INCAR: dict[str, Any] = {
    "GGA": "PE", "ENCUT": 500, "PREC": "Normal", "LREAL": "Auto", "ALGO": "Fast",
    "EDIFF": 1e-5, "ISMEAR": 0, "SIGMA": 0.05, "ISPIN": 1, "MAGMOM": None, "ISYM": 0,
    "LWAVE": False, "LCHARG": False, "LAECHG": False, "LVTOT": False, "LELF": False,
    "LORBIT": None, "EDIFFG": None, "NELM": 200, "LASPH": True,
}


#: Tags that must not be overridden for the job to mean what it says.
_FIXED_MD = ("IBRION", "NSW", "POTIM", "TEBEG", "TEEND")


def gamma_kpoints():
    """A Γ-only (1×1×1 Γ-centred) pymatgen ``Kpoints``."""
    from pymatgen.io.vasp import Kpoints

    return Kpoints.gamma_automatic((1, 1, 1))


def md_incar(settings: MDSettings, species: list[str] | None = None) -> dict[str, Any]:
    """Thermostat/MD INCAR tags for ``settings`` (see module docstring for the mapping)."""
    th = canonical_thermostat(settings.thermostat)
    tags: dict[str, Any] = {"ISIF": 2, "IBRION": 0}
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
                  potcar_functional: str):
    from atomate2.vasp.sets.core import MDSetGenerator

    incar = {**STUDY_INCAR, **md_incar(settings, species), **incar_overrides}
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
