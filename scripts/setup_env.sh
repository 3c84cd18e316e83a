#!/usr/bin/env bash
# Create or reuse the project virtualenv (.venv) and install ssic-flows with its extras.
#   scripts/setup_env.sh [EXTRAS]     (default extras: ml,test)
# Idempotent: a stamp file remembers what was installed for which pyproject.toml.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${1:-ml,test}"
PY="${PYTHON:-python3}"
cd "$REPO"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
        echo "setup_env: python3 -m venv failed; installing python3-venv" >&2
        $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        rm -rf .venv && "$PY" -m venv .venv
    fi
fi
stamp=".venv/.ssic-installed-$(sha1sum pyproject.toml | cut -c1-12)-${EXTRAS//,/_}"
if [ ! -f "$stamp" ]; then
    t0=$(date +%s)
    .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
    # torch is pinned to the CPU build (==2.13.0) in the [ml] extra; install it first so no
    # other requirement can pull a CUDA build.
    if [[ ",$EXTRAS," == *",ml,"* ]]; then
        .venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
    fi
    .venv/bin/python -m pip install -q -e ".[${EXTRAS}]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import ssic_flows, jobflow, fireworks" 
    rm -f .venv/.ssic-installed-*
    touch "$stamp"
    echo "setup_env: installed ssic-flows[${EXTRAS}] in $(( $(date +%s) - t0 )) s; venv $(du -sh .venv | cut -f1)" >&2
fi
