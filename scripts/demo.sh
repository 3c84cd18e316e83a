#!/usr/bin/env bash
# The main job on embedded defaults: no MongoDB server, no SLURM, no VASP.
#   scripts/demo.sh [CAMPAIGN_YAML]   (default workflows/demo.yaml)
# Results go to $SSIC_HOME (default: <repo>/.ssic_home). Re-running resumes.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
scripts/setup_env.sh ml,test
export SSIC_HOME="${SSIC_HOME:-$REPO/.ssic_home}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# two jobs at a time (both cores); each job single-threaded
exec .venv/bin/ssic run --workers "${SSIC_WORKERS:-2}" "${1:-workflows/demo.yaml}"
