"""Faults of the external codes: hanging MD, pw.x and fits, pw.x killed mid-write, a full disk."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from faultsuite.jobs import Outcome, finish, not_injected, why_ended
from faultsuite.procs import alive, cmdline, descendants, kill_pids, proc_stat
from faultsuite.trial import (
    DISK_FULL_HOLD_S,
    END_STATES,
    EXE,
    FSIZE_LIMIT,
    HANG_TIMEOUT_S,
    LOST_AFTER_S,
    PW_TIMEOUT_S,
    NotAvailable,
    Run,
    Trial,
    one_iteration,
    qe_one_iteration,
)


def _pw_processes(run: Run) -> list[tuple[int, Path]]:
    """The pw.x processes under ``run`` with their working directories."""
    found = []
    for p in descendants(run.pid):
        argv = cmdline(p)
        if argv and Path(argv[0]).name == "pw.x":
            with contextlib.suppress(OSError):
                found.append((p, Path(os.readlink(f"/proc/{p}/cwd"))))
    return found


def _worker_of(pid: int, run: Run) -> int | None:
    """The local worker (a child of ``run``) that ``pid`` descends from."""
    while pid and pid != 1:
        st = proc_stat(pid)
        if st is None:
            return None
        if st[1] == run.pid:
            return pid
        pid = st[1]
    return None


def freeze_until_ended(trial: Trial, run: Run, pid: int, what: str, within_s: float, out: Outcome) -> None:
    """SIGSTOP ``pid`` (``what``) and wait until something ends it (the note says after how long) or ``within_s``
    passed (then the trial failed: the process is killed here)."""
    os.kill(pid, signal.SIGSTOP)
    t_stop = time.monotonic()
    trial.say(f"SIGSTOP {what} (pid {pid})")
    short = what.split(" (")[0]
    while alive(pid) and run.rc is None and time.monotonic() - t_stop < within_s:
        time.sleep(0.5)
    if alive(pid):
        out.ok = False
        out.notes.append(f"the frozen {short} was NOT ended within {within_s:.0f} s")
        kill_pids([pid])
    else:
        waited = time.monotonic() - t_stop
        by = f" (by the end of run, exit {run.rc}: not by a limit)" if run.rc is not None else ""
        trial.say(f"the frozen {short} was ended {waited:.0f} s after SIGSTOP{by}")
        out.notes.append(f"frozen {short} ended {waited:.0f} s after SIGSTOP{by}")
        out.ok &= not by


def hanging_md(trial: Trial) -> Outcome:
    """The worker running MD (ASE, in the worker's own process) frozen with SIGSTOP: it stops pinging its job, and
    ``run`` must kill it after ``workers.lost_after_s`` and run the job again."""
    name = "hanging_md"
    trial.config(name, one_iteration(name).replace("workers: {label_batches: 2}",
                                                   f"workers: {{label_batches: 2, lost_after_s: {LOST_AFTER_S:g}}}"))  # fmt: skip
    run = trial.run(name)
    out = Outcome([(name, 1000)], notes=[f"workers.lost_after_s {LOST_AFTER_S:g}"])

    aimed: set[int] = set()

    def explorer() -> Any:
        for fw in trial.fireworks(name, "RUNNING"):
            if fw["name"].startswith("explore") and fw["token"] and fw["fw_id"] not in aimed:
                pid = trial.worker_pid(name, fw["token"], run)
                if pid:
                    return fw, pid
        return None

    while True:  # freeze a worker whose MD job is still running once it is frozen (else aim at the next one)
        got = trial.watch(explorer, [run], poll=0.02)
        if not got:
            return not_injected(trial, run, name, out, "no explore job caught running")
        fw, pid = got
        aimed.add(fw["fw_id"])
        os.kill(pid, signal.SIGSTOP)
        if trial.launch_state(fw["launch_id"]) == "RUNNING":
            break
        os.kill(pid, signal.SIGCONT)
        trial.say(f"missed {fw['name']!r} (it completed before the worker froze); aiming at the next one")
    freeze_until_ended(trial, run, pid, f"worker ({fw['name']}: its MD runs in the worker process)",
                       LOST_AFTER_S + 240, out)  # fmt: skip
    return finish(trial, run, name, out, again_if_failed=False)


def hanging_pw(trial: Trial) -> Outcome:
    """A real pw.x of a label job frozen with SIGSTOP (a stuck node): ``oracle.timeout_s`` must end it (SIGTERM,
    SIGKILL after the grace period) and the structure be rejected naming the limit."""
    if shutil.which("pw.x") is None:
        raise NotAvailable("pw.x is not installed (scripts/setup.sh installs quantum-espresso as root)")
    name = "hanging_pw"
    trial.config(name, qe_one_iteration(name, PW_TIMEOUT_S))
    run = trial.run(name)
    out = Outcome([(name, 1000)], notes=[f"oracle.timeout_s {PW_TIMEOUT_S:g}"])
    got = trial.watch(lambda: [(p, d) for p, d in _pw_processes(run) if "label" in d.parts], [run], poll=0.02)
    if not got:
        return not_injected(trial, run, name, out, "no pw.x caught running")
    pid, rundir = got[0]
    freeze_until_ended(
        trial, run, pid, f"pw.x (in {rundir.relative_to(trial.root)})", PW_TIMEOUT_S + 120, out
    )
    finish(trial, run, name, out, again_if_failed=False)
    rejected = [
        r.get("reject_reason") or "" for r in trial.db.records.find({"campaign": name, "status": "rejected"})
    ]
    timed_out = [r for r in rejected if r.startswith("pw.x timeout")]
    out.notes.append(f"{len(timed_out)} structure(s) rejected as 'pw.x timeout'")
    out.ok &= len(timed_out) == 1
    return out


def pw_killed_mid_write(trial: Trial) -> Outcome:
    """A real pw.x and its worker SIGKILLed while pw.x writes the end of its output: after its forces, before its
    stress and ``JOB DONE`` (an output that used to look finished). The re-run must redo it, not parse it."""
    if shutil.which("pw.x") is None:
        raise NotAvailable("pw.x is not installed (scripts/setup.sh installs quantum-espresso as root)")
    name = "pw_mid_write"
    trial.config(name, qe_one_iteration(name))
    run = trial.run(name)
    out = Outcome([(name, 1000)])

    def writing() -> Any:
        for pid, d in _pw_processes(run):
            if "label" not in d.parts:
                continue
            with contextlib.suppress(OSError):
                text = (d / "pw.out").read_text(errors="replace")
                if (
                    "Forces acting on atoms" in text
                    and "total   stress" not in text
                    and "JOB DONE" not in text
                ):
                    return pid, d
        return None

    got = trial.watch(writing, [run], poll=0.002)
    if not got:
        return not_injected(trial, run, name, out, "no pw.x caught between its forces and its stress")
    pid, rundir = got
    worker = _worker_of(pid, run)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker, signal.SIGKILL) if worker else os.kill(pid, signal.SIGKILL)
    text = (rundir / "pw.out").read_text(errors="replace")
    trial.say(f"SIGKILL pw.x pid {pid} and its worker {worker} while writing: pw.out has forces, "
              f"{'no' if 'total   stress' not in text else ''} stress, {'no' if 'JOB DONE' not in text else ''} "
              f"JOB DONE ({len(text)} bytes)")  # fmt: skip
    finish(trial, run, name, out, again_if_failed=False)
    kept = rundir / "pw.out.incomplete"
    redone = kept.is_file() and "JOB DONE" in (rundir / "pw.out").read_text(errors="replace")
    out.notes.append(
        "cut output kept as pw.out.incomplete, pw.x redone" if redone else "cut output NOT redone"
    )
    out.ok &= redone
    return out


def hanging_fit(trial: Trial) -> Outcome:
    name = "hanging_fit"
    cfg = trial.config(
        name, one_iteration(name).replace("train: {", f"train: {{timeout_s: {HANG_TIMEOUT_S:g}, ")
    )
    shown = subprocess.run(
        [EXE, "config", str(cfg)], env=trial.env, capture_output=True, text=True, timeout=120
    )
    try:
        timeout = (yaml.safe_load(shown.stdout).get("train") or {}).get("timeout_s")
    except (yaml.YAMLError, AttributeError):
        timeout = None
    if shown.returncode != 0 or timeout is None:
        raise NotAvailable("train.timeout_s is not an option of `pyacemaker config` "
                           f"(exit {shown.returncode}: {shown.stderr.strip()[-200:]})")  # fmt: skip
    run = trial.run(name)
    out = Outcome([(name, 1000)], notes=[f"train.timeout_s {timeout:g}"])

    def pacemaker() -> int | None:
        for p in descendants(run.pid):
            argv = cmdline(p)
            if "input.yaml" in argv and any(a.endswith("pacemaker") for a in argv):
                return p
        return None

    pm = trial.watch(pacemaker, [run], poll=0.1)
    if not pm:
        return not_injected(trial, run, name, out, "pacemaker never caught running", again_if_failed=True)
    freeze_until_ended(trial, run, pm, "fit (pacemaker)", timeout + 120, out)
    finish(trial, run, name, out, again_if_failed=True, why=" (iteration 0's fit has no previous potential)")
    if "timeout:" in "\n".join(r.text for r in trial.runs) or any(
        "timeout:" in f.read_text(errors="replace") for f in (trial.workdir(name) / "logs").glob("*.log")
    ):
        out.notes.append("failure reported as a timeout")
    return out


def disk_full(with_db: bool) -> Callable[[Trial], Outcome]:
    """The disk fills while pacemaker writes: RLIMIT_FSIZE on the run, its workers and pacemaker (``with_db``:
    and on the database daemon, as when its data lies on the same full filesystem), held for
    ``DISK_FULL_HOLD_S`` or until the run ends, then lifted (space freed); the same command again if the campaign
    had not ended."""

    def fault(trial: Trial) -> Outcome:
        if not hasattr(resource, "prlimit"):
            raise NotAvailable("resource.prlimit is not available on this platform")
        name = "disk_full_db" if with_db else "disk_full"
        trial.config(name, one_iteration(name))
        run = trial.run(name)
        out = Outcome([(name, 1000)])

        def fitting() -> bool:
            return any(fw["name"].startswith("train") for fw in trial.fireworks(name, "RUNNING")) and any(
                "input.yaml" in cmdline(p) for p in descendants(run.pid)
            )

        if not trial.watch(fitting, [run], poll=0.1):
            return not_injected(trial, run, name, out, "the fit was not caught running", again_if_failed=True)
        dbpid = trial.db_pid()
        spared = set() if with_db or dbpid is None else {dbpid, *descendants(dbpid)}
        limited = []
        for p in [run.pid, *descendants(run.pid)]:
            if p in spared:
                continue
            try:
                _, hard = resource.prlimit(p, resource.RLIMIT_FSIZE)
                resource.prlimit(p, resource.RLIMIT_FSIZE, (FSIZE_LIMIT, hard))
                limited.append(p)
            except ProcessLookupError:
                continue
            except OSError as exc:
                raise NotAvailable(f"cannot set RLIMIT_FSIZE on pid {p}: {exc}") from None
        who = "the run, its workers and pacemaker" + (" and the database daemon" if with_db else "")
        trial.say(f"RLIMIT_FSIZE {FSIZE_LIMIT} bytes on {who} ({len(limited)} processes, mid-fit)")
        out.notes.append(f"files of {who} capped at {FSIZE_LIMIT} B mid-fit for {DISK_FULL_HOLD_S:.0f} s "
                         "or until the run ended")  # fmt: skip
        run.wait(DISK_FULL_HOLD_S)
        lifted = 0
        for p in {*limited, *(descendants(run.pid) if run.rc is None else [])} - spared:
            with contextlib.suppress(OSError):
                _, hard = resource.prlimit(p, resource.RLIMIT_FSIZE)
                resource.prlimit(p, resource.RLIMIT_FSIZE, (hard, hard))
                lifted += 1
        trial.say(f"space freed (limit lifted on {lifted} live processes; run " + ("still running)" if run.rc is None
                  else f"ended with exit {run.rc})"))  # fmt: skip
        if with_db and "WT_PANIC" in (trial.data / "server.log").read_text(errors="replace"):
            out.notes.append("the database daemon's storage panicked (WiredTiger WT_PANIC: File too large)")
        finish(trial, run, name, out, again_if_failed=True, why=" (the disk was full)", timeout=240)
        doc = trial.campaign(name)
        if with_db and not (doc.get("state") in END_STATES and doc.get("stage") == "done"):
            # beyond the documented action (so the row stays not recovered): does a restarted daemon save it?
            subprocess.run([EXE, "db", "stop"], env=trial.env, capture_output=True, timeout=120)
            trial.reset_db()
            trial.say(
                "not ended after the documented action: `pyacemaker db stop`, then the same command again"
            )
            last = trial.run(name, tag="after_db_stop")
            rc = last.wait(240)
            doc = trial.campaign(name)
            ended = doc.get("state") in END_STATES and doc.get("stage") == "done"
            out.notes.append(f"beyond it, `pyacemaker db stop` + run: exit {rc}" + (f" ({why_ended(last)})" if rc
                             else "") + (", campaign ended (not counted as recovered)" if ended else ""))  # fmt: skip
            out.ok = False
            if rc is None:
                last.stop()
        spins = max(r.text.count("did not answer for a moment") for r in trial.runs)
        if spins > 10:
            out.notes.append(
                f"a run printed 'the database did not answer for a moment ... going on' {spins} times"
            )
        return out

    return fault
