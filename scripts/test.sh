#!/usr/bin/env bash
# The test suite with every service it needs: installs the venv and the Debian packages
# (cp2k, slurm, munge, chromium), starts a local SLURM cluster and the nx-27017 MongoDB
# wire server, runs pytest, and stops the services again.
#   scripts/test.sh [PYTEST_ARGS...]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
t0=$(date +%s)
scripts/system_deps.sh
scripts/setup_env.sh ml,test,bench
export OMP_NUM_THREADS=1
export SSIC_TEST_SERVICES=1
started=()
cleanup() { for s in "${started[@]}"; do "scripts/$s" stop >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
if scripts/slurm_cluster.sh start > .ssic_slurm_env 2>.ssic_slurm.log; then
    started+=(slurm_cluster.sh); set -a; . ./.ssic_slurm_env; set +a
else
    echo "test.sh: local SLURM cluster did not start (see .ssic_slurm.log); SLURM tests will fail" >&2
fi
if scripts/mongo_server.sh start > .ssic_mongo_env 2>.ssic_mongo.log; then
    started+=(mongo_server.sh); set -a; . ./.ssic_mongo_env; set +a
else
    echo "test.sh: nx-27017 wire server did not start (see .ssic_mongo.log); server tests will fail" >&2
fi
echo "test.sh: set-up took $(( $(date +%s) - t0 )) s" >&2
.venv/bin/python -m pytest "$@"
