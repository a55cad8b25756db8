"""Labelling: one batch of the selected structures through the campaign's oracle."""

from __future__ import annotations

import logging

from pyacemaker.campaign.context import Context
from pyacemaker.db import Database
from pyacemaker.oracle import label, make_oracle

log = logging.getLogger(__name__)


def label_stage(
    db: Database, ctx: Context, ids: list[str], batch: int, n_batches: int, iteration: int
) -> dict:
    """Label this batch's share of ``ids``; structures already labelled with the same settings are reused."""

    mine = ids[batch::n_batches]
    oracle = make_oracle(ctx.config.oracle)
    records = db.get_records(mine) if mine else []
    todo = [r for r in records if not (r.labels and r.labels.settings_hash == oracle.settings_hash)]
    reused = len(records) - len(todo)
    budget_left = ctx.config.budget.max_oracle_calls - int(
        (db.campaign(ctx.campaign) or {}).get("oracle_calls", 0)
    )
    skipped = todo[max(budget_left, 0) :]
    todo = todo[: max(budget_left, 0)]
    db.update_campaign(ctx.campaign, {"stage": "label"})
    done = label(todo, oracle, ctx.iter_dir(iteration, "label"))
    for r in done:
        db.set_labels(r)
    if done:
        db.update_campaign(
            ctx.campaign, inc={"oracle_calls": len(done), f"iterations.{iteration}.oracle_calls": len(done)}
        )
    rejected = [{"id": r.id, "reason": r.reject_reason} for r in done if r.status == "rejected"]
    return {
        "labelled": [r.id for r in done if r.status in ("labelled", "test")],
        "rejected": rejected,
        "reused": reused,
        "over_budget": [r.id for r in skipped],
        "oracle_calls": len(done),
    }
