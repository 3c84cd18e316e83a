"""One JSON document with every applicable observable of a trajectory.

Top-level maps (always present, possibly empty):

* ``D_cm2_s`` — D per species from the linear MSD fit (diffusive window), cm²/s;
* ``D_final_cm2_s`` — D per species from eq. 7, MSD(t_max)/(6 t_max), cm²/s (the study's);
* ``D_status`` — per species, "diffusive (...)" or why D is not determined ("ballistic MSD
  over 0.24 ps (...); needs ≥ 1.4 ps", "not diffusing ...", "too few displacements ...");
  where it is not diffusive, ``D_cm2_s``, ``D_final_cm2_s`` and ``sigma_S_cm`` are ``null``
  (:mod:`ssic_flows.analysis.msd_regime` states the test);
* ``band_center_cm-1`` — eq. 3 band centre per species, cm⁻¹ (None where the frames are
  too sparse for the spectrum, reason under ``skipped``);
* ``velocities_derived`` — True when the trajectory had no velocities and the VDOS uses
  central differences of the positions (``vdos.velocities`` says how; corrected for the
  sinc² response, :mod:`ssic_flows.analysis.vdos`);
* ``gr_first_peak_A`` — first g(r) peak per pair ("Ag-I", both orders), Å;
* ``coordination`` — neighbours of B around A up to the first minimum, per "A-B";
* ``sigma_S_cm`` — Nernst–Einstein σ of the mobile species when T and its charge are known
  and its D is determined.

Full curves live under ``msd``, ``rdf``, ``vdos``, ``vanhove`` (per mobile species), plus
``tetrahedra`` (:func:`ssic_flows.analysis.tetrahedra.report.analyze_for_report`) when a
:class:`~ssic_flows.analysis.tetrahedra.report.HostLattice` is given. ``skipped`` explains
every observable not computed (e.g. VDOS of fewer than 4 frames).

Material knowledge arrives as data: carrier ``charges`` and the ``host`` lattice come from
the caller (``ssic_flows.materials.analysis_inputs``); this module names no material.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ssic_flows.analysis.conductivity import nernst_einstein
from ssic_flows.analysis.geometry import perpendicular_widths_A
from ssic_flows.analysis.msd import framework_drift_A, msd
from ssic_flows.analysis.rdf import partial_rdf
from ssic_flows.analysis.tetrahedra.report import HostLattice
from ssic_flows.analysis.tetrahedra.report import analyze_for_report as tetrahedra_section
from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError
from ssic_flows.analysis.vanhove import van_hove
from ssic_flows.analysis.vdos import vdos

__all__ = ["SCHEMA", "analyze_trajectory", "write_json"]

SCHEMA = "ssic_flows.analysis.report/1"
#: Band centres are "not determined" when more of the spectrum than this lies above half the
#: Nyquist frequency of the stored frames (under-sampled motion aliases into the band).
MAX_WEIGHT_ABOVE_HALF_NYQUIST: float = 0.05


def _finite_floats(x: list | tuple) -> bool:
    """True for a non-empty flat sequence of finite Python floats (``tolist()`` of a curve)."""
    return bool(x) and type(x[0]) is float and all(type(v) is float for v in x) and all(
        map(math.isfinite, x))


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        if _finite_floats(x):  # already JSON: skip the per-element calls
            return list(x)
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def analyze_trajectory(traj: Trajectory, species: Sequence[str] | None = None,
                       temperature_K: float | None = None, r_max_A: float | None = None,
                       dr_A: float = 0.02, rdf_frames: int = 500, vdos_window_cm1: float = 15.0,
                       vdos_max_cm1: float | None = None, vanhove_lags: int = 10,
                       vanhove_origins: int = 100, fit_window: tuple[float, float] = (0.1, 0.6),
                       drift: str = "framework", charges: Mapping[str, float] | None = None,
                       host: HostLattice | None = None, optional: bool = True,
                       msd_regime: dict | None = None,
                       vanhove_self_r_max_A: float | None = None) -> dict:
    """Compute every applicable observable into a JSON-able dict.

    Parameters
    ----------
    traj : the trajectory.
    species : mobile species (van Hove, conductivity; every other species is the one
        framework whose drift is removed). Default: the species with the largest MSD over
        the fit window (``msd.mobile``).
    temperature_K : for Nernst–Einstein σ; default ``traj.metadata["temperature_K"]``.
    r_max_A, dr_A : g(r) range and bin, Å (default half the smallest cell width).
    rdf_frames : at most this many frames (evenly strided) for g(r).
    vdos_window_cm1 : Savitzky–Golay window, cm⁻¹. vdos_max_cm1: crop spectra, cm⁻¹.
    vanhove_lags, vanhove_origins : van Hove lag count and origins per lag.
    vanhove_self_r_max_A : radial range of Gs, Å (default: every displacement of the run;
        runs to be compared need one common value). Gs has the MSD's drift removed.
    fit_window : MSD fit window as fractions of t_max.
    drift : MSD drift removal ("framework", "all", "none").
    charges : carrier charges in e per element (e.g. ``{"Li": 1}``); σ is skipped for a
        species without one.
    host : tetrahedral units and cations of the host lattice (the ``tetrahedra`` section);
        None: no such section.
    optional : also compute the ``tetrahedra`` section (needs ``host``).
    msd_regime : thresholds of the diffusive-regime test (``max_slope_ratio``,
        ``min_total_sq_displacement_A2``; :func:`~ssic_flows.analysis.msd_regime.classify_msd`).

    Returns
    -------
    dict (see module docstring).
    """
    if species is not None:
        for s in species:
            traj.indices(s)
    charges = dict(charges or {})
    T = temperature_K if temperature_K is not None else traj.metadata.get("temperature_K")
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "n_frames": traj.n_frames, "n_atoms": traj.n_atoms, "timestep_fs": traj.timestep_fs,
        "duration_fs": float(traj.times_fs[-1]),
        "species_counts": {e: int(traj.indices(e).size) for e in traj.elements},
        "mean_volume_A3": float(traj.volumes_A3.mean()),
        "temperature_K": None if T is None else float(T),
        "metadata": _jsonable(traj.metadata),
        "D_cm2_s": {}, "D_final_cm2_s": {}, "D_status": {}, "band_center_cm-1": {}, "gr_first_peak_A": {},
        "coordination": {}, "sigma_S_cm": {}, "skipped": {},
    }
    # MSD
    mobile: list[str] = list(species) if species else []
    m = None
    if traj.n_frames >= 5:
        try:
            m = msd(traj, drift=drift, mobile=species, fit_window=fit_window, regime=msd_regime)
        except ValueError as exc:  # e.g. too few lags in the fit window of a short run
            doc["skipped"]["msd"] = str(exc)
    else:
        doc["skipped"]["msd"] = f"needs >= 5 frames, have {traj.n_frames}"
    if m is not None:
        doc["msd"] = m.to_dict()
        doc["D_cm2_s"] = dict(doc["msd"]["D_fit_cm2_s"])
        doc["D_final_cm2_s"] = dict(doc["msd"]["D_final_cm2_s"])
        doc["D_status"] = dict(doc["msd"]["D_status"])
        if not mobile:
            mobile = list(m.mobile) or [max(m.msd_A2, key=lambda e: float(m.msd_A2[e][-1]))]
    doc["mobile_species"] = mobile
    # g(r)
    stride = max(1, traj.n_frames // max(1, rdf_frames))
    r = partial_rdf(traj, r_max_A=r_max_A, dr_A=dr_A, stride=stride)
    doc["rdf"] = r.to_dict()
    doc["gr_first_peak_A"] = dict(doc["rdf"]["first_peak_A"])
    doc["coordination"] = dict(doc["rdf"]["coordination"])
    # VDOS: from the engine's velocities, else from central differences of the positions
    # (vasprun.xml, XDATCAR: positions only), marked derived
    doc["velocities_derived"] = traj.velocities is None
    if traj.n_frames < 4:
        doc["skipped"]["vdos"] = f"needs >= 4 frames, have {traj.n_frames}"
    else:
        vt = traj if traj.velocities is not None else traj.with_finite_difference_velocities()
        v = vdos(vt, smooth_window_cm1=vdos_window_cm1, max_freq_cm1=vdos_max_cm1)
        doc["vdos"] = v.to_dict()
        doc["band_center_cm-1"] = dict(doc["vdos"]["band_center_cm-1"])
        for s, w in v.weight_above_half_nyquist.items():
            if w > MAX_WEIGHT_ABOVE_HALF_NYQUIST:
                doc["band_center_cm-1"][s] = None
                doc["skipped"].setdefault("band_center_cm-1", {})[s] = (
                    f"not determined: {100 * w:.0f} % of the {s} spectrum lies above half the "
                    f"Nyquist frequency of the {traj.timestep_fs:g} fs frame spacing (aliased); "
                    "store frames more often")
    # van Hove
    if traj.n_frames >= 3:
        doc["vanhove"] = {}
        rmax_vh = r_max_A if r_max_A is not None else 0.5 * float(perpendicular_widths_A(traj.cells).min())
        drift_vh = framework_drift_A(traj, mobile, drift) if mobile else None
        for s in mobile:
            nd = traj.indices(s).size >= 2
            vh = van_hove(traj, s, n_lags=vanhove_lags, n_origins=vanhove_origins,
                          r_max_A=rmax_vh, distinct=nd, r_self_max_A=vanhove_self_r_max_A,
                          drift_A=drift_vh)
            doc["vanhove"][s] = vh.to_dict()
    else:
        doc["skipped"]["vanhove"] = f"needs >= 3 frames, have {traj.n_frames}"
    # conductivity
    for s in mobile:
        if T is None:
            doc["skipped"]["sigma_S_cm"] = "no temperature (pass temperature_K or metadata)"
        elif s not in charges:
            doc["skipped"]["sigma_S_cm"] = f"no charge known for {s}; pass charges={{'{s}': z}}"
        elif doc["D_cm2_s"].get(s) is None:
            doc["sigma_S_cm"][s] = None
            doc["skipped"]["sigma_S_cm"] = (f"D({s}) not determined: "
                                            f"{doc['D_status'].get(s, doc['skipped'].get('msd'))}")
        elif doc["D_cm2_s"][s] >= 0:
            c = nernst_einstein(doc["D_cm2_s"][s], traj.indices(s).size,
                                doc["mean_volume_A3"], float(T), charges[s])
            doc["sigma_S_cm"][s] = c.sigma_S_cm
    # host-lattice observables (tetrahedral units, ρ(r, ϕ))
    if optional:
        try:
            res = tetrahedra_section(traj, host)
        except TrajectoryError as exc:
            doc["skipped"]["tetrahedra"] = str(exc)
            res = None
        if res is not None:
            doc["tetrahedra"] = _jsonable(res)
    return _jsonable(doc)


def write_json(doc: dict, path: str | Path) -> Path:
    """Write an analysis document as strict JSON (no NaN), returning the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(doc), indent=1, allow_nan=False))
    return path
