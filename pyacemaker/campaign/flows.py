"""The campaign graph, in one place: jobflow jobs around the stage functions, and ``decide``.

    iteration 0:  seed -> label x B -> train -> explore x C -> decide
    iteration k:  select -> label x B -> train -> explore x C -> decide      (appended by decide(k-1))
    the end:      decide -> summary                                           (converged / stalled / budget)

Jobs find the database through the JobStore they run with (``CURRENT_JOB.store``), so the flow carries no
connection details or credentials; a FireWorks worker only needs its launchpad and jobflow config.
"""

from __future__ import annotations

from typing import Any

from jobflow import CURRENT_JOB, Flow, JobConfig, Response, job

from pyacemaker.campaign.context import Context, potential_files
from pyacemaker.campaign.stages import decide, explore, label, seed, select, train
from pyacemaker.campaign.stages.test_set import test_set_stage as held_out_errors
from pyacemaker.campaign.stages.validation import validation_stage
from pyacemaker.db import Database
from pyacemaker.explore.md.lammps_input import lammps_ready
from pyacemaker.explore.policy import ActiveCondition, adapt, start


def _db() -> Database:
    store = CURRENT_JOB.store
    if store is None:
        raise RuntimeError(
            "pyacemaker jobs must run inside jobflow (run_locally or FireWorks) with a JobStore"
        )
    return Database.from_job_store(store)


@job(name="seed")
def seed_job(ctx: dict[str, Any]) -> dict[str, Any]:
    return seed.seed_stage(_db(), Context.from_dict(ctx))


@job(name="label")
def label_job(
    ctx: dict[str, Any], selection: dict[str, Any], batch: int, n_batches: int, iteration: int
) -> dict:
    return label.label_stage(_db(), Context.from_dict(ctx), selection["ids"], batch, n_batches, iteration)


@job(name="train")
def train_job(ctx: dict[str, Any], iteration: int, label_outputs: list[dict]) -> dict[str, Any]:
    # label_outputs is only a dependency: training reads every labelled record of the campaign from the database
    return train.train_stage(_db(), Context.from_dict(ctx), iteration)


@job(name="explore", data="candidate_ids")  # candidate lists go to the GridFS store
def explore_job(
    ctx: dict[str, Any], iteration: int, train_out: dict, index: int, condition: dict | None = None
) -> dict[str, Any]:
    return explore.explore_stage(_db(), Context.from_dict(ctx), iteration, train_out, index, condition)


@job(name="select")
def select_job(
    ctx: dict[str, Any], iteration: int, explore_outs: list[dict], potential_id: str
) -> dict[str, Any]:
    return select.select_stage(_db(), Context.from_dict(ctx), iteration, explore_outs, potential_id)


@job(name="decide")
def decide_job(
    ctx: dict[str, Any],
    iteration: int,
    explore_outs: list[dict],
    train_out: dict,
    active: list[dict] | None = None,
) -> Response:
    """Adapt the conditions (halted ones stay, quiet ones escalate), then append the next iteration to the live
    workflow, or end the campaign and append the summary."""

    db, c = _db(), Context.from_dict(ctx)
    calls = int((db.campaign(c.campaign) or {}).get("oracle_calls", 0))
    now = [ActiveCondition.model_validate(a) for a in active] if active else start(c.config)
    nxt_conditions = adapt(now, explore_outs, c.config)
    if c.config.validation.every_iteration and train_out.get("potential_id") and not train_out.get("skipped"):
        validation_stage(db, c, train_out["potential_id"], iteration, record_only=True)
    verdict, reason = decide.decide_outcome(
        iteration, explore_outs, train_out, c.config, calls, nxt_conditions
    )
    halts = {o["run_id"]: bool(o.get("halted")) for o in explore_outs}
    db.set_iteration(c.campaign, iteration, {
        "decision": verdict, "decision_reason": reason, "halts": sum(halts.values()),
        "conditions": [{**a.effective(c.config), "quiet_windows": a.quiet_windows} for a in nxt_conditions],
    })  # fmt: skip
    db.update_campaign(c.campaign, {"active_conditions": [a.model_dump(mode="json") for a in nxt_conditions]})
    if verdict == "continue":
        db.update_campaign(c.campaign, {"stage": "decide", "iteration": iteration + 1})
        nxt = iteration_flow(
            ctx, iteration + 1, explore_outs=explore_outs, potential_id=train_out["potential_id"],
            active=[a.model_dump(mode="json") for a in nxt_conditions],
        )  # fmt: skip
        return Response(output={"decision": verdict, "reason": reason}, addition=nxt)
    db.update_campaign(c.campaign, {"state": verdict, "end_reason": reason, "stage": "summary",
                                    "final_iteration": iteration})  # fmt: skip
    summary = _configured(summary_job(ctx, verdict, reason, train_out["potential_id"], iteration), ctx)
    return Response(output={"decision": verdict, "reason": reason}, addition=Flow([summary], name="summary"))


@job(name="summary")
def summary_job(
    ctx: dict[str, Any], state: str, reason: str, potential_id: str, iteration: int = 0
) -> Response:
    """Final fit, held-out test set, quality gate. A No-Go within the budget appends another iteration that labels
    the gate's targeted structures; otherwise the campaign ends here."""

    db, c = _db(), Context.from_dict(ctx)
    potential_id = train.final_fit_stage(db, c, potential_id)
    test = held_out_errors(db, c, potential_id)
    gate = validation_stage(db, c, potential_id, iteration + 1)
    doc = db.campaign(c.campaign) or {}
    rounds = int(doc.get("no_go_rounds", 0))
    v, b = c.config.validation, c.config.budget
    if (gate["verdict"] == "no-go" and gate["targeted_ids"] and rounds < v.no_go_iterations
            and int(doc.get("oracle_calls", 0)) < b.max_oracle_calls):  # fmt: skip
        db.update_campaign(c.campaign, {"state": "running", "stage": "validation: no-go", "iteration": iteration + 1,
                                        "no_go_rounds": rounds + 1})  # fmt: skip
        db.set_iteration(
            c.campaign, iteration + 1, {"origin": "validation no-go", "targeted": len(gate["targeted_ids"])}
        )
        nxt = iteration_flow(
            ctx,
            iteration + 1,
            potential_id=potential_id,
            given_ids=gate["targeted_ids"],
            active=doc.get("active_conditions"),
        )  # exploration goes on where decide left it
        return Response(output={"state": "no-go", "reasons": gate["reasons"]}, addition=nxt)
    pot = db.potentials.find_one({"_id": potential_id}) or {}
    path = (pot.get("files", {}).get("yace") or {}).get("path")
    lmp_dir = lammps_ready(c.config.elements, c.baseline, potential_files(db, c, potential_id),
                           c.workdir / "lammps", float(max(c.config.explore.temperatures or [300.0])))  # fmt: skip
    out = {"state": state, "lammps_dir": str(lmp_dir), "reason": reason, "potential_id": potential_id, "potential_path": path,
           "n_structures": pot.get("n_structures"), "test_metrics": test, "train_metrics": pot.get("metrics", {}),
           "validation": gate["verdict"], "validation_reasons": gate["reasons"]}  # fmt: skip
    db.update_campaign(c.campaign, {"stage": "done", "summary": out, "test_metrics": test})
    return Response(output=out)


@job(name="targeted")
def given_job(ids: list[str]) -> dict[str, Any]:
    """The structures an iteration labels when they were chosen elsewhere (the quality gate's targeted set)."""
    return {"ids": ids}


# ----------------------------------------------------------------------------------------------- graph
def _configured(j, ctx: dict[str, Any]):
    """Give a job its own config: the store exposed (how it finds the database) and the configured FireWorks
    worker/category set explicitly (jobs created by a Response would otherwise inherit the parent's, jobflow#120)."""
    w = ctx["config"].get("workers", {})
    mc = {k: v for k, v in {"_fworker": w.get("fworker"), "_category": w.get("category")}.items() if v}
    mc["pyacemaker_campaign"] = ctx[
        "campaign"
    ]  # lets `pyacemaker run` workers take only this campaign's jobs
    j.config = JobConfig(expose_store=True, manager_config=mc)
    return j


def iteration_flow(
    ctx: dict[str, Any],
    iteration: int,
    explore_outs: list[dict] | None = None,
    potential_id: str | None = None,
    active: list[dict] | None = None,
    given_ids: list[str] | None = None,
) -> Flow:
    """One active-learning iteration as a Flow: (seed | select) -> label x B -> train -> explore x C -> decide.

    ``active`` are the conditions as adapted by the previous ``decide`` (default: the policy's initial ones).
    """

    cfg = ctx["config"]
    c = Context.from_dict(ctx).config
    conds = [ActiveCondition.model_validate(a) for a in active] if active else start(c)
    if given_ids is not None:
        first = given_job(given_ids)
    elif iteration == 0:
        first = seed_job(ctx)
    else:
        first = select_job(ctx, iteration, explore_outs or [], potential_id)
    n_b = cfg["workers"]["label_batches"]
    labels = [label_job(ctx, first.output, b, n_b, iteration) for b in range(n_b)]
    for b, j in enumerate(labels):
        j.name = f"label {b + 1}/{n_b} (it {iteration})"
    train = train_job(ctx, iteration, [j.output for j in labels])
    effective = [a.effective(c) for a in conds]
    explores = [explore_job(ctx, iteration, train.output, i, cond) for i, cond in enumerate(effective)]
    for cond, j in zip(effective, explores, strict=True):
        level = f", level {cond['level']}: {cond['temperature_K']:.0f} K" if cond["level"] else ""
        j.name = f"explore {cond['name']}{level} (it {iteration})"
    decide = decide_job(ctx, iteration, [j.output for j in explores], train.output,
                        [a.model_dump(mode="json") for a in conds])  # fmt: skip
    first.name = f"{first.name} (it {iteration})"
    train.name, decide.name = f"train (it {iteration})", f"decide (it {iteration})"
    jobs = [first, *labels, train, *explores, decide]
    for j in jobs:
        _configured(j, ctx)
    return Flow(jobs, name=f"{ctx['campaign']} iteration {iteration}")


def campaign_flow(context: Context) -> Flow:
    """The whole campaign as it starts: iteration 0; ``decide`` grows it while MD keeps halting."""
    flow = iteration_flow(context.to_dict(), 0)
    flow.name = context.campaign
    return flow
