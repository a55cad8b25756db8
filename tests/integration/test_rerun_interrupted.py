"""A job that stopped because its allocation's time ran out (OracleInterrupted), or met the database server's own
"internal server error", is re-queued by the controller; a job that failed for real stays failed. Real FireWorks
launches on the real database server."""

from fireworks import Firework, PyTask, Workflow
from fireworks.core.rocket_launcher import launch_rocket

from pyacemaker.campaign.launchpad import ensure_launchpad, fizzle_reasons, rerun_transient
from pyacemaker.db import DbTarget


def test_only_interrupted_jobs_are_requeued(db_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lp = DbTarget(db_server["uri"], "rerun_transient", "test server").launchpad()
    ensure_launchpad(lp)
    fws = [
        Firework(PyTask(func=f"tests.support.jobs.{name}"), name=name)
        for name in ("interrupted", "server_error", "broken")
    ]
    lp.add_wf(Workflow(fws, name="two"))
    for _ in fws:
        launch_rocket(lp)
    fw_id = {fw.name: fw.fw_id for fw in fws}  # add_wf gave them their ids
    assert {lp.get_fw_by_id(i).state for i in fw_id.values()} == {"FIZZLED"}
    assert "OracleInterrupted" in fizzle_reasons(lp, [fw_id["interrupted"]])[0]
    assert sorted(rerun_transient(lp, min(fw_id.values()))) == sorted(
        [fw_id["interrupted"], fw_id["server_error"]]
    )
    assert lp.get_fw_by_id(fw_id["interrupted"]).state == "READY"
    assert lp.get_fw_by_id(fw_id["server_error"]).state == "READY"
    assert lp.get_fw_by_id(fw_id["broken"]).state == "FIZZLED"
    assert rerun_transient(lp, min(fw_id.values())) == []
