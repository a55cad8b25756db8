"""Fault benchmark: inject each fault for real into small EMT campaigns and check what the database holds at the end.

    python benchmarks/faults.py [--trials N] [--only NAME[,NAME]] [--list] [--workdir DIR] [--keep]

Every trial is a fresh, tiny ``pyacemaker run`` of Cu with ASE's EMT as the oracle (``tiny_variant`` of
``tests/e2e/test_campaign.py``: one iteration, no final fit, about 1 min on 2 cores; the faults that need a second
label or explore stage to land in use the same campaign with ``budget.max_iterations: 2``; the DFT faults a tiny
Si campaign with real pw.x, ``QE_TINY``: 8 pw.x runs, about 90 s), with its own
``PYACEMAKER_DATA_DIR`` (its own embedded database daemon) in a temporary directory. The fault is injected for real
(signals to the real processes, a file truncated on disk, a file-size limit on the real processes), then the run
goes on by itself or the documented user action follows (running the same command again: the ``action`` column
of ``--list`` and the note column of the table), and the campaign's end state is read from its database.

Columns (summed over trials; wall time: mean per trial, injection and user action included):

- **recovered**: the campaign reached an end state (campaign document ``state`` in converged/stalled/budget and
  ``stage`` done) without manual repair, or after the documented user action for that fault (running the same
  command again), which the note column names. Some faults add a condition, said in their note (two controllers
  of one campaign: the second must be refused with exit code 2).
- **records lost**: labelled records the campaign counted that are missing or carry no labels in ``records``: the
  ids in the stored potentials' ``dataset_ids`` and ``test_ids`` that are missing or unlabelled, plus the excess of
  the per-iteration oracle calls (sum of ``iterations.<n>.oracle_calls``) over the distinct non-test records that
  were labelled or rejected by the oracle.
- **labels duplicated**: the campaign's ``oracle_calls`` minus the number of distinct records that were labelled or
  rejected by the oracle (test-set records included), when positive. (A count the records cannot account for shows
  in both columns: the database alone cannot tell a lost label from a call counted twice.)
- **wrong labels**: every labelled record (``StructureRecord.to_atoms``) recomputed from scratch by its oracle; a
  record whose energy (eV) or any force component (eV/A) differs by more than 1e-6 (EMT), 1e-4 eV and 1e-3 eV/A
  (pw.x: the SCF's own precision) is wrong.
- **oracle calls over budget**: max(0, training labels - ``budget.max_oracle_calls``), training labels being
  ``oracle_calls`` less the held-out test set's (``test_oracle_calls``: the budget is the training labels', the
  test set is counted apart; shown in the note when it matters).

Faults (``--list`` prints them with their documented user action; "none": the same ``run`` must recover alone,
as README.md promises for lost workers and a killed database daemon):

- ``kill_worker_label`` / ``kill_worker_train`` / ``kill_worker_explore``: SIGKILL of the local ``rlaunch`` worker
  (a child of the run process) whose job is RUNNING in that stage, found through the launch's worker token
  (``fworker.env.pyacemaker_worker``) and the worker's ``my_fworker_<i>.yaml``; train: once pacemaker runs. A kill
  that lands after the job completed is a miss and the trial aims at the next such job. Action: none.
- ``kill_worker_wflock``: SIGKILL of the worker whose job changed state last while the workflow carries FireWorks'
  ``locked`` flag (WFLock, held around every checkout and completion); a hit leaves the flag set with its holder
  dead (checked 3 and 6 s later), else the next lock is aimed at (at most 4 kills). Action: none.
- ``kill_db``: SIGKILL of the embedded database daemon (pid in ``$PYACEMAKER_DATA_DIR/server.json``) while the fit
  runs. Action: none (``run`` restarts it).
- ``sigterm_run`` (while a label job runs) / ``sighup_run`` (while pacemaker runs): the signal to ``run``; it must
  exit (143/129) with its workers; action: the same command again.
- ``two_runs_one_campaign``: a second ``run`` of the campaign while the first holds it: it must be refused with exit
  code 2 (counted in "recovered"), the first must finish. Action: none.
- ``two_campaigns``: two campaigns started at once on one database daemon (one data directory); each job must run
  in its own campaign's directory. Action: none.
- ``four_workers``: ``--workers 4`` with ``workers.label_batches: 4``. Action: none.
- ``budget_parallel``: ``budget.max_oracle_calls: 4`` (the campaign has 6 seeds) with 4 label batches worked by 4
  workers at once. Action: none.
- ``hanging_md``: the worker running an explore job (ASE MD runs in the worker's process) frozen with SIGSTOP, with
  ``workers.lost_after_s: 180``: it stops pinging, and ``run`` must kill it and re-run the job. Action: none.
- ``hanging_pw``: a real pw.x of a label job frozen with SIGSTOP, ``oracle.timeout_s: 45``: SIGTERM at the limit,
  SIGKILL after the grace period, the structure rejected as ``pw.x timeout``. Action: none.
- ``pw_killed_mid_write``: a real pw.x and its worker SIGKILLed while pw.x writes the end of its output (its output
  has the forces, not yet the stress nor ``JOB DONE``: found by reading ``pw.out`` every 2 ms); the re-run must
  keep the cut output as ``pw.out.incomplete`` and run pw.x again. Action: none.
- ``truncated_potential``: ``iter_000/train/output_potential.yace`` truncated to half as soon as iteration 0's
  potential is stored; the next load must fetch it again from the database (``iter_000/potential/``). Action: none.
- ``hanging_fit``: pacemaker SIGSTOPped with ``train.timeout_s: 150`` in the config (read back from
  ``pyacemaker config``; a row "not available" when the option does not exist); the limit must end it. Iteration
  0 has no previous potential to keep, so its job fails: action: the same command again.
- ``disk_full`` / ``disk_full_db``: RLIMIT_FSIZE of 2048 bytes (``resource.prlimit``, no root needed) on the run,
  its workers and pacemaker while pacemaker writes (the potential files are 2.3-3.6 kB: they cannot be written
  whole), ``disk_full_db`` on the database daemon too (its data on the same full filesystem); lifted after 90 s
  or when the run ends (space freed). Action: the same command again. When ``disk_full_db`` has not ended after
  it, ``pyacemaker db stop`` and the command once more are tried and reported, not counted as recovered.

The note also says where each injection landed, the exit codes (with the line saying why a run failed), and
checks beyond the columns: processes left over, a workflow left locked, and whether the stored potential files and
the file the campaign names as its potential (``summary.potential_path``) match their sha256. The header names the
pyacemaker commit the runs used (the tree may change while the benchmark runs). Trials that did not recover keep
their directory (``--keep``: all), and their exit codes, last output lines and database state are printed under
the table. Every process started here (the ``run`` commands, their workers and codes, the database daemons) is
stopped on every exit path; the exit code is 0 only when every row recovered with all counts 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from faultsuite.audit import Audit, audit, failure_report
from faultsuite.hangs import disk_full, hanging_fit, hanging_md, hanging_pw, pw_killed_mid_write
from faultsuite.jobs import (
    Outcome,
    budget_parallel,
    four_workers,
    kill_db,
    kill_worker,
    kill_worker_wflock,
    signal_run,
    truncated_potential,
    two_campaigns,
    two_runs_one_campaign,
)
from faultsuite.procs import cmdline, processes_using
from faultsuite.trial import (
    FSIZE_LIMIT,
    HANG_TIMEOUT_S,
    LOST_AFTER_S,
    PW_TIMEOUT_S,
    ROOT,
    NotAvailable,
    Trial,
    console,
)
from rich.table import Table


@dataclass
class Fault:
    name: str
    what: str
    action: str  # the documented user action ("none": the same run recovers by itself)
    inject: Callable[[Trial], Outcome]


FAULTS = [
    Fault("kill_worker_label", "SIGKILL of the local worker running a label job (2-iteration campaign)", "none",
          kill_worker("label")),
    Fault("kill_worker_train", "SIGKILL of the local worker running the fit, while pacemaker runs", "none",
          kill_worker("train", mid_fit=True, two=False)),
    Fault("kill_worker_explore", "SIGKILL of the local worker running MD (2-iteration campaign)", "none",
          kill_worker("explore")),
    Fault("kill_worker_wflock", "SIGKILL of a worker while it holds its workflow's FireWorks lock (WFLock)",
          "none", kill_worker_wflock),
    Fault("kill_db", "SIGKILL of the embedded database daemon while the fit runs", "none", kill_db),
    Fault("sigterm_run", "SIGTERM of `run` while a label job runs", "run the same command again",
          signal_run(signal.SIGTERM, "label")),
    Fault("sighup_run", "SIGHUP of `run` while the fit (pacemaker) runs", "run the same command again",
          signal_run(signal.SIGHUP, "train")),
    Fault("two_runs_one_campaign", "a second `run` of the same campaign while the first runs (must exit 2)",
          "none", two_runs_one_campaign),
    Fault("two_campaigns", "two campaigns run at once on one database daemon", "none", two_campaigns),
    Fault("four_workers", "4 workers racing on one campaign (--workers 4, label_batches 4)", "none",
          four_workers),
    Fault("budget_parallel", "max_oracle_calls 4 with 4 parallel label batches and 4 workers", "none",
          budget_parallel),
    Fault("truncated_potential", "iter_000/train/output_potential.yace truncated once iteration 0 trained",
          "none", truncated_potential),
    Fault("hanging_md", f"the worker running ASE MD SIGSTOPped; workers.lost_after_s {LOST_AFTER_S:g} must end it",
          "none", hanging_md),
    Fault("hanging_pw", f"a real pw.x of a label job SIGSTOPped (Si); oracle.timeout_s {PW_TIMEOUT_S:g} must end it",
          "none", hanging_pw),
    Fault("pw_killed_mid_write", "a real pw.x and its worker SIGKILLed between writing forces and stress (Si)",
          "none", pw_killed_mid_write),
    Fault("hanging_fit", f"pacemaker SIGSTOPped; train.timeout_s {HANG_TIMEOUT_S:g} must end it",
          "run the same command again (iteration 0 has no previous potential to keep)", hanging_fit),
    Fault("disk_full", f"RLIMIT_FSIZE {FSIZE_LIMIT} B (prlimit) on run, workers and pacemaker mid-fit "
          "(database elsewhere)", "free space, run the same command again", disk_full(with_db=False)),
    Fault("disk_full_db", f"RLIMIT_FSIZE {FSIZE_LIMIT} B on run, workers, pacemaker and the database daemon "
          "mid-fit (one full filesystem)", "free space, run the same command again", disk_full(with_db=True)),
]  # fmt: skip


# ----------------------------------------------------------------------------------------------- driver
@dataclass
class Row:
    fault: Fault
    trials: int = 0
    recovered: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    over: int = 0
    wall: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unavailable: str | None = None
    failures: list[str] = field(default_factory=list)


def run_trial(fault: Fault, root: Path, keep: bool) -> tuple[bool, list[Audit], Outcome | None, str, float]:
    """One trial of ``fault`` in ``root``: (recovered, audits, outcome, failure report, wall s)."""
    trial = Trial(root)
    t0 = time.monotonic()
    out = None
    report = ""
    audits: list[Audit] = []
    try:
        out = fault.inject(trial)
        wall = time.monotonic() - t0
        audits = [audit(trial, n, cap) for n, cap in out.campaigns]
        dbpid = trial.db_pid()
        left = processes_using(trial.root, {dbpid} if dbpid else set())
        if left:
            out.notes.append(f"{len(left)} process(es) left after the runs ended: "
                             + ", ".join(" ".join(cmdline(p))[-60:] for p in left[:2]))  # fmt: skip
        ok = out.ok and all(a.ended for a in audits)
        if not ok:
            report = failure_report(trial, [n for n, _ in out.campaigns])
        return ok, audits, out, report, wall
    except NotAvailable:
        raise
    except Exception as exc:  # noqa: BLE001 (the benchmark goes on with the next fault)
        import traceback

        report = f"  the trial itself failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
        with contextlib.suppress(Exception):
            report += "\n" + failure_report(trial, [n for n, _ in out.campaigns] if out else [])
        return False, audits, out, report, time.monotonic() - t0
    finally:
        trial.stop_all()


def code_version() -> str:
    """The commit of the pyacemaker tree, and how many of its files differ from it (other people may be changing
    it while the benchmark runs: each trial's runs use the code on disk when they start their processes)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "pyacemaker"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "(no git)"
    return f"at {head}" + (f" + {len(dirty)} changed file(s) in pyacemaker/" if dirty else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1, help="trials per fault (default 1)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this fault (repeat, or comma-separate; --list shows the names)")  # fmt: skip
    ap.add_argument("--list", action="store_true", help="list the faults and exit")
    ap.add_argument("--workdir", type=Path, help="where the trials run (default: a new temporary directory)")
    ap.add_argument(
        "--keep", action="store_true", help="keep every trial's directory (default: failed ones only)"
    )
    args = ap.parse_args()
    if args.list:
        t = Table(title="faults")
        for col in ("name", "what is injected", "user action"):
            t.add_column(col)
        for f in FAULTS:
            t.add_row(f.name, f.what, f.action)
        console.print(t)
        return 0
    only = {n.strip() for o in args.only for n in o.split(",") if n.strip()}
    unknown = only - {f.name for f in FAULTS}
    if unknown:
        ap.error(f"unknown fault(s) {sorted(unknown)}; --list shows the names")
    faults = [f for f in FAULTS if not only or f.name in only]
    for var in ("PYACEMAKER_DB_URI", "PYACEMAKER_DB_NAME"):
        os.environ.pop(var, None)  # every trial uses its own embedded daemon
    os.environ.update(OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")

    def stop(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="faults_"))
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    console.print(
        f"fault benchmark: {len(faults)} fault(s) x {args.trials} trial(s), work in {root}; "
        f"pyacemaker {code_version()}"
    )
    t_all = time.monotonic()
    rows = []
    for fault in faults:
        row = Row(fault)
        rows.append(row)
        console.rule(f"[bold]{fault.name}[/]: {fault.what}")
        for k in range(args.trials):
            where = root / fault.name / f"trial{k + 1}"
            shutil.rmtree(where, ignore_errors=True)
            try:
                ok, audits, out, report, wall = run_trial(fault, where, args.keep)
            except NotAvailable as exc:
                row.unavailable = str(exc)
                console.print(f"  [yellow]not available[/]: {exc}")
                shutil.rmtree(where, ignore_errors=True)
                break
            row.trials += 1
            row.recovered += ok
            row.wall.append(wall)
            for a in audits:
                row.lost += a.lost
                row.duplicated += a.duplicated
                row.wrong += a.wrong
                row.over += a.over
                row.notes += [f"{a.name}: {n}" if len(audits) > 1 else n for n in a.notes]
                if not a.ended:
                    row.notes.append(f"{a.name}: ended in state {a.state!r}, stage {a.stage!r}")
            if out is not None:
                row.notes += [n for n in out.notes if n not in row.notes]
                if out.action and f"action: {out.action}" not in row.notes:
                    row.notes.insert(0, f"action: {out.action}")
            calls = ", ".join(f"{a.oracle_calls} calls / {a.labelled} labelled" for a in audits)
            console.print(f"  trial {k + 1}: {'[green]recovered[/]' if ok else '[red]NOT recovered[/]'} in "
                          f"{wall:.0f} s; {calls}; lost {sum(a.lost for a in audits)}, duplicated "
                          f"{sum(a.duplicated for a in audits)}, wrong {sum(a.wrong for a in audits)}, "
                          f"over budget {sum(a.over for a in audits)}")  # fmt: skip
            if not ok:
                row.failures.append(f"trial {k + 1} (kept in {where}):\n{report}")
            elif not args.keep:
                shutil.rmtree(where, ignore_errors=True)
    elapsed = time.monotonic() - t_all

    table = Table(title=f"fault benchmark ({args.trials} trial(s) per fault, {elapsed / 60:.1f} min in all)")
    for col in ("fault", "trials", "recovered", "records lost", "labels duplicated", "wrong labels",
                "oracle calls over budget", "wall time (s)", "note"):  # fmt: skip
        table.add_column(col, overflow="fold")
    for r in rows:
        if r.unavailable:
            table.add_row(r.fault.name, "0", "not available", "-", "-", "-", "-", "-", r.unavailable)
            continue
        user = "action: none needed" if r.fault.action == "none" else f"documented action: {r.fault.action}"
        notes = [n for n in r.notes if not n.startswith("action: ")]
        taken = [n for n in r.notes if n.startswith("action: ")]
        table.add_row(r.fault.name, str(r.trials), f"{r.recovered}/{r.trials}", str(r.lost), str(r.duplicated),
                      str(r.wrong), str(r.over), f"{np.mean(r.wall):.0f}" if r.wall else "-",
                      "; ".join([user + (f" ({taken[0][8:]})" if taken else ""), *notes]))  # fmt: skip
    console.print(table)
    bad = [r for r in rows if r.failures]
    for r in bad:
        console.rule(f"[red]{r.fault.name}: not recovered[/]")
        for f in r.failures:
            console.print(f, markup=False)
    fine = all(r.recovered == r.trials and not (r.lost or r.duplicated or r.wrong or r.over) for r in rows)
    return 0 if fine else 1


if __name__ == "__main__":
    raise SystemExit(main())
