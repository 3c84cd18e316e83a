"""A fitted linear ACE model: basis, posterior, reference energies; files, calculator, BEEF.

Files of a model directory (:meth:`AceModel.save`):

``potential.yace``
    the model in the C-tilde format that LAMMPS ``pair_style pace`` (ML-PACE) and pyace's
    ``PyACECalculator`` read, per-element reference energies ``E0`` included;
``potential.yaml``
    the same model as a pyace B-basis (coefficients set): pacemaker's format;
``posterior.npz``
    coefficient mean (P,) and posterior covariance (P, P) — what the force errors need;
``model.json``
    elements, cutoff, inner cutoffs, basis size, E0, noise σ, weights, training summary.

Bayesian error estimate of forces (BEEF), exactly: for atom a and Cartesian α the force is
F_aα = D_aα · c with D the force rows of the design matrix (:mod:`.design`), so under the
posterior c ~ N(m, Σ) its standard deviation is σ_aα = sqrt(D_aα Σ D_aαᵀ) (eV/Å). The atom's
BEEF is the RMS over α, β_a = sqrt(Σ_α σ²_aα / 3) (comparable to a component-wise force
RMSE); a frame's BEEF is max_a β_a (as VASP's on-the-fly scheme), ``beef_mean`` the atom
mean. No calibration constant enters. The *predictive* σ of a component adds the noise of
its element: sqrt(σ²_aα + σ²_noise,Z), σ_noise,Z the blocked cross-validation force error
of the training data (fit time, not tuned on test data) — what a held-out |ΔF| is compared
with.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssic_flows.engines.ace.basis import basis_config
from ssic_flows.engines.ace.blr import Posterior
from ssic_flows.engines.ace.calculator import AceCalculator, FramePrediction

__all__ = ["AceModel", "load_model"]

_FORMAT = 1


def _pair_key(a: str, b: str) -> str:
    return "-".join(sorted((a, b)))


@dataclass
class AceModel:
    """Linear ACE: elements, basis size, cutoffs (Å), E0 per element (eV), posterior.

    ``noise_sigma_force_eV_A``: fitted noise σ of a force component (1/sqrt(α), in-sample).
    ``predictive_noise_eV_A``: per element, the blocked cross-validation RMS force error
    (the noise part of the predictive σ).
    ``weights``: relative row weights used in the fit (force rows 1).
    """

    elements: list[str]
    size: dict[str, Any]
    cutoff_A: float
    r_in_A: dict[str, float]
    dcut_in_A: float
    e0_eV: dict[str, float]
    coefficients: np.ndarray
    covariance: np.ndarray
    noise_sigma_force_eV_A: float
    predictive_noise_eV_A: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def noise_per_atom(self, symbols: list[str]) -> np.ndarray:
        """Noise σ (eV/Å) of a force component per atom: the element's blocked-CV error,
        else the fitted in-sample noise."""
        return np.array([self.predictive_noise_eV_A.get(s, self.noise_sigma_force_eV_A)
                         for s in symbols])

    # ------------------------------------------------------------------ basis and calculator
    def bbasis(self):
        """The pyace ``ACEBBasisSet`` with the posterior-mean coefficients set."""
        b = self.zero_bbasis()
        b.basis_coeffs = np.asarray(self.coefficients, dtype=float)
        return b

    def zero_bbasis(self):
        """The same basis with zero coefficients (design rows and core repulsion only)."""
        from pyace import ACEBBasisSet

        pairs = {tuple(k.split("-")): v for k, v in self.r_in_A.items()}
        return ACEBBasisSet(basis_config(self.elements, self.size, self.cutoff_A, pairs,
                                         self.dcut_in_A))

    def calculator(self, with_sigma: bool = False):
        """An ASE calculator (energy eV, forces eV/Å, stress eV/Å³) for MD; with
        ``with_sigma`` it also stores ``force_sigma`` (N, 3) and ``beef`` per call."""
        return AceCalculator(self, with_sigma=with_sigma)

    @property
    def posterior(self) -> Posterior:
        return Posterior(mean=self.coefficients, cov=self.covariance,
                         alpha=1.0 / self.noise_sigma_force_eV_A**2, lam=float("nan"),
                         gamma=float("nan"), n_rows=0, n_iter=0, converged=True)

    def e0_total(self, symbols: list[str]) -> float:
        return float(sum(self.e0_eV.get(s, 0.0) for s in symbols))

    def predict(self, atoms) -> FramePrediction:
        """Energy, forces and their Bayesian errors for one configuration (ASE Atoms)."""
        calc = self.calculator(with_sigma=True)
        calc.calculate(atoms)
        return calc.last_prediction

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> Path:
        """Write ``potential.yace``, ``potential.yaml``, ``posterior.npz``, ``model.json``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        b = self.bbasis()
        b.to_BBasisConfiguration().save(str(d / "potential.yaml"))
        yace = d / "potential.yace"
        b.to_ACECTildeBasisSet().save_yaml(str(yace))
        e0 = ", ".join(repr(float(self.e0_eV.get(e, 0.0))) for e in list(b.elements_name))
        text = yace.read_text()
        text, n = re.subn(r"^E0: \[.*\]$", f"E0: [{e0}]", text, count=1, flags=re.M)
        if n != 1:
            raise RuntimeError("unexpected .yace layout from pyace: no E0 line to set")
        yace.write_text(text)
        np.savez_compressed(d / "posterior.npz", coefficients=self.coefficients,
                            covariance=self.covariance)
        meta = {k: v for k, v in asdict(self).items() if k not in ("coefficients", "covariance")}
        meta["format"] = _FORMAT
        meta["n_coefficients"] = int(len(self.coefficients))
        (d / "model.json").write_text(json.dumps(meta, indent=1, default=float))
        return d


def load_model(directory: str | Path) -> AceModel:
    """Read a model directory written by :meth:`AceModel.save`."""
    d = Path(directory)
    if not (d / "model.json").exists() or not (d / "posterior.npz").exists():
        raise FileNotFoundError(
            f"{d} is not an ACE model directory (needs model.json and posterior.npz); fit one "
            "with `ssic mlff fit FRAMES --engine ace --out DIR`")
    meta = json.loads((d / "model.json").read_text())
    meta.pop("format", None)
    meta.pop("n_coefficients", None)
    with np.load(d / "posterior.npz") as z:
        coef, cov = z["coefficients"], z["covariance"]
    return AceModel(coefficients=coef, covariance=cov, **meta)
