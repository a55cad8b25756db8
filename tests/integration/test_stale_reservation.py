"""A job a worker reserved and never started (killed between FireWorks marking it RESERVED and creating its launch)
is made READY again, so the campaign does not wait for it for ever; a reservation being made right now is left
alone. Real database server, FireWorks' own reservation step, a real worker that then runs the job."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_a_job_reserved_by_a_dead_worker_runs_again(db_server, tmp_path, monkeypatch):
    from fireworks import Firework, FWorker, ScriptTask, Workflow
    from fireworks.core.rocket_launcher import launch_rocket

    from pyacemaker.campaign.launchpad import ensure_launchpad, recover_lost, release_reservations
    from pyacemaker.db import DbTarget

    lp = DbTarget(db_server["uri"], "t_stale_reservation", "test server").launchpad()
    ensure_launchpad(lp)
    out = tmp_path / "ran.txt"
    fw = Firework(ScriptTask.from_str(f"echo ran >> {out}"), name="reserved job")
    lp.add_wf(Workflow([fw]))
    monkeypatch.chdir(tmp_path)  # where the worker below launches
    try:
        taken = lp._get_a_fw_to_run()  # what checkout_fw does first; the worker dies before the launch exists
        assert taken.fw_id == fw.fw_id
        assert lp.fireworks.find_one({"fw_id": fw.fw_id})["state"] == "RESERVED"
        assert release_reservations(lp, fw.fw_id) == []  # 30 s have not passed: maybe being checked out now
        assert launch_rocket(lp, FWorker()) is False  # no worker takes a RESERVED job
        assert recover_lost(lp, fw.fw_id, 600) == [] and release_reservations(
            lp, fw.fw_id, older_than_s=0
        ) == [fw.fw_id]
        assert lp.fireworks.find_one({"fw_id": fw.fw_id})["state"] == "READY"
        assert launch_rocket(lp, FWorker()) is True
        assert (
            lp.fireworks.find_one({"fw_id": fw.fw_id})["state"] == "COMPLETED" and out.read_text() == "ran\n"
        )
    finally:
        lp.db.client.drop_database("t_stale_reservation")
