"""Shared fixtures: every test gets its own SSIC_HOME so nothing leaks between tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # importable job modules (flow_jobs, cluster_jobs)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def ssic_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "ssic_home"
    home.mkdir()
    monkeypatch.setenv("SSIC_HOME", str(home))
    monkeypatch.delenv("SSIC_DB_CONFIG", raising=False)
    return home
