"""Labelling: one batch of the selected structures through the campaign's oracle."""

from __future__ import annotations

from pyacemaker.campaign.context import Context
from pyacemaker.db import Database
from pyacemaker.oracle import label
from pyacemaker.schemas.stages import LabelOut, Rejection, Selection


def label_stage(
    db: Database, ctx: Context, selection: Selection, batch: int, n_batches: int, iteration: int
) -> LabelOut:
    """Label this batch's share of the selection; structures already labelled with the same settings are reused,
    and nothing beyond ``budget.max_oracle_calls`` is computed."""
    mine = selection.ids[batch::n_batches]
    oracle = ctx.oracle
    records = db.get_records(mine) if mine else []
    todo = [r for r in records if not (r.labels and r.labels.settings_hash == oracle.settings_hash)]
    reused = len(records) - len(todo)
    doc = db.campaign_doc(ctx.campaign)
    budget_left = max(ctx.config.budget.max_oracle_calls - (doc.oracle_calls if doc else 0), 0)
    skipped, todo = todo[budget_left:], todo[:budget_left]
    db.update_campaign(ctx.campaign, {"stage": "label"})
    done = label(todo, oracle, ctx.iter_dir(iteration, "label"))
    for r in done:
        db.set_labels(r)
    if done:
        db.update_campaign(
            ctx.campaign, inc={"oracle_calls": len(done), f"iterations.{iteration}.oracle_calls": len(done)}
        )
    return LabelOut(
        labelled=[r.id for r in done if r.status in ("labelled", "test")],
        rejected=[Rejection(id=r.id, reason=r.reject_reason) for r in done if r.status == "rejected"],
        reused=reused,
        over_budget=[r.id for r in skipped],
        oracle_calls=len(done),
    )
