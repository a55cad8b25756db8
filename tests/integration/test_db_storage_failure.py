"""The embedded database's storage failing under a run (a full disk): ``run``'s watcher restarts the daemon once the
space is back, with every document written before the failure intact, or ends with exit 3 saying what to do.

Real parts: the embedded daemon, a real file-size limit on it (``RLIMIT_FSIZE``, as a full filesystem: its writes
fail with EFBIG and WiredTiger panics; the daemon then lives on answering every command with an internal error)."""

from __future__ import annotations

import resource

import pytest
from pymongo.errors import OperationFailure, PyMongoError

pytestmark = pytest.mark.integration


def _fill_until_failure(coll) -> PyMongoError:
    for i in range(200):
        try:
            coll.insert_one({"_id": f"big{i}", "blob": "x" * 65536})
        except PyMongoError as exc:
            return exc
    raise AssertionError("the file-size limit never made a write fail")


@pytest.fixture
def capped_server(tmp_path):
    """A fresh embedded daemon with one document stored, then a 2 kB file-size limit on its process."""
    from pyacemaker.db import Database, resolve_target
    from pyacemaker.server import EmbeddedServer

    server = EmbeddedServer(tmp_path / "data")
    server.start()
    try:
        target = resolve_target(data_dir=tmp_path / "data", start_embedded=False)
        coll = Database.connect(target).db["probe"]
        coll.insert_one({"_id": "kept", "energy": -3.5})
        pid = server.status()["pid"]
        _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (2048, hard))
        yield server, target, coll, pid, hard
    finally:
        server.stop(timeout=10)


def test_a_panicked_storage_is_restarted_once_space_is_back_and_nothing_is_lost(capped_server):
    from pyacemaker.app.cli import reviver, storage_failed

    server, target, coll, pid, hard = capped_server
    revive = reviver(target)  # as run creates it, before the failure
    exc = _fill_until_failure(coll)
    assert isinstance(exc, OperationFailure) and exc.code == 1, exc  # "internal server error"
    assert server.status()["responding"]  # the daemon lives: only its storage failed
    assert storage_failed(server, exc)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))  # space freed
    msg = revive(exc)
    assert msg and "storage failed" in msg and "restarted it on port" in msg, msg
    assert server.status()["pid"] != pid
    assert coll.find_one({"_id": "kept"})["energy"] == -3.5  # written before the failure: intact
    coll.insert_one({"_id": "after", "energy": -1.0})
    assert coll.find_one({"_id": "after"})["energy"] == -1.0


def test_a_panicked_storage_that_cannot_restart_ends_with_what_to_do(capped_server):
    from pyacemaker.app.cli import reviver
    from pyacemaker.app.progress import DatabaseLost

    server, target, coll, pid, hard = capped_server
    revive = reviver(target, start_timeout_s=10.0)
    exc = _fill_until_failure(coll)
    # the disk still full: the daemon restarted from here inherits this process's file-size limit and cannot come up
    mine = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, mine[1]))
    try:
        with pytest.raises(
            DatabaseLost, match=r"storage failed \(WiredTiger panic.*free space, then run the same"
        ):
            revive(exc)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, mine)
