"""The ``tetrahedra`` section of an analysis document, driven by host-lattice data.

Which tetrahedral units a material has, and which cations move around them, is material
knowledge: the caller passes it in as a :class:`HostLattice` (built by
:mod:`ssic_flows.materials.hosts` from the registry's ``MaterialInfo``); this module names
no element.

Units: Å, fs, deg, deg/fs, cm⁻¹.

Example
-------
>>> host = HostLattice(units=(TetraUnit("PS4", center="P", ligand="S"),), cations=("Li",))
>>> host.units[0].label, host.cations
('PS4', ('Li',))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssic_flows.analysis.filters import FilterError, lowpass_zero_phase
from ssic_flows.analysis.geometry import perpendicular_widths_A
from ssic_flows.analysis.rphi import r_phi_density
from ssic_flows.analysis.tetrahedra.angles import tetrahedral_angles
from ssic_flows.analysis.tetrahedra.detect import TetrahedraError, TetrahedraIndex, find_tetrahedra_from_trajectory
from ssic_flows.analysis.tetrahedra.omega import angular_velocity, filter_theta, omega_density, theta_density
from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.analysis.units import wavenumber_cm1_to_frequency_per_fs

__all__ = ["HostLattice", "TetraUnit", "analyze_for_report", "filtered_omega_undetermined"]


@dataclass(frozen=True)
class TetraUnit:
    """One kind of tetrahedral unit to analyse.

    Attributes
    ----------
    label:
        Name in the document (``"PS4"``, ``"AgI4"``).
    center:
        Centre element of a polyanion; None for the interstitial tetrahedra of a ligand
        lattice (α-AgI), see :func:`~ssic_flows.analysis.tetrahedra.detect.find_tetrahedra`.
    ligand:
        Vertex element.
    reference_angle_deg:
        Keep only the face angles within 5° of this in the reference structure, deg
        (70.5: the apex angles of bcc interstitial tetrahedra); None keeps all 12.
    average_frames:
        The index is built on the mean unwrapped positions of this many leading frames
        (at most the run's length); 1 uses frame 0 (rotating polyanions).
    """

    label: str
    center: str | None
    ligand: str
    reference_angle_deg: float | None = None
    average_frames: int = 1


@dataclass(frozen=True)
class HostLattice:
    """Host-lattice knowledge the tetrahedra section needs.

    Attributes
    ----------
    units:
        Tetrahedral units looked for, in document order; a unit whose centre or ligand is
        absent from the trajectory is passed over.
    cations:
        Mobile cations in order of preference; the first one present gets ρ(r, ϕ) maps
        around the polyanion units found.
    """

    units: tuple[TetraUnit, ...] = ()
    cations: tuple[str, ...] = ()


def _unit_indices(traj: Trajectory, host: HostLattice) -> tuple[dict[str, TetrahedraIndex], dict[str, str]]:
    """Indices of the host's units present in ``traj``; failures go to ``skipped``."""
    found: dict[str, TetrahedraIndex] = {}
    skipped: dict[str, str] = {}
    els = set(traj.species)
    for unit in host.units:
        if unit.ligand not in els or (unit.center is not None and unit.center not in els):
            continue
        try:
            idx = find_tetrahedra_from_trajectory(
                traj, unit.center, unit.ligand, average_frames=min(traj.n_frames, unit.average_frames))
        except TetrahedraError as exc:
            skipped[unit.label] = str(exc)
            continue
        broken = _lattice_breaks(traj, unit, idx) if unit.center is None else None
        if broken is None:
            found[unit.label] = idx
        else:
            skipped[unit.label] = broken
    return found, skipped


def _lattice_breaks(traj: Trajectory, unit: TetraUnit, index: TetrahedraIndex, n_windows: int = 8) -> str | None:
    """Why the interstitial tetrahedra indexed on the leading frames do not hold for the
    whole run, or None when they do.

    The index is rebuilt on up to ``n_windows`` windows of ``unit.average_frames`` frames
    spread over the run (the last ends with it); every one must give the same tetrahedra
    (same ligand atoms). A sublattice that melts, transforms or swaps ligands between
    sites fails: θ and ω of fixed atom quadruples would then follow tetrahedra that no
    longer exist.
    """
    width = min(traj.n_frames, unit.average_frames)
    starts = np.linspace(0, traj.n_frames - width, min(n_windows, max(2, traj.n_frames // width)))
    want = {tuple(v) for v in index.vertices.tolist()}
    for start in np.unique(starts.astype(int))[1:]:
        at = f"at {start * traj.timestep_fs / 1000:.3g} ps"
        try:
            got = find_tetrahedra_from_trajectory(traj[np.arange(start, start + width)], unit.center, unit.ligand,
                                                  average_frames=width)
        except TetrahedraError as exc:
            return f"θ/ω not determined: the tetrahedra indexed at 0 ps are gone by the window {at}: {exc}"
        lost = len(want - {tuple(v) for v in got.vertices.tolist()})
        if lost:
            return (f"θ/ω not determined: {lost} of the {len(want)} {index.label} tetrahedra indexed at 0 ps are "
                    f"no longer tetrahedra in the window {at} (the {unit.ligand} atoms changed sites)")
    return None


def filtered_omega_undetermined(duration_fs: float, cutoff_cm1: float) -> str | None:
    """Why ρ(ω) of θ low-passed at ``cutoff_cm1`` (cm⁻¹) is not determined for a run of
    ``duration_fs`` (fs), or None when it is: the run must span two periods of the filter.
    Within one period of either end a zero-phase low-pass carries edge effects; a shorter run
    has no interior and its filtered θ is essentially its mean, so its ρ(ω) would be a spike
    at 0 in every run (and every comparison of it a trivial "agrees").

    >>> filtered_omega_undetermined(20000.0, 5.0) is None
    True
    >>> filtered_omega_undetermined(1500.0, 5.0)
    'run 1.5 ps shorter than two periods of the 5 cm⁻¹ filter (13.3 ps)'
    """
    period_fs = 1.0 / float(wavenumber_cm1_to_frequency_per_fs(cutoff_cm1))
    if duration_fs >= 2.0 * period_fs:
        return None
    return (f"run {duration_fs / 1000:.2g} ps shorter than two periods of the "
            f"{cutoff_cm1:g} cm⁻¹ filter ({2 * period_fs / 1000:.3g} ps)")


def analyze_for_report(traj: Trajectory, host: HostLattice | None, *, cutoff_cm1: float = 5.0,
                       theta_bin_deg: float = 1.0, omega_bin_deg_per_fs: float = 0.005, n_series: int = 3,
                       max_series_points: int = 2000) -> dict | None:
    """Host-lattice section of an analysis document (used by ``analyze_trajectory``).

    For every unit of ``host`` present in ``traj`` (e.g. PS4, GeS4, SbS4, WS4; the I4 units
    of α-AgI, keeping the I–I–I angles that are 70.5° in the ideal lattice, the study's θ):
    ρ(θ) over all angles and frames; ω by eq. 5 from θ(t) low-pass filtered at
    ``cutoff_cm1`` (zero phase, the study's 5 cm⁻¹) and ρ(ω) on the grid the filter
    implies (:func:`~ssic_flows.analysis.tetrahedra.omega.filtered_omega_grid`), plus ρ(ω)
    of the unfiltered series in bins of ``omega_bin_deg_per_fs``; θ(t) raw and filtered of ``n_series`` tetrahedra (strided to ≤
    ``max_series_points``) for plots; ρ(r, ϕ) of the first cation of ``host`` present around
    each polyanion unit. Returns None without ``host`` or when the trajectory has none of
    its units.
    """
    if host is None or traj.n_frames < 3:
        return None
    units, skipped = _unit_indices(traj, host)
    if not units and not skipped:
        return None
    out: dict = {"cutoff_cm-1": cutoff_cm1, "units": {}, "skipped": skipped}
    by_label = {u.label: u for u in host.units}
    not_det = filtered_omega_undetermined((traj.n_frames - 1) * traj.timestep_fs, cutoff_cm1)
    for label, idx in units.items():
        th = tetrahedral_angles(traj, idx, reference_angle_deg=by_label[label].reference_angle_deg)
        stride = max(1, th.n_frames // max_series_points)
        pick = np.unique(np.linspace(0, th.n_series - 1, min(n_series, th.n_series)).astype(int))
        if not_det is None:  # filtered once: ω of the filtered θ is angular_velocity(th, cutoff)
            filt = filter_theta(th, cutoff_cm1)
            om = angular_velocity(filt, cutoff_cm1=None)
            filtered_pick = filt.theta_deg[:, pick]
        else:  # no filtered ρ(ω): only the plotted series are filtered (column by column)
            if not np.all(np.isfinite(th.theta_deg)):  # as filtering every series would refuse
                raise FilterError("series contains NaN/inf; filter finite data only")
            filtered_pick = lowpass_zero_phase(th.theta_deg[:, pick], th.timestep_fs, cutoff_cm1)
        om_raw = angular_velocity(th, cutoff_cm1=None)
        out["units"][label] = {
            "n_tetrahedra": idx.n_tetrahedra, "n_angles": int(th.n_series),
            "theta_mean_deg": float(th.theta_deg.mean()), "theta_std_deg": float(th.theta_deg.std()),
            "rho_theta": theta_density(th.theta_deg, bin_width_deg=theta_bin_deg).to_dict(),
            "rho_omega": omega_density(om, theta_bin_deg=theta_bin_deg).to_dict()  # filter's grid
            if not_det is None else {"not_determined": not_det},
            "rho_omega_unfiltered": omega_density(om_raw.omega_deg_per_fs,
                                                  bin_width_deg_per_fs=omega_bin_deg_per_fs).to_dict(),
            "theta_series": {
                "times_fs": th.times_fs[::stride].tolist(),
                "raw_deg": th.theta_deg[::stride, pick].T.tolist(),
                "filtered_deg": filtered_pick[::stride].T.tolist(),
                "tetrahedron": th.tetrahedron[pick].tolist(),
            },
        }
    cation = next((c for c in host.cations if c in traj.species), None)
    polyanions = {label: idx for label, idx in units.items() if by_label[label].center is not None}
    if cation and polyanions:
        r_max = min(6.0, np.floor((0.5 * float(perpendicular_widths_A(traj.cells[0]).min()) - 1e-6) * 10) / 10)
        try:
            maps = {}
            for idx in polyanions.values():
                res = r_phi_density(traj, idx, cation, r_max_A=r_max, r_bin_A=0.1, phi_bin_deg=2.0)
                maps[res.label] = res
            out["rphi"] = {"cation": cation, "maps": {k: v.to_dict() for k, v in maps.items()}}
        except ValueError as exc:
            out["skipped"]["rphi"] = str(exc)
    return out
