"""Per-class resources on a real one-node Slurm cluster: jobs of the label and train classes, carrying the specs
pyacemaker gives them, are queued by FireWorks' ``qlaunch`` (reservation mode) and get their class's allocation
(read back from Slurm's own finished-jobs log and from inside the jobs)."""

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from fireworks import Firework, LaunchPad, ScriptTask, Workflow

from pyacemaker.campaign.queue import manager_config, qadapter
from pyacemaker.config import parse_config, resolve
from tests.support import missing, slurm

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("slurm")]


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).with_name(name))


@pytest.fixture
def cluster(tmp_path):
    why = slurm.available()
    if why:
        missing(why)
    with slurm.slurm_cluster(tmp_path / "slurm") as env:
        yield tmp_path / "slurm", env


def test_each_class_runs_with_its_own_allocation(cluster, db_server, tmp_path):
    sdir, env = cluster
    cfg, _ = resolve(parse_config({
        "elements": ["Cu"], "oracle": {"type": "emt"},
        "resources": {"label": {"cpus_per_task": 1, "mem": "100M", "walltime": "00:05:00"},
                      "train": {"cpus_per_task": 2, "mem": "200M", "walltime": "00:05:00"}},
    }))  # fmt: skip
    lp_file = tmp_path / "my_launchpad.yaml"
    lp_file.write_text(yaml.safe_dump({"host": db_server["uri"], "name": "slurm_classes", "uri_mode": True}))
    lp = LaunchPad.from_file(str(lp_file))
    lp.reset(datetime.now().strftime("%Y-%m-%d"), require_password=False)
    record = "echo $SLURM_JOB_ID $SLURM_CPUS_PER_TASK > allocation.txt"
    fws = [Firework(ScriptTask.from_str(record), name=cls, spec=manager_config(cfg, "slurm_classes", cls))
           for cls in ("label", "train")]  # fmt: skip
    lp.add_wf(Workflow(fws, name="classes"))
    fworker = tmp_path / "my_fworker.yaml"
    fworker.write_text(yaml.safe_dump({"name": "slurm-test", "category": "",
                                       "query": '{"spec.pyacemaker_campaign": "slurm_classes"}'}))  # fmt: skip
    launches = tmp_path / "launches"
    launches.mkdir()
    rocket = f"{_tool('rlaunch')} -l {lp_file} -w {fworker} singleshot"
    qa = qadapter(cfg.resources.light, "slurm", rocket, str(tmp_path / "logs"), "pyacemaker")
    (tmp_path / "logs").mkdir()
    qa_file = tmp_path / "my_qadapter.yaml"
    qa_file.write_text(yaml.safe_dump(qa))
    run = subprocess.run([_tool("qlaunch"), "-r", "-l", str(lp_file), "-w", str(fworker), "-q", str(qa_file),
                          "rapidfire", "--nlaunches", "2", "--sleep", "1", "-m", "4"],
                         cwd=launches, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    for _ in range(300):
        states = {fw["name"]: fw["state"] for fw in lp.fireworks.find({}, {"name": 1, "state": 1})}
        if set(states.values()) == {"COMPLETED"}:
            break
        time.sleep(0.5)
    assert set(states.values()) == {"COMPLETED"}, (states, (sdir / "slurmctld.log").read_text()[-2000:])
    inside = {p.read_text().split()[1] for p in launches.rglob("allocation.txt")}
    assert inside == {"1", "2"}  # SLURM_CPUS_PER_TASK inside the label and the train job
    for _ in range(50):  # slurmctld writes the finished-jobs log a moment after the job ends
        jobs = slurm.finished_jobs(sdir)
        if len(jobs) == 2:
            break
        time.sleep(0.2)
    procs = {j["Name"]: j["ProcCnt"] for j in jobs}
    assert procs == {"label": "1", "train": "2"}, jobs
