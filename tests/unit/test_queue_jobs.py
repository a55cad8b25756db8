"""The queue's view of a campaign's jobs: scheduler output parsed into states, states into five words, and the
rule that only a RUNNING firework whose queue job has ended is re-run (never when the scheduler did not answer)."""

from pathlib import Path

import pytest

from pyacemaker.app.jobs_view import counts_line, jobs_table
from pyacemaker.campaign import queue_jobs as qj


@pytest.mark.parametrize(
    ("system", "raw", "want"),
    [
        ("slurm", "PENDING", "pending"), ("slurm", "RUNNING", "running"), ("slurm", "COMPLETING", "running"),
        ("slurm", "COMPLETED", "finished"), ("slurm", "TIMEOUT", "failed"), ("slurm", "CANCELLED by 0", "failed"),
        ("slurm", "CANCELLED+", "failed"), ("slurm", "NODE_FAIL", "failed"), ("slurm", "OUT_OF_MEMORY", "failed"),
        ("slurm", None, "gone"), ("pbs", "Q", "pending"), ("pbs", "R", "running"), ("pbs", "F", "finished"),
        ("pbs", None, "gone"),
    ],
)  # fmt: skip
def test_phase_of_scheduler_states(system, raw, want):
    assert qj.phase(system, raw) == want


def test_parse_squeue_sacct_and_qstat():
    assert qj.parse_pairs("12|RUNNING\n13|PENDING\n14.batch|COMPLETED\n\n") == {
        "12": "RUNNING",
        "13": "PENDING",
    }
    qstat = "Job Id: 7.server\n    Job_Name = x\n    job_state = R\nJob Id: 8.server\n    job_state = F\n"
    assert qj.parse_qstat(qstat) == {"7.server": "R", "8.server": "F"}


def test_queue_id_is_read_from_the_launch_directory(tmp_path: Path):
    assert qj.queue_id(tmp_path) is None and qj.queue_id(None) is None
    (tmp_path / qj.QUEUE_ID_FILE).write_text("4242\n")
    assert qj.queue_id(tmp_path) == "4242"
    assert qj.QUEUE_ID_FILE in qj.RECORD_QUEUE_ID and "SLURM_JOB_ID" in qj.RECORD_QUEUE_ID


class _Coll:
    """find/find_one on one '$in' key: all the queries of campaign_jobs and rerun_ended."""

    def __init__(self):
        self.docs = []

    def insert_one(self, doc):
        self.docs.append(doc)

    def find(self, query, projection=None):
        ((key, cond),) = query.items()
        ok = cond["$in"] if isinstance(cond, dict) else [cond]
        return [d for d in self.docs if d[key] in ok]

    def find_one(self, query, projection=None):
        return next(iter(self.find(query)), None)


class _LP:
    """The two collections rerun_ended reads, and rerun_fw (a unit test of the rule, not of FireWorks)."""

    def __init__(self):
        self.fireworks, self.launches, self.reruns = _Coll(), _Coll(), []

    def rerun_fw(self, fw_id):
        self.reruns.append(fw_id)


def _lp(tmp_path: Path) -> _LP:
    lp = _LP()
    for fw_id, state, qid in (
        (1, "RUNNING", "10"),
        (2, "RUNNING", "11"),
        (3, "COMPLETED", "12"),
        (4, "RUNNING", None),
    ):
        d = tmp_path / f"l{fw_id}"
        d.mkdir()
        if qid:
            (d / qj.QUEUE_ID_FILE).write_text(qid)
        lp.launches.insert_one({"launch_id": fw_id, "launch_dir": str(d)})
        lp.fireworks.insert_one({"fw_id": fw_id, "name": f"job{fw_id}", "state": state, "launches": [fw_id],
                                 "spec": {"pyacemaker_class": "label"}})  # fmt: skip
    return lp


def test_only_running_jobs_whose_queue_job_ended_are_rerun(tmp_path, monkeypatch):
    lp = _lp(tmp_path)
    monkeypatch.setattr(qj, "queue_states", lambda system, ids, env=None: {"10": "RUNNING", "11": "TIMEOUT"})
    ended = qj.rerun_ended(lp, [1, 2, 3, 4], "slurm")
    assert [j.fw_id for j in ended] == [2] and lp.reruns == [2] and ended[0].queue_state == "TIMEOUT"
    monkeypatch.setattr(qj, "queue_states", lambda system, ids, env=None: {})  # forgotten by the queue
    assert [j.fw_id for j in qj.rerun_ended(lp, [1, 2, 3, 4], "slurm")] == [1, 2]


def test_nothing_is_rerun_when_the_scheduler_does_not_answer(tmp_path, monkeypatch):
    lp = _lp(tmp_path)
    monkeypatch.setattr(qj, "queue_states", lambda system, ids, env=None: None)
    assert qj.rerun_ended(lp, [1, 2, 3, 4], "slurm") == [] and lp.reruns == []
    jobs = qj.with_queue_states(qj.campaign_jobs(lp, [1, 2, 3, 4]), "slurm")
    assert [j.queue_phase for j in jobs] == ["unknown", "unknown", "unknown", None]


def test_scheduler_missing_means_no_answer(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert qj.queue_states("slurm", ["1"]) is None and qj.queue_states("pbs", ["1"]) is None
    assert qj.queue_states("slurm", []) == {}


def test_jobs_table_and_counts_line(tmp_path, monkeypatch):
    from rich.console import Console

    lp = _lp(tmp_path)
    monkeypatch.setattr(qj, "queue_states", lambda system, ids, env=None: {"10": "RUNNING", "11": "TIMEOUT"})
    jobs = [vars(j) for j in qj.with_queue_states(qj.campaign_jobs(lp, [1, 2, 3, 4]), "slurm")]
    assert counts_line(jobs) == "label: 1 completed, 3 running"
    console = Console(width=200, record=True)
    console.print(jobs_table(jobs))
    text = console.export_text()
    assert (
        "failed (TIMEOUT)" in text and "job2" in text and "job3" not in text
    )  # finished jobs only with --jobs
    console.print(jobs_table(jobs, everything=True))
    assert "job3" in console.export_text()
