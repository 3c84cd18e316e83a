"""Mock VASP for tests, after atomate2's pattern (:mod:`atomate2.utils.testing.vasp`).

atomate2's ``run_vasp`` is replaced by a function that checks the inputs our Makers wrote in
the job directory and then copies a reference run's outputs there; atomate2's own
:func:`~atomate2.utils.testing.vasp.fake_run_vasp` does the comparison with the reference
inputs and the copying. On top of it :func:`mock_vasp` checks exact INCAR values we require
(``MockRun.expect``: e.g. RANDOM_SEED, ML_MODE, which a reference run need not share) and
files that must have been staged (``MockRun.staged``: ML_AB, ML_FF), and records every
INCAR written, for the test to inspect.

References are genuine VASP runs (:func:`reference_from_vasprun` lays one out in atomate2's
``inputs/`` + ``outputs/`` form from its vasprun.xml: the INCAR, KPOINTS and initial
structure VASP itself echoed there). Published runs often ship vasprun.xml alone; emmet's
``TaskDoc.from_directory`` needs OUTCAR and CONTCAR too, so for a job directory without
OUTCAR the task document is built from vasprun.xml alone
(:func:`lone_vasprun_task_document`). ``MockRun.extra_outputs`` adds files the reference lacks (e.g. the
documented-format ML_LOGFILE of ``tests/data/vasp``); a test must say what they are.

Example (in a pytest test)::

    runs = {"vasp md 1/1": MockRun(ref, compare=("IBRION", "POTIM"), expect={"ISIF": 2})}
    written = mock_vasp(monkeypatch, runs)
    run_locally(flow, store=store, create_folders=True, root_dir=tmp_path)
    written[0]["incar"]["RANDOM_SEED"]  # what our maker wrote
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MockRun", "lone_vasprun_task_document", "mock_vasp", "reference_from_vasprun"]


@dataclass(frozen=True)
class MockRun:
    """What one mocked VASP job checks and returns.

    ``reference``: directory in atomate2's layout (``inputs/INCAR``, ``KPOINTS``, ``POSCAR``
    [, ``POTCAR.spec``]; ``outputs/`` copied into the job directory). ``compare``: INCAR keys
    that must equal the reference's (atomate2 ``fake_run_vasp(incar_settings=...)``).
    ``check_inputs``: which of atomate2's input checks run ("incar", "kpoints", "poscar",
    "potcar"). ``expect``: INCAR key → exact value our input must have. ``staged``: file
    name → the text it must hold in the job directory before VASP starts (ML_AB, ML_FF).
    ``extra_outputs``: file name → source path copied in after the outputs.
    """

    reference: Path
    compare: tuple[str, ...] = ()
    check_inputs: tuple[str, ...] = ("incar", "kpoints", "poscar")
    expect: dict[str, Any] = field(default_factory=dict)
    staged: dict[str, str] = field(default_factory=dict)
    extra_outputs: dict[str, Path] = field(default_factory=dict)


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, str) and isinstance(a, str):
        return a.strip().lower() == b.strip().lower()
    if isinstance(b, (list, tuple)) and isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(b, bool) or isinstance(a, bool):
        return a is b
    if isinstance(b, (int, float)) and isinstance(a, (int, float)):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    return a == b


def _read_text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return fh.read()


def mock_vasp(monkeypatch, runs: dict[str, MockRun]) -> list[dict[str, Any]]:
    """Replace atomate2's VASP run by the mock; returns the list of written inputs.

    ``runs`` maps a job name (``CURRENT_JOB.job.name``) to its :class:`MockRun`; each call
    appends ``{"job": name, "dir": Path, "incar": Incar}`` to the returned list. A wrong
    input raises ``ValueError`` naming the key (the job then fails, as atomate2's mock does).
    POTCARs are never read: inputs are written in ``potcar_spec`` mode, as atomate2 does.
    """
    import atomate2.vasp.jobs.base as vasp_base
    import atomate2.vasp.run as vasp_run
    from atomate2.utils.testing.vasp import fake_run_vasp
    from atomate2.vasp.sets.base import VaspInputGenerator
    from jobflow import CURRENT_JOB
    from monty.os.path import zpath
    from pymatgen.io.vasp import Incar

    written: list[dict[str, Any]] = []

    def run_vasp(*_args, **_kwargs) -> None:
        name = CURRENT_JOB.job.name
        if name not in runs:
            raise ValueError(f"mock VASP: no reference for job {name!r} (have {sorted(runs)})")
        spec = runs[name]
        incar = Incar.from_file(zpath("INCAR"))
        written.append({"job": name, "dir": Path.cwd(), "incar": incar})
        for key, want in spec.expect.items():
            got = incar.get(key)
            if not _same(got, want):
                raise ValueError(f"mock VASP {name!r}: INCAR {key} = {got!r}, expected {want!r}")
        for fname, text in spec.staged.items():
            p = Path(fname)
            if not p.exists() or _read_text(p) != text:
                raise ValueError(f"mock VASP {name!r}: {fname} not staged with the expected content")
        fake_run_vasp(Path(spec.reference), incar_settings=list(spec.compare),
                      check_inputs=list(spec.check_inputs), clear_inputs=False)
        for fname, src in spec.extra_outputs.items():
            shutil.copy(src, fname)

    orig_doc = vasp_base.get_vasp_task_document

    def task_document(path, **kwargs):
        if Path(zpath(str(Path(path) / "OUTCAR"))).exists():
            return orig_doc(path, **kwargs)
        return lone_vasprun_task_document(path)

    orig_input_set = VaspInputGenerator.get_input_set

    def input_set(self, *args, **kwargs):
        kwargs["potcar_spec"] = True
        return orig_input_set(self, *args, **kwargs)

    monkeypatch.setattr(vasp_run, "run_vasp", run_vasp)
    monkeypatch.setattr(vasp_base, "run_vasp", run_vasp)
    monkeypatch.setattr(vasp_base, "get_vasp_task_document", task_document)
    monkeypatch.setattr(VaspInputGenerator, "get_input_set", input_set)
    return written


def lone_vasprun_task_document(directory: str | Path):
    """The task document of a job directory holding vasprun.xml but no OUTCAR/CONTCAR.

    emmet's own route for that case, ``TaskDoc.from_vasprun``, fails in the emmet installed
    here (its ``CalculationOutput`` requires OUTCAR data), so the document carries what the
    flows read from a VASP job's output: ``dir_name``, the final ``structure`` and the VASP
    version, all from vasprun.xml; ``state`` is ``"successful"`` when the XML is complete.
    """
    from emmet.core.tasks import TaskDoc
    from monty.os.path import zpath
    from pymatgen.io.vasp.outputs import Vasprun

    directory = Path(directory)
    kw = dict(parse_dos=False, parse_eigen=False, parse_projected_eigen=False,
              parse_potcar_file=False)
    path = zpath(str(directory / "vasprun.xml"))
    try:
        vr, state = Vasprun(path, **kw), "successful"
    except Exception:  # incomplete XML: read what is there, mark the run failed
        vr, state = Vasprun(path, exception_on_bad_xml=False, **kw), "failed"
    final = vr.final_structure
    return TaskDoc.from_structure(meta_structure=final, structure=final,
                                  dir_name=str(directory), state=state, calcs_reversed=[],
                                  vasp_version=vr.vasp_version)


def reference_from_vasprun(vasprun: str | Path, dest: str | Path) -> Path:
    """Lay out a genuine run as an atomate2 reference directory and return ``dest``.

    ``dest/inputs/``: INCAR, KPOINTS and POSCAR as VASP echoed them in ``vasprun`` (its
    ``<incar>``, ``<kpoints>`` and initial structure); ``dest/outputs/vasprun.xml[.gz]``:
    the file itself, byte for byte.
    """
    from pymatgen.io.vasp import Incar, Poscar
    from pymatgen.io.vasp.outputs import Vasprun

    vasprun, dest = Path(vasprun), Path(dest)
    vr = Vasprun(str(vasprun), parse_dos=False, parse_eigen=False,
                 parse_projected_eigen=False, parse_potcar_file=False)
    (dest / "inputs").mkdir(parents=True, exist_ok=True)
    (dest / "outputs").mkdir(parents=True, exist_ok=True)
    Incar({k: v for k, v in vr.incar.items() if v is not None}).write_file(dest / "inputs" / "INCAR")
    vr.kpoints.write_file(dest / "inputs" / "KPOINTS")
    Poscar(vr.initial_structure).write_file(dest / "inputs" / "POSCAR")
    out = "vasprun.xml.gz" if vasprun.suffix == ".gz" else "vasprun.xml"
    shutil.copyfile(vasprun, dest / "outputs" / out)
    return dest
