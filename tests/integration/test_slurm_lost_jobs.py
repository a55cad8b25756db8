"""Jobs whose queue job ends under them are re-run without anyone watching, on a real one-node Slurm cluster:
a job killed by its walltime (Slurm's own ``TIMEOUT``) is seen from the queue's side by the controller
(``run_queue``), re-queued, and finishes on a second allocation; ``status`` shows each job's queue id and state."""

import os
import threading
import time

import pytest

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.launch import run_queue
from pyacemaker.campaign.launchpad import ensure_launchpad
from pyacemaker.campaign.queue import manager_config
from pyacemaker.campaign.queue_jobs import campaign_jobs, with_queue_states
from pyacemaker.config import parse_config, resolve
from pyacemaker.db import DbTarget
from tests.support import missing, slurm

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("slurm")]


def test_walltime_timeout_is_rerun_from_the_queue_view(db_server, tmp_path):
    from fireworks import Firework, ScriptTask, Workflow

    why = slurm.available()
    if why:
        missing(why)
    cfg, _ = resolve(parse_config({
        "elements": ["Cu"], "oracle": {"type": "emt"},
        "resources": {"label": {"cpus_per_task": 1, "mem": "100M", "walltime": "00:01:00"}},
    }))  # fmt: skip
    target = DbTarget(db_server["uri"], "slurm_timeout", "test server")
    lp = target.launchpad()
    ensure_launchpad(lp)
    mark, done = tmp_path / "first_attempt", tmp_path / "finished"
    # slower than its walltime the first time (as a job on a slow node), quick on the re-run
    script = f"if [ ! -e {mark} ]; then date +%s > {mark}; sleep 400; fi; echo $SLURM_JOB_ID >> {done}"
    fw = Firework(ScriptTask.from_str(script), name="slow-once", spec=manager_config(cfg, "tmo", "label"))
    ids = lp.add_wf(Workflow([fw], name="tmo"))
    root = min(ids.values())
    ctx = Context("tmo", cfg, tmp_path / "work")
    ctx.workdir.mkdir()
    seen: list[list[dict]] = []
    lines: list[str] = []
    with slurm.slurm_cluster(tmp_path / "slurm") as env:
        os.environ["SLURM_CONF"] = env["SLURM_CONF"]  # run_queue's squeue/sbatch calls
        try:
            stop = threading.Event()

            def watch() -> None:  # what `pyacemaker status` reads, while it runs
                while not stop.is_set():
                    jobs = with_queue_states(campaign_jobs(lp, [root]), "slurm")
                    seen.append([vars(j).copy() for j in jobs])
                    time.sleep(2)

            t = threading.Thread(target=watch, daemon=True)
            t.start()
            state = run_queue(target, ctx, root, system="slurm", poll_s=1, timeout_s=400, say=lines.append)
            stop.set()
            t.join(10)
        finally:
            os.environ.pop("SLURM_CONF", None)
        jobs = slurm.wait_finished(tmp_path / "slurm", 2)
    assert state == "COMPLETED", lines
    assert [j["JobState"] for j in jobs] == ["TIMEOUT", "COMPLETED"], jobs
    timed_out, second = jobs[0]["JobId"], jobs[1]["JobId"]
    assert any(f"job {timed_out} ended" in ln for ln in lines), lines  # the controller said why it re-ran
    assert done.read_text().split() == [second]  # the work finished once, on the second allocation
    fwdoc = lp.fireworks.find_one({"fw_id": root})
    assert fwdoc["state"] == "COMPLETED" and len(fwdoc["launches"]) + len(fwdoc["archived_launches"]) == 2
    # the status view showed the job running under the first queue job, then under the second
    running = [(j["queue_id"], j["queue_phase"]) for snap in seen for j in snap if j["fw_state"] == "RUNNING"]
    assert (timed_out, "running") in running, seen[-3:]
