#!/usr/bin/env bash
# The test suite with every service it needs, from a fresh Debian machine:
#   - the project venv (.venv, ssic-flows[ml,test,bench]);
#   - Debian packages: cp2k (open DFT engine), slurmctld/slurmd/slurm-client/munge (a local
#     single-node SLURM cluster), chromium (report rendering); root or sudo;
#   - the nx-27017 MongoDB wire-protocol server in its own venv (.venv-mongo).
# The integration tests (tests/integration) start and stop the SLURM cluster and the wire
# server themselves (scripts/slurm_cluster.sh, scripts/mongo_server.sh); with CI set they
# fail rather than skip when a service cannot start.
#   scripts/test.sh [PYTEST_ARGS...]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
t0=$(date +%s)
scripts/system_deps.sh
scripts/setup_env.sh ml,test,bench
bash scripts/slurm_cluster.sh install
bash scripts/mongo_server.sh install
export OMP_NUM_THREADS=1
export CI="${CI:-true}"
echo "test.sh: set-up took $(( $(date +%s) - t0 )) s" >&2
exec .venv/bin/python -m pytest "$@"
