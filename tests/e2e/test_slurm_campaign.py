"""A campaign worked only through a real one-node Slurm cluster with `pyacemaker launch`: each class's jobs are
queued by FireWorks' queue launcher with the class's own adapter and resources; light jobs run on the controller's
local worker. Slurm's finished-jobs log shows which allocation each class got. A running train job is
``scancel``-led mid-fit: the controller sees it from the queue's side and re-runs it, unattended (``status``'s view of
running queue jobs is tested in tests/integration/test_slurm_lost_jobs.py)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyacemaker.campaign.queue_jobs import queue_id
from pyacemaker.db import Database, DbTarget
from tests.conftest import run_cli
from tests.e2e.test_campaign import TINY
from tests.support import missing, slurm

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("slurm")]

RESOURCES = """
resources:
  label: {cpus_per_task: 1, mem: 300M, walltime: "00:10:00"}
  train: {cpus_per_task: 2, mem: 1G, walltime: "00:10:00"}
  explore: {cpus_per_task: 1, mem: 500M, walltime: "00:10:00"}
"""


def _running_train_job(fw_db) -> dict | None:
    """The campaign's train job once it runs under a Slurm job: its firework id and the queue id its launch
    directory recorded. Read from the database directly (milliseconds), so that the cancel lands early in the fit:
    found through ``status`` (seconds on a busy 2-core CI machine) the fit was sometimes over before the cancel."""
    fw = fw_db.fireworks.find_one(
        {"state": "RUNNING", "spec.pyacemaker_class": "train"}, {"fw_id": 1, "launches": 1}
    )
    if not fw or not fw.get("launches"):
        return None
    launch = fw_db.launches.find_one({"launch_id": max(fw["launches"])}, {"launch_dir": 1})
    qid = queue_id((launch or {}).get("launch_dir"))
    return {"fw_id": fw["fw_id"], "queue_id": qid} if qid else None


def test_campaign_through_slurm_with_per_class_allocations(db_server, tmp_path):
    why = slurm.available()
    if why:
        missing(why)
    cfg = tmp_path / "slurm_cu.yaml"
    cfg.write_text(TINY.replace("name: tiny_cu", "name: slurm_cu").replace("train: {", "train: {final_fit: false, ")
                   + RESOURCES)  # fmt: skip
    target = DbTarget(db_server["uri"], "slurm_campaign", "test server")
    db = Database.connect(target)
    exe = shutil.which("pyacemaker") or str(Path(sys.executable).with_name("pyacemaker"))
    with slurm.slurm_cluster(tmp_path / "slurm") as senv:
        env = {
            **os.environ,
            **senv,
            "PYACEMAKER_DB_URI": db_server["uri"],
            "PYACEMAKER_DB_NAME": "slurm_campaign",
        }
        proc = subprocess.Popen([exe, "launch", str(cfg), "--queue", "slurm", "--workdir", str(tmp_path / "work"),
                                 "--poll", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        try:
            cancelled = None
            end = time.monotonic() + 600
            while cancelled is None and proc.poll() is None and time.monotonic() < end:
                job = _running_train_job(db.db.client["slurm_campaign"])
                if job:
                    time.sleep(2)  # mid-fit (a fit takes ~20 s here)
                    subprocess.run(["scancel", job["queue_id"]], env=env, check=True, timeout=60)
                    cancelled = job
                time.sleep(0.5)
            out, errs = proc.communicate(timeout=1500)
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        slurm.wait_queue_empty(senv)
        final_jobs = json.loads(run_cli("status", "slurm_cu", "--json", env=env).stdout)["campaigns"][0][
            "jobs"
        ]
        jobs = slurm.finished_jobs(tmp_path / "slurm")
    done = db.campaign_doc("slurm_cu")
    assert proc.returncode == 0, out[-3000:] + errs[-3000:]
    assert cancelled is not None, "no train job was seen running under Slurm"
    assert "queued" in out and "train job" in out
    # the cancelled job was re-run by the controller, from the queue's view
    assert f"job {cancelled['queue_id']} ended (CANCELLED" in out, out[-6000:]
    fw = db.db.client["slurm_campaign"].fireworks.find_one({"fw_id": cancelled["fw_id"]})
    assert fw["state"] == "COMPLETED" and len(fw["archived_launches"]) >= 1
    assert done.state in ("converged", "stalled", "budget") and done.summary is not None
    assert len(done.iterations) >= 2 or done.state != "budget"
    by_class = {}
    for j in jobs:
        by_class.setdefault(j["Name"].rsplit("-", 1)[-1], set()).add(j["ProcCnt"])
    assert (
        by_class.get("train") == {"2"} and by_class.get("label") == {"1"} and by_class.get("explore") == {"1"}
    )
    assert "light" not in by_class  # select/decide never went through the queue
    # every heavy job of every iteration, the appended ones included, kept its class and ran in a queue job
    heavy = [j for j in final_jobs if j["name"].split()[0] in ("seed", "label", "train", "explore")]
    assert {j["name"].split()[-1].rstrip(")") for j in heavy} >= {"0", "1"}
    assert all(j["job_class"] != "light" and j["queue_id"] for j in heavy), heavy
    states = {j["JobId"]: j["JobState"] for j in jobs}
    assert states.pop(cancelled["queue_id"]) == "CANCELLED"
    assert set(states.values()) == {"COMPLETED"}, jobs
    labelled = db.records.count_documents({"campaign": "slurm_cu", "labels": {"$ne": None}})
    assert done.oracle_calls == labelled  # nothing labelled twice
