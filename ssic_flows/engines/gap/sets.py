"""GAP engine settings: descriptor sizes, regularisation (σ), BEEF calibration, on-the-fly
loop knobs, with their units.

>>> gap_settings({"soap_n_sparse": 30})["soap_n_sparse"]
30
"""

from __future__ import annotations

from typing import Any

from ssic_flows.engines.base import EngineError

__all__ = ["DEFAULT_GAP_SETTINGS", "gap_settings"]


#: Small defaults for the demo; override any key with TrainSettings.engine_settings.
DEFAULT_GAP_SETTINGS: dict[str, Any] = {
    "cutoff_A": 5.0,                 # descriptor cutoff, Å
    "two_body_n_sparse": 15,
    "two_body_delta_eV": 1.0,
    "two_body_theta_A": 1.0,
    "soap_n_max": 4, "soap_l_max": 3, "soap_atom_sigma_A": 0.5, "soap_zeta": 2,
    "soap_delta_eV": 0.2, "soap_n_sparse": 60,
    "sigma_energy_eV": 0.003,        # default_sigma: energy per atom (eV), forces (eV/Å)
    "sigma_force_eV_A": 0.05,
    "sigma_virial_eV": None,         # None: stresses/virials of training frames are dropped
    "sparse_jitter": 1e-8,
    "beef_scale_per_A": 5.0,         # initial c in β_i = c·sqrt(σ²_i)
    "monitor_every": 5,              # MD steps between BEEF evaluations (stored frames)
    "min_candidate_gap": 10,         # MD steps between two labelled frames of a segment
    "seed_stride": 10,               # reference-MD steps between seed frames
    "abort_factor": 20.0,            # stop a segment when BEEF > abort_factor·threshold
    "thermostat": "csvr",
    "thermostat_time_fs": 50.0,
    "fit_timeout_s": 6 * 3600.0,     # gap_fit is killed (with its process group) after this, s
}


def gap_settings(engine_settings: dict | None) -> dict[str, Any]:
    s = dict(DEFAULT_GAP_SETTINGS)
    unknown = set(engine_settings or {}) - set(s)
    if unknown:
        raise EngineError(f"unknown GAP engine_settings {sorted(unknown)}; known: {sorted(s)}")
    s.update(engine_settings or {})
    if s["soap_n_sparse"] < 1 or s["two_body_n_sparse"] < 1:
        raise EngineError("soap_n_sparse and two_body_n_sparse must be >= 1")
    return s
