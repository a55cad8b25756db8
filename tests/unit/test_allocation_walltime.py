"""The time left in a batch allocation (Slurm's end time or ``squeue %L``, PBS/Torque's ``qstat -f``), the part of
it pw.x may use, and what happens when it runs out: pw.x's walltime handler stops instead of healing in place, and
``label`` hands back what it finished before (no pw.x needed here)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write

from pyacemaker.allocation import parse_hms, parse_pbs_time_left, parse_slurm_time_left, seconds_left
from pyacemaker.config import parse_config, resolve
from pyacemaker.oracle.base import Oracle, OracleFailure, OracleInterrupted, label
from pyacemaker.oracle.espresso import healing, pw
from pyacemaker.schemas.records import Provenance, StructureRecord


# ------------------------------------------------------------------------------------------- Slurm, PBS
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1-02:03:04", 93784.0),  # D-HH:MM:SS
        ("02:03:04", 7384.0),  # HH:MM:SS
        ("03:04", 184.0),  # MM:SS
        ("0:05", 5.0),
        ("  12:00:00\n", 43200.0),  # squeue's padding and newline
        ("2-00", 172800.0),  # D-HH
        ("2-01:30", 178200.0),  # D-HH:MM
        ("UNLIMITED", None),
        ("NOT_SET", None),
        ("INVALID", None),
        ("", None),
        ("soon", None),
    ],
)
def test_slurm_time_left(text, seconds):
    assert parse_slurm_time_left(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("01:00:00", 3600.0),
        ("48:00:00", 172800.0),
        ("10:30", 630.0),
        ("2977", 2977.0),
        ("", None),
        ("x:1", None),
    ],
)
def test_pbs_durations(text, seconds):
    assert parse_hms(text) == seconds


TORQUE = """Job Id: 123.server
    Job_Name = label
    Resource_List.walltime = 01:00:00
    resources_used.walltime = 00:10:00
    Walltime.Remaining = 2977
    job_state = R
"""
PBS_PRO = """Job Id: 456.pbs
    Job_Name = label
    Resource_List.ncpus = 4
    Resource_List.walltime = 02:00:00
    resources_used.cput = 00:40:00
    resources_used.walltime = 00:20:30
    job_state = R
"""
PBS_QUEUED = """Job Id: 457.pbs
    Resource_List.walltime = 00:30:00
    job_state = R
"""


def test_pbs_time_left():
    assert parse_pbs_time_left(TORQUE) == 2977.0  # Torque says it directly
    assert parse_pbs_time_left(PBS_PRO) == 2 * 3600 - (20 * 60 + 30)  # PBS Pro: limit minus used
    assert parse_pbs_time_left(PBS_QUEUED) == 1800.0  # nothing used yet
    assert parse_pbs_time_left("Job Id: 1\n    job_state = R\n") is None  # no walltime limit
    over = PBS_PRO.replace("00:20:30", "02:00:05")
    assert parse_pbs_time_left(over) == 0.0


class Ask:
    """A stand-in for the batch commands: records what was asked, answers a fixed text (None: the command
    failed)."""

    def __init__(self, answer: str | None):
        self.answer, self.asked = answer, []

    def __call__(self, cmd):
        self.asked.append(cmd)
        return self.answer


def test_seconds_left_from_the_environment_or_the_batch_system():
    now = 1_700_000_000.0
    ask = Ask("should not be asked")
    env = {"SLURM_JOB_ID": "42", "SLURM_JOB_END_TIME": str(int(now) + 900)}
    assert seconds_left(env, now=now, ask=ask) == 900.0 and ask.asked == []
    assert seconds_left({**env, "SLURM_JOB_END_TIME": str(int(now) - 5)}, now=now, ask=ask) == 0.0  # passed

    ask = Ask("   1:02:03\n")
    assert seconds_left({"SLURM_JOB_ID": "42"}, now=now, ask=ask) == 3723.0
    assert ask.asked == [["squeue", "-h", "-j", "42", "-o", "%L"]]
    assert seconds_left({"SLURM_JOBID": "43", "SLURM_JOB_END_TIME": "0"}, ask=Ask("UNLIMITED")) is None
    assert seconds_left({"SLURM_JOB_ID": "42"}, ask=Ask(None)) is None  # squeue missing or failing

    ask = Ask(TORQUE)
    assert seconds_left({"PBS_JOBID": "123.server"}, ask=ask) == 2977.0
    assert ask.asked == [["qstat", "-f", "123.server"]]
    assert seconds_left({"PBS_JOBID": "123.server"}, ask=Ask(None)) is None

    ask = Ask("01:00:00")
    assert seconds_left({"OMP_NUM_THREADS": "4"}, ask=ask) is None and ask.asked == []  # no allocation


def test_seconds_left_survives_a_missing_batch_command(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert seconds_left({"SLURM_JOB_ID": "42"}) is None
    assert seconds_left({"PBS_JOBID": "1.pbs"}) is None


# ------------------------------------------------------------------------------------------- pw.x's share
def test_pw_leaves_a_margin_of_a_minute_or_a_tenth():
    assert healing.time_budget(36000) == pytest.approx(32400)  # 10 h left: 1 h margin
    assert healing.time_budget(600) == pytest.approx(540)  # 10 min: the one-minute floor
    assert healing.time_budget(30) == pytest.approx(-30)  # nothing for pw.x
    assert healing.too_late(healing.MIN_RUN_S - 1) and not healing.too_late(healing.MIN_RUN_S + 1)
    assert not healing.too_late(None)  # no known walltime: never too late


def _rundir(d: Path, max_seconds: float | None = None) -> Path:
    write(d / pw.STRUCTURE, bulk("Si"), format="extxyz")
    oracle = {"type": "espresso", **({"max_seconds": max_seconds} if max_seconds else {})}
    cfg, _ = resolve(parse_config({"elements": ["Si"], "oracle": oracle}))
    (d / pw.SETTINGS).write_text(json.dumps(cfg.oracle.model_dump(mode="json")))
    (d / pw.OVERRIDES).write_text("{}")
    (d / pw.PW_OUT).write_text("     iteration #  3\n\n     Maximum CPU time exceeded\n")  # pw.x's banner
    pw.render(d)
    return d


def _max_seconds(d: Path) -> float | None:
    for line in (d / pw.PW_IN).read_text().splitlines():
        if line.strip().startswith("max_seconds"):
            return float(line.split("=")[1])
    return None


def test_the_allocation_caps_max_seconds_only_in_pw_in(tmp_path):
    d = _rundir(tmp_path, max_seconds=5000)
    assert _max_seconds(d) == 5000
    pw.render(d, max_seconds_cap=1234.5)
    assert _max_seconds(d) == 1234.5  # the allocation's time is shorter
    pw.render(d, max_seconds_cap=9999)
    assert _max_seconds(d) == 5000  # the configured limit is shorter
    assert pw.load_overrides(d) == {}  # the cap belongs to this run only
    (tmp_path / "none").mkdir()
    d2 = _rundir(tmp_path / "none")
    assert _max_seconds(d2) is None  # no limit configured: the allocation's time is the only one
    pw.render(d2, max_seconds_cap=600)
    assert _max_seconds(d2) == 600


def test_walltime_heals_in_place_while_the_allocation_has_time(tmp_path):
    d = _rundir(tmp_path, max_seconds=100)
    h = healing.WalltimeHandler(stop_by=time.time() + 3600)
    assert h.check(str(d))
    corr = h.correct(str(d))
    assert corr["actions"][0]["action"]["_set"] == {"restart_mode": "restart", "max_seconds": 150.0}


def test_walltime_stops_when_the_allocation_is_over(tmp_path):
    d = _rundir(tmp_path, max_seconds=100)
    before = sorted(p.name for p in d.iterdir())
    h = healing.WalltimeHandler(stop_by=time.time() + healing.MIN_RUN_S / 2)
    with pytest.raises(OracleInterrupted, match="stopped at max_seconds.*kept as it is"):
        h.correct(str(d))
    assert sorted(p.name for p in d.iterdir()) == before and pw.load_overrides(d) == {}  # left as it was


def test_walltime_without_a_configured_limit_sets_only_the_restart(tmp_path):
    d = _rundir(tmp_path)
    corr = healing.WalltimeHandler().correct(str(d))
    assert corr["actions"][0]["action"]["_set"] == {"restart_mode": "restart"}


def test_pw_job_is_not_launched_without_time(tmp_path):
    d = _rundir(tmp_path)
    job = healing.PwJob(["false"], stop_by=time.time() + 1)
    with pytest.raises(OracleInterrupted, match="not launched again"):
        job.run(str(d))


def test_restartable_needs_the_banner_and_the_saved_state(tmp_path):
    d = _rundir(tmp_path)
    assert not pw.restartable(d)  # the banner alone: nothing saved
    save = d / pw.OUTDIR / "pwscf.save"
    save.mkdir(parents=True)
    (save / "data-file-schema.xml").write_text("<qes/>")
    assert not pw.restartable(d)
    (save / "charge-density.dat").write_bytes(b"\0")
    assert pw.restartable(d)
    (d / pw.PW_OUT).write_text("convergence has been achieved in   7 iterations\n")
    assert not pw.restartable(d)  # no stop at max_seconds
    assert pw.same_structure(d, bulk("Si"))
    moved = bulk("Si")
    moved.positions[1] += 0.01
    assert not pw.same_structure(d, moved) and not pw.same_structure(tmp_path / "missing", bulk("Si"))


# ------------------------------------------------------------------------------------------- label()
class Interrupting(Oracle):
    """Labels a structure, rejects one with three atoms, and is interrupted on one with four."""

    name = "interrupting"

    def compute(self, atoms: Atoms, workdir: Path):
        if len(atoms) == 3:
            raise OracleFailure("three is a crowd")
        if len(atoms) == 4:
            raise OracleInterrupted("the allocation ended")
        return -1.0 * len(atoms), np.zeros((len(atoms), 3)), None, []

    def reference_energy(self, element: str, workdir: Path) -> float:
        return -1.0


def test_label_hands_back_what_it_finished_before_an_interruption(tmp_path):
    from pyacemaker.config.schema import OracleSettings

    def rec(n):
        a = Atoms(f"Cu{n}", positions=[[2.5 * i, 0, 0] for i in range(n)], cell=[20, 20, 20], pbc=True)
        return StructureRecord.new(a, "t", Provenance(origin="seed"), "selected")

    recs = [rec(1), rec(3), rec(4), rec(2)]
    with pytest.raises(OracleInterrupted) as info:
        label(recs, Interrupting(OracleSettings(type="emt")), tmp_path)
    done = info.value.done
    assert [r.id for r in done] == [recs[0].id, recs[1].id]  # the interrupted one and the rest: not there
    assert [r.status for r in done] == ["labelled", "rejected"]
    assert all(r.status == "selected" for r in recs)  # the inputs are untouched
