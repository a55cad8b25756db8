"""A campaign worked only through a real one-node Slurm cluster with `pyacemaker launch`: each class's jobs are
queued by FireWorks' queue launcher with the class's own adapter and resources; light jobs run on the controller's
local worker. Slurm's finished-jobs log shows which allocation each class got."""

import os

import pytest

from pyacemaker.db import Database, DbTarget
from tests.conftest import run_cli
from tests.e2e.test_campaign import TINY
from tests.support import slurm

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RESOURCES = """
resources:
  label: {cpus_per_task: 1, mem: 300M, walltime: "00:10:00"}
  train: {cpus_per_task: 2, mem: 1G, walltime: "00:10:00"}
  explore: {cpus_per_task: 1, mem: 500M, walltime: "00:10:00"}
"""


def test_campaign_through_slurm_with_per_class_allocations(db_server, tmp_path):
    why = slurm.available()
    if why:
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)
    cfg = tmp_path / "slurm_cu.yaml"
    cfg.write_text(TINY.replace("name: tiny_cu", "name: slurm_cu").replace("train: {", "train: {final_fit: false, ")
                   + RESOURCES)  # fmt: skip
    target = DbTarget(db_server["uri"], "slurm_campaign", "test server")
    db = Database.connect(target)
    with slurm.slurm_cluster(tmp_path / "slurm") as env:
        env = {**env, "PYACEMAKER_DB_URI": db_server["uri"], "PYACEMAKER_DB_NAME": "slurm_campaign"}
        r = run_cli("launch", str(cfg), "--queue", "slurm", "--workdir", str(tmp_path / "work"), "--poll", "1",
                    env=env, timeout=1500)  # fmt: skip
        jobs = slurm.finished_jobs(tmp_path / "slurm")
    done = db.campaign_doc("slurm_cu")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "queued" in r.stdout and "train job" in r.stdout
    assert done.state in ("converged", "stalled", "budget") and done.summary is not None
    assert len(done.iterations) >= 2 or done.state != "budget"
    by_class = {}
    for j in jobs:
        by_class.setdefault(j["Name"].rsplit("-", 1)[-1], set()).add(j["ProcCnt"])
    assert (
        by_class.get("train") == {"2"} and by_class.get("label") == {"1"} and by_class.get("explore") == {"1"}
    )
    assert "light" not in by_class  # select/decide never went through the queue
    assert all(j["JobState"] == "COMPLETED" for j in jobs), jobs
    labelled = db.records.count_documents({"campaign": "slurm_cu", "labels": {"$ne": None}})
    assert done.oracle_calls == labelled  # nothing labelled twice
