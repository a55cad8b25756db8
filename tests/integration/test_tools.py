"""pyacemaker finds its own tools without an activated environment: a worker started as ``.venv/bin/pyacemaker``
has a bare PATH, yet pace_yaml2yace, pacemaker, pace_activeset, lmp, rlaunch and qlaunch are beside its interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyacemaker.config import parse_config, resolve
from pyacemaker.train.pacemaker import pacemaker_input

pytestmark = pytest.mark.integration

BARE_PATH = "/usr/bin:/bin"  # what a cron job or a batch script without `source .venv/bin/activate` has


def _bare_env() -> dict[str, str]:
    keep = ("HOME", "TMPDIR", "PYACEMAKER_DATA_DIR", "LANG")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    return {**env, "PATH": BARE_PATH, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _small_potential(path: Path) -> Path:
    """An unfitted (initial) ACE basis of a Cu potential, written as pacemaker's .yaml."""
    from pyace.multispecies_basisextension import create_multispecies_basis_config

    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    spec = pacemaker_input(["Cu"], cfg.train, 5, "unused.pckl.gzip")["potential"]
    create_multispecies_basis_config(spec).save(str(path))
    return path


def _run_bare(code: str, cwd: Path) -> subprocess.CompletedProcess:
    # the environment's interpreter by its path, as `.venv/bin/pyacemaker run` starts it: nothing activated
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=_bare_env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_yaml_to_yace_runs_with_a_bare_path(tmp_path):
    pot = _small_potential(tmp_path / "small.yaml")
    code = (
        "from pathlib import Path\n"
        "from pyacemaker.train.pacemaker import yaml_to_yace\n"
        f"print(yaml_to_yace(Path({str(pot)!r})))\n"
    )
    r = _run_bare(code, tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    yace = tmp_path / "small.yace"
    assert r.stdout.strip().splitlines()[-1] == str(yace)
    assert yace.read_text().startswith("elements: [Cu]")
    from ase.build import bulk
    from pyace import PyACECalculator

    atoms = bulk("Cu")
    atoms.calc = PyACECalculator(str(yace))  # a real .yace of the potential: pyace (as LAMMPS' pace) reads it
    assert atoms.get_potential_energy() == pytest.approx(0.0)  # an unfitted basis: zero coefficients


def test_every_tool_is_found_beside_the_interpreter_with_a_bare_path(tmp_path):
    names = ["pacemaker", "pace_yaml2yace", "pace_activeset", "lmp", "rlaunch", "qlaunch"]
    code = (
        "from pyacemaker.allocation import tool\n"
        f"for name in {names!r}:\n"
        "    print(tool(name))\n"
        "from pyacemaker.explore.md.lammps_md import has_ml_pace, lammps_launch, lammps_pair_styles\n"
        "exe, launcher, env = lammps_launch('lmp')\n"
        "print(exe, launcher, env, bool(lammps_pair_styles(exe)))\n"
    )
    r = _run_bare(code, tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    here = Path(os.path.abspath(sys.executable)).parent
    assert lines[: len(names)] == [str(here / n) for n in names]
    assert lines[-1] == f"{here / 'lmp'} [] None True"  # runs, and lists its pair styles (no allocation here)
    missing = _run_bare("from pyacemaker.allocation import tool\ntool('no-such-tool')", tmp_path)
    assert missing.returncode != 0
    assert f"not found on PATH ({BARE_PATH}) nor beside the Python interpreter ({here})" in missing.stderr
