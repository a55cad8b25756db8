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


@pytest.fixture(scope="session")
def db_server(tmp_path_factory):
    """A real embedded database daemon started the way pyacemaker starts it; stopped at the end."""
    from pyacemaker.server import EmbeddedServer

    root = tmp_path_factory.mktemp("pamdb")
    server = EmbeddedServer(root)
    uri = server.start()
    yield {"uri": uri, "root": root, "server": server}
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
