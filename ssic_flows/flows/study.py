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

from ssic_flows.engines.registry import get_mlff_engine, get_reference_engine
from ssic_flows.flows.graph import all_jobs
from ssic_flows.flows.spec import CampaignSpec, StudySpec
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

    ``study`` holds the study's knobs (a validated :class:`StudySpec`, the one place they
    and their defaults are defined; units in names); the Maker adds the campaign's engines.
    ``make()`` returns one Flow. ``study.equilibration_ps`` is cut from the start of every
    run before analysis (it reaches the analyze job as data).

    Example
    -------
    >>> spec = StudySpec(material="agi", n_atoms=16, temperature_K=500, reference_steps=50,
    ...                  mlmd_steps=50, n_seeds=2, equilibration_ps=0.02)
    >>> flow = StudyMaker(study=spec).make()  # doctest: +SKIP
    """

    study: StudySpec
    name: str | None = None  # default: study.study_name
    reference_engine: str = CampaignSpec.model_fields["reference_engine"].default
    reference_settings: dict = field(default_factory=dict)
    mlff_engine: str = CampaignSpec.model_fields["mlff_engine"].default
    mlff_settings: dict = field(default_factory=dict)
    campaign_id: str = "adhoc"
    transfer_scaling: tuple[int, int, int] = (2, 2, 2)

    def __post_init__(self) -> None:
        self.name = self.name or self.study.study_name

    # ------------------------------------------------------------------ helpers
    @property
    def material(self) -> str | dict:
        """What the builders take: a built-in key or a user material's recipe."""
        return self.study.material_ref()

    @property
    def material_label(self) -> str:
        """The material's name in job metadata (a recipe's ``name``)."""
        m = self.material
        return m if isinstance(m, str) else str(m.get("name") or m.get("base"))

    def expected_n_atoms(self) -> int:
        """Atoms in the training cell (built once, cheaply, to label the graph)."""
        from ssic_flows.materials import build_material

        return len(build_material(self.material, n_atoms=self.study.n_atoms, seed=self.study.structure_seed))

    # ------------------------------------------------------------------ graph
    def make(self, initial_model=None) -> Flow:
        """The study Flow. ``initial_model``: a TrainOutput (or reference to one) to start
        training from (the study trains W-doped Na3SbS4 from the pristine MLFF)."""
        st, sp = self.name, self.study
        n = self.expected_n_atoms()
        T = float(sp.temperature_K)
        base = {"campaign_id": self.campaign_id, "study": st, "material": self.material_label,
                "temperature_K": T, "n_atoms": n}

        def meta(role: str, seed: int | None = None, **kw) -> dict:
            return {**base, "role": role, "seed": seed, **kw}

        ref = get_reference_engine(self.reference_engine, **self.reference_settings)
        ml = get_mlff_engine(self.mlff_engine, **self.mlff_settings)
        jobs: list = []

        build = _tag(BuildMaterialMaker().make(self.material, sp.n_atoms, sp.structure_seed),
                     meta("build", sp.structure_seed), f"{st}:build")
        jobs.append(build)
        structure = build.output["structure"]

        ref_md = _tag(ref.md_maker(sp.md_settings(T, sp.reference_steps, REFERENCE_MD_SEED)).make(structure),
                      meta("reference_md", REFERENCE_MD_SEED), f"{st}:reference_md")
        jobs.append(ref_md)

        train = _tag(ml.train_flow(structure, ref, sp.train.train_settings(T, sp.timestep_fs, TRAIN_SEED), initial_model=initial_model),
                     meta("train_mlff", TRAIN_SEED), f"{st}:train_mlff")
        jobs.append(train)
        model = train.output

        from ssic_flows.makers.validation import ForceValidationMaker

        validate = _tag(
            ForceValidationMaker(mlff=self.mlff_engine, mlff_settings=dict(self.mlff_settings),
                                 n_snapshots=sp.validation_snapshots,
                                 reference_static_maker=ref.static_maker(),
                                 skip_fs=1000.0 * float(sp.equilibration_ps),
                                 independence=(
                                     f"snapshots from the reference MD (seed {REFERENCE_MD_SEED}) after "
                                     f"its {sp.equilibration_ps:g} ps equilibration; the training "
                                     f"(seed {TRAIN_SEED}: its own seed MD and MLMD segments) never saw "
                                     "this trajectory")).make(
                ref_md.output.trajectory, model),
            meta("validate", 0), f"{st}:validate")
        jobs.append(validate)

        mlmd = []
        for k in range(1, sp.n_seeds + 1):
            j = _tag(ml.md_maker(sp.md_settings(T, sp.mlmd_steps, k)).make(structure, model=model),
                     meta("mlmd", k), f"{st}:mlmd:s{k}")
            mlmd.append(j)
        jobs += mlmd

        transfer_out = None
        if sp.transfer:
            big = _tag(SupercellMaker(scaling=tuple(self.transfer_scaling)).make(structure),
                       meta("build", sp.structure_seed, n_atoms=n * _prod(self.transfer_scaling)),
                       f"{st}:build_transfer")
            steps = sp.transfer_steps or sp.mlmd_steps
            tr = _tag(ml.md_maker(sp.md_settings(T, steps, 1)).make(big.output["structure"], model=model),
                      meta("transfer", 1, n_atoms=n * _prod(self.transfer_scaling)), f"{st}:transfer")
            jobs += [big, tr]
            transfer_out = tr.output

        hot_out = hot_model = None
        if sp.retrain_hot:
            Th = float(sp.retrain_temperature_K)
            hot_train = _tag(ml.train_flow(structure, ref, sp.train.train_settings(
                Th, sp.timestep_fs, HOT_TRAIN_SEED, explore_at_temperature=True)),
                             meta("retrain_hot", HOT_TRAIN_SEED, temperature_K=Th, md_temperature_K=T),
                             f"{st}:retrain_hot")
            hot_md = _tag(ml.md_maker(sp.md_settings(T, sp.mlmd_steps, 1)).make(
                structure, model=hot_train.output), meta("mlmd_hot", 1), f"{st}:mlmd_hot")
            jobs += [hot_train, hot_md]
            hot_out, hot_model = hot_md.output, hot_train.output

        analyze = _tag(
            analyze_study_job(
                info={**base, "mobile": _mobile(self.material), "timestep_fs": sp.timestep_fs,
                      "material_recipe": None if isinstance(self.material, str) else self.material,
                      "equilibration_ps": float(sp.equilibration_ps),
                      "retrain_temperature_K": sp.retrain_temperature_K if sp.retrain_hot else None},
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
