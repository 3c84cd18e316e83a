"""VASP MLFF jobs and Makers: training, refit and MLMD on atomate2's VASP ``MDMaker``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from atomate2.utils.path import strip_hostname
from atomate2.vasp.jobs.base import BaseVaspMaker, vasp_job
from atomate2.vasp.jobs.md import MDMaker
from jobflow import Flow, Maker, Response, job

from ssic_flows.engines.base import EngineError, MDSettings, TrainSettings
from ssic_flows.engines.vasp.jobs import collect_vasp_md, is_reference
from ssic_flows.engines.vasp.parsing import require_vasp_version
from ssic_flows.engines.vasp_mlff.files import copy_plain, existing_file, stage_ml_files
from ssic_flows.engines.vasp_mlff.parsing import (
    read_ml_ab_configurations, read_ml_ab_header, read_ml_logfile, training_trajectory,
)
from ssic_flows.engines.vasp_mlff.sets import (
    ML_MIN_VERSION, ML_MIN_VERSION_WHY, ml_incar, ml_overrides, mlff_generator,
)
from ssic_flows.schemas import EngineProvenance, TrainOutput

__all__ = [
    "VaspMLFFMaker", "VaspMLMDMaker", "collect_vasp_mlff_training",
    "vasp_mlmd_deferred",
]


@dataclass
class VaspMLFFMaker(MDMaker):
    """atomate2 VASP MD job with VASP's machine-learned force field (``ML_MODE``).

    ``make(structure, prev_dir=None, ml_ab=None, ml_ff=None)``: stages ML_AB/ML_FF with
    :func:`stage_ml_files`, then runs atomate2's usual VASP job (TaskDoc output). The
    ``input_set_generator`` must carry the ML INCAR tags (:func:`mlff_generator`). A
    continuation (``prev_dir``) first checks that the previous segment ran VASP ≥ 6.4
    (:data:`ML_MIN_VERSION`), the first version that reads ML_MODE.
    """

    name: str = "vasp mlff"
    ml_mode: str = "train"

    @vasp_job
    def make(self, structure, prev_dir=None, ml_ab=None, ml_ff=None):
        if prev_dir is not None:
            require_vasp_version(strip_hostname(str(prev_dir)), ML_MIN_VERSION,
                                 ML_MIN_VERSION_WHY)
        stage_ml_files(Path.cwd(), self.ml_mode, prev_dir=prev_dir, ml_ab=ml_ab, ml_ff=ml_ff)
        return BaseVaspMaker.make.original(self, structure, prev_dir=prev_dir)


@job(data=TrainOutput.DATA_FIELDS)
def collect_vasp_mlff_training(train_dirs: list[str], refit_dir: str, settings: dict,
                               model_root: str | None = None) -> TrainOutput:
    """Job: BEEF curve + training-set size of the training segments and the refit force
    field → :class:`TrainOutput`. ``ML_FF`` (refit ML_FFN) and ``ML_AB`` (last ML_ABN) are
    copied to ``<model_root>/<job uuid>/`` (default ``ssic_home()/models/vasp-mlff``).
    """
    from jobflow import CURRENT_JOB

    from ssic_flows.store.config import ssic_home

    ts = TrainSettings(**settings)
    steps, bmax, bmean = [], [], []
    offset = 0
    n_abinitio = 0
    version = ""
    for d in [*train_dirs, refit_dir]:
        version = require_vasp_version(strip_hostname(str(d)), ML_MIN_VERSION, ML_MIN_VERSION_WHY)
    for d in train_dirs:
        d = Path(strip_hostname(str(d)))
        log = read_ml_logfile(d / "ML_LOGFILE")
        b = log["beef"]
        steps += [int(s) + offset for s in b["nstep"]]
        bmax += [float(x) for x in b["bee_max_force"]]
        bmean += [float(x) for x in b["bee_ave_force"]]
        if len(b["nstep"]):
            offset += int(b["nstep"].max())
        n_abinitio += log["n_abinitio"]
    last = Path(strip_hostname(str(train_dirs[-1])))
    header = read_ml_ab_header(existing_file(last / "ML_ABN") or last / "ML_ABN")
    refit = Path(strip_hostname(str(refit_dir)))
    ffn = existing_file(refit / "ML_FFN")
    if ffn is None:
        raise EngineError(f"{refit}: refit produced no ML_FFN; check {refit}/ML_LOGFILE")
    uuid = getattr(getattr(CURRENT_JOB, "job", None), "uuid", None) or "manual"
    out_dir = Path(model_root) if model_root else ssic_home() / "models" / "vasp-mlff"
    out_dir = out_dir / str(uuid)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_plain(ffn, out_dir / "ML_FF")
    copy_plain(existing_file(last / "ML_ABN"), out_dir / "ML_AB")
    sha = hashlib.sha256((out_dir / "ML_FF").read_bytes()).hexdigest()
    tail = bmax[-max(1, len(bmax) // 10):] if bmax else []
    converged = bool(tail) and max(tail) <= ts.beef_threshold_eV_A
    try:
        confs = read_ml_ab_configurations(out_dir / "ML_AB")
        data = training_trajectory(confs)
    except (KeyError, ValueError, IndexError):
        data = None
    return TrainOutput(
        provenance=EngineProvenance(engine="vasp-mlff", kind="mlff", engine_version=version,
                                    settings={"train": settings,
                                              "incar_ml": ml_incar("train", beef_threshold_eV_A=ts.beef_threshold_eV_A,
                                                                   overrides=ml_overrides(ts.engine_settings))}),
        model_path=str(out_dir / "ML_FF"), model_sha256=sha,
        n_training_structures=int(header["n_configurations"]), n_iterations=len(train_dirs),
        converged=converged, beef_threshold_eV_A=ts.beef_threshold_eV_A, beef_step=steps,
        beef_max_eV_A=bmax, beef_mean_eV_A=bmean, temperature_K=ts.temperature_K,
        training_data=data,
        metadata={"ml_ab_path": str(out_dir / "ML_AB"), "n_abinitio_steps": n_abinitio,
                  "explore_temperature_K": ts.explore_temperature_K,
                  "train_dirs": [str(d) for d in train_dirs], "refit_dir": str(refit_dir),
                  "atom_types": header.get("atom_types", [])})


@dataclass
class VaspMLMDMaker(Maker):
    """MLMD with a VASP force field; ``make(structure, model)`` → Flow → MDOutput.

    ``model``: a :class:`TrainOutput` or a reference to one (``train.output``). The flow is one
    ``ML_MODE = run`` job (ML_FF staged from ``model.model_path``) and the vasprun → MDOutput
    converter (frames every ``save_every`` steps, ``ML_OUTBLOCK``).
    """

    name: str = "vasp mlmd"
    md_settings: MDSettings = field(default_factory=lambda: MDSettings(temperature_K=300.0))
    reference_incar: dict = field(default_factory=dict)
    ml_overrides: dict = field(default_factory=dict)
    potcar_functional: str = "PBE_54"

    def run_maker(self, structure) -> VaspMLFFMaker:
        gen = mlff_generator("run", self.md_settings, self.md_settings.n_steps,
                             reference_incar=self.reference_incar, beef_threshold_eV_A=None,
                             ml_overrides=self.ml_overrides,
                             species=[str(s.symbol) for s in structure.species],
                             potcar_functional=self.potcar_functional)
        return VaspMLFFMaker(name=f"{self.name} run", ml_mode="run", input_set_generator=gen)

    def make(self, structure, model=None):
        from ssic_flows.engines.common.outputs import as_structure

        if model is None:
            raise EngineError("VASP MLMD needs model=TrainOutput (train_flow(...).output)")
        if is_reference(structure):
            j = vasp_mlmd_deferred(structure, model, md=asdict(self.md_settings),
                                   reference_incar=dict(self.reference_incar),
                                   ml_overrides=dict(self.ml_overrides),
                                   potcar_functional=self.potcar_functional, name=self.name)
            j.name = self.name
            return j
        structure = as_structure(structure)
        run = self.run_maker(structure).make(structure, ml_ff=model.model_path)
        collect = collect_vasp_md([run.output.dir_name], md=asdict(self.md_settings),
                                  engine_settings={"engine": "vasp-mlff", "ML_MODE": "run"},
                                  formula=structure.composition.reduced_formula,
                                  stride=self.md_settings.save_every,
                                  min_version=ML_MIN_VERSION, min_version_why=ML_MIN_VERSION_WHY)
        collect.name = f"{self.name} collect"
        return Flow([run, collect], output=collect.output, name=self.name)


@job
def vasp_mlmd_deferred(structure, model, md: dict, reference_incar: dict, ml_overrides: dict,
                       potcar_functional: str, name: str = "vasp mlmd") -> Response:
    """Job: build the MLMD flow once ``structure`` is known; replaces itself with it."""
    maker = VaspMLMDMaker(name=name, md_settings=MDSettings(**md),
                          reference_incar=reference_incar, ml_overrides=ml_overrides,
                          potcar_functional=potcar_functional)
    return Response(replace=maker.make(structure, model=model))
