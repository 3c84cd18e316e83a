"""The linear-ACE MLFF engine adapter (``mlff_engine: ace``).

>>> AceEngine().name
'ace'
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from jobflow import Flow

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.ace.jobs import (
    AceMDMaker, ace_augment, ace_model, ace_otf_iteration, ace_prepare_run, ace_provenance,
)
from ssic_flows.engines.ace.sets import ace_settings
from ssic_flows.engines.base import EngineError, MDSettings, MLFFEngine, TrainSettings
from ssic_flows.engines.common.outputs import require
from ssic_flows.engines.common.training import seed_reference_md

__all__ = ["AceEngine"]


class AceEngine(MLFFEngine):
    """Linear ACE fitted by Bayesian linear regression, trained on the fly with its exact
    BEEF. ``engine_settings`` override :data:`~.sets.DEFAULT_ACE_SETTINGS`."""

    name = "ace"

    def __init__(self, **engine_settings: Any):
        self.engine_settings = ace_settings(engine_settings)

    def train_flow(self, structure, reference, settings: TrainSettings, initial_model=None,
                   seed_frames: Trajectory | None = None) -> Flow:
        """[seed reference MD] → prepare → on-the-fly iterations → TrainOutput."""
        if not isinstance(settings, TrainSettings):
            raise EngineError("settings must be a TrainSettings")
        if settings.max_iterations < 1 or settings.n_seed_frames < 1:
            raise EngineError("max_iterations and n_seed_frames must be >= 1")
        es = ace_settings({**self.engine_settings, **settings.engine_settings})
        ts = asdict(settings)
        ts["engine_settings"] = es
        prep = ace_prepare_run(initial_model)
        prep.name = "ace prepare"
        jobs = [prep]
        if seed_frames is None:
            md = seed_reference_md(reference, structure, settings, int(es["seed_stride"]),
                                   es["thermostat"], es["thermostat_time_fs"])
            jobs.append(md)
            frames = md.output.trajectory
        else:
            frames = seed_frames
        batches = [frames]
        if es["augment_fractions"]:
            aug = ace_augment(frames, reference.static_maker(), list(es["augment_fractions"]))
            aug.name = "ace augment"
            aug.update_metadata({"role": "label"})
            jobs.append(aug)
            batches.append(aug.output)
        first = ace_otf_iteration(structure, prep.output["run_dir"], ts, reference.static_maker(),
                                  0, batches, {"initial_model": prep.output["initial_model"]})
        first.name = "ace otf iter0"
        first.update_metadata({"role": "train_mlff"})
        jobs.append(first)
        return Flow(jobs, output=first.output, name="ace on-the-fly training")

    def md_maker(self, settings: MDSettings) -> AceMDMaker:
        es = self.engine_settings
        return AceMDMaker(settings=settings, beef_every=int(es["md_beef_every"]),
                          beef_stop_eV_A=float(es["md_beef_stop_eV_A"]))

    def predict(self, model, frames) -> np.ndarray:
        """Forces (F, N, 3) eV/Å of each frame."""
        calc = ace_model(model).calculator()
        traj = require(frames, Trajectory, "frames", "pass e.g. md_job.output.trajectory")
        out = np.empty((traj.n_frames, traj.n_atoms, 3))
        for i in range(traj.n_frames):
            at = traj.to_ase(i)
            calc.calculate(at, ["energy", "forces"])
            out[i] = calc.results["forces"]
        return out

    def predict_with_sigma(self, model, frames):
        """Forces (F, N, 3) eV/Å, predictive σ (F, N, 3) eV/Å (posterior ⊕ the fit's
        cross-validated noise) and the BEEF (F,) eV/Å (max over atoms of the posterior σ)."""
        calc = ace_model(model).calculator(with_sigma=True)
        traj = require(frames, Trajectory, "frames", "pass e.g. md_job.output.trajectory")
        f = np.empty((traj.n_frames, traj.n_atoms, 3))
        sig = np.empty_like(f)
        beef = np.empty(traj.n_frames)
        for i in range(traj.n_frames):
            calc.calculate(traj.to_ase(i))
            p = calc.last_prediction
            f[i], sig[i], beef[i] = p.forces_eV_A, p.predictive_sigma_eV_A, p.beef_eV_A
        return f, sig, beef

    def provenance(self) -> dict[str, Any]:
        return ace_provenance(**self.engine_settings).model_dump()

    def check_available(self) -> None:
        try:
            import pyace  # noqa: F401
        except ImportError as exc:
            raise EngineError("the ace engine needs python-ace: pip install 'ssic-flows[ml]' "
                              "(python-ace==0.4.0rc1)") from exc
