"""What `pyacemaker run` shows while it watches a campaign, as pure functions: database documents in, a
:class:`Snapshot` out, and the snapshot as a rich panel (a terminal) or one line of plain words (a log file, CI).

Nothing here reads the database or prints: :func:`pyacemaker.app.progress.watch` does both, so every function
here is tested with plain documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pyacemaker.campaign.queue import JOB_CLASS
from pyacemaker.config.schema import JOB_CLASSES
from pyacemaker.schemas.campaign import CampaignDoc

# FireWorks states as a person reads them, in the order they are shown; RESERVED (a queue job holds it) is
# counted as ready, WAITING (its parents are not done) is shown in the panel only
COLUMNS = (("WAITING", "waiting"), ("READY", "ready"), ("RUNNING", "running"), ("COMPLETED", "done"),
           ("FIZZLED", "failed"))  # fmt: skip
_AS = {"RESERVED": "READY"}


@dataclass(frozen=True)
class Snapshot:
    """Everything the display shows at one moment."""

    campaign: str
    iteration: int = 0
    stage: str = "-"
    state: str = "-"  # the campaign document's (running, converged, ...)
    classes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # class -> FireWorks state -> n
    running: tuple[str, ...] = ()  # names of the running jobs
    oracle_calls: int = 0
    oracle_budget: int | None = None
    gamma: float | None = None  # the highest extrapolation grade of the latest iteration that explored
    gamma_iteration: int | None = None
    gamma_halt: float | None = None
    elapsed_s: float = 0.0
    workers: int | None = None  # local workers alive


def job_class(fw: Mapping[str, Any]) -> str:
    """A firework's job class: its spec's ``pyacemaker_class``, else from its name (``train (it 0)`` -> train)."""
    cls = (fw.get("spec") or {}).get("pyacemaker_class")
    if cls:
        return str(cls)
    return JOB_CLASS.get(str(fw.get("name", "")).split(" ")[0], "light")


def class_counts(fireworks: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Jobs per class and state from firework documents (``state``, ``name``, ``spec.pyacemaker_class``).
    Every class is present (label, train, explore, light), each with the states of :data:`COLUMNS`."""
    out: dict[str, dict[str, int]] = {c: {s: 0 for s, _ in COLUMNS} for c in JOB_CLASSES}
    for fw in fireworks:
        state = _AS.get(fw.get("state", ""), fw.get("state", ""))
        per = out.setdefault(job_class(fw), {s: 0 for s, _ in COLUMNS})
        per[state] = per.get(state, 0) + 1
    return out


def latest_gamma(doc: CampaignDoc) -> tuple[int | None, float | None]:
    """(iteration, max gamma) of the latest iteration with an exploration run that measured one; the
    document's ``latest_max_gamma`` (the last run's) when no iteration has any."""
    for n, it in reversed(doc.iteration_docs()):
        gammas = [r.max_gamma for r in it.runs() if r.max_gamma is not None]
        if gammas:
            return n, max(gammas)
    return None, doc.latest_max_gamma


def _config(doc: CampaignDoc, *keys: str) -> Any:
    v: Any = doc.config or {}
    for k in keys:
        v = v.get(k) if isinstance(v, Mapping) else None
    return v


def snapshot(doc: CampaignDoc, classes: Mapping[str, Mapping[str, int]], running: Iterable[str] = (),
             elapsed_s: float = 0.0, workers: int | None = None) -> Snapshot:  # fmt: skip
    """The snapshot of a campaign document and its job counts (:func:`class_counts`)."""
    n, gamma = latest_gamma(doc)
    return Snapshot(
        campaign=doc.name, iteration=doc.iteration or 0, stage=doc.stage or "-", state=doc.state,
        classes=classes, running=tuple(running), oracle_calls=doc.oracle_calls,
        oracle_budget=_config(doc, "budget", "max_oracle_calls"), gamma=gamma, gamma_iteration=n,
        gamma_halt=_config(doc, "explore", "gamma_halt"), elapsed_s=elapsed_s, workers=workers,
    )  # fmt: skip


def elapsed(seconds: float) -> str:
    """``0:42``, ``3:07``, ``1:02:03``."""
    s = int(max(seconds, 0))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def oracle_text(s: Snapshot) -> str:
    return f"{s.oracle_calls}/{s.oracle_budget}" if s.oracle_budget else str(s.oracle_calls)


def gamma_text(s: Snapshot, halt: bool = True) -> str:
    if s.gamma is None:
        return "-"
    out = f"{s.gamma:.2f}"
    if s.gamma_iteration is not None:
        out += f" (it {s.gamma_iteration})"
    if halt and s.gamma_halt is not None:
        out += f", halts above {s.gamma_halt:g}"
    return out


def class_words(counts: Mapping[str, int]) -> str:
    """``3 running 5 done`` (the states that are not zero; waiting jobs left out)."""
    return " ".join(f"{counts.get(state, 0)} {word}" for state, word in COLUMNS
                    if state != "WAITING" and counts.get(state, 0))  # fmt: skip


def plain_line(s: Snapshot) -> str:
    """One line of plain words, the same while nothing changes (no time in it):
    ``iteration 2 · stage label · label 3 running 5 done · oracle calls 24/60 · gamma max 3.10 (it 1)``."""
    parts = [f"iteration {s.iteration}", f"stage {s.stage}"]
    parts += [f"{c} {w}" for c in _ordered(s.classes) if (w := class_words(s.classes[c]))]
    parts.append(f"oracle calls {oracle_text(s)}")
    if s.gamma is not None:
        parts.append(f"gamma max {gamma_text(s, halt=False)}")
    return " · ".join(parts)


def _ordered(classes: Mapping[str, Any]) -> list[str]:
    return [c for c in JOB_CLASSES if c in classes] + sorted(c for c in classes if c not in JOB_CLASSES)


def jobs_table(classes: Mapping[str, Mapping[str, int]]) -> Table:
    """Jobs per class (rows) and state (columns); zeros shown as a dim dot."""
    t = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    t.add_column("jobs", no_wrap=True)
    for _, word in COLUMNS:
        t.add_column(word, justify="right", no_wrap=True)
    style = {"RUNNING": "cyan", "COMPLETED": "green", "FIZZLED": "red"}
    for c in _ordered(classes):
        cells = []
        for state, _ in COLUMNS:
            n = classes[c].get(state, 0)
            cells.append(Text(str(n), style=style.get(state, "")) if n else Text("·", style="dim"))
        t.add_row(c, *cells)
    return t


def panel(s: Snapshot) -> Panel:
    """The live panel: campaign, iteration, stage, oracle calls, gamma, time; jobs per class; running jobs."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="dim", no_wrap=True)
    head.add_column(no_wrap=True, min_width=8)  # room for what comes later: the box keeps its size
    head.add_column(style="dim", no_wrap=True)
    head.add_column(no_wrap=True, min_width=30)
    head.add_row("iteration", f"[bold]{s.iteration}[/]", "stage", f"[bold]{escape(s.stage)}[/]")
    head.add_row("oracle calls", oracle_text(s), "gamma max", escape(gamma_text(s)))
    head.add_row("elapsed", elapsed(s.elapsed_s), "workers" if s.workers is not None else "",
                 str(s.workers) if s.workers is not None else "")  # fmt: skip
    running = Text("running: ", style="dim")
    running.append(", ".join(s.running) if s.running else "-", style="cyan" if s.running else "")
    return Panel(Group(head, Text(""), jobs_table(s.classes), Text(""), running),
                 title=f"[bold]{escape(s.campaign)}[/] · {escape(s.state)}", title_align="left",
                 expand=False)  # fmt: skip


def finished_iterations(doc: CampaignDoc) -> dict[int, str]:
    """A line for each iteration that has its decision: ``iteration 1 done: continue (2 of 3 conditions halted
    on gamma) · gamma max 3.10 · 6 labelled``."""
    out = {}
    for n, it in doc.iteration_docs():
        if it.decision is None:
            continue
        line = f"iteration {n} done: {it.decision}"
        if it.decision_reason:
            line += f" ({it.decision_reason})"
        gammas = [r.max_gamma for r in it.runs() if r.max_gamma is not None]
        if gammas:
            line += f" · gamma max {max(gammas):.2f}"
        if it.oracle_calls:
            line += f" · {it.oracle_calls} oracle calls"
        out[n] = line
    return out
