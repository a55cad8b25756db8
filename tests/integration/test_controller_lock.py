"""One controller per campaign (real database): a second one is refused with who holds the lock; a dead
controller's lock is taken over (stale heartbeat, or its pid gone on this host); the heartbeat keeps it fresh."""

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from pyacemaker.campaign.controller import ControllerBusy, acquire, controller_lock, release

pytestmark = pytest.mark.integration


def test_second_controller_is_refused_and_dead_ones_are_taken_over(db):
    db.update_campaign("lk", {"state": "running"})
    with controller_lock(db, "lk", "run", beat_s=0.2) as lock:
        first = db.campaigns.find_one({"_id": "lk"})["controller"]["heartbeat"]
        time.sleep(0.7)
        assert db.campaigns.find_one({"_id": "lk"})["controller"]["heartbeat"] > first  # heartbeat
        with pytest.raises(ControllerBusy, match=f"pid {os.getpid()} on host .* Stop that one first"):
            acquire(db, "lk", "launch")
    assert db.campaigns.find_one({"_id": "lk"})["controller"] is None  # released on exit
    # a controller that died elsewhere: taken over once its heartbeat is stale
    lock = acquire(db, "lk", "run")
    old = datetime.now(UTC) - timedelta(seconds=600)
    db.campaigns.update_one(
        {"_id": "lk"}, {"$set": {"controller.heartbeat": old, "controller.host": "elsewhere"}}
    )
    taken = acquire(db, "lk", "run")
    assert taken["token"] != lock["token"]
    # a controller of this host whose process is gone: taken over at once
    dead = subprocess.Popen(["true"])
    dead.wait()
    db.campaigns.update_one({"_id": "lk"}, {"$set": {"controller.pid": dead.pid}})
    assert acquire(db, "lk", "run")["token"] != taken["token"]
    release(db, "lk", lock)  # a lock that was taken over is not released by its old holder
    assert db.campaigns.find_one({"_id": "lk"})["controller"] is not None


def test_two_campaigns_starting_at_once_on_a_fresh_database_keep_both(db_server):
    """Two controllers creating their campaigns at the same moment on an empty database: both workflows stay, with
    distinct firework ids (FireWorks' reset would wipe the first one's)."""
    import threading

    from fireworks import Firework, ScriptTask, Workflow

    from pyacemaker.campaign.launchpad import ensure_launchpad
    from pyacemaker.db import DbTarget

    target = DbTarget(db_server["uri"], "fresh_race", "test server")
    barrier, added = threading.Barrier(4), []

    def start(k: int) -> None:
        lp = target.launchpad()
        barrier.wait()
        ensure_launchpad(lp)
        added.append(lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name=f"c{k}")])))

    threads = [threading.Thread(target=start, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    lp = target.launchpad()
    assert lp.workflows.count_documents({}) == 4 and lp.fw_id_assigner.count_documents({}) == 1
    ids = [i for m in added for i in m.values()]
    assert len(set(ids)) == 4


def test_a_workflow_lock_left_by_a_killed_worker_is_taken_over(db_server, monkeypatch):
    """A worker killed while it held FireWorks' workflow lock: re-queuing the workflow's job waits the expiry, then
    takes the lock over (it used to fail with LockedWorkflowError for good)."""
    from fireworks import Firework, ScriptTask, Workflow

    from pyacemaker import fw_ids
    from pyacemaker.campaign.launchpad import ensure_launchpad
    from pyacemaker.db import DbTarget

    monkeypatch.setattr(fw_ids, "WFLOCK_EXPIRE_S", 1)
    lp = DbTarget(db_server["uri"], "wflock", "test server").launchpad()
    fw_ids.install()
    ensure_launchpad(lp)
    fw = Firework(ScriptTask.from_str("true"), name="locked")
    lp.add_wf(Workflow([fw]))
    lp.workflows.update_one({"nodes": fw.fw_id}, {"$set": {"locked": True}})  # as a killed worker leaves it
    lp.rerun_fw(fw.fw_id)
    assert lp.workflows.find_one({"nodes": fw.fw_id}).get("locked") is None
    fw_ids.WFLOCK_EXPIRE_S = 60
    fw_ids.install()
