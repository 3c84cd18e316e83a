"""Linear-ACE engine settings: defined once, with units; fit knobs from :mod:`.fit`.

Every key can be overridden per campaign (``mlff_settings``) or per study
(``train.engine_settings``); unknown keys raise an error naming the known ones.
"""

from __future__ import annotations

from typing import Any

from ssic_flows.engines.ace.fit import DEFAULT_FIT_SETTINGS
from ssic_flows.engines.base import EngineError

__all__ = ["DEFAULT_ACE_SETTINGS", "ace_settings", "fit_settings"]

#: On-the-fly loop knobs (fit knobs are :data:`~.fit.DEFAULT_FIT_SETTINGS`).
DEFAULT_ACE_SETTINGS: dict[str, Any] = {
    **DEFAULT_FIT_SETTINGS,
    "monitor_every": 5,              # MD steps between BEEF evaluations
    "min_candidate_gap": 10,         # MD steps between two labelled frames of a segment
    "seed_stride": 10,               # reference-MD steps between seed frames
    "abort_factor": 20.0,            # stop a segment when BEEF > abort_factor · threshold
    "explore_min_distance_fraction": 0.75,  # ... or a pair < this × the training data's shortest
    "restart_factor": 5.0,           # next segment from the last candidate if its BEEF <= this × threshold
    "augment_fractions": [0.85, 0.92],  # compressed-pair frames per element pair (augment.py)
    "md_beef_every": 100,            # production MLMD: BEEF checked every n steps (0 = off)
    "md_beef_stop_eV_A": 1.0,        # production MLMD stops (flagged) when BEEF exceeds this
    "md_min_distance_fraction": 0.9,  # ... or when a pair comes closer than this × the
                                      # shortest of its kind in the training data (0 = off)
    "adaptive_threshold": False,     # VASP ML_CTIFOR-like threshold update (see jobs)
    "adaptive_factor": 1.2,
    "thermostat": "csvr",
    "thermostat_time_fs": 50.0,
}


def ace_settings(engine_settings: dict | None) -> dict[str, Any]:
    """Defaults updated with ``engine_settings``; unknown keys are an error."""
    s = dict(DEFAULT_ACE_SETTINGS)
    unknown = set(engine_settings or {}) - set(s)
    if unknown:
        raise EngineError(f"unknown ACE engine_settings {sorted(unknown)}; known: {sorted(s)}")
    s.update(engine_settings or {})
    if int(s["monitor_every"]) < 1:
        raise EngineError("monitor_every must be >= 1 MD step")
    return s


def fit_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The fit knobs of a full settings dict."""
    return {k: settings[k] for k in DEFAULT_FIT_SETTINGS}
