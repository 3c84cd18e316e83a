"""Execute the notebooks top to bottom with nbclient on small data (SSIC_HOME in tmp)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks"


@pytest.fixture
def nb_env(ssic_home, monkeypatch):
    monkeypatch.setenv("SSIC_NOTEBOOK_SMALL", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    for var in ("SSIC_MONGO_URI", "SSIC_TRAJECTORY", "SSIC_TIMESTEP_FS", "SSIC_SPECIES", "SSIC_CAMPAIGN"):
        monkeypatch.delenv(var, raising=False)
    return ssic_home


def run_notebook(name: str, timeout: int = 120) -> nbformat.NotebookNode:
    nb = nbformat.read(NB / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(NB)}})
    client.execute()
    return nb


def outputs(nb) -> str:
    text = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            text.append(o.get("text", "") or str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


def images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("path", sorted(NB.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"


def test_analyse_your_trajectory(nb_env):
    nb = run_notebook("02_analyse_your_trajectory.ipynb")
    out = outputs(nb)
    assert "150 frames, 32 atoms, dt = 2.0 fs, velocities: True" in out, out
    assert "D_cm2_s" in out and "'Cu':" in out
    assert images(nb) == 4  # MSD, g(r), VDOS, van Hove


def test_mongodb_launchpad_falls_back_to_embedded(nb_env, study_in_store):
    nb = run_notebook("03_mongodb_launchpad.ipynb")
    out = outputs(nb)
    assert "SSIC_MONGO_URI is not set: falling back to the EMBEDDED store" in out
    assert str(nb_env) in out
    assert "campaign: synthetic" in out and "1 study summaries" in out
    assert images(nb) == 2


@pytest.fixture
def study_in_store(nb_env):
    """A finished (synthetic) campaign's analyze output in the embedded JobStore."""
    import datetime

    from ssic_flows.store.config import StoreConfig
    from ssic_flows.store.jobstore import get_jobstore
    from test_plots import build_study

    summary, curves = build_study(with_tetra=False, with_extras=False)
    store = get_jobstore(StoreConfig())
    store.connect()
    meta = {"campaign_id": "synthetic", "study": summary["study"], "material": summary["material"],
            "role": "analyze"}
    store.update({"uuid": "analyze-1", "index": 1, "name": "analyze", "metadata": meta,
                  "completed_at": datetime.datetime.now().isoformat(),
                  "output": dict(summary, curves=curves)}, key=["uuid", "index"], save={"data": ["curves"]})
    store.close()


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "workflows" / "ci.yaml").exists(), reason="workflows/ci.yaml not present")
def test_quickstart_runs_ci_campaign(nb_env):
    nb = run_notebook("01_quickstart.ipynb", timeout=1500)
    out = outputs(nb)
    assert "ci.yaml" in out and "campaign 'ci'" in out
    assert "report.html" in out
    assert images(nb) >= 3
