"""The campaign's jobs as a person reads them: per class, FireWorks' state next to the queue's (``status``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from rich.table import Table

# what is worth a line by default: jobs on their way or stuck (finished and future jobs are counted only)
LIVE_STATES = ("RUNNING", "RESERVED", "READY", "FIZZLED", "PAUSED", "DEFUSED")
CLASS_ORDER = ("label", "train", "explore", "light")


def class_counts(jobs: Iterable[Mapping[str, Any]]) -> dict[str, Counter]:
    """{class: Counter(FireWorks state -> jobs)} in a fixed class order."""
    out: dict[str, Counter] = {}
    for j in jobs:
        out.setdefault(j["job_class"], Counter())[j["fw_state"]] += 1
    order = {c: i for i, c in enumerate(CLASS_ORDER)}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


def counts_line(jobs: Iterable[Mapping[str, Any]]) -> str:
    """'label 12 completed, 2 running · train ...' (one line per campaign)."""
    parts = []
    for cls, c in class_counts(jobs).items():
        words = ", ".join(f"{n} {state.lower()}" for state, n in sorted(c.items()))
        parts.append(f"{cls}: {words}")
    return " · ".join(parts)


def jobs_table(jobs: list[Mapping[str, Any]], everything: bool = False, title: str = "jobs") -> Table | None:
    """One row per job: id, name, class, FireWorks state, launches, queue id, queue state. Without
    ``everything`` only the jobs on their way or stuck; None when there is nothing to show."""
    rows = [j for j in jobs if everything or j["fw_state"] in LIVE_STATES]
    if not rows:
        return None
    queued = any(j.get("queue_id") for j in rows)
    t = Table(title=title)
    for col in (
        "fw",
        "job",
        "class",
        "FireWorks",
        "launches",
        *(("queue id", "queue state") if queued else ()),
    ):
        t.add_column(col, justify="right" if col in ("fw", "launches") else "left")
    for j in rows:
        cells = [str(j["fw_id"]), j["name"], j["job_class"], j["fw_state"], str(j.get("launches", 0))]
        if queued:
            phase, raw = j.get("queue_phase"), j.get("queue_state")
            shown = f"{phase} ({raw})" if raw and phase and raw.lower() != phase else (phase or raw or "-")
            cells += [j.get("queue_id") or "-", shown if j.get("queue_id") else "-"]
        t.add_row(*cells)
    return t
