"""What a person watches: live progress of a running campaign, and the summary table of one that ran."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from pymongo.errors import PyMongoError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pyacemaker.app.live import (
    Snapshot,
    class_counts,
    elapsed,
    finished_iterations,
    panel,
    plain_line,
    snapshot,
)
from pyacemaker.campaign.launchpad import (
    fizzle_reasons,
    job_names,
    recover_lost,
    requeue_local_launches,
    rerun_transient,
    silent_workers,
    workflow_states,
)
from pyacemaker.campaign.status import CampaignStatus
from pyacemaker.campaign.workers import LOST_AFTER_S, LocalWorkers
from pyacemaker.db import Database
from pyacemaker.schemas.campaign import CampaignDoc

# not a terminal (a log file, CI): wide enough for the summary tables
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def _now(db: Database, campaign: str) -> CampaignDoc:
    """The campaign document as it is now (an empty one before the campaign is recorded)."""
    return db.campaign_doc(campaign) or CampaignDoc(name=campaign, state="-", iteration=0)


# states in which a job is on its way: a worker can take it, or one has it
PROGRESSING = ("READY", "RESERVED", "RUNNING")


def tend_workers(lp, root: int, workers: LocalWorkers) -> list[str]:
    """Replace the local workers that died and re-queue the jobs each was running. One line per dead worker."""
    lines = []
    for w in workers.dead():
        how = w.describe_exit()
        new = workers.replace(w)  # also ends what the dead worker started (pacemaker, ...)
        jobs = requeue_local_launches(lp, root, workers.launches_dir, workers={w.token})
        what = f" while running {', '.join(job_names(lp, jobs))}: re-queued" if jobs else ""
        then = (f"started worker {new.index}" if new else
                f"not replaced ({workers.replaced} replacements in this run already)")  # fmt: skip
        lines.append(f"worker {w.index} (pid {w.proc.pid}) {how}{what}; {then} "
                     f"(log: {workers.logs / f'worker_{w.index}.log'})")  # fmt: skip
    return lines


def cannot_progress(st: dict[str, Any], workers: LocalWorkers) -> str | None:
    """Why the campaign cannot go on (None while it can): no local worker left, or no job ready or running
    while the workflow is not complete (only jobs waiting on failed ones, or failed ones, are left)."""
    c = st["counts"]
    if st["state"] == "MISSING":
        return "the campaign's workflow is gone from the LaunchPad"
    if not workers.alive():
        return f"no local worker left ({workers.started} started, all ended); logs in {workers.logs}"
    if not any(c.get(k, 0) for k in PROGRESSING):
        left = ", ".join(f"{n} {'failed' if state == 'FIZZLED' else state.lower()}"
                         for state, n in sorted(c.items()) if state != "COMPLETED")  # fmt: skip
        return f"nothing can progress: no job is ready or running ({left or 'no job left'})"
    return None


def job_counts(lp, st: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Jobs per class and state of the workflow whose states are ``st`` (:func:`workflow_states`)."""
    fws = lp.fireworks.find({"fw_id": {"$in": st.get("nodes") or []}},
                            {"state": 1, "name": 1, "spec.pyacemaker_class": 1})  # fmt: skip
    return class_counts(fws)


def _failed_lines(lp, fw_ids: list[int]) -> list[str]:
    """'name (fw id): last traceback line' of failed jobs; only the names if a launch cannot be read."""
    if not fw_ids:
        return []
    try:
        return fizzle_reasons(lp, fw_ids)
    except Exception:  # an odd launch document must not end the watch: the run's end repeats the reasons
        return job_names(lp, fw_ids)


class DatabaseLost(RuntimeError):
    """The database stopped answering during a run and could not be brought back (the message says what to do)."""


def watch(db: Database, lp, campaign: str, root: int, workers: LocalWorkers, quiet: bool,
          lost_after_s: float = LOST_AFTER_S, lost_check_s: float = 60.0, settle_s: float = 5.0,
          revive: Callable[[Exception], str | None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Live progress until the workflow completes or cannot go on. Meanwhile local workers that die are replaced
    and their jobs re-queued, lost jobs of other workers (no ping for ``lost_after_s``) are re-run every
    ``lost_check_s`` seconds, and a campaign that cannot progress for ``settle_s`` seconds ends the watch (the
    returned states then carry ``stopped``: why).

    On a terminal the progress is a live panel (:func:`pyacemaker.app.live.panel`); elsewhere (a log file, CI) a
    line of plain words whenever it changes (:func:`pyacemaker.app.live.plain_line`), none with ``quiet``. Events
    (a worker died, lost jobs re-queued, a job failed, an iteration decided) are printed as lines either way.

    When the database stops answering, ``revive`` may bring it back (the embedded server is restarted; it returns
    what it did, or None when it could not): the watch goes on; otherwise DatabaseLost ends it."""
    from rich.live import Live

    started = time.monotonic()
    next_lost_check = time.monotonic() + lost_check_s
    stuck_since: float | None = None
    seen_fizzled: set[int] = set()
    decided = set(finished_iterations(_now(db, campaign)))  # decisions from before this run are no news

    def say(line: str, style: str) -> None:
        console.print(f"[{style}]{escape(line)}[/]", soft_wrap=True)

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` run once the database answers: a lost database is revived, or the watch ends (DatabaseLost)."""

        def run(*args: Any) -> Any:
            while True:
                try:
                    return fn(*args)
                except PyMongoError as exc:
                    what = revive(exc) if revive is not None else None
                    if what is None:
                        raise DatabaseLost(f"the database stopped answering ({type(exc).__name__}); start it "
                                           "again and run the same command to continue the campaign") from None  # fmt: skip
                    say(what, "yellow")

        return run

    @guarded
    def step() -> dict[str, Any]:
        """Look after the workers and the lost jobs, then the states; sets ``stopped`` when it cannot go on."""
        nonlocal next_lost_check, stuck_since
        check_lost = time.monotonic() >= next_lost_check
        if (
            check_lost
        ):  # our own workers that live but stopped pinging: frozen, or hung in code that blocks them
            mine = {w.token: w for w in workers.alive()}
            for token in silent_workers(lp, root, lost_after_s, mine):
                w = mine[token]
                say(f"worker {w.index} (pid {w.proc.pid}) has not pinged its job for {lost_after_s:.0f} s "
                    "(frozen, or hung in code that blocks it; workers.lost_after_s): killed", "yellow")  # fmt: skip
                workers.kill(w)
        for line in tend_workers(lp, root, workers):
            say(line, "yellow")
        if check_lost:
            next_lost_check = time.monotonic() + lost_check_s
            lost = recover_lost(lp, root, lost_after_s, spare={w.token for w in workers.workers})
            if lost:
                line = (f"re-queued {len(lost)} lost job(s) (no ping for {lost_after_s:.0f} s): "
                        f"{', '.join(job_names(lp, lost))}")  # fmt: skip
                say(line, "yellow")
        for name in job_names(lp, rerun_transient(lp, root)):
            say(f"re-queued {name}: it failed for a passing reason (the database out of reach, its allocation's "
                "time ran out); it continues from what was stored", "yellow")  # fmt: skip
        st = workflow_states(lp, root)
        failed = [i for i in st.get("fizzled", []) if i not in seen_fizzled]
        seen_fizzled.update(failed)
        for line in _failed_lines(lp, failed):
            say(f"job failed: {line}", "red")
        if st["state"] == "COMPLETED":
            return st
        why = cannot_progress(st, workers)
        if why is None:
            stuck_since = None
        elif stuck_since is None:
            stuck_since = time.monotonic()
        if why and (time.monotonic() - stuck_since >= settle_s or st["state"] == "MISSING"):
            say(why, "red")
            st["stopped"] = why
        return st

    @guarded
    def now(st: dict[str, Any]) -> Snapshot:
        """The snapshot to show; prints the iterations decided since the last look."""
        doc = _now(db, campaign)
        for n, line in sorted(finished_iterations(doc).items()):
            if n not in decided:
                decided.add(n)
                say(line, "green")
        return snapshot(doc, job_counts(lp, st), st["running"], time.monotonic() - started,
                        len(workers.alive()))  # fmt: skip

    def finished(st: dict[str, Any]) -> bool:
        return st["state"] == "COMPLETED" or "stopped" in st

    st = step()
    if quiet or not console.is_terminal:
        last = None
        while True:
            snap = now(st)
            line = plain_line(snap)
            if line != last and not quiet:
                console.print(f"{elapsed(snap.elapsed_s)} {line}", markup=False, soft_wrap=True)
                last = line
            if finished(st):
                return st
            time.sleep(1.0)
            st = step()
    with Live(panel(now(st)), console=console, refresh_per_second=2) as live:
        while not finished(st):
            time.sleep(0.5)
            st = step()
            live.update(panel(now(st)))
    return st


def _status(s: CampaignStatus | Mapping[str, Any]) -> CampaignStatus:
    return s if isinstance(s, CampaignStatus) else CampaignStatus.model_validate(s)


def print_summary(s: CampaignStatus | Mapping[str, Any], calls_this_run: int | None = None) -> None:
    """The table of a campaign's iterations, its conditions, test errors, verdict and potential. A status
    document (mapping) may carry ``oracle_calls_this_run`` instead of ``calls_this_run``."""
    if isinstance(s, Mapping) and calls_this_run is None:
        calls_this_run = s.get("oracle_calls_this_run")
    s = _status(s)
    t = Table(title=f"campaign {s.campaign}: {s.state}" + (f" ({s.end_reason})" if s.end_reason else ""))
    # short headers: the table must fit an 80-column terminal; the caption explains them
    for col in (
        "it",
        "data",
        "halts",
        "γ max",
        "sel",
        "calls",
        "E rmse",
        "F rmse",
        "E test",
        "fit s",
        "decision",
    ):
        t.add_column(col, no_wrap=True)
    t.caption = ("data: labelled structures; sel: chosen by the selector; calls: oracle calls; RMSE on the "
                 "training set (E meV/atom, F meV/A); E test: held-out families; fit s: wall time, * warm start")  # fmt: skip
    for it in s.iterations:
        m = it.train_metrics
        t.add_row(str(it.iteration), str(it.dataset_size or "-"), str(it.halts),
                  f"{it.max_gamma:.2f}" if it.max_gamma else "-", str(it.selected if it.selected is not None else "-"),
                  str(it.oracle_calls), fmt(m.get("train_energy_rmse_meV_atom")), fmt(m.get("train_forces_rmse_meV_A")),
                  fmt(it.test_metrics.get("energy_rmse_meV_atom")),
                  ("-" if it.fit_wall_time_s is None else f"{it.fit_wall_time_s:.0f}" + ("*" if it.warm_start else ""))
                  + (" failed" if it.fit_failed else ""),
                  it.decision or "-")  # fmt: skip
    console.print(t)
    print_conditions(s)
    tm = s.test_metrics
    if tm:
        console.print(f"held-out test set ({tm.get('test_n_structures', 0):.0f} oracle-labelled MD snapshots): "
                      f"energy RMSE {tm['test_energy_rmse_meV_atom']:.2f} meV/atom, "
                      f"forces RMSE {tm['test_forces_rmse_meV_A']:.1f} meV/A")  # fmt: skip
    v = s.validation
    if v:
        colour = "green" if v.verdict == "go" else "red"
        console.print(f"validation of {v.potential_id}: [{colour}]{(v.verdict or '').upper()}[/]"
                      + "".join(f"\n  - {r}" for r in v.reasons or []))  # fmt: skip
    sur = s.surrogate
    if sur:
        f0, f1 = sur.before.get("forces_mae_meV_A"), sur.after.get("forces_mae_meV_A")
        tuned = (
            f", held-out forces MAE {f0:.0f} -> {f1:.0f} meV/A" if f0 is not None and f1 is not None else ""
        )
        console.print(f"surrogate {sur.model}: fine-tuned on {sur.n_train} oracle labels{tuned}; {sur.labelled} "
                      f"surrogate labels from a pool of {sur.pool}; base potential {sur.base_potential or '-'}")  # fmt: skip
    console.print(
        f"oracle calls: {s.oracle_calls}"
        + (f" ({calls_this_run} in this run)" if calls_this_run is not None else "")
    )
    console.print(f"potential: {s.potential_path or '-'}")


def print_conditions(s: CampaignStatus | Mapping[str, Any]) -> None:
    """Halts per exploration condition and iteration: H = halted (step), . = ran its window without a halt."""
    s = _status(s)
    names: list[str] = []
    for it in s.iterations:
        names += [c.name for c in it.conditions if c.name not in names]
    if not names:
        return
    t = Table(title="exploration conditions")
    t.add_column("condition", no_wrap=True)
    for it in s.iterations:
        t.add_column(f"it {it.iteration}", no_wrap=True)
    t.add_column("halts", no_wrap=True)
    t.add_column("quiet", no_wrap=True)
    t.caption = (
        "each cell: H = halted on gamma (@ when: MD time, kMC steps), . = no halt; T at the condition's escalation "
        "level; quiet: halt-free runs in a row. A condition that halts at the same early moment every iteration "
        "is not learning from its halts"
    )
    last = next((it.quiet_windows for it in reversed(s.iterations) if it.quiet_windows), {})
    for name in names:
        cells, n = [], 0
        for it in s.iterations:
            c = next((c for c in it.conditions if c.name == name), None)
            if c is None:
                cells.append("")
                continue
            n += bool(c.halted)
            cells.append(("H" if c.halted else ".") + f" {c.temperature_K or 0:.0f}K" + _halted_at(c))
        t.add_row(name, *cells, str(n), str(last.get(name, "-")))
    console.print(t)
    notes = {f"{c.name}: {c.notice or c.error}" for it in s.iterations
             for c in it.conditions if c.notice or c.error}  # fmt: skip
    for line in sorted(notes)[:10]:
        console.print(f"[yellow]note[/] {line}")


def _halted_at(c) -> str:
    """' @0.04ps' (MD) or ' @12 steps' (kMC) for a halted run: halts that come later each iteration are learned."""
    if not c.halted:
        return ""
    if c.driver in ("kmc", "eon"):
        return f" @{c.steps_done or 0} steps"
    return f" @{(c.simulated_time_fs or 0.0) / 1000:.2f}ps"


def fmt(v) -> str:
    return f"{v:.2f}" if isinstance(v, (int, float)) else "-"
