"""Fit a linear ACE by Bayesian linear regression on energies, forces and (when given) stresses.

Steps (:func:`fit_ace`):

1. inner cutoffs: per element pair, ``r_in_fraction`` (0.6) of the shortest distance in the
   data (ZBL repulsion below, so MD cannot collapse where there is no data). It lies well
   inside the data: ACE is switched off over ``dcut_in_A`` below r_in, and a switch where
   the pair energy is still sizeable gives spurious forces; between r_in and the data ACE
   extrapolates and the BEEF says so (measured on AgI: σ rises to eV/Å there);
2. basis: the largest of :data:`~.basis.BASIS_LADDER` sized to the data
   (``basis="auto"``) or a named one;
3. per-element reference energies E0 (eV): columns of element counts with a flat prior,
   fitted jointly with the ACE coefficients and marginalised out of their posterior
   (minimum-norm when every frame has the same composition: only the per-formula sum is
   then determined, which is all MD needs);
4. rows: per-atom energy (weight (σ_F/σ_E)²), force components (weight 1) and stress
   components (weight (σ_F/σ_S)²), streamed into the normal equations;
5. evidence maximisation (:func:`~.blr.fit_evidence`): posterior mean and covariance of
   the coefficients, noise σ of a force component (in-sample). The prior: one precision
   per (element, body order) group, each fitted by the evidence (``prior_groups``), on
   the coefficients in the basis functions' own units (``column_scale_power`` 0). Chosen
   over one shared precision on RMS-scaled columns (the earlier default) by
   ``benchmarks/mlff.py accuracy`` over three independent training runs per material
   (held-out frames at T and 1.6 T): pooled per-frame Spearman(BEEF, max error) AgI
   0.59 → 0.68, LGPS 0.50 → 0.64, Na3SbS4 0.49 → 0.65, W-doped 0.60 → 0.56; LGPS at 1.6 T
   0.58 → 0.14 eV/Å force RMSE (the RMS-scaled prior let functions the data barely
   excited take large coefficients, which blew up outside the data: Ge 7.8 eV/Å);
6. cross-validation (``cv_folds`` folds, each predicted by the fit to the others with the
   same α, λ and prior): the held-out RMS force error per element, used as the noise part
   of the *predictive* σ (the in-sample noise is optimistic). The BEEF itself (model σ) is
   untouched by it. Folds (:func:`cv_folds_of`) are contiguous within each kind of frame
   (composition × how it was selected) and every kind is spread over all folds:
   - contiguous, because frames of one MD run are correlated over many steps: interleaved
     folds held out frames whose neighbours 20 fs away stayed in training, and the CV
     error was that of a near-duplicate (measured on AgI, 40 frames every 20 fs: CV
     24 meV/Å against 44 meV/Å on a run with another seed; 50 % of force components within
     1σ instead of 68 %);
   - spread over every kind, because on-the-fly data come in batches of one kind (seed
     MD, compressed pairs, candidates, a doped cell's frames after the pristine ones) and
     a fold holding out a whole kind measures extrapolation to it, not the noise
     (measured on W-doped Na3SbS4 trained from pristine: 38 eV/Å for W, the held-out block
     being every frame that contained W).
   Compressed-pair frames (``info['selected_by'] == AUGMENTED``) are never held out.

σ_E (eV/atom), σ_F (eV/Å) and σ_S (eV/Å³) only set the *relative* weights: the absolute
noise level is fitted (α). Training errors are returned in ``model.info``.

Example
-------
>>> model = fit_ace(frames)                 # doctest: +SKIP  (list of labelled ase.Atoms)
>>> model.save("my_ace")                    # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ssic_flows.engines.ace.basis import (
    BASIS_LADDER, basis_config, basis_size_for, min_pair_distances_A,
)
from ssic_flows.engines.ace.blr import NormalEquations, fit_evidence
from ssic_flows.engines.ace.design import DesignEvaluator, prior_groups, smoothness_weights
from ssic_flows.engines.ace.model import AceModel

__all__ = ["AUGMENTED", "DEFAULT_FIT_SETTINGS", "cv_folds_of", "fit_ace", "frame_labels"]

#: ``atoms.info['selected_by']`` of compressed-pair frames (:mod:`.augment`).
AUGMENTED = "ace augmentation"

#: Fit knobs (units in names); override any key.
DEFAULT_FIT_SETTINGS: dict[str, Any] = {
    "cutoff_A": 5.0,
    "basis": "auto",                 # 'auto' (sized to the data) or a BASIS_LADDER name
    "rows_per_coefficient": 8.0,     # 'auto': force rows per coefficient at least this
    "max_coefficients": 1500,        # 'auto' never goes beyond (the BEEF is O(P²) per row)
    "sigma_energy_eV_atom": 0.002,
    "sigma_force_eV_A": 0.05,
    "sigma_stress_eV_A3": 0.003,
    "smoothness_power": 0.0,         # algebraic smoothness prior exponent (0 = off)
    "prior_groups": "element_order",  # one evidence-fitted precision per group, or 'none'
    "column_scale_power": 0.0,       # prior in the functions' own units (0) or per column RMS (1)
    "cv_folds": 5,                   # cross-validation folds (interleaved) for the predictive noise
    "r_in_fraction": 0.6,            # ZBL below this fraction of the shortest pair distance
    "dcut_in_A": 0.2,
}


def frame_labels(atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(energy eV, forces (N, 3) eV/Å, stress (6,) eV/Å³ or None) of a labelled frame.

    Reads ``info['energy']``/``arrays['forces']``/``info['stress']`` or the attached
    (single-point) calculator, as ``ase.io`` leaves them for extxyz, vasprun, OUTCAR.
    """
    e = atoms.info.get("energy")
    f = atoms.arrays.get("forces")
    s = atoms.info.get("stress")
    calc = atoms.calc
    if calc is not None:
        res = getattr(calc, "results", {})
        e = res.get("energy", res.get("free_energy")) if e is None else e
        f = res.get("forces") if f is None else f
        s = res.get("stress") if s is None else s
    if e is None or f is None:
        raise ValueError("a training frame has no energy or no forces; label it with the "
                         "reference engine first (frames need energy eV and forces eV/Å)")
    if s is not None:
        s = np.asarray(s, dtype=float).reshape(-1)
        if s.size == 9:
            m = s.reshape(3, 3)
            s = np.array([m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]])
        if s.size != 6 or not np.all(np.isfinite(s)):
            s = None
    return float(e), np.asarray(f, dtype=float).reshape(len(atoms), 3), s


def cv_folds_of(frames: list, k: int) -> np.ndarray:
    """Fold index (0 … k-1) of every frame, -1 for frames never held out (compressed-pair
    frames). Within each kind (chemical formula × ``info['selected_by']``), in order, the
    frames are cut into k contiguous chunks, one per fold; kinds with fewer than k frames
    continue the rotation where the previous kind left it, so small kinds do not all land
    in fold 0. See step 6 of the module docstring.

    >>> from ase.build import bulk
    >>> cu, au = bulk("Cu"), bulk("Au")
    >>> cv_folds_of([cu] * 6 + [au] * 2, 3).tolist()
    [0, 0, 1, 1, 2, 2, 0, 1]
    """
    out = np.full(len(frames), -1)
    kinds: dict[tuple, list[int]] = {}
    for i, a in enumerate(frames):
        sel = a.info.get("selected_by")
        if sel == AUGMENTED:
            continue
        kinds.setdefault((a.get_chemical_formula(), sel), []).append(i)
    offset = 0
    for idx in kinds.values():
        if len(idx) >= k:
            for j, chunk in enumerate(np.array_split(np.asarray(idx), k)):
                out[chunk] = j
        else:
            out[idx] = (offset + np.arange(len(idx))) % k
            offset += len(idx)
    return out


def _cv_force_errors(acc, folds, fold_of, post, rows, labels, frames, n_el, csp):
    """Cross-validation force errors: each fold's frames predicted by the fit to the others
    (same α, λ, prior). Returns (element per component, error per component)
    or (None, None) without folds."""
    if not folds:
        return None, None
    sym, err = [], []
    for k, fold in enumerate(folds):
        pk = fit_evidence(acc - fold, n_free=n_el, fixed=(post.alpha, post.lam),
                          prior_shape=post.prior_shape, column_scale_power=csp)
        for i in np.flatnonzero(fold_of == k):
            r, lab = rows[i], labels[i]
            d = r.forces @ pk.mean + r.core_forces_eV_A - lab[1]
            err.append(d.ravel())
            sym.append(np.repeat(frames[i].get_chemical_symbols(), 3))
    return np.concatenate(sym), np.concatenate(err)


def _size(settings: dict, n_force_rows: int, elements: list[str]) -> dict:
    names = [b["name"] for b in BASIS_LADDER]
    if settings["basis"] != "auto":
        if settings["basis"] not in names:
            raise ValueError(f"unknown ACE basis {settings['basis']!r}; choose 'auto' or one "
                             f"of {names}")
        return dict(BASIS_LADDER[names.index(settings["basis"])])
    return basis_size_for(elements, n_force_rows, settings["rows_per_coefficient"],
                          int(settings["max_coefficients"]))


def fit_ace(frames: list, settings: dict | None = None, elements: list[str] | None = None,
            r_in_A: dict[str, float] | None = None, rows_cache=None) -> AceModel:
    """A linear ACE fitted to labelled ``frames`` (ASE Atoms; see :func:`frame_labels`).

    elements: the model's elements (default: those in the frames); a model may know more
    elements than the frames hold. r_in_A: inner (ZBL) cutoffs per pair ``"A-B"``, Å, to use
    instead of ``r_in_fraction`` × the data's shortest distances (pairs not given get that).
    rows_cache: a :class:`~.rows_cache.RowsCache` to read/store the frames' design rows.
    """
    s = dict(DEFAULT_FIT_SETTINGS)
    unknown = set(settings or {}) - set(s)
    if unknown:
        raise ValueError(f"unknown ACE fit settings {sorted(unknown)}; known: {sorted(s)}")
    s.update(settings or {})
    if not frames:
        raise ValueError("no training frames; give at least one frame with energy and forces")
    t0 = time.perf_counter()
    labels = [frame_labels(a) for a in frames]
    els = sorted(set(elements or []) | {x for a in frames for x in a.get_chemical_symbols()})
    dmin = min_pair_distances_A(frames, s["cutoff_A"])
    r_in = {k: max(s["r_in_fraction"] * v, 0.5) for k, v in dmin.items()}
    r_in.update({tuple(k.split("-")): float(v) for k, v in (r_in_A or {}).items()})
    n_force_rows = sum(3 * len(a) for a in frames)
    size = _size(s, n_force_rows, els)
    from pyace import ACEBBasisSet

    basis = ACEBBasisSet(basis_config(els, size, s["cutoff_A"], r_in, s["dcut_in_A"]))
    ev = DesignEvaluator(basis)
    if rows_cache is None:
        rows = [ev.rows(a, forces=True, stress=lab[2] is not None) for a, lab in zip(frames, labels)]
    else:
        from ssic_flows.engines.ace.rows_cache import basis_signature

        sig = basis_signature(els, size, s["cutoff_A"], r_in, s["dcut_in_A"])
        rows = [rows_cache.rows(ev, sig, a, stress=lab[2] is not None)
                for a, lab in zip(frames, labels)]

    counts = np.array([[a.get_chemical_symbols().count(e) for e in els] for a in frames], float)
    n_el = len(els)
    w_e = (s["sigma_force_eV_A"] / s["sigma_energy_eV_atom"]) ** 2
    w_s = (s["sigma_force_eV_A"] / s["sigma_stress_eV_A3"]) ** 2
    # columns: ACE coefficients, then E0 per element (flat prior, fitted jointly)
    acc = NormalEquations(ev.n_coef + n_el)
    # compressed-pair frames are in every fold's training, never held out: each one is by
    # construction outside the rest of the data, so its held-out error is an extrapolation
    # into the repulsive wall, not the noise (measured: 15-70 eV/Å for Sb, W)
    held = np.array([a.info.get("selected_by") != AUGMENTED for a in frames], bool)
    k_folds = min(int(s["cv_folds"]), int(held.sum())) if held.sum() >= 3 else 0
    fold_of = cv_folds_of(frames, k_folds) if k_folds else np.full(len(frames), -1)
    folds = [NormalEquations(ev.n_coef + n_el) for _ in range(k_folds)]
    n_stress = 0
    for i, (lab, r, c) in enumerate(zip(labels, rows, counts)):
        n = r.n_atoms
        parts = [(np.concatenate([r.energy, c]) / n, (lab[0] - r.core_energy_eV) / n, w_e),
                 (np.hstack([r.forces.reshape(3 * n, -1), np.zeros((3 * n, n_el))]),
                  (lab[1] - r.core_forces_eV_A).reshape(-1), 1.0)]
        if r.stress is not None:
            parts.append((np.hstack([r.stress, np.zeros((6, n_el))]),
                          lab[2] - r.core_stress_eV_A3, w_s))
            n_stress += 1
        for X, y, w in parts:
            acc.add(X, y, w)
            if k_folds and fold_of[i] >= 0:
                folds[fold_of[i]].add(X, y, w)
    shape = smoothness_weights(basis, float(s["smoothness_power"]))
    csp = float(s["column_scale_power"])
    post = fit_evidence(acc, n_free=n_el, prior_shape=shape, column_scale_power=csp,
                        groups=prior_groups(basis, s["prior_groups"]))
    cv = _cv_force_errors(acc, folds, fold_of, post, rows, labels, frames, n_el, csp)
    e0_vec = post.free
    e0 = {e: float(v) for e, v in zip(els, e0_vec)}

    # training errors
    f_err, e_err, sym_all = [], [], []
    for lab, r, c, a in zip(labels, rows, counts, frames):
        f_pred = r.forces @ post.mean + r.core_forces_eV_A
        f_err.append(f_pred - lab[1])
        e_err.append((r.energy @ post.mean + r.core_energy_eV + c @ e0_vec - lab[0]) / r.n_atoms)
        sym_all += a.get_chemical_symbols()
    f_err = np.concatenate(f_err)
    sym_all = np.array(sym_all)
    rmse = {e: float(1000 * np.sqrt(np.mean(f_err[sym_all == e] ** 2)))
            for e in els if np.any(sym_all == e)}
    cv_sigma = {e: float(np.sqrt(np.mean(cv[1][cv[0] == e] ** 2))) for e in els
                if cv[0] is not None and np.any(cv[0] == e)}
    info = {
        "cv_folds": k_folds,
        "cv_force_rmse_meV_A": {e: 1000 * v for e, v in cv_sigma.items()},
        "n_frames": len(frames), "n_atoms_total": int(sum(len(a) for a in frames)),
        "n_stress_frames": n_stress, "n_coefficients": int(ev.n_coef),
        "train_force_rmse_meV_A": rmse,
        "train_energy_rmse_meV_atom": float(1000 * np.sqrt(np.mean(np.square(e_err)))),
        "alpha": post.alpha, "lambda": post.lam, "effective_parameters": post.gamma,
        "group_lambda": None if post.group_lam is None else [float(x) for x in post.group_lam],
        "evidence_converged": post.converged, "fit_wall_s": time.perf_counter() - t0,
        "min_pair_distance_A": {"-".join(k): v for k, v in dmin.items()},
    }
    return AceModel(elements=els, size=size, cutoff_A=float(s["cutoff_A"]),
                    r_in_A={"-".join(k): float(v) for k, v in r_in.items()},
                    dcut_in_A=float(s["dcut_in_A"]), e0_eV=e0, coefficients=post.mean,
                    covariance=post.cov, noise_sigma_force_eV_A=post.noise_sigma,
                    predictive_noise_eV_A=cv_sigma,
                    weights={"energy_per_atom": w_e, "force": 1.0, "stress": w_s},
                    info=info)
