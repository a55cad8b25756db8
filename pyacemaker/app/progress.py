"""What a person watches: live progress of a running campaign, and the summary table of one that ran."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from pyacemaker.campaign.launchpad import workflow_states

# not a terminal (a log file, CI): wide enough for the summary tables
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def watch(db, lp, campaign: str, root: int, procs, quiet: bool) -> dict[str, Any]:
    """Live progress until the workflow completes or cannot go on."""
    from rich.live import Live

    def render(st: dict[str, Any]) -> Table:
        doc = db.campaign(campaign) or {}
        c = st["counts"]
        t = Table.grid(padding=(0, 2))
        gamma = doc.get("latest_max_gamma")
        t.add_row(
            "iteration",
            str(doc.get("iteration", 0)),
            "stage",
            ", ".join(st["running"]) or doc.get("stage", "-"),
        )
        t.add_row("jobs", f"{c.get('COMPLETED', 0)} done, {c.get('RUNNING', 0)} running, "
                  f"{c.get('READY', 0) + c.get('WAITING', 0)} waiting, {c.get('FIZZLED', 0)} failed",
                  "oracle calls", str(doc.get("oracle_calls", 0)))  # fmt: skip
        t.add_row(
            "latest max gamma", f"{gamma:.2f}" if gamma is not None else "-", "state", doc.get("state", "-")
        )
        return t

    def done(st: dict[str, Any]) -> bool:
        c = st["counts"]
        if st["state"] in ("COMPLETED", "MISSING"):
            return True
        stuck = c.get("FIZZLED", 0) and not c.get("RUNNING", 0) and not c.get("READY", 0)
        dead = all(p.poll() is not None for p in procs)
        return bool(stuck or dead)

    st = workflow_states(lp, root)
    if quiet or not console.is_terminal:
        last = None
        while not done(st):
            doc = db.campaign(campaign) or {}
            line = (f"iteration {doc.get('iteration', 0)} | {', '.join(st['running']) or doc.get('stage', '-')} | "
                    f"jobs {st['counts']} | oracle calls {doc.get('oracle_calls', 0)}")  # fmt: skip
            if line != last and not quiet:
                console.print(line)
                last = line
            time.sleep(1.0)
            st = workflow_states(lp, root)
        return st
    with Live(render(st), console=console, refresh_per_second=2) as live:
        while not done(st):
            time.sleep(0.5)
            st = workflow_states(lp, root)
            live.update(render(st))
    return st


def print_summary(s: dict[str, Any]) -> None:
    t = Table(
        title=f"campaign {s['campaign']}: {s['state']}"
        + (f" ({s['end_reason']})" if s.get("end_reason") else "")
    )
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
    for it in s["iterations"]:
        m = it["train_metrics"]
        t.add_row(str(it["iteration"]), str(it["dataset_size"] or "-"), str(it["halts"]),
                  f"{it['max_gamma']:.2f}" if it["max_gamma"] else "-", str(it["selected"] if it["selected"] is not None else "-"),
                  str(it["oracle_calls"]), fmt(m.get("train_energy_rmse_meV_atom")), fmt(m.get("train_forces_rmse_meV_A")),
                  fmt(it["test_metrics"].get("energy_rmse_meV_atom")),
                  ("-" if it["fit_wall_time_s"] is None else f"{it['fit_wall_time_s']:.0f}" + ("*" if it["warm_start"] else ""))
                  + (" failed" if it["fit_failed"] else ""),
                  it["decision"] or "-")  # fmt: skip
    console.print(t)
    print_conditions(s)
    tm = s.get("test_metrics") or {}
    if tm:
        console.print(f"held-out test set ({tm.get('test_n_structures', 0):.0f} oracle-labelled MD snapshots): "
                      f"energy RMSE {tm['test_energy_rmse_meV_atom']:.2f} meV/atom, "
                      f"forces RMSE {tm['test_forces_rmse_meV_A']:.1f} meV/A")  # fmt: skip
    v = s.get("validation")
    if v:
        colour = "green" if v["verdict"] == "go" else "red"
        console.print(f"validation of {v['potential_id']}: [{colour}]{v['verdict'].upper()}[/]"
                      + "".join(f"\n  - {r}" for r in v.get("reasons") or []))  # fmt: skip
    console.print(
        f"oracle calls: {s['oracle_calls']}"
        + (f" ({s['oracle_calls_this_run']} in this run)" if "oracle_calls_this_run" in s else "")
    )
    console.print(f"potential: {s['potential_path'] or '-'}")


def print_conditions(s: dict[str, Any]) -> None:
    """Halts per exploration condition and iteration: H = halted (step), . = ran its window without a halt."""
    names: list[str] = []
    for it in s["iterations"]:
        names += [c["name"] for c in it.get("conditions", []) if c["name"] not in names]
    if not names:
        return
    t = Table(title="exploration conditions")
    t.add_column("condition", no_wrap=True)
    for it in s["iterations"]:
        t.add_column(f"it {it['iteration']}", no_wrap=True)
    t.add_column("halts", no_wrap=True)
    t.add_column("quiet", no_wrap=True)
    t.caption = "each cell: H = halted on gamma, . = no halt; T at the condition's escalation level; quiet: halt-free runs in a row"
    last = next((it for it in reversed(s["iterations"]) if it.get("quiet_windows")), {})
    for name in names:
        cells, n = [], 0
        for it in s["iterations"]:
            c = next((c for c in it.get("conditions", []) if c["name"] == name), None)
            if c is None:
                cells.append("")
                continue
            n += bool(c.get("halted"))
            cells.append(("H" if c.get("halted") else ".") + f" {c.get('temperature_K') or 0:.0f}K")
        t.add_row(name, *cells, str(n), str(last.get("quiet_windows", {}).get(name, "-")))
    console.print(t)
    notes = {f"{c['name']}: {c.get('notice') or c.get('error')}" for it in s["iterations"]
             for c in it.get("conditions", []) if c.get("notice") or c.get("error")}  # fmt: skip
    for line in sorted(notes)[:10]:
        console.print(f"[yellow]note[/] {line}")


def fmt(v) -> str:
    return f"{v:.2f}" if isinstance(v, (int, float)) else "-"
