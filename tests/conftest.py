"""Shared fixtures: a real SecantusDB server (wire protocol, separate process) for the whole test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")
if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("PYACEMAKER_DATA_DIR"):
    # parallel workers (scripts/test.sh runs two): each its own default data directory, so that one worker's
    # `db stop` never stops the embedded server another worker's test is using
    os.environ["PYACEMAKER_DATA_DIR"] += "-" + os.environ["PYTEST_XDIST_WORKER"]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    """Under pytest-xdist's ``--dist loadgroup``, a file's tests stay on one worker (its module-scoped campaign
    fixture runs once); files that start a Slurm cluster share the group ``slurm`` (one test cluster at a time).
    Slow tests go first (a stable sort keeps each file's order): the workers start on the long campaigns and end on
    short tests, instead of one of them starting a 6-minute campaign when the other is done."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


@pytest.fixture(scope="session")
def db_server(tmp_path_factory):
    """A real embedded database daemon started the way pyacemaker starts it (with authentication); stopped at the end.

    ``uri`` logs in with the server's generated credentials (a test password, in a temporary data directory): plain
    FireWorks tools given it work, and pyacemaker takes it for the embedded server's own login (not the user's), as
    it does the address alone, ``plain_uri`` (no credentials: what `db status` shows), with ``host`` and ``port``."""
    from pyacemaker.server import EmbeddedServer

    root = tmp_path_factory.mktemp("pamdb")
    server = EmbeddedServer(root)
    plain = server.start()
    st = server.status()
    yield {"uri": server.client_uri(), "plain_uri": plain, "host": st["host"], "port": st["port"], "root": root,
           "server": server}  # fmt: skip
    server.stop()


@pytest.fixture
def db(db_server, request):
    """pyacemaker's collections on a fresh database of the session server."""
    from pyacemaker.db import Database, DbTarget

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:40]
    target = DbTarget(db_server["uri"], name, "test server")
    d = Database.connect(target)
    yield d
    d.db.client.drop_database(name)


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900,
    exe: str | None = None,
):
    """Run the installed ``pyacemaker`` command as a user would."""
    exe = exe or shutil.which("pyacemaker") or str(Path(sys.executable).with_name("pyacemaker"))
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def emt_records(cfg, campaign: str = "t"):
    """The config's seed structures labelled by EMT (a cheap, real oracle)."""
    from ase.calculators.emt import EMT

    from pyacemaker.schemas.records import Labels, StructureRecord
    from pyacemaker.structures.seeds import build_seeds

    recs = []
    for s in build_seeds(cfg):
        a = s.atoms.copy()
        a.calc = EMT()
        r = StructureRecord.new(a, campaign, s.provenance(), "labelled")
        r.labels = Labels(energy=a.get_potential_energy(), forces=a.get_forces().tolist(),
                          stress=a.get_stress().tolist(), oracle="emt", settings_hash="emt")  # fmt: skip
        recs.append(r)
    return recs


@pytest.fixture(scope="session")
def tiny_cu_potential(tmp_path_factory):
    """A real, tiny ACE potential for Cu (EMT labels, ZBL baseline), fitted once per test session.

    Returns a dict: cfg, records, refs, baseline, yaml, yace, asi (paths), and ``calc()`` building a fresh
    ACE + baseline calculator that reports per-atom ``gamma``.
    """
    from pyacemaker.config import parse_config, resolve
    from pyacemaker.train.baseline import make_baseline
    from pyacemaker.train.pacemaker import calculator, fit

    cfg, _ = resolve(parse_config({
        "elements": ["Cu"], "oracle": {"type": "emt"},
        "seeds": {"supercell_atoms": 8, "volume_strains": [-0.1, 0.0, 0.08], "rattled_per_strain": 2},
        "train": {"max_fit_iterations": 60, "min_functions": 16},
    }))  # fmt: skip
    recs = emt_records(cfg)
    refs = {"Cu": 0.0}
    base = make_baseline(cfg.baseline, cfg.elements)
    res = fit(recs, cfg.elements, refs, cfg.train, tmp_path_factory.mktemp("tiny_cu"), baseline=base)
    return {
        "cfg": cfg, "records": recs, "refs": refs, "baseline": base,
        "yaml": res.yaml, "yace": res.yace, "asi": res.asi,
        "calc": lambda: calculator(res.yaml, res.asi, base, refs),
    }  # fmt: skip
