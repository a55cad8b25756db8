#!/usr/bin/env bash
# Installs everything (scripts/setup.sh) and runs the whole test suite: unit, integration (real database
# server), end-to-end (a real campaign through FireWorks). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1
# tests never touch the user's embedded database: they start their own servers in temporary directories
unset PYACEMAKER_DB_URI PYACEMAKER_DB_NAME
export PYACEMAKER_DATA_DIR="$(mktemp -d)/pyacemaker-data"
ruff check pyacemaker tests benchmarks
set +e
# two workers (PYACEMAKER_TEST_WORKERS, 0 = none): most tests wait on subprocesses or run one-thread fits, so
# two at a time fill a 2-core machine; a file's tests stay together (tests/conftest.py)
python -m pytest -q -p no:cacheprovider --durations=15 -n "${PYACEMAKER_TEST_WORKERS:-2}" --dist loadgroup "$@"
rc=$?
set -e
# pytest's exit 5 means no test ran: that is a failure here
[ "$rc" = 5 ] && { echo "no tests were collected or run" >&2; exit 1; }
exit "$rc"
