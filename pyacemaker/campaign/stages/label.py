"""Labelling: one batch of the selected structures through the campaign's oracle."""

from __future__ import annotations

from pyacemaker.campaign.context import Context
from pyacemaker.db import Database
from pyacemaker.oracle import label
from pyacemaker.oracle.base import OracleInterrupted
from pyacemaker.schemas.stages import LabelOut, Rejection, Selection


def label_stage(
    db: Database, ctx: Context, selection: Selection, batch: int, n_batches: int, iteration: int
) -> LabelOut:
    """Label this batch's share of the selection; structures already labelled with the same settings are reused,
    and nothing beyond ``budget.max_oracle_calls`` is computed.

    When the allocation's time runs out (OracleInterrupted), the labels finished so far are stored and counted,
    and the exception ends the job unfinished: its re-run reuses them (labels, and rejections as they stand) and
    continues the interrupted structure."""
    mine = selection.ids[batch::n_batches]
    oracle = ctx.oracle
    records = db.get_records(mine) if mine else []
    todo = [r for r in records if not (r.labels and r.labels.settings_hash == oracle.settings_hash)]
    # a re-run: a rejection stands as it is, like a label (not recomputed, not counted again)
    rejected_before = [r for r in todo if r.status == "rejected"]
    todo = [r for r in todo if r.status != "rejected"]
    reused = len(records) - len(todo) - len(rejected_before)
    doc = db.campaign_doc(ctx.campaign)
    budget_left = max(ctx.config.budget.max_oracle_calls - (doc.oracle_calls if doc else 0), 0)
    skipped, todo = todo[budget_left:], todo[:budget_left]
    db.update_campaign(ctx.campaign, {"stage": "label"})
    try:
        done = label(todo, oracle, ctx.iter_dir(iteration, "label"))
    except OracleInterrupted as exc:
        _store(db, ctx, exc.done, iteration)
        raise
    _store(db, ctx, done, iteration)
    return LabelOut(
        labelled=[r.id for r in done if r.status in ("labelled", "test")],
        rejected=[
            Rejection(id=r.id, reason=r.reject_reason)
            for r in [*rejected_before, *done]
            if r.status == "rejected"
        ],
        reused=reused,
        over_budget=[r.id for r in skipped],
        oracle_calls=len(done),
    )


def _store(db: Database, ctx: Context, done: list, iteration: int) -> None:
    """Finished records into the database, each counted as one oracle call."""
    for r in done:
        db.set_labels(r)
    if done:
        db.update_campaign(
            ctx.campaign, inc={"oracle_calls": len(done), f"iterations.{iteration}.oracle_calls": len(done)}
        )
