"""A worker stopped with SIGTERM while it holds a workflow's lock ends once the lock is released, never inside it
(``run`` stopping its workers used to leave the lock behind, and its own re-queue then waited out the expiry: 64 s
to exit after SIGTERM). Outside a lock it ends at once. Real database server, real FireWorks lock, a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.integration

HOLDER = textwrap.dedent("""
    import signal, sys, time
    from fireworks import Firework, ScriptTask, Workflow
    from fireworks.core.launchpad import WFLock
    from pyacemaker import fw_ids
    from pyacemaker.campaign.launchpad import ensure_launchpad
    from pyacemaker.db import DbTarget

    lp = DbTarget(sys.argv[1], sys.argv[2], "test server").launchpad()  # installs fw_ids
    ensure_launchpad(lp)
    fw = Firework(ScriptTask.from_str("true"), name="held")
    lp.add_wf(Workflow([fw]))
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, fw_ids.stop_outside_locks)
    print(fw.fw_id, flush=True)
    if sys.argv[3] == "in-lock":
        with WFLock(lp, fw.fw_id):
            print("locked", flush=True)
            time.sleep(3)  # the signal comes now
            print("releasing", flush=True)
    else:
        print("idle", flush=True)
        time.sleep(30)
    print("after", flush=True)
""")


def _start(db_server, name: str, mode: str) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, db_server["uri"], name, mode], stdout=subprocess.PIPE,
                         text=True)  # fmt: skip
    fw_id = int(p.stdout.readline())
    p.stdout.readline()  # "locked" / "idle"
    return p, fw_id


def test_sigterm_inside_a_workflow_lock_waits_for_its_release(db_server):
    from pyacemaker.db import DbTarget

    p, fw_id = _start(db_server, "t_stop_in_lock", "in-lock")
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGTERM)
    rest = p.stdout.read()
    rc = p.wait(30)
    lp = DbTarget(db_server["uri"], "t_stop_in_lock", "test server").launchpad()
    try:
        assert rc == 128 + signal.SIGTERM
        assert rest.splitlines() == ["releasing"]  # it finished the locked part, then stopped (no "after")
        assert lp.workflows.find_one({"nodes": fw_id}).get("locked") is None  # the lock was released
        assert time.monotonic() - t0 < 20
    finally:
        lp.db.client.drop_database("t_stop_in_lock")


def test_sigterm_outside_a_lock_ends_the_worker_at_once(db_server):
    from pyacemaker.db import DbTarget

    p, _ = _start(db_server, "t_stop_idle", "idle")
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGHUP)
    rc = p.wait(30)
    try:
        assert rc == 128 + signal.SIGHUP and time.monotonic() - t0 < 5
        assert p.stdout.read() == ""
    finally:
        DbTarget(db_server["uri"], "t_stop_idle", "test server").launchpad().db.client.drop_database(
            "t_stop_idle"
        )
