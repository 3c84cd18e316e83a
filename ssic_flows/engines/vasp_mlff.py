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

INCAR tags (VASP wiki names; overridable through ``TrainSettings.engine_settings``):

- ``ML_LMLFF = .TRUE.``, ``ML_MODE`` as above.
- ``ML_CTIFOR = TrainSettings.beef_threshold_eV_A`` (eV/Å): initial BEEF threshold for
  sampling a structure with DFT. ``ML_ICRITERIA = 1`` (VASP's default: the threshold is then
  updated from the BEEF history) — set ``ML_ICRITERIA = 0`` for a fixed threshold.
- ``ML_CDOUB = 2.0`` (VASP default: BEEF > ML_CDOUB × threshold forces immediate learning).
- ``ML_RCUT1 = 8.0`` Å, ``ML_RCUT2 = 5.0`` Å: cutoffs of the radial (2-body) and angular
  (3-body) descriptors (VASP 6.4 defaults; the study: 2- and 3-body descriptors).
- DFT part: the reference's :data:`~ssic_flows.engines.vasp.STUDY_INCAR` (PBE, Γ only,
  ENCUT 500 eV, ...) — the same ab initio settings for every continuation, as VASP requires.
- ``run``: ``ML_OUTBLOCK = MDSettings.save_every`` (vasprun/XDATCAR written every n-th
  step) and ``ML_IERR = 0`` (no error estimates: a refit force field cannot give them).

:func:`read_ml_logfile` extracts the BEEF curve (``BEEF`` lines: nstep, bee_energy eV/atom,
bee_max_force eV/Å, bee_ave_force eV/Å, threshold eV/Å, bee_max_stress kB, bee_ave_stress
kB) and the STATUS/LCONF records; :func:`read_ml_ab_header` reads the number of training
structures from an ML_AB/ML_ABN header; :func:`read_ml_ab_configurations` the training data.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from atomate2.vasp.jobs.base import BaseVaspMaker, vasp_job
from atomate2.vasp.jobs.md import MDMaker
from jobflow import Flow, Maker, Response, job

from ssic_flows.analysis.trajectory import Trajectory
from ssic_flows.engines.base import EngineError, MDSettings, MLFFEngine, TrainSettings
from ssic_flows.schemas import as_job_output
from ssic_flows.engines.vasp import (
    STUDY_INCAR, VaspReference, check_vasp_available, collect_vasp_md, gamma_kpoints,
    is_reference, md_incar,
)
from ssic_flows.schemas import EngineProvenance, TrainOutput

__all__ = [
    "ML_MODES", "VaspMLFF", "VaspMLFFMaker", "VaspMLMDMaker", "collect_vasp_mlff_training",
    "ml_incar", "mlff_generator", "open_maybe_gz", "read_ml_ab_configurations",
    "read_ml_ab_header", "read_ml_logfile", "stage_ml_files", "training_trajectory",
    "vasp_mlff_train_deferred", "vasp_mlmd_deferred",
]

ML_MODES = ("train", "refit", "run")

#: VASP defaults we state explicitly (see module docstring).
ML_DEFAULTS: dict[str, Any] = {"ML_ICRITERIA": 1, "ML_CDOUB": 2.0, "ML_RCUT1": 8.0,
                               "ML_RCUT2": 5.0}


def ml_incar(mode: str, *, beef_threshold_eV_A: float | None = None, save_every: int = 1,
             overrides: dict | None = None) -> dict[str, Any]:
    """The machine-learning INCAR tags of one step (``train``, ``refit`` or ``run``)."""
    if mode not in ML_MODES:
        raise EngineError(f"ML_MODE must be one of {ML_MODES}, got {mode!r}")
    tags: dict[str, Any] = {"ML_LMLFF": True, "ML_MODE": mode}
    if mode in ("train", "refit"):
        tags.update(ML_DEFAULTS)
    if mode == "train" and beef_threshold_eV_A is not None:
        tags["ML_CTIFOR"] = float(beef_threshold_eV_A)
    if mode == "run":
        tags.update(ML_OUTBLOCK=int(save_every), ML_IERR=0)
    tags.update(overrides or {})
    return tags


# --------------------------------------------------------------------------- file staging
def open_maybe_gz(path: Path, mode: str = "rt"):
    """Open ``path`` or ``path.gz`` (atomate2 gzips outputs after each job)."""
    path = Path(path)
    if path.exists():
        return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gzip.open(gz, mode)
    raise FileNotFoundError(path)


def _existing(path: Path) -> Path | None:
    path = Path(path)
    for c in (path, path.with_name(path.name + ".gz")):
        if c.exists():
            return c
    return None


def _copy_plain(src: Path, dest: Path) -> None:
    """Copy ``src`` (plain or .gz) to ``dest`` uncompressed."""
    if src.suffix == ".gz":
        with gzip.open(src, "rb") as fi, open(dest, "wb") as fo:
            shutil.copyfileobj(fi, fo)
    else:
        shutil.copyfile(src, dest)


def stage_ml_files(dest: str | Path, mode: str, *, prev_dir: str | Path | None = None,
                   ml_ab: str | Path | None = None, ml_ff: str | Path | None = None) -> dict[str, str]:
    """Put the input files of one ML step into ``dest``; returns ``{target: source}``.

    - ``train``: ``ML_AB`` from ``ml_ab`` or ``prev_dir/ML_ABN`` if either exists (a
      continuation); nothing otherwise (training from scratch).
    - ``refit``: ``ML_AB`` from ``ml_ab`` or ``prev_dir/ML_ABN``; required.
    - ``run``: ``ML_FF`` from ``ml_ff`` or ``prev_dir/ML_FFN``; required.

    Sources may be gzipped (atomate2 gzips job folders); targets are written uncompressed.
    A ``host:/path`` prefix (atomate2 ``dir_name``) is stripped.
    """
    if mode not in ML_MODES:
        raise EngineError(f"ML_MODE must be one of {ML_MODES}, got {mode!r}")
    dest = Path(dest)
    prev = Path(str(prev_dir).split(":", 1)[-1]) if prev_dir else None
    target, explicit, from_prev = (("ML_FF", ml_ff, "ML_FFN") if mode == "run"
                                   else ("ML_AB", ml_ab, "ML_ABN"))
    src = None
    if explicit:
        src = _existing(Path(str(explicit).split(":", 1)[-1]))
        if src is None:
            raise EngineError(f"{target} source {explicit} does not exist")
    elif prev is not None:
        src = _existing(prev / from_prev)
    if src is None:
        if mode == "train":
            return {}
        where = f"{prev}/{from_prev}" if prev else "no previous directory given"
        raise EngineError(f"ML_MODE={mode} needs {target} ({where}); pass the training "
                          f"directory or the {target} path")
    _copy_plain(src, dest / target)
    return {target: str(src)}


# --------------------------------------------------------------------------- parsing
_BEEF_COLUMNS = ["nstep", "bee_energy", "bee_max_force", "bee_ave_force", "threshold",
                 "bee_max_stress", "bee_ave_stress"]


def read_ml_logfile(path: str | Path) -> dict[str, Any]:
    """Parse a VASP ML_LOGFILE (plain or .gz).

    Returns ``beef`` (dict of arrays by column name, from the ``# BEEF`` header if present:
    nstep, bee_energy eV/atom, bee_max_force eV/Å, bee_ave_force eV/Å, threshold eV/Å,
    bee_max_stress kB, bee_ave_stress kB), ``status`` (nstep, state, doabin per step),
    ``n_abinitio`` (steps with an ab initio calculation), ``lconf`` (last count of local
    reference configurations per species), ``n_existing_structures`` (from the
    "AVAILABLE AB INITIO DATA" section of a continuation run, else 0) and ``err`` (nstep,
    rmse_energy, rmse_force, rmse_stress).
    """
    cols = list(_BEEF_COLUMNS)
    beef_rows, err_rows, status = [], [], []
    lconf: dict[str, int] = {}
    n_existing = 0
    with open_maybe_gz(Path(path)) as fh:
        for ln in fh:
            t = ln.split()
            if not t:
                continue
            if t[0] == "#":
                if len(t) > 3 and t[1] == "BEEF" and t[2] == "nstep":
                    cols = t[2:]
                continue
            key = t[0]
            if key == "BEEF":
                beef_rows.append([float(x) for x in t[1:1 + len(cols)]])
            elif key == "ERR":
                err_rows.append([float(x) for x in t[1:5]])
            elif key == "STATUS" and len(t) >= 5 and t[1].isdigit():
                status.append((int(t[1]), t[2], t[4] == "T"))
            elif key == "LCONF" and len(t) >= 5:
                # LCONF nstep species n_before n_after [species n_before n_after ...]
                rest = t[2:]
                for k in range(0, len(rest) - 2, 3):
                    lconf[rest[k]] = int(rest[k + 2])
            elif ln.strip().startswith("Number of stored (maximum) ab initio structures"):
                n_existing = int(ln.split(":")[1].split()[0])
    beef_arr = np.array(beef_rows, dtype=float).reshape(-1, len(cols))
    beef = {c: beef_arr[:, i] for i, c in enumerate(cols)}
    beef["nstep"] = beef["nstep"].astype(int)
    err = np.array(err_rows, dtype=float).reshape(-1, 4)
    return {
        "beef": beef,
        "err": {"nstep": err[:, 0].astype(int), "rmse_energy": err[:, 1],
                "rmse_force": err[:, 2], "rmse_stress": err[:, 3]},
        "status": status,
        "n_abinitio": sum(1 for _, _, doabin in status if doabin),
        "lconf": lconf,
        "n_existing_structures": n_existing,
    }


def _sections(lines: list[str]):
    """(title, body lines) of an ML_AB file, split at the ``****``/``====``/``----`` ledgers."""
    out, title, body, state = [], None, [], "title"
    for ln in lines:
        s = ln.strip()
        if s.startswith("****") or s.startswith("===="):
            if title is not None:
                out.append((title, body))
            title, body, state = None, [], "title"
            continue
        if s.startswith("----"):
            state = "body"
            continue
        if state == "title":
            if s:
                title = s if title is None else title
        else:
            body.append(s)
    if title is not None:
        out.append((title, body))
    return out


def read_ml_ab_header(path: str | Path) -> dict[str, Any]:
    """Header of an ML_AB/ML_ABN file: ``n_configurations``, ``atom_types``, ``version``."""
    with open_maybe_gz(Path(path)) as fh:
        head = []
        for ln in fh:
            head.append(ln)
            if "Configuration num." in ln:
                break
    if not head or "Version" not in head[0]:
        raise EngineError(f"{path}: not an ML_AB/ML_ABN file (no 'Version' header line)")
    info: dict[str, Any] = {"version": head[0].split()[0]}
    for title, body in _sections(head[1:]):
        if title == "The number of configurations":
            info["n_configurations"] = int(body[0].split()[0])
        elif title == "The atom types in the data file":
            info["atom_types"] = " ".join(body).split()
    if "n_configurations" not in info:
        raise EngineError(f"{path}: no 'The number of configurations' entry")
    return info


def read_ml_ab_configurations(path: str | Path) -> list[dict[str, Any]]:
    """Training structures of an ML_AB/ML_ABN file: species, lattice (Å), positions (Å),
    energy (eV), forces (eV/Å), ctifor (eV/Å or None), system name."""
    with open_maybe_gz(Path(path)) as fh:
        text = fh.read().splitlines()
    starts = [i for i, ln in enumerate(text) if "Configuration num." in ln]
    confs = []
    for k, i0 in enumerate(starts):
        i1 = starts[k + 1] - 1 if k + 1 < len(starts) else len(text)
        secs = dict(_sections(text[i0 + 1:i1]))
        species: list[str] = []
        for row in secs.get("Atom types and atom numbers", []):
            if row:
                el, n = row.split()
                species += [el] * int(n)

        def arr(name: str) -> np.ndarray:
            return np.array([[float(x) for x in r.split()] for r in secs[name] if r])

        confs.append({
            "name": (secs.get("System name") or [""])[0],
            "species": species,
            "lattice": arr("Primitive lattice vectors (ang.)"),
            "positions": arr("Atomic positions (ang.)"),
            "energy": float(secs["Total energy (eV)"][0]),
            "forces": arr("Forces (eV ang.^-1)"),
            "ctifor": float(secs["CTIFOR"][0]) if "CTIFOR" in secs else None,
        })
    return confs


def training_trajectory(confs: list[dict[str, Any]]) -> Trajectory | None:
    """The training structures as one Trajectory (forces eV/Å, energies eV), if they all
    share one species list (else None: a Trajectory has fixed atoms)."""
    if not confs or any(c["species"] != confs[0]["species"] for c in confs):
        return None
    return Trajectory(species=confs[0]["species"], positions=[c["positions"] for c in confs],
                      cells=np.stack([c["lattice"] for c in confs]), timestep_fs=1.0,
                      forces=np.stack([c["forces"] for c in confs]),
                      energies=[c["energy"] for c in confs],
                      metadata={"source": "ML_ABN", "note": "frames are training structures, "
                                "not a time series"})


# --------------------------------------------------------------------------- makers
@dataclass
class VaspMLFFMaker(MDMaker):
    """atomate2 VASP MD job with VASP's machine-learned force field (``ML_MODE``).

    ``make(structure, prev_dir=None, ml_ab=None, ml_ff=None)``: stages ML_AB/ML_FF with
    :func:`stage_ml_files`, then runs atomate2's usual VASP job (TaskDoc output). The
    ``input_set_generator`` must carry the ML INCAR tags (:func:`mlff_generator`).
    """

    name: str = "vasp mlff"
    ml_mode: str = "train"

    @vasp_job
    def make(self, structure, prev_dir=None, ml_ab=None, ml_ff=None):
        stage_ml_files(Path.cwd(), self.ml_mode, prev_dir=prev_dir, ml_ab=ml_ab, ml_ff=ml_ff)
        return BaseVaspMaker.make.original(self, structure, prev_dir=prev_dir)


def mlff_generator(mode: str, md: MDSettings, n_steps: int, *, reference_incar: dict,
                   beef_threshold_eV_A: float | None, ml_overrides: dict,
                   species: list[str], potcar_functional: str = "PBE_54"):
    """atomate2 ``MDSetGenerator`` with the study's DFT settings plus the ML tags of ``mode``."""
    from atomate2.vasp.sets.core import MDSetGenerator

    incar = {**STUDY_INCAR, **md_incar(md, species), **reference_incar,
             **ml_incar(mode, beef_threshold_eV_A=beef_threshold_eV_A,
                        save_every=md.save_every, overrides=ml_overrides)}
    return MDSetGenerator(
        ensemble="nvt", start_temp=md.temperature_K, end_temp=md.temperature_K,
        nsteps=n_steps, time_step=md.timestep_fs, user_incar_settings=incar,
        user_kpoints_settings=gamma_kpoints(), user_potcar_functional=potcar_functional,
        sort_structure=False, auto_ispin=False)


def _ml_overrides(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k.isupper()}


@job(data=Trajectory)
def collect_vasp_mlff_training(train_dirs: list[str], refit_dir: str, settings: dict,
                               model_root: str | None = None) -> dict:
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
    for d in train_dirs:
        d = Path(str(d).split(":", 1)[-1])
        log = read_ml_logfile(d / "ML_LOGFILE")
        b = log["beef"]
        steps += [int(s) + offset for s in b["nstep"]]
        bmax += [float(x) for x in b["bee_max_force"]]
        bmean += [float(x) for x in b["bee_ave_force"]]
        if len(b["nstep"]):
            offset += int(b["nstep"].max())
        n_abinitio += log["n_abinitio"]
    last = Path(str(train_dirs[-1]).split(":", 1)[-1])
    header = read_ml_ab_header(_existing(last / "ML_ABN") or last / "ML_ABN")
    refit = Path(str(refit_dir).split(":", 1)[-1])
    ffn = _existing(refit / "ML_FFN")
    if ffn is None:
        raise EngineError(f"{refit}: refit produced no ML_FFN; check {refit}/ML_LOGFILE")
    uuid = getattr(getattr(CURRENT_JOB, "job", None), "uuid", None) or "manual"
    out_dir = Path(model_root) if model_root else ssic_home() / "models" / "vasp-mlff"
    out_dir = out_dir / str(uuid)
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_plain(ffn, out_dir / "ML_FF")
    _copy_plain(_existing(last / "ML_ABN"), out_dir / "ML_AB")
    sha = hashlib.sha256((out_dir / "ML_FF").read_bytes()).hexdigest()
    tail = bmax[-max(1, len(bmax) // 10):] if bmax else []
    converged = bool(tail) and max(tail) <= ts.beef_threshold_eV_A
    try:
        confs = read_ml_ab_configurations(out_dir / "ML_AB")
        data = training_trajectory(confs)
    except (KeyError, ValueError, IndexError):
        data = None
    return as_job_output(TrainOutput(
        provenance=EngineProvenance(engine="vasp-mlff", kind="mlff",
                                    settings={"train": settings,
                                              "incar_ml": ml_incar("train", beef_threshold_eV_A=ts.beef_threshold_eV_A,
                                                                   overrides=_ml_overrides(ts.engine_settings))}),
        model_path=str(out_dir / "ML_FF"), model_sha256=sha,
        n_training_structures=int(header["n_configurations"]), n_iterations=len(train_dirs),
        converged=converged, beef_threshold_eV_A=ts.beef_threshold_eV_A, beef_step=steps,
        beef_max_eV_A=bmax, beef_mean_eV_A=bmean, temperature_K=ts.temperature_K,
        training_data=data,
        metadata={"ml_ab_path": str(out_dir / "ML_AB"), "n_abinitio_steps": n_abinitio,
                  "train_dirs": [str(d) for d in train_dirs], "refit_dir": str(refit_dir),
                  "atom_types": header.get("atom_types", [])}))


def _model_path(model) -> Any:
    """``model.model_path`` of a TrainOutput, its dict, an output reference, or a path."""
    if isinstance(model, (str, Path)):
        return str(model)
    if isinstance(model, dict):
        return model["model_path"]
    return model.model_path


@dataclass
class VaspMLMDMaker(Maker):
    """MLMD with a VASP force field; ``make(structure, model)`` → Flow → MDOutput.

    ``model``: a :class:`TrainOutput` (or reference to one / an ML_FF path). The flow is one
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
            raise EngineError("VASP MLMD needs model=TrainOutput (from train_flow) or an ML_FF path")
        if is_reference(structure):
            j = vasp_mlmd_deferred(structure, model, md=asdict(self.md_settings),
                                   reference_incar=dict(self.reference_incar),
                                   ml_overrides=dict(self.ml_overrides),
                                   potcar_functional=self.potcar_functional, name=self.name)
            j.name = self.name
            return j
        structure = as_structure(structure)
        run = self.run_maker(structure).make(structure, ml_ff=_model_path(model))
        collect = collect_vasp_md([run.output.dir_name], md=asdict(self.md_settings),
                                  engine_settings={"engine": "vasp-mlff", "ML_MODE": "run"},
                                  formula=structure.composition.reduced_formula,
                                  stride=self.md_settings.save_every)
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


@job
def vasp_mlff_train_deferred(structure, settings: dict, reference_incar: dict,
                             initial_model=None, potcar_functional: str = "PBE_54",
                             model_root: str | None = None) -> Response:
    """Job: build the training flow once ``structure`` is known; replaces itself with it."""
    eng = VaspMLFF(potcar_functional=potcar_functional, model_root=model_root)
    ref = VaspReference(incar_overrides=reference_incar, potcar_functional=potcar_functional)
    return Response(replace=eng.train_flow(structure, ref, TrainSettings(**settings),
                                           initial_model=initial_model))


# --------------------------------------------------------------------------- engine
class VaspMLFF(MLFFEngine):
    """VASP's on-the-fly kernel MLFF (Bayesian error estimates), as in the study.

    ``VaspMLFF(potcar_functional="PBE_54", model_root=None)``; DFT settings come from the
    :class:`~ssic_flows.engines.vasp.VaspReference` passed to :meth:`train_flow`.
    TrainSettings mapping: ``temperature_K``/``timestep_fs`` → TEBEG/POTIM;
    ``segment_steps`` → NSW of each training job; ``max_iterations`` → number of training
    jobs (each continues from the previous ML_ABN); ``beef_threshold_eV_A`` → ML_CTIFOR;
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
        md = MDSettings(temperature_K=settings.temperature_K, timestep_fs=settings.timestep_fs,
                        n_steps=settings.segment_steps, seed=settings.seed)
        over = _ml_overrides(settings.engine_settings)
        species = [str(s.symbol) for s in structure.species]
        gen = mlff_generator("train", md, settings.segment_steps, reference_incar=ref_incar,
                             beef_threshold_eV_A=settings.beef_threshold_eV_A, ml_overrides=over,
                             species=species, potcar_functional=self.potcar_functional)
        ml_ab = None
        if initial_model is not None:
            meta = (initial_model.get("metadata", {}) if isinstance(initial_model, dict)
                    else initial_model.metadata)
            ml_ab = meta["ml_ab_path"]
        jobs, dirs = [], []
        prev = None
        for k in range(max(1, settings.max_iterations)):
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

        from ssic_flows.engines.common.outputs import as_trajectory
        from ssic_flows.engines.vasp import read_vasprun_trajectory

        check_vasp_available()  # EngineError: "VASP is not available on this machine; run on a cluster ..."
        traj = as_trajectory(frames, "VASP single points")
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
                    stage_ml_files(d, "run", ml_ff=_model_path(model))
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
