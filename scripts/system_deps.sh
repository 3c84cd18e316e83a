#!/usr/bin/env bash
# Debian packages the tests use: cp2k (open DFT engine), slurm + munge (local cluster),
# chromium (report rendering test). Installs only what is missing; needs root or sudo.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
need=()
command -v cp2k.psmp >/dev/null 2>&1 || command -v cp2k >/dev/null 2>&1 || need+=(cp2k)
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
t0=$(date +%s)
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "system_deps: installed ${need[*]} in $(( $(date +%s) - t0 )) s" >&2
