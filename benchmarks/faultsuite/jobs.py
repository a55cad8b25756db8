"""Faults of the job machinery: killed workers and daemons, signals, races, budgets, truncated files."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultsuite.audit import sha256_hex, stale_lock
from faultsuite.procs import cmdline, descendants, kill_pids, processes_using
from faultsuite.trial import END_STATES, RUN_TIMEOUT_S, Run, Trial, one_iteration, two_iterations


# ----------------------------------------------------------------------------------------------- faults
@dataclass
class Outcome:
    """What a fault's trial did: the campaigns to audit (name, max_oracle_calls), whether its own condition held,
    notes for the table, and the user action taken (None: none was needed)."""

    campaigns: list[tuple[str, int]]
    ok: bool = True
    notes: list[str] = field(default_factory=list)
    action: str | None = None


def why_ended(run: Run) -> str:
    """The line of a failed run's output that says why it ended (its last error, failure or final exception)."""
    keys = ("nothing can progress", "no local worker left", "job failed:", "failed:", "error:", "Error")
    for line in reversed(run.lines):
        text = line.strip()
        if text and not line.startswith((" ", "\t")) and any(k in text for k in keys):
            return text[:160]
    return run.lines[-1].strip()[:160] if run.lines else "no output"


def finish(trial: Trial, run: Run, name: str, out: Outcome, again_if_failed: bool, why: str = "",
            timeout: float = RUN_TIMEOUT_S) -> Outcome:  # fmt: skip
    """Wait for ``run``; when it did not end the campaign and the fault documents it, run the same command
    again (the user action) and wait for that."""
    rc = run.wait(timeout)
    out.notes.append(f"exit {rc}" + (f" ({why_ended(run)})" if rc else "") if rc is not None
                     else f"no exit within {timeout:.0f} s: stopped")  # fmt: skip
    if rc is None:
        run.stop()
        if not again_if_failed:
            out.ok = False
            return out
    doc = trial.campaign(name)
    if again_if_failed and not (doc.get("state") in END_STATES and doc.get("stage") == "done"):
        trial.say(f"run ended (exit {rc}){why}: running the same command again")
        out.action = "ran the same command again"
        again = trial.run(name, tag="again")
        rc2 = again.wait(timeout)
        out.notes.append(f"again: exit {rc2}" + (f" ({why_ended(again)})" if rc2 else "") if rc2 is not None
                         else f"again: no exit within {timeout:.0f} s")  # fmt: skip
        if rc2 is None:
            again.stop()
            out.ok = False
    return out


def not_injected(
    trial: Trial, run: Run, name: str, out: Outcome, what: str, again_if_failed: bool = False
) -> Outcome:
    """The moment to inject never came (``what`` did not happen): the trial fails, the run is waited for."""
    out.ok = False
    out.notes.append(f"{what}: fault not injected")
    return finish(trial, run, name, out, again_if_failed=again_if_failed)


def _kill_worker_in(trial: Trial, name: str, prefix: str, run: Run, mid_fit: bool = False) -> tuple[int, int]:
    """SIGKILL the local worker running a job whose name starts with ``prefix``, aiming again at the next such job
    when the kill missed (the job completed anyway). Returns (kills, hits)."""
    kills = hits = 0
    aimed: set[int] = set()
    while True:

        def target() -> Any:
            for fw in trial.fireworks(name, "RUNNING"):
                if fw["name"].startswith(prefix) and fw["token"] and fw["fw_id"] not in aimed:
                    pid = trial.worker_pid(name, fw["token"], run)
                    if pid is None:
                        continue
                    if mid_fit and not any("input.yaml" in cmdline(p) for p in descendants(pid)):
                        continue  # until pacemaker runs
                    return fw, pid
            return None

        got = trial.watch(target, [run], poll=0.02)
        if not got:
            return kills, hits
        fw, pid = got
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        kills += 1
        aimed.add(fw["fw_id"])
        time.sleep(3)
        state = trial.launch_state(fw["launch_id"])
        hit = state != "COMPLETED"
        hits += hit
        trial.say(f"SIGKILL worker pid {pid} running {fw['name']!r}: " + ("hit (its launch did not complete)"
                  if hit else "missed (the job had completed); aiming at the next one"))  # fmt: skip
        if hit:
            return kills, hits


def kill_worker(prefix: str, mid_fit: bool = False, two: bool = True) -> Callable[[Trial], Outcome]:
    def fault(trial: Trial) -> Outcome:
        name = f"kill_{prefix}"
        trial.config(name, (two_iterations if two else one_iteration)(name))
        run = trial.run(name)
        kills, hits = _kill_worker_in(trial, name, prefix, run, mid_fit)
        out = Outcome([(name, 1000)], notes=[f"{hits}/{kills} kill(s) landed in a running {prefix} job"])
        out.ok = hits > 0
        if not hits:
            out.notes.append(f"no {prefix} job was caught running: fault not injected")
        finish(trial, run, name, out, again_if_failed=False)
        if "re-queued; started worker" in run.text:
            out.notes.append("run re-queued it")
        return out

    return fault


def kill_db(trial: Trial) -> Outcome:
    name = "kill_db"
    trial.config(name, one_iteration(name))
    run = trial.run(name)

    def mid_fit() -> bool:
        return any(fw["name"].startswith("train") for fw in trial.fireworks(name, "RUNNING")) and any(
            "input.yaml" in cmdline(p) for p in descendants(run.pid)
        )

    out = Outcome([(name, 1000)])
    if trial.watch(mid_fit, [run], poll=0.2):
        pid = trial.db_pid()
        os.kill(pid, signal.SIGKILL)
        trial.say(f"SIGKILL database daemon pid {pid} while train (it 0) runs")
        out.notes.append("daemon killed mid-fit")
    else:
        out.ok = False
        out.notes.append("the fit was not caught running: fault not injected")
    finish(trial, run, name, out, again_if_failed=False)
    out.notes.append("run restarted it" if "restarted it on port" in run.text else "run did NOT restart it")
    return out


def signal_run(sig: signal.Signals, stage: str) -> Callable[[Trial], Outcome]:
    """``sig`` to ``run`` while a job of ``stage`` runs (train: once pacemaker runs), then the same command again."""

    def fault(trial: Trial) -> Outcome:
        name = f"sig{sig.name[3:].lower()}_run"
        trial.config(name, one_iteration(name))
        run = trial.run(name)

        def moment() -> Any:
            running = [fw["name"] for fw in trial.fireworks(name, "RUNNING")]
            if stage == "train":
                fitting = any("input.yaml" in cmdline(p) for p in descendants(run.pid))
                return running if fitting and any(n.startswith("train") for n in running) else None
            if any(n.startswith(stage) for n in running):
                return running
            if any(n.startswith("train") for n in running):
                return running  # the label jobs were missed: as early after them as possible
            return None

        out = Outcome([(name, 1000)])
        got = trial.watch(moment, [run], poll=0.02)
        if got:
            run.proc.send_signal(sig)
            trial.say(f"{sig.name} to run pid {run.pid} while {got} ran")
            out.notes.append(
                f"{sig.name} while {', '.join(got)} ran" + (" (pacemaker running)" * (stage == "train"))
            )
        else:
            out.ok = False
            out.notes.append(f"no {stage} job was caught running: fault not injected")
        t_sig = time.monotonic()
        rc = run.wait(120)
        if rc is None:
            out.notes.append(f"run still running 120 s after {sig.name}: stopped by the benchmark")
            run.stop()
        else:
            out.notes.append(f"exit {rc} after {time.monotonic() - t_sig:.0f} s (expected {128 + sig.value})")
        dbpid = trial.db_pid()
        orphans = processes_using(trial.workdir(name), {dbpid} if dbpid else set())
        if orphans:
            out.notes.append(f"{len(orphans)} process(es) outlived the stopped run")
            kill_pids(orphans)
        if stale_lock(trial, name):
            out.notes.append("its workflow was left locked (FireWorks WFLock)")
        trial.say(f"run ended (exit {rc}): running the same command again")
        out.action = "ran the same command again"
        again = trial.run(name, tag="again")
        rc2 = again.wait(RUN_TIMEOUT_S)
        out.notes.append(f"again: exit {rc2}" + (f" ({why_ended(again)})" if rc2 else ""))
        if rc2 is None:
            again.stop()
        return out

    return fault


def kill_worker_wflock(trial: Trial) -> Outcome:
    """SIGKILL of a worker while it holds its workflow's FireWorks lock (WFLock: taken around every state change
    of a job, by checkout and completion): an out-of-memory kill at an unlucky moment."""
    name = "wflock"
    trial.config(name, two_iterations(name))
    run = trial.run(name)
    out = Outcome([(name, 1000)])
    kills = hits = 0
    while kills < 4 and not hits:

        def locked() -> Any:
            db = trial.db
            root = trial.campaign(name).get("wf_root_fw_id") if db else None
            wf = db.db["workflows"].find_one({"nodes": root}, {"locked": 1, "nodes": 1}) if root else None
            if not (wf or {}).get("locked"):
                return None
            # the worker of the job whose state changed last holds it (checkout or completion)
            for fw in db.db["fireworks"].find({"fw_id": {"$in": wf["nodes"]}, "launches.0": {"$exists": True}},
                                              {"name": 1, "launches": 1}).sort("updated_on", -1).limit(1):  # fmt: skip
                launch = db.db["launches"].find_one({"launch_id": fw["launches"][-1]}, {"fworker": 1})
                token = (((launch or {}).get("fworker") or {}).get("env") or {}).get("pyacemaker_worker")
                pid = trial.worker_pid(name, token, run) if token else None
                if pid:
                    return fw["name"], pid
            return None

        got = trial.watch(locked, [run], poll=0.01)
        if not got:
            break
        fw_name, pid = got
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        kills += 1
        time.sleep(3)
        held = stale_lock(trial, name)
        time.sleep(3)
        hits += held and stale_lock(trial, name)
        trial.say(f"SIGKILL worker pid {pid} (last state change: {fw_name!r}) while the workflow was locked: "
                  + ("the lock stayed (hit)" if hits else "the lock was released (missed)"))  # fmt: skip
    out.notes.append(f"{hits}/{kills} kill(s) left the lock held by a dead worker")
    out.ok = hits > 0
    if not hits:
        out.notes.append("no kill landed inside the lock: fault not injected")
    finish(trial, run, name, out, again_if_failed=False)
    if stale_lock(trial, name):
        out.notes.append("workflow still locked at the end")
    if "LockedWorkflowError" in run.text:
        out.notes.append("run failed with LockedWorkflowError")
    return out


def two_runs_one_campaign(trial: Trial) -> Outcome:
    name = "two_runs"
    trial.config(name, one_iteration(name))
    first = trial.run(name)
    out = Outcome([(name, 1000)])
    if not trial.watch(
        lambda: (trial.campaign(name).get("controller") or {}).get("pid") == first.pid, [first]
    ):
        out.ok = False
        out.notes.append("the first run never held the campaign")
    second = trial.run(name, tag="second")
    rc2 = second.wait(300)
    refused = rc2 == 2 and "already worked by another controller" in second.text
    trial.say(f"second run: exit {rc2}" + (" (refused)" if refused else f": {second.tail(3)}"))
    out.notes.append(f"second run exit {rc2}" + ("" if refused else " (NOT refused as expected)"))
    out.ok &= refused
    if rc2 is None:
        second.stop()
    finish(trial, first, name, out, again_if_failed=False)
    return out


def two_campaigns(trial: Trial) -> Outcome:
    names = ["two_a", "two_b"]
    for n in names:
        trial.config(n, one_iteration(n))
    runs = [trial.run(n) for n in names]
    out = Outcome([(n, 1000) for n in names])
    for n, r in zip(names, runs, strict=True):
        rc = r.wait(RUN_TIMEOUT_S)
        out.notes.append(f"{n}: exit {rc}")
        if rc is None:
            r.stop()
    db = trial.db
    if db is not None:  # each campaign's jobs ran in its own directory
        for n in names:
            other = trial.workdir(names[1 - names.index(n)])
            for fw in trial.fireworks(n):
                if fw.get("launch_id"):
                    launch = db.db["launches"].find_one({"launch_id": fw["launch_id"]}, {"launch_dir": 1})
                    if str((launch or {}).get("launch_dir", "")).startswith(str(other)):
                        out.ok = False
                        out.notes.append(f"{fw['name']} of {n} ran in the other campaign's directory")
    return out


def four_workers(trial: Trial) -> Outcome:
    name = "four_workers"
    trial.config(name, one_iteration(name).replace("label_batches: 2", "label_batches: 4"))
    run = trial.run(name, workers=4)
    out = Outcome([(name, 1000)], notes=["label_batches 4"])
    return finish(trial, run, name, out, again_if_failed=False)


def budget_parallel(trial: Trial) -> Outcome:
    name = "budget"
    text = (one_iteration(name).replace("label_batches: 2", "label_batches: 4")
            .replace("budget: {max_iterations: 1}", "budget: {max_iterations: 1, max_oracle_calls: 4}"))  # fmt: skip
    trial.config(name, text)
    run = trial.run(name, workers=4)
    out = Outcome([(name, 4)], notes=["label_batches 4, max_oracle_calls 4 (6 seeds), --workers 4"])
    finish(trial, run, name, out, again_if_failed=False)
    doc = trial.campaign(name)
    iters = sum(int((it or {}).get("oracle_calls") or 0) for it in (doc.get("iterations") or {}).values())
    out.notes.append(f"calls: {iters} labels + {doc.get('test_oracle_calls', 0)} test set; "
                     f"reserved {doc.get('oracle_reserved')}")  # fmt: skip
    return out


def truncated_potential(trial: Trial) -> Outcome:
    name = "truncated"
    trial.config(name, one_iteration(name))
    run = trial.run(name)
    pid = f"{name}:pot000"
    out = Outcome([(name, 1000)])

    def stored() -> Any:
        return trial.db.potentials.find_one({"_id": pid}) if trial.db is not None else None

    doc = trial.watch(stored, [run], poll=0.02)
    if doc:
        meta = doc["files"]["yace"]
        path = Path(meta["path"])
        os.truncate(path, meta["size"] // 2)
        before = [fw["name"] for fw in trial.fireworks(name) if fw["name"].startswith("explore")
                  and fw["state"] in ("RUNNING", "COMPLETED")]  # fmt: skip
        trial.say(f"truncated {path.relative_to(trial.root)} to {meta['size'] // 2} of {meta['size']} bytes"
                  + (f" (already running: {before})" if before else " (before explore started)"))  # fmt: skip
        out.notes.append("truncated before explore" if not before else "truncated while explore ran")
    else:
        out.ok = False
        out.notes.append("pot000 never stored: fault not injected")
    finish(trial, run, name, out, again_if_failed=False)
    if doc:
        copy = trial.workdir(name) / "iter_000" / "potential" / Path(doc["files"]["yace"]["path"]).name
        fetched = copy.is_file() and sha256_hex(copy.read_bytes()) == doc["files"]["yace"]["sha256"]
        out.notes.append("re-fetched from the database" if fetched else "NOT re-fetched")
        out.ok &= fetched
    return out
