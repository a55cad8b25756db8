"""Re-runs repeat no finished label; pw.x restarts from its saved state after a walltime kill.

Inside a Slurm allocation about to end, real pw.x stops at ``max_seconds`` before the end with its state saved; the
label job ends unfinished (OracleInterrupted) with the structure neither labelled, nor rejected, nor counted. The
next run of the job continues pw.x from that state (``restart_mode='restart'``: QE prints ``The initial density is
read from file`` and ``Calculation restarted from scf iteration #`` or, when it stopped within the first iteration,
``... from kpoint #``), labels it as a clean run would, and counts it once."""

from __future__ import annotations

import re
import shutil
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.stages.label import label_stage
from pyacemaker.config import parse_config, resolve
from pyacemaker.oracle.base import OracleFailure, OracleInterrupted
from pyacemaker.oracle.emt import EMTOracle
from pyacemaker.oracle.espresso import healing, pw
from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.schemas.stages import Selection
from tests.support import missing

pytestmark = pytest.mark.integration

# Si2 on a coarse grid with a tight threshold: about 10 SCF iterations in 2 s of pw.x's own time on one core.
FAST = {"type": "espresso", "kspacing": 0.8, "ecutwfc": 40.0, "conv_thr_per_atom": 1e-11}


def _pw_wall_s(workdir: Path) -> float:
    """pw.x's own wall time for the whole run. Timing the call in Python would round it up to custodian's 1 s
    polling step (a 0.7 s run measures 1 s or 2 s), and a window derived from that can outlast pw.x."""
    found = re.search(r"PWSCF\s*:.*?([0-9.]+)s WALL", pw.read_text(workdir / pw.PW_OUT))
    assert found, "pw.x printed no PWSCF wall time"
    return float(found.group(1))


@pytest.fixture(scope="module", autouse=True)
def need_pw():
    if shutil.which("pw.x") is None:
        msg = "pw.x not installed (scripts/setup.sh installs quantum-espresso when run as root)"
        missing(msg)


@pytest.fixture(autouse=True)
def no_allocation(monkeypatch):
    """Each test says which allocation it runs in (a CI job inside Slurm must not leak its own)."""
    for key in ("SLURM_JOB_ID", "SLURM_JOBID", "SLURM_JOB_END_TIME", "PBS_JOBID"):
        monkeypatch.delenv(key, raising=False)


def _campaign(db, workdir: Path, config: dict, structures: list[Atoms]):
    cfg, _ = resolve(parse_config(config))
    ctx = Context("wt", cfg, workdir)
    recs = [StructureRecord.new(a, "wt", Provenance(origin="seed"), "selected") for a in structures]
    db.insert_records(recs)
    return ctx, Selection(ids=[r.id for r in recs], origin="seed"), recs


def _state(db, ids):
    return [(r.status, r.labels is None, r.reject_reason) for r in db.get_records(ids)]


def test_pw_stopped_by_the_allocation_end_is_continued_by_the_next_run(db, tmp_path, monkeypatch):
    rattled = bulk("Si")
    rattled.rattle(0.05, seed=1)
    ctx, sel, recs = _campaign(
        db, tmp_path / "campaign", {"elements": ["Si"], "oracle": FAST}, [rattled, bulk("Si", a=5.5)]
    )
    reference, _ = ctx.oracle.run_pw(rattled, tmp_path / "reference")  # the same structure, uninterrupted
    t_ref = _pw_wall_s(tmp_path / "reference")
    first = ctx.iter_dir(0, "label") / recs[0].hash[:16]
    second = ctx.iter_dir(0, "label") / recs[1].hash[:16]

    # Job 1: its Slurm allocation ends after half of what the whole pw.x run takes on this machine (~1 s). The
    # margin shrinks with it (a real one keeps at least 60 s, which would leave pw.x nothing here), so pw.x
    # starts, and stops at max_seconds before the end, mid-SCF.
    window = 0.5 * t_ref
    monkeypatch.setattr(healing, "MARGIN_MIN_S", 0.0)
    monkeypatch.setattr(healing, "MARGIN_FRACTION", 0.0)
    monkeypatch.setattr(healing, "MIN_RUN_S", 0.05)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_JOB_END_TIME", f"{time.time() + window:.3f}")
    t0 = time.perf_counter()
    with pytest.raises(OracleInterrupted, match="stopped at max_seconds with its state saved.*kept as it is"):
        label_stage(db, ctx, sel, 0, 1, 0)
    assert time.perf_counter() - t0 < 10  # well before a real walltime kill would have come
    out = pw.read_text(first / pw.PW_OUT)
    assert "Maximum CPU time exceeded" in out and pw.CONVERGED not in out
    assert re.search(r"Calculation stopped in scf loop at iteration #\s+\d+", out)
    assert (
        0 < float(re.search(r"max_seconds\s*=\s*([0-9.]+)", pw.read_text(first / pw.PW_IN)).group(1)) < window
    )
    assert pw.restartable(first)  # the restart state is in the outdir
    assert (first / pw.OUTDIR / "pwscf.restart_scf").is_file()
    assert (first / pw.OUTDIR / "pwscf.save" / "charge-density.dat").is_file()
    assert not (second / pw.PW_OUT).exists()  # the batch stopped: the next structure was not started
    assert _state(db, sel.ids) == [("selected", True, None)] * 2  # neither labelled nor rejected
    assert db.campaign_doc("wt").oracle_calls == 0  # nor counted

    # Job 2: a new allocation (no known end): pw.x continues from the saved state, the next structure runs.
    for key in ("SLURM_JOB_ID", "SLURM_JOB_END_TIME"):
        monkeypatch.delenv(key)
    done = label_stage(db, ctx, sel, 0, 1, 0)
    assert done.labelled == sel.ids and done.rejected == [] and done.oracle_calls == 2
    out = pw.read_text(first / pw.PW_OUT)
    assert "The initial density is read from file" in out
    # from the SCF iteration it stopped in, or from the k-point it stopped at when that was still the first
    assert re.search(r"Calculation restarted from (scf iteration|kpoint) #\s+\d+", out)
    with tarfile.open(first / "error.1.tar.gz") as tar:  # the interrupted run's input and output are kept
        kept = {Path(m.name).name: m for m in tar.getmembers()}
        assert "Maximum CPU time exceeded" in tar.extractfile(kept[pw.PW_OUT]).read().decode()
        assert "max_seconds" in tar.extractfile(kept[pw.PW_IN]).read().decode()
    rec = db.get_records([recs[0].id])[0]
    assert rec.status == "labelled" and rec.reject_reason is None
    assert rec.labels.energy == pytest.approx(reference.energy, abs=1e-5)  # the label a clean run gives
    assert np.allclose(rec.labels.forces, reference.forces, atol=1e-4)
    assert [c.handler for c in rec.labels.corrections] == ["WalltimeHandler"]  # the continuation, on record
    assert rec.labels.corrections[0].action == {"restart_mode": "restart"}
    assert "allocation ended" in rec.labels.corrections[0].error
    doc = db.campaign_doc("wt")
    assert doc.oracle_calls == 2 and doc.iterations["0"].oracle_calls == 2  # each structure counted once

    # Job 3 (a re-run of a finished job): nothing is computed again, nothing counted again.
    again = label_stage(db, ctx, sel, 0, 1, 0)
    assert again.reused == 2 and again.oracle_calls == 0 and db.campaign_doc("wt").oracle_calls == 2


class InterruptedOnce(EMTOracle):
    """EMT, except that a four-atom structure is interrupted the first time and a three-atom one is rejected."""

    calls: list[int]

    def compute(self, atoms: Atoms, workdir: Path):
        self.calls.append(len(atoms))
        if len(atoms) == 3:
            raise OracleFailure("three is a crowd")
        if len(atoms) == 4 and self.calls.count(4) == 1:
            raise OracleInterrupted("the allocation ended")
        return super().compute(atoms, workdir)


def test_finished_labels_and_rejections_are_kept_and_counted_once(db, tmp_path):
    def cu(n: int) -> Atoms:
        return Atoms(f"Cu{n}", positions=[[2.5 * i, 0, 0] for i in range(n)], cell=[12, 12, 12], pbc=True)

    ctx, sel, recs = _campaign(
        db, tmp_path, {"elements": ["Cu"], "oracle": {"type": "emt"}}, [cu(1), cu(3), cu(4), cu(2)]
    )
    oracle = InterruptedOnce(ctx.config.oracle)
    oracle.calls = []
    ctx.__dict__["oracle"] = oracle  # the campaign's oracle, as Context.oracle would make it
    with pytest.raises(OracleInterrupted):
        label_stage(db, ctx, sel, 0, 1, 0)
    assert oracle.calls == [1, 3, 4]
    assert [s for s, _, _ in _state(db, sel.ids)] == ["labelled", "rejected", "selected", "selected"]
    assert db.campaign_doc("wt").oracle_calls == 2  # what finished before the interruption

    out = label_stage(db, ctx, sel, 0, 1, 0)
    assert oracle.calls == [1, 3, 4, 4, 2]  # the labelled and the rejected one are not recomputed
    assert out.labelled == [recs[2].id, recs[3].id] and out.reused == 1 and out.oracle_calls == 2
    assert [r.id for r in out.rejected] == [recs[1].id] and out.rejected[0].reason == "three is a crowd"
    assert db.campaign_doc("wt").oracle_calls == 4  # four structures, four oracle calls
