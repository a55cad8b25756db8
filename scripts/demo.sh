#!/usr/bin/env bash
# Installs everything (scripts/setup.sh) and runs the demo campaign (Cu with the EMT oracle) on the embedded
# database. Ends with the trained potential's path and its errors on a held-out test set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export OMP_NUM_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1
pyacemaker run workflows/cu_emt_demo.yaml --workers 2 "$@"
pyacemaker status cu_emt_demo
