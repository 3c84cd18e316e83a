"""The study as a dependency graph: one Flow per material.

::

    build ──► reference_md ─────────────┬──► validate ──┐
      │                                 │               │
      ├──► train_mlff ──┬───────────────┘               │
      │                 ├──► mlmd × n_seeds ────────────┤
      ├──► build (2×2×2) ──► transfer ──────────────────┤
      └──► retrain_hot (T_hot) ──► mlmd_hot ────────────┴──► analyze

Independent branches (seeds, transfer, hot retraining) do not depend on each other, so a
cluster runs them in parallel. Every job carries metadata ``campaign_id, study, material,
role, seed, temperature_K, n_atoms`` for queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Maker

from ssic_flows.engines.base import MDSettings, TrainSettings
from ssic_flows.engines.registry import get_mlff_engine, get_reference_engine
from ssic_flows.flows.graph import all_jobs
from ssic_flows.flows.spec import DEFAULT_EQUILIBRATION_PS, StudySpec, TrainSpec, check_equilibration, run_steps
from ssic_flows.makers.analyze import analyze_study_job
from ssic_flows.makers.structure import BuildMaterialMaker, SupercellMaker

__all__ = ["HOT_TRAIN_SEED", "REFERENCE_MD_SEED", "StudyMaker", "TRAIN_SEED"]

#: Seeds. The reference MD (which the force validation draws from), the MLFF training (its
#: seed MD runs at seed + SEED_MD_OFFSET, its exploration segments at seed + 1000·k) and the
#: MLMD ensemble (seeds 1..n_seeds) never share one, so no validation snapshot lies on a
#: trajectory the training saw.
REFERENCE_MD_SEED: int = 0
TRAIN_SEED: int = 100_000
HOT_TRAIN_SEED: int = 200_000


def _tag(obj, meta: dict[str, Any], name: str | None = None):
    """Set a job's/flow's name and metadata (also on jobs it creates dynamically)."""
    if name is not None:
        obj.name = name
        if isinstance(obj, Flow):  # sub-jobs get unique, study-prefixed names
            for j in all_jobs(obj):
                j.name = f"{name}:{j.name.replace(' ', '_')}"
    obj.update_metadata(meta, dynamic=True)
    return obj


@dataclass
class StudyMaker(Maker):
    """One material's study (AIMD reference, on-the-fly MLFF, MLMD ensemble, analysis).

    Fields are the study's knobs; units in names. ``make()`` returns one Flow.
    ``equilibration_ps`` is cut from the start of every run before analysis (it reaches the
    analyze job as data; at most half of the shortest run).

    Example
    -------
    >>> flow = StudyMaker(material="agi", n_atoms=16, temperature_K=500,
    ...                   reference_steps=50, mlmd_steps=50, n_seeds=2).make()  # doctest: +SKIP
    """

    name: str = "study"
    material: str | dict = "agi"  # built-in key, or a user material's recipe (materials.user)
    n_atoms: int | None = None
    structure_seed: int = 0
    temperature_K: float = 500.0
    timestep_fs: float = 2.0
    reference_steps: int = 1000
    mlmd_steps: int = 1000
    save_every: int = 1
    equilibration_ps: float = DEFAULT_EQUILIBRATION_PS
    n_seeds: int = 5
    transfer: bool = False
    transfer_scaling: tuple[int, int, int] = (2, 2, 2)
    transfer_steps: int | None = None
    retrain_hot: bool = False
    retrain_temperature_K: float = 800.0
    train: TrainSpec = field(default_factory=TrainSpec)
    validation_snapshots: int = 10
    thermostat: str = "csvr"
    thermostat_time_fs: float = 100.0
    checkpoint_every: int = 50
    reference_engine: str = "embedded"
    reference_settings: dict = field(default_factory=dict)
    mlff_engine: str = "gap"
    mlff_settings: dict = field(default_factory=dict)
    campaign_id: str = "adhoc"

    @classmethod
    def from_spec(cls, spec: StudySpec, *, campaign_id: str, reference_engine: str,
                  reference_settings: dict, mlff_engine: str, mlff_settings: dict) -> StudyMaker:
        """A StudyMaker from a validated campaign entry."""
        d = spec.model_dump(exclude={"name", "train_from", "structure", "mobile_species",
                                     "oxidation_states", "dope"})
        d["train"] = spec.train
        d["material"] = spec.material_ref()
        return cls(name=spec.study_name, campaign_id=campaign_id,
                   reference_engine=reference_engine, reference_settings=dict(reference_settings),
                   mlff_engine=mlff_engine, mlff_settings=dict(mlff_settings), **d)

    # ------------------------------------------------------------------ helpers
    def _md(self, T: float, steps: int, seed: int) -> MDSettings:
        return MDSettings(temperature_K=T, timestep_fs=self.timestep_fs, n_steps=steps,
                          save_every=self.save_every, seed=seed, thermostat=self.thermostat,
                          thermostat_time_fs=self.thermostat_time_fs,
                          checkpoint_every=self.checkpoint_every)

    def _train(self, T: float, seed: int) -> TrainSettings:
        t = self.train
        return TrainSettings(temperature_K=T, timestep_fs=self.timestep_fs,
                             beef_threshold_eV_A=t.beef_threshold_eV_A,
                             n_seed_frames=t.n_seed_frames, segment_steps=t.segment_steps,
                             max_iterations=t.max_iterations, max_new_frames=t.max_new_frames,
                             seed=seed, engine_settings=dict(t.engine_settings))

    @property
    def material_label(self) -> str:
        """The material's name in job metadata (a recipe's ``name``)."""
        return self.material if isinstance(self.material, str) else str(self.material.get("name")
                                                                         or self.material.get("base"))

    def expected_n_atoms(self) -> int:
        """Atoms in the training cell (built once, cheaply, to label the graph)."""
        from ssic_flows.materials import build_material

        return len(build_material(self.material, n_atoms=self.n_atoms, seed=self.structure_seed))

    # ------------------------------------------------------------------ graph
    def make(self, initial_model=None) -> Flow:
        """The study Flow. ``initial_model``: a TrainOutput (or reference to one) to start
        training from (the study trains W-doped Na3SbS4 from the pristine MLFF)."""
        st = self.name
        check_equilibration(self.equilibration_ps, self.timestep_fs, run_steps(self))
        n = self.expected_n_atoms()
        T = float(self.temperature_K)
        base = {"campaign_id": self.campaign_id, "study": st, "material": self.material_label,
                "temperature_K": T, "n_atoms": n}

        def meta(role: str, seed: int | None = None, **kw) -> dict:
            return {**base, "role": role, "seed": seed, **kw}

        ref = get_reference_engine(self.reference_engine, **self.reference_settings)
        ml = get_mlff_engine(self.mlff_engine, **self.mlff_settings)
        jobs: list = []

        build = _tag(BuildMaterialMaker().make(self.material, self.n_atoms, self.structure_seed),
                     meta("build", self.structure_seed), f"{st}:build")
        jobs.append(build)
        structure = build.output["structure"]

        ref_md = _tag(ref.md_maker(self._md(T, self.reference_steps, REFERENCE_MD_SEED)).make(structure),
                      meta("reference_md", REFERENCE_MD_SEED), f"{st}:reference_md")
        jobs.append(ref_md)

        train = _tag(ml.train_flow(structure, ref, self._train(T, TRAIN_SEED), initial_model=initial_model),
                     meta("train_mlff", TRAIN_SEED), f"{st}:train_mlff")
        jobs.append(train)
        model = train.output

        from ssic_flows.makers.validation import ForceValidationMaker

        validate = _tag(
            ForceValidationMaker(mlff=self.mlff_engine, mlff_settings=dict(self.mlff_settings),
                                 n_snapshots=self.validation_snapshots,
                                 reference_static_maker=ref.static_maker(),
                                 skip_fs=1000.0 * float(self.equilibration_ps),
                                 independence=(
                                     f"snapshots from the reference MD (seed {REFERENCE_MD_SEED}) after "
                                     f"its {self.equilibration_ps:g} ps equilibration; the training "
                                     f"(seed {TRAIN_SEED}: its own seed MD and MLMD segments) never saw "
                                     "this trajectory")).make(
                ref_md.output.trajectory, model),
            meta("validate", 0), f"{st}:validate")
        jobs.append(validate)

        mlmd = []
        for k in range(1, self.n_seeds + 1):
            j = _tag(ml.md_maker(self._md(T, self.mlmd_steps, k)).make(structure, model=model),
                     meta("mlmd", k), f"{st}:mlmd:s{k}")
            mlmd.append(j)
        jobs += mlmd

        transfer_out = None
        if self.transfer:
            big = _tag(SupercellMaker(scaling=tuple(self.transfer_scaling)).make(structure),
                       meta("build", self.structure_seed, n_atoms=n * _prod(self.transfer_scaling)),
                       f"{st}:build_transfer")
            steps = self.transfer_steps or self.mlmd_steps
            tr = _tag(ml.md_maker(self._md(T, steps, 1)).make(big.output["structure"], model=model),
                      meta("transfer", 1, n_atoms=n * _prod(self.transfer_scaling)), f"{st}:transfer")
            jobs += [big, tr]
            transfer_out = tr.output

        hot_out = hot_model = None
        if self.retrain_hot:
            Th = float(self.retrain_temperature_K)
            hot_train = _tag(ml.train_flow(structure, ref, self._train(Th, HOT_TRAIN_SEED)),
                             meta("retrain_hot", HOT_TRAIN_SEED, temperature_K=Th, md_temperature_K=T),
                             f"{st}:retrain_hot")
            hot_md = _tag(ml.md_maker(self._md(T, self.mlmd_steps, 1)).make(
                structure, model=hot_train.output), meta("mlmd_hot", 1), f"{st}:mlmd_hot")
            jobs += [hot_train, hot_md]
            hot_out, hot_model = hot_md.output, hot_train.output

        analyze = _tag(
            analyze_study_job(
                info={**base, "mobile": _mobile(self.material), "timestep_fs": self.timestep_fs,
                      "material_recipe": None if isinstance(self.material, str) else self.material,
                      "equilibration_ps": float(self.equilibration_ps),
                      "retrain_temperature_K": self.retrain_temperature_K if self.retrain_hot else None},
                reference=ref_md.output, mlmd=[j.output for j in mlmd], train=model,
                validation=validate.output, transfer=transfer_out, hot=hot_out,
                hot_train=hot_model),
            meta("analyze"), f"{st}:analyze")
        jobs.append(analyze)
        return Flow(jobs, output=analyze.output, name=st)


def _mobile(material: str | dict) -> list[str]:
    from ssic_flows.materials import resolve_material

    return list(resolve_material(material).mobile_species)


def _prod(t) -> int:
    p = 1
    for x in t:
        p *= int(x)
    return p
