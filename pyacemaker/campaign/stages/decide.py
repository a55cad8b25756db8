"""The decision after an iteration: adapt the conditions, decide (continue, or converged / stalled / budget) with
:func:`pyacemaker.explore.policy.plan_next`, and record both in the campaign document."""

from __future__ import annotations

from collections.abc import Sequence

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.stages.validation import validation_stage
from pyacemaker.db import Database
from pyacemaker.explore.policy import effective, plan_next
from pyacemaker.schemas.stages import ActiveCondition, Decision, ExploreOut, TrainOut


def decide_stage(db: Database, ctx: Context, iteration: int, explore_outs: Sequence[ExploreOut], train: TrainOut,
                 active: Sequence[ActiveCondition]) -> Decision:  # fmt: skip
    """Decide what follows ``iteration`` and record it (with the adapted conditions); with
    ``validation.every_iteration`` the iteration's potential is gated first (recorded only)."""
    doc = db.campaign_doc(ctx.campaign)
    if ctx.config.validation.every_iteration and train.trained:
        validation_stage(db, ctx, train.potential_id, iteration, record_only=True)
    decision = plan_next(iteration, explore_outs, train, ctx.config, doc.oracle_calls if doc else 0, active)
    runs = [effective(a, ctx.config.explore) for a in decision.conditions]
    db.set_iteration_part(ctx.campaign, iteration, decision=decision.verdict, decision_reason=decision.reason,
                          halts=decision.halts, conditions=runs)  # fmt: skip
    db.set_campaign_part(ctx.campaign, active_conditions=decision.conditions)
    if decision.ends:
        db.update_campaign(ctx.campaign, {"state": decision.verdict, "end_reason": decision.reason,
                                          "stage": "summary", "final_iteration": iteration})  # fmt: skip
    else:
        db.update_campaign(ctx.campaign, {"stage": "decide", "iteration": iteration + 1})
    return decision
