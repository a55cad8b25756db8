"""The campaign graph, in one place: jobflow jobs that call the stage functions, and the wiring between them.

    iteration 0:  seed -> label x B -> train -> explore x C -> decide
    (distill)     seed -> label x B -> finetune -> pool -> surrogate-label -> base-fit -> train -> explore x C -> decide
    iteration k:  select -> label x B -> train -> explore x C -> decide      (appended by decide(k-1))
    the end:      decide -> summary                                           (converged / stalled / budget)
    No-Go:        summary -> targeted -> label x B -> train -> explore x C -> decide   (within the budget)

Each job is one line around its stage (:mod:`pyacemaker.campaign.stages`); what to do next is decided by the stages
(:mod:`pyacemaker.explore.policy` holds the rules) and only turned into a ``Response`` here. Jobs find the
database through the JobStore they run with (``CURRENT_JOB.store``), so the flow carries no connection details or
credentials; a FireWorks worker only needs its launchpad and jobflow config.
"""

from __future__ import annotations

from collections.abc import Sequence

from jobflow import CURRENT_JOB, Flow, Job, JobConfig, Response, job

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.queue import JOB_CLASS, manager_config
from pyacemaker.campaign.stages.decide import decide_stage
from pyacemaker.campaign.stages.distill import (
    base_fit_stage,
    finetune_stage,
    pool_stage,
    surrogate_label_stage,
)
from pyacemaker.campaign.stages.explore import explore_stage
from pyacemaker.campaign.stages.label import label_stage
from pyacemaker.campaign.stages.seed import seed_stage
from pyacemaker.campaign.stages.select import select_stage
from pyacemaker.campaign.stages.summary import summary_stage
from pyacemaker.campaign.stages.train import train_stage
from pyacemaker.db import Database
from pyacemaker.explore.policy import effective, start
from pyacemaker.schemas.stages import (
    ActiveCondition,
    Decision,
    ExploreOut,
    LabelOut,
    RunCondition,
    Selection,
    SurrogateReport,
    TrainOut,
)


def _db() -> Database:
    store = CURRENT_JOB.store
    if store is None:
        raise RuntimeError(
            "pyacemaker jobs must run inside jobflow (run_locally or FireWorks) with a JobStore"
        )
    return Database.from_job_store(store)


@job(name="seed")
def seed_job(ctx: Context) -> Selection:
    return seed_stage(_db(), ctx)


@job(name="targeted")
def targeted_job(ids: list[str]) -> Selection:
    """The structures an iteration labels when they were chosen elsewhere (the quality gate's targeted set)."""
    return Selection(ids=ids, origin="targeted", chosen=len(ids))


@job(name="select")
def select_job(ctx: Context, iteration: int, explore_outs: list[ExploreOut], potential_id: str) -> Selection:
    return select_stage(_db(), ctx, iteration, explore_outs, potential_id)


@job(name="label")
def label_job(ctx: Context, selection: Selection, batch: int, n_batches: int, iteration: int) -> LabelOut:
    return label_stage(_db(), ctx, selection, batch, n_batches, iteration)


@job(name="train")
def train_job(ctx: Context, iteration: int, label_outputs: list[LabelOut], base: SurrogateReport | None = None
              ) -> TrainOut:  # fmt: skip
    # label_outputs and base are only dependencies: training reads the campaign's oracle labels and its latest
    # potential (a distillation's base) from the database
    return train_stage(_db(), ctx, iteration)


# ----------------------------------------------------------------------------------------------- distill
@job(name="finetune")
def finetune_job(ctx: Context, label_outputs: list[LabelOut]) -> SurrogateReport:
    return finetune_stage(_db(), ctx)


@job(name="pool")
def pool_job(ctx: Context, report: SurrogateReport) -> Selection:
    return pool_stage(_db(), ctx, report)


@job(name="surrogate-label")
def surrogate_label_job(ctx: Context, report: SurrogateReport, selection: Selection) -> SurrogateReport:
    return surrogate_label_stage(_db(), ctx, report, selection)


@job(name="base-fit")
def base_fit_job(ctx: Context, report: SurrogateReport) -> SurrogateReport:
    return base_fit_stage(_db(), ctx, report)


@job(name="explore", data="candidate_ids")  # candidate lists go to the GridFS store
def explore_job(
    ctx: Context, iteration: int, train_out: TrainOut, index: int, run: RunCondition
) -> ExploreOut:
    return explore_stage(_db(), ctx, iteration, train_out, index, run)


@job(name="decide")
def decide_job(ctx: Context, iteration: int, explore_outs: list[ExploreOut], train_out: TrainOut,
               active: list[ActiveCondition]) -> Response:  # fmt: skip
    """Append the next iteration to the live workflow, or the summary when the campaign ends."""
    decision = decide_stage(_db(), ctx, iteration, explore_outs, train_out, active)
    if decision.ends:
        summary = _configured(summary_job(ctx, decision, train_out.potential_id), ctx)
        return Response(output=decision, addition=Flow([summary], name="summary"))
    nxt = iteration_flow(ctx, decision.iteration + 1, decision.conditions, explore_outs=explore_outs,
                         potential_id=train_out.potential_id)  # fmt: skip
    return Response(output=decision, addition=nxt)


@job(name="summary")
def summary_job(ctx: Context, ended: Decision, potential_id: str) -> Response:
    """Final fit, held-out test set, quality gate; a No-Go within the budget appends one more iteration."""
    end = summary_stage(_db(), ctx, ended, potential_id)
    if end.summary is None:
        nxt = iteration_flow(ctx, end.decision.iteration, end.decision.conditions, potential_id=end.potential_id,
                             given_ids=end.targeted_ids)  # fmt: skip
        return Response(output=end.decision, addition=nxt)
    return Response(output=end.summary)


# ----------------------------------------------------------------------------------------------- graph
def _configured(j: Job, ctx: Context) -> Job:
    """Give a job its own config: the store exposed (how it finds the database), its class's FireWorks category and
    queue resources. ``pass_manager_config=False``: by default jobflow overwrites the config of every job a
    Response adds with the adding job's own (``decide`` would make a whole iteration ``light``, jobflow#120)."""
    job_class = JOB_CLASS[j.name.split()[0]]
    j.config = JobConfig(
        expose_store=True,
        manager_config=manager_config(ctx.config, ctx.campaign, job_class),
        pass_manager_config=False,
    )
    return j


def iteration_flow(ctx: Context, iteration: int, active: Sequence[ActiveCondition] = (),
                   explore_outs: list | None = None, potential_id: str | None = None,
                   given_ids: list[str] | None = None) -> Flow:  # fmt: skip
    """One active-learning iteration as a Flow: (seed | select | targeted) -> label x B -> train -> explore x C ->
    decide. ``active`` are the conditions as adapted by the previous ``decide`` (default: the policy's initial ones)."""
    conds = list(active) or start(ctx.config)
    if given_ids is not None:
        first = targeted_job(given_ids)
    elif iteration == 0:
        first = seed_job(ctx)
    else:
        first = select_job(ctx, iteration, explore_outs or [], potential_id)
    n_b = ctx.config.workers.label_batches
    labels = [label_job(ctx, first.output, b, n_b, iteration) for b in range(n_b)]
    distil = _distil_jobs(ctx, [j.output for j in labels]) if iteration == 0 and given_ids is None else []
    train = train_job(ctx, iteration, [j.output for j in labels], distil[-1].output if distil else None)
    runs = [effective(a, ctx.config.explore) for a in conds]
    explores = [explore_job(ctx, iteration, train.output, i, run) for i, run in enumerate(runs)]
    decide = decide_job(ctx, iteration, [j.output for j in explores], train.output, conds)
    first.name = f"{first.name} (it {iteration})"
    for b, j in enumerate(labels):
        j.name = f"label {b + 1}/{n_b} (it {iteration})"
    train.name, decide.name = f"train (it {iteration})", f"decide (it {iteration})"
    for run, j in zip(runs, explores, strict=True):
        level = f", level {run.level}: {run.temperature_K:.0f} K" if run.level else ""
        j.name = f"explore {run.name}{level} (it {iteration})"
    jobs = [first, *labels, *distil, train, *explores, decide]
    for j in jobs:
        _configured(j, ctx)
    return Flow(jobs, name=f"{ctx.campaign} iteration {iteration}")


def _distil_jobs(ctx: Context, label_outputs: list) -> list[Job]:
    """``workflow: distill``'s jobs between the oracle's first labels and the first fit (none for the loop)."""
    if ctx.config.workflow != "distill":
        return []
    tune = finetune_job(ctx, label_outputs)
    pool = pool_job(ctx, tune.output)
    labels = surrogate_label_job(ctx, tune.output, pool.output)
    base = base_fit_job(ctx, labels.output)
    for j in (tune, pool, labels, base):
        j.name = f"{j.name} (it 0)"
    return [tune, pool, labels, base]


def campaign_flow(ctx: Context) -> Flow:
    """The whole campaign as it starts: iteration 0; ``decide`` grows it while exploration keeps halting."""
    flow = iteration_flow(ctx, 0)
    flow.name = ctx.campaign
    return flow
