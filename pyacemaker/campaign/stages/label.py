"""Labelling: one batch of the selected structures through the campaign's oracle."""

from __future__ import annotations

from pyacemaker.campaign.budget import reserve
from pyacemaker.campaign.context import Context
from pyacemaker.db import Database
from pyacemaker.oracle import label
from pyacemaker.schemas.records import StructureRecord
from pyacemaker.schemas.stages import LabelOut, Rejection, Selection


def label_stage(
    db: Database, ctx: Context, selection: Selection, batch: int, n_batches: int, iteration: int
) -> LabelOut:
    """Label this batch's share of the selection; structures already labelled with the same settings are reused,
    and nothing beyond ``budget.max_oracle_calls`` is computed, whatever the other batches do (each structure is
    reserved atomically first, :mod:`pyacemaker.campaign.budget`).

    A structure another campaign of the database labelled with the same oracle settings takes that label (no
    oracle call; ``Labels.shared_from`` names the record). Each label is stored and counted as it completes. When the allocation's time runs out (OracleInterrupted),
    the exception ends the job unfinished: its re-run reuses what was stored (labels, and rejections as they
    stand) and continues the interrupted structure."""
    mine = selection.ids[batch::n_batches]
    oracle = ctx.oracle
    records = db.get_records(mine) if mine else []
    todo = [r for r in records if not (r.labels and r.labels.settings_hash == oracle.settings_hash)]
    # a re-run: a rejection stands as it is, like a label (not recomputed, not counted again)
    rejected_before = [r for r in todo if r.status == "rejected"]
    todo = [r for r in todo if r.status != "rejected"]
    reused = len(records) - len(todo) - len(rejected_before)
    db.update_campaign(ctx.campaign, {"stage": "label"})
    # the same structure labelled with the same settings by another campaign (same database): its label, no call
    shared = db.shared_labels([r.hash for r in todo], oracle.settings_hash, ctx.campaign)
    for r in [r for r in todo if r.hash in shared]:
        source, labels = shared[r.hash]
        r.labels = labels.model_copy(update={"shared_from": source})
        r.status = r.labelled_status
        r.reject_reason = None
        db.set_labels(r)
    todo = [r for r in todo if r.hash not in shared]
    max_calls = ctx.config.budget.max_oracle_calls
    skipped: list[str] = []

    def may_start(r: StructureRecord) -> bool:
        ok = reserve(db, ctx.campaign, r.id, max_calls)
        if not ok:
            skipped.append(r.id)
        return ok

    def store(r: StructureRecord) -> None:
        db.set_labels(r)
        db.update_campaign(ctx.campaign, inc={"oracle_calls": 1, f"iterations.{iteration}.oracle_calls": 1})

    done = label(todo, oracle, ctx.iter_dir(iteration, "label"), may_start=may_start, on_done=store)
    return LabelOut(
        labelled=[r.id for r in done if r.status in ("labelled", "test")],
        rejected=[
            Rejection(id=r.id, reason=r.reject_reason)
            for r in [*rejected_before, *done]
            if r.status == "rejected"
        ],
        reused=reused,
        shared=len(shared),
        over_budget=skipped,
        oracle_calls=len(done),
    )
