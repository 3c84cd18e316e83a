"""VASP on-the-fly MLFF (the study's MLMD engine), on clusters with VASP ≥ 6.4.

atomate2 0.1.5 has no ML_LMLFF support, so this module adds it on top of atomate2's VASP
``MDMaker``: :class:`VaspMLFFMaker` stages the machine-learning files into the job directory
before the normal atomate2 write-inputs → custodian → parse sequence runs.

Three steps (``ML_MODE``, VASP ≥ 6.4):

- ``train``: on-the-fly training MD; VASP runs DFT whenever the Bayesian error estimate of
  the forces (BEEF) exceeds the threshold. A continuation copies the previous ``ML_ABN`` to
  ``ML_AB`` (VASP then refits from that database first). Writes ML_ABN, ML_FFN, ML_LOGFILE.
- ``refit``: from ``ML_AB`` (= the last ML_ABN) fit a force field for fast prediction
  (VASP sets ``ML_LFAST = .TRUE.``, ``NSW = 1``); writes ``ML_FFN``.
- ``run``: MD driven by the force field only: ``ML_FF`` (= the refit ML_FFN).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from jobflow import Flow, Response, job

from ssic_flows.engines.base import EngineError, MDSettings, MLFFEngine, TrainSettings
from ssic_flows.engines.vasp.engine import VaspReference, check_vasp_available
from ssic_flows.engines.vasp.jobs import is_reference
from ssic_flows.engines.vasp_mlff.files import stage_ml_files
from ssic_flows.engines.vasp_mlff.jobs import (
    VaspMLFFMaker, VaspMLMDMaker, collect_vasp_mlff_training,
)
from ssic_flows.engines.vasp_mlff.sets import ML_DEFAULTS, ml_overrides, mlff_generator

__all__ = ["VaspMLFF", "vasp_mlff_train_deferred"]


class VaspMLFF(MLFFEngine):
    """VASP's on-the-fly kernel MLFF (Bayesian error estimates), as in the study.

    ``VaspMLFF(potcar_functional="PBE_54", model_root=None)``; DFT settings come from the
    :class:`~ssic_flows.engines.vasp.engine.VaspReference` passed to :meth:`train_flow`.
    TrainSettings mapping: ``temperature_K``/``timestep_fs`` → TEBEG/POTIM;
    ``segment_steps`` → NSW of each training job; ``max_iterations`` → number of training
    jobs (each continues from the previous ML_ABN); ``beef_threshold_eV_A`` → ML_CTIFOR of
    the first job (continuations keep VASP's updated value); ``seed`` → RANDOM_SEED;
    ``engine_settings`` → extra INCAR tags (upper-case keys, e.g. ``{"ML_MB": 3000}``).
    ``n_seed_frames``/``max_new_frames`` do not apply: VASP decides when to run DFT.
    """

    name = "vasp-mlff"

    def __init__(self, potcar_functional: str = "PBE_54", model_root: str | None = None) -> None:
        self.potcar_functional = potcar_functional
        self.model_root = model_root

    def _reference_incar(self, reference) -> dict:
        if reference is None:
            return {}
        if not isinstance(reference, VaspReference):
            raise EngineError(
                f"VASP on-the-fly training computes its own DFT and needs the 'vasp' reference "
                f"engine, got {getattr(reference, 'name', type(reference).__name__)!r}; use "
                "get_reference_engine('vasp') or the 'gap' MLFF engine for other references")
        return dict(reference.incar_overrides)

    def train_flow(self, structure, reference, settings: TrainSettings, initial_model=None):
        """Flow: ``max_iterations`` × (train, ``segment_steps`` steps) → refit → collect.

        ``initial_model``: a TrainOutput whose ``metadata['ml_ab_path']`` seeds the first
        training job (the study trained doped Na3SbS4 starting from pristine's data).
        """
        from ssic_flows.engines.common.outputs import as_structure

        ref_incar = self._reference_incar(reference)
        if is_reference(structure):
            j = vasp_mlff_train_deferred(structure, asdict(settings), ref_incar,
                                         initial_model=initial_model,
                                         potcar_functional=self.potcar_functional,
                                         model_root=self.model_root)
            j.name = "vasp mlff training"
            return j
        structure = as_structure(structure)
        md = MDSettings(temperature_K=settings.explore_temperature_K, timestep_fs=settings.timestep_fs,
                        n_steps=settings.segment_steps, seed=settings.seed)
        over = ml_overrides(settings.engine_settings)
        species = [str(s.symbol) for s in structure.species]
        ml_ab = None
        if initial_model is not None:
            ml_ab = initial_model.metadata["ml_ab_path"]  # a TrainOutput or a reference to one
        jobs, dirs = [], []
        prev = None
        for k in range(max(1, settings.max_iterations)):
            # ML_CTIFOR in the first segment only: continuations keep VASP's updated threshold
            gen = mlff_generator("train", md, settings.segment_steps, reference_incar=ref_incar,
                                 beef_threshold_eV_A=settings.beef_threshold_eV_A if k == 0 else None,
                                 ml_overrides=over if k == 0 else
                                 {t: v for t, v in over.items() if t != "ML_CTIFOR"},
                                 species=species, potcar_functional=self.potcar_functional,
                                 segment=k)
            mk = VaspMLFFMaker(name=f"vasp mlff train {k + 1}", ml_mode="train",
                               input_set_generator=gen)
            if prev is None:
                j = mk.make(structure, ml_ab=ml_ab)
            else:
                j = mk.make(prev.output.structure, prev_dir=prev.output.dir_name)
            jobs.append(j)
            dirs.append(j.output.dir_name)
            prev = j
        refit_gen = mlff_generator("refit", md, 1, reference_incar=ref_incar,
                                   beef_threshold_eV_A=None, ml_overrides=over, species=species,
                                   potcar_functional=self.potcar_functional)
        refit = VaspMLFFMaker(name="vasp mlff refit", ml_mode="refit",
                              input_set_generator=refit_gen).make(
            prev.output.structure, prev_dir=prev.output.dir_name)
        collect = collect_vasp_mlff_training(dirs, refit.output.dir_name, asdict(settings),
                                             model_root=self.model_root)
        collect.name = "vasp mlff collect"
        return Flow([*jobs, refit, collect], output=collect.output, name="vasp mlff training")

    def md_maker(self, settings: MDSettings, reference=None) -> VaspMLMDMaker:
        return VaspMLMDMaker(md_settings=settings,
                             reference_incar=self._reference_incar(reference),
                             potcar_functional=self.potcar_functional)

    def predict(self, model, frames):
        """Forces (F, N, 3) eV/Å of each frame from the VASP force field (``ML_MODE = run``,
        one ionic step per frame, run through atomate2/custodian in a temporary folder).

        Needs VASP: without it raises :class:`EngineError` saying to run on a cluster.
        """
        import os
        import tempfile

        from atomate2.vasp.files import write_vasp_input_set
        from atomate2.vasp.run import run_vasp

        from ssic_flows.analysis.trajectory import Trajectory
        from ssic_flows.engines.common.outputs import require
        from ssic_flows.schemas import TrainOutput
        from ssic_flows.engines.vasp.parsing import read_vasprun_trajectory

        check_vasp_available()  # EngineError: "VASP is not available on this machine; run on a cluster ..."
        traj = require(frames, Trajectory, "VASP single points' frames", "pass e.g. md_job.output.trajectory")
        require(model, TrainOutput, "a VASP force field", "pass train_job.output")
        md = MDSettings(temperature_K=300.0, n_steps=1)
        gen = mlff_generator("run", md, 1, reference_incar={}, beef_threshold_eV_A=None,
                             ml_overrides={"ML_OUTBLOCK": 1}, species=traj.species,
                             potcar_functional=self.potcar_functional)
        out = []
        cwd = os.getcwd()
        for i in range(traj.n_frames):
            with tempfile.TemporaryDirectory(prefix="vasp_mlff_predict_") as d:
                os.chdir(d)
                try:
                    stage_ml_files(d, "run", ml_ff=model.model_path)
                    write_vasp_input_set(traj.to_structure(i), gen, directory=d)
                    run_vasp()
                    out.append(read_vasprun_trajectory(d, timestep_fs=1.0).forces[0])
                finally:
                    os.chdir(cwd)
        return np.stack(out)

    def provenance(self) -> dict[str, Any]:
        return {"engine": "vasp-mlff", "engine_version": "",
                "settings": {"potcar_functional": self.potcar_functional,
                             "ml_defaults": dict(ML_DEFAULTS)}}

    def check_available(self) -> None:
        check_vasp_available()


@job
def vasp_mlff_train_deferred(structure, settings: dict, reference_incar: dict,
                             initial_model=None, potcar_functional: str = "PBE_54",
                             model_root: str | None = None) -> Response:
    """Job: build the training flow once ``structure`` is known; replaces itself with it
    (here, beside the engine that builds it, so the jobs module does not import the engine)."""
    eng = VaspMLFF(potcar_functional=potcar_functional, model_root=model_root)
    ref = VaspReference(incar_overrides=reference_incar, potcar_functional=potcar_functional)
    return Response(replace=eng.train_flow(structure, ref, TrainSettings(**settings),
                                           initial_model=initial_model))
