"""The `ssic` command line: materials, analyze on real file formats, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
CP2K_RESUMED = ROOT / "tests" / "data" / "cp2k" / "agi4_md_resumed" / "ssic-pos-1.xyz"


def ssic(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ssic_flows.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def _walkers(n_frames=300, seed=0):
    """Ag random walkers in a fixed bcc I lattice (Å, fs); positions wrapped."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    a = 5.07
    I = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)], float) * a
    I = np.concatenate([I, I + a / 2])
    ag0 = rng.random((16, 3)) * 2 * a
    # D = 0.08² / (2 · 2 fs) = 1.6e-3 Å²/fs: 16 ions × 6Dt = 92 Å² over 0.6 ps (diffusive)
    ag = ag0 + np.cumsum(rng.normal(scale=0.08, size=(n_frames, 16, 3)), axis=0)
    frames = []
    for f in range(n_frames):
        at = Atoms(["I"] * 16 + ["Ag"] * 16, positions=np.concatenate([I, ag[f]]),
                   cell=np.eye(3) * 2 * a, pbc=True)
        at.wrap()
        frames.append(at)
    return frames


def test_materials_writes_and_refuses_bad_input(tmp_path):
    out = tmp_path / "AgI.cif"
    r = ssic("materials", "agi", "--atoms", 128, "--seed", 1, "--out", out)
    assert r.returncode == 0 and out.exists() and "128 atoms" in r.stdout
    for args, words in ((("nacl",), "unknown material"), (("agi", "--atoms", 130), "130 atoms"),
                        (("lgps", "--seed", -1), "seed")):
        bad = tmp_path / "bad.vasp"
        r = ssic("materials", *args, "--out", bad)
        assert r.returncode == 2 and words in r.stderr and not bad.exists()
        assert len(r.stderr.strip().splitlines()) == 1


def _check_doc(path: Path, species: str):
    doc = json.loads(path.read_text())
    for key in ("D_cm2_s", "D_final_cm2_s", "band_center_cm-1", "gr_first_peak_A"):
        assert key in doc, key
    assert doc["D_cm2_s"][species] > 0
    return doc


def test_analyze_extxyz_and_xdatcar(tmp_path):
    import ase.io
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = _walkers()
    ext = tmp_path / "run.extxyz"
    ase.io.write(ext, frames, format="extxyz")
    r = ssic("analyze", ext, "--timestep-fs", 2, "--species", "Ag", "--json", tmp_path / "e.json",
             "--plot", tmp_path / "plots")
    assert r.returncode == 0, r.stderr
    doc = _check_doc(tmp_path / "e.json", "Ag")
    assert doc["D_status"]["Ag"].startswith("diffusive")
    assert doc["D_cm2_s"]["Ag"] == pytest.approx(1.6e-4, rel=0.3)  # 1.6e-3 Å²/fs in cm²/s
    assert doc["D_cm2_s"]["I"] is None and doc["D_status"]["I"].startswith("not diffusing")
    assert doc["gr_first_peak_A"]["I-I"] == pytest.approx(5.07 * np.sqrt(3) / 2, abs=0.05)
    assert list((tmp_path / "plots").glob("*.png"))

    # XDATCAR in VASP's format (header, then "Direct configuration=" blocks), read back by
    # pymatgen's Xdatcar inside read_trajectory
    structs = [AseAtomsAdaptor.get_structure(f) for f in frames]
    xd = tmp_path / "XDATCAR"
    lines = []
    s0 = structs[0]
    species = [e.symbol for e in s0.composition.elements]
    counts = [int(s0.composition[e]) for e in s0.composition.elements]
    order = [i for sp in species for i, site in enumerate(s0) if site.specie.symbol == sp]
    lines += ["AgI walkers", "1.0"] + [" ".join(f"{x:.8f}" for x in v) for v in s0.lattice.matrix]
    lines += [" ".join(species), " ".join(map(str, counts))]
    for k, s in enumerate(structs, 1):
        lines.append(f"Direct configuration= {k:5d}")
        lines += [" ".join(f"{x:.8f}" for x in s[i].frac_coords) for i in order]
    xd.write_text("\n".join(lines) + "\n")
    r = ssic("analyze", xd, "--timestep-fs", 2, "--species", "Ag", "--json", tmp_path / "x.json")
    assert r.returncode == 0, r.stderr
    doc_x = _check_doc(tmp_path / "x.json", "Ag")
    assert doc_x["D_cm2_s"]["Ag"] == pytest.approx(doc["D_cm2_s"]["Ag"], rel=1e-3)


def test_analyze_real_cp2k_output(tmp_path):
    """tests/data/cp2k/agi4_md_resumed: real CP2K 2023.1 output of a killed and resumed run
    (see the README beside it); the resumed step appears twice in the files."""
    r = ssic("analyze", CP2K_RESUMED, "--json", tmp_path / "c.json")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["n_frames"] == 5 and doc["timestep_fs"] > 0  # steps 0-4, the repeat dropped
    # 5 frames are too few for a diffusion fit: said per species, not fatal, no number
    assert doc["D_status"] and all(v.startswith("too short") for v in doc["D_status"].values())
    assert all(v is None for v in doc["D_cm2_s"].values()) and "msd" in doc
    assert "vdos" in doc  # CP2K wrote velocities: no finite differences needed


def test_analyze_bad_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "broken.extxyz"
    bad.write_text("this is not a trajectory\n")
    r = ssic("analyze", bad, "--timestep-fs", 1)
    assert r.returncode == 2 and str(bad) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = ssic("analyze", tmp_path / "missing.xyz")
    assert r.returncode == 2 and "missing.xyz" in r.stderr


def test_cluster_commands_render_worker_configs_and_refuse_embedded(tmp_path):
    """`ssic cluster ...` is the one worker-side CLI (``python -m ssic_flows`` = ``ssic``)."""
    import yaml

    server = tmp_path / "server.yaml"
    server.write_text("mode: server\n")
    r = ssic("cluster", "configure", "--db-config", server, "--out", tmp_path / "w")
    assert r.returncode == 0, r.stderr
    q = yaml.safe_load((tmp_path / "w" / "my_qadapter_gpu.yaml").read_text())
    assert q["rocket_launch"] == (f"{sys.executable} -m ssic_flows cluster rlaunch -c "
                                  f"{server.resolve()} -w {tmp_path / 'w' / 'my_fworker_gpu.yaml'} "
                                  "singleshot") and q["gres"] == "gpu:1"
    # the entry point the SLURM script runs parses its arguments
    r = subprocess.run([sys.executable, "-m", "ssic_flows", "cluster", "rlaunch", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "singleshot" in r.stdout
    emb = tmp_path / "emb.yaml"
    emb.write_text("mode: embedded\n")
    for args in (("rlaunch", "-c", emb, "singleshot"), ("configure", "-c", emb, "--out", tmp_path / "x")):
        r = ssic("cluster", *args)
        assert r.returncode == 2 and "mode: server" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert ssic("cluster", "rerun", "x").returncode == 2  # one rerun: `ssic rerun`


def test_cluster_init_writes_secrets_600_never_prints_the_uri(tmp_path):
    """`ssic cluster init DIR`: an embedded config is refused; the URI reaches only the two
    mode-600 files, not the terminal, even when the server cannot be reached."""
    import os

    emb = tmp_path / "emb.yaml"
    emb.write_text("mode: embedded\n")
    r = ssic("cluster", "init", tmp_path / "fw0", "--db-config", emb)
    assert r.returncode == 2 and "mode: server" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    srv = tmp_path / "srv.yaml"
    srv.write_text("mode: server\nuri_env: SSIC_T_URI\nserver_timeout_ms: 300\n")
    env = dict(os.environ, SSIC_T_URI="mongodb://u:SeCrEt-9@127.0.0.1:9/")
    r = subprocess.run([sys.executable, "-m", "ssic_flows", "cluster", "init", str(tmp_path / "fw"),
                        "--db-config", str(srv)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2 and "not reachable" in r.stderr, r.stderr
    assert "SeCrEt-9" not in r.stdout + r.stderr
    for name in ("my_launchpad.yaml", "jobflow.yaml"):
        p = tmp_path / "fw" / name
        assert p.stat().st_mode & 0o777 == 0o600 and "SeCrEt-9" in p.read_text()
    assert "SeCrEt-9" not in (tmp_path / "fw" / "my_qadapter.yaml").read_text()


def test_status_on_the_embedded_store(tmp_path):
    """`ssic status` reads an embedded store (counts per study/role, the FIZZLED error, the rerun)."""
    import os
    import textwrap

    home = tmp_path / "home"
    env = dict(os.environ, SSIC_HOME=str(home), PYTHONPATH=str(Path(__file__).parent))
    env.pop("SSIC_DB_CONFIG", None)
    code = textwrap.dedent("""
        from jobflow import Flow
        from flow_jobs import add, fail_if
        from ssic_flows.runner import run_embedded
        from ssic_flows.store.config import StoreConfig
        a, bad = add(1, 2), fail_if(True)
        a.update_metadata({"study": "agi", "role": "reference_md"})
        bad.update_metadata({"study": "agi", "role": "validate"})
        run_embedded(Flow([a, bad]), StoreConfig(), "stc", metadata={"source": "c.yaml"})
    """)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    run = lambda *a: subprocess.run([sys.executable, "-m", "ssic_flows", "status", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    r = run()
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "campaign stc: 2 jobs: COMPLETED 1, FIZZLED 1"
    assert any(ln.split() == ["agi", "reference_md", "1", "0"] for ln in out), out
    assert any("FIZZLED fw" in ln and "RuntimeError: injected failure" in ln for ln in out)
    assert out[-1].strip() == "rerun: fix the cause, then run `ssic run c.yaml` again"
    r = run("--campaign", "nope")
    assert r.returncode == 1 and "not in this store" in r.stderr
