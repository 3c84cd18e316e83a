"""GAP (Gaussian approximation potential, quippy-ase) as an MLFF engine trained on the fly
against a reference (:mod:`ssic_flows.engines.gap.jobs` has the loop).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from jobflow import Flow

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings, MLFFEngine, TrainSettings
from ssic_flows.engines.common.outputs import require
from ssic_flows.engines.common.training import seed_reference_md
from ssic_flows.engines.gap.fit import gap_fit_executable
from ssic_flows.engines.gap.jobs import GAPMDMaker, gap_otf_iteration, gap_prepare_run
from ssic_flows.engines.gap.potential import gap_potential, gap_provenance
from ssic_flows.engines.gap.sets import gap_settings
from ssic_flows.schemas import TrainOutput

__all__ = ["GAPEngine"]


class GAPEngine(MLFFEngine):
    """On-the-fly trained GAP (quippy-ase). ``engine_settings`` override
    :data:`DEFAULT_GAP_SETTINGS` for every training of this engine."""

    name = "gap"

    def __init__(self, **engine_settings: Any):
        self.engine_settings = gap_settings(engine_settings)

    def train_flow(self, structure, reference, settings: TrainSettings, initial_model=None,
                   seed_frames: Trajectory | None = None) -> Flow:
        """Dynamic flow: [seed reference MD] → prepare → on-the-fly iterations → TrainOutput.

        seed_frames: labelled frames to start from instead of a reference MD. With an
        ``initial_model`` (TrainOutput) its training data is reused; seed frames of the new
        structure are still added (new species, new temperature).
        """
        if not isinstance(settings, TrainSettings):
            raise EngineError("settings must be a TrainSettings")
        es = gap_settings({**self.engine_settings, **settings.engine_settings})
        ts = asdict(settings)
        ts["engine_settings"] = es
        if settings.max_iterations < 1 or settings.n_seed_frames < 1:
            raise EngineError("max_iterations and n_seed_frames must be >= 1")
        jobs = []
        prep = gap_prepare_run(None, initial_model)  # run dir chosen on the worker at run time
        prep.name = "gap prepare"
        jobs.append(prep)
        if seed_frames is None:
            md = seed_reference_md(reference, structure, settings, int(es["seed_stride"]),
                                   es["thermostat"], es["thermostat_time_fs"])
            jobs.append(md)
            frames = md.output.trajectory
        else:
            frames = seed_frames
        first = gap_otf_iteration(structure, prep.output["run_dir"], ts,
                                  reference.static_maker(), 0, frames,
                                  {"initial_model": prep.output["initial_model"]})
        first.name = "gap otf iter0"
        first.update_metadata({"role": "train_mlff"})
        jobs.append(first)
        return Flow(jobs, output=first.output, name="gap on-the-fly training")

    def md_maker(self, settings: MDSettings) -> GAPMDMaker:
        return GAPMDMaker(settings=settings)

    def predict(self, model, frames) -> np.ndarray:
        m = require(model, TrainOutput, "a GAP model", "pass train_job.output")
        traj = require(frames, Trajectory, "frames", "pass e.g. md_job.output.trajectory")
        pot = gap_potential(m.model_path)
        out = np.empty((traj.n_frames, traj.n_atoms, 3))
        for i in range(traj.n_frames):
            at = traj.to_ase(i)
            pot.reset()
            pot.calculate(at, properties=["energy", "forces"])
            out[i] = pot.results["forces"]
        return out

    def provenance(self) -> dict[str, Any]:
        return gap_provenance(**gap_settings(self.engine_settings)).model_dump()

    def check_available(self) -> None:
        gap_fit_executable()
        try:
            import quippy.potential  # noqa: F401
        except ImportError as exc:
            raise EngineError("GAP needs quippy: pip install 'ssic-flows[ml]'") from exc
