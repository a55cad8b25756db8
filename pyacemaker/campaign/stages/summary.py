"""The end of a campaign: the final fit, the held-out test set, the quality gate, then either one more iteration
for the gate's targeted structures (:func:`pyacemaker.explore.policy.after_gate`) or the summary and a LAMMPS folder."""

from __future__ import annotations

from dataclasses import dataclass

from pyacemaker.campaign.context import Context, potential_files
from pyacemaker.campaign.stages.distill import surrogate_on_test_set
from pyacemaker.campaign.stages.test_set import test_set_stage
from pyacemaker.campaign.stages.train import final_fit_stage
from pyacemaker.campaign.stages.validation import validation_stage
from pyacemaker.db import Database
from pyacemaker.explore.md.lammps_input import lammps_ready
from pyacemaker.explore.policy import after_gate
from pyacemaker.schemas.stages import Decision, SummaryOut


@dataclass
class Ending:
    """What the summary concluded: ``decision`` continues (a No-Go iteration labelling ``targeted_ids`` with
    ``potential_id`` as its starting potential), or the campaign ends with ``summary``."""

    decision: Decision
    potential_id: str
    targeted_ids: list[str]
    summary: SummaryOut | None = None


def summary_stage(db: Database, ctx: Context, ended: Decision, potential_id: str) -> Ending:
    """Final fit, held-out test set, quality gate; a No-Go within the budget asks for another iteration."""
    potential_id = final_fit_stage(db, ctx, potential_id)
    test = test_set_stage(db, ctx, potential_id)
    surrogate_on_test_set(db, ctx)  # workflow: distill: the surrogate against the same held-out labels
    gate = validation_stage(db, ctx, potential_id, ended.iteration + 1)
    doc = db.campaign_doc(ctx.campaign)
    active = (doc.active_conditions or []) if doc else []  # exploration goes on where decide left it
    rounds, calls = (doc.no_go_rounds, doc.oracle_calls) if doc else (0, 0)
    nxt = after_gate(ended, gate, rounds, calls, ctx.config, active)
    if not nxt.ends:
        db.update_campaign(ctx.campaign, {"state": "running", "stage": "validation: no-go",
                                          "iteration": nxt.iteration, "no_go_rounds": rounds + 1})  # fmt: skip
        db.set_iteration_part(
            ctx.campaign, nxt.iteration, origin="validation no-go", targeted=len(gate.targeted_ids)
        )
        return Ending(nxt, potential_id, gate.targeted_ids)
    pot = db.potential(potential_id)
    files = potential_files(db, ctx, potential_id)  # verified: a damaged copy on disk is never the one named
    lmp_dir = lammps_ready(ctx.config.elements, ctx.baseline, files, ctx.workdir / "lammps",
                           float(max(ctx.config.explore.temperatures or [300.0])))  # fmt: skip
    summary = SummaryOut(
        state=ended.verdict, reason=ended.reason, potential_id=potential_id, lammps_dir=str(lmp_dir),
        potential_path=str(files["yace"]) if "yace" in files else None,
        n_structures=pot.n_structures if pot else None, test_metrics=test,
        train_metrics=pot.metrics if pot else {}, validation=gate.verdict, validation_reasons=gate.reasons,
    )  # fmt: skip
    db.set_campaign_part(ctx.campaign, stage="done", summary=summary, test_metrics=test)
    return Ending(ended, potential_id, [], summary)
