"""The status document of a campaign (the schema of ``pyacemaker status --json``, ``pyacemaker.status/1``).

It is built from the typed campaign document (:class:`~pyacemaker.schemas.campaign.CampaignDoc`) and the latest
:class:`~pyacemaker.schemas.potential.PotentialDoc`; the models below are the schema, field order included (the
JSON keeps it). Fields are only ever added within a schema version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pyacemaker.campaign.launchpad import workflow_states
from pyacemaker.campaign.queue_jobs import campaign_jobs, with_queue_states
from pyacemaker.db import Database
from pyacemaker.schemas.campaign import CampaignDoc, IterationDoc
from pyacemaker.schemas.stages import ExploreOut, SurrogateReport

SCHEMA = "pyacemaker.status/1"


class ConditionStatus(BaseModel):
    """One exploration run of an iteration."""

    model_config = ConfigDict(extra="ignore")

    halted: bool | None = None
    steps_done: int | None = None
    simulated_time_fs: float | None = None
    max_gamma: float | None = None
    driver: str | None = None
    notice: str | None = None
    error: str | None = None
    name: str
    level: int = 0
    temperature_K: float | None = None
    pressure_GPa: float | None = None


class IterationStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    iteration: int
    dataset_size: int | None = None
    potential_id: str | None = None
    train_metrics: dict[str, float] = Field(default_factory=dict)
    test_metrics: dict[str, float] = Field(default_factory=dict)  # held-out families, without "test_"
    n_test: int = 0
    fit_wall_time_s: float | None = None
    warm_start: bool | None = None
    fit_failed: bool = False
    halts: int = 0
    halts_by_condition: dict[str, bool] = Field(default_factory=dict)
    conditions: list[ConditionStatus] = Field(default_factory=list)
    quiet_windows: dict[str, int] = Field(default_factory=dict)  # the next iteration's conditions
    max_gamma: float | None = None
    selected: int | None = None
    oracle_calls: int = 0
    decision: str | None = None


class ValidationStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    potential_id: str | None = None
    verdict: str | None = None
    reasons: list[str] | None = None


class JobStatus(BaseModel):
    """One job (firework) of the campaign's workflow: FireWorks' state next to its queue job's, when it had one."""

    fw_id: int
    name: str
    job_class: str
    fw_state: str
    launches: int = 0
    queue_id: str | None = None
    queue_state: str | None = None  # the scheduler's word (RUNNING, TIMEOUT, CANCELLED, ...)
    queue_phase: str | None = None  # pending / running / finished / failed / gone / unknown


class CampaignStatus(BaseModel):
    """One campaign's entry in ``campaigns`` of the status document."""

    model_config = ConfigDict(extra="ignore")

    campaign: str
    state: str = "unknown"
    end_reason: str | None = None
    stage: str | None = None
    iteration: int | None = None
    iterations: list[IterationStatus] = Field(default_factory=list)
    dataset_size: int = 0  # structures with the oracle's labels (a distillation's surrogate labels are apart)
    oracle_calls: int = 0
    surrogate: SurrogateReport | None = None  # workflow: distill
    potential_id: str | None = None
    potential_path: str | None = None
    test_metrics: dict[str, float] = Field(default_factory=dict)
    validation: ValidationStatus | None = None
    workdir: str | None = None
    workflow_state: str | None = None
    jobs: list[JobStatus] = Field(default_factory=list)


def _run(e: ExploreOut) -> ConditionStatus:
    c = e.condition
    return ConditionStatus(halted=e.halted, steps_done=e.steps_done, simulated_time_fs=e.simulated_time_fs,
                           max_gamma=e.max_gamma, driver=e.driver, notice=e.notice, error=e.error, name=c.name,
                           level=c.level, temperature_K=c.temperature_K, pressure_GPa=c.pressure_GPa)  # fmt: skip


def iteration_status(n: int, it: IterationDoc) -> IterationStatus:
    """What status shows of iteration ``n``."""
    stored = list(it.explore.values())  # as stored (one name per condition; the last run of a name wins)
    t = it.train
    metrics = t.metrics if t else {}
    return IterationStatus(
        iteration=n,
        dataset_size=t.n_structures if t else None,
        potential_id=t.potential_id if t else None,
        train_metrics={k: v for k, v in metrics.items() if not k.startswith("test_")},
        test_metrics={k[5:]: v for k, v in metrics.items() if k.startswith("test_")},
        n_test=t.n_test if t else 0,
        fit_wall_time_s=t.wall_time_s if t else None,
        warm_start=t.warm_start if t else None,
        fit_failed=bool(t and t.failed),
        halts=sum(1 for e in stored if e.halted),
        halts_by_condition={e.condition.name: e.halted for e in stored},
        conditions=[_run(e) for e in it.runs()],
        quiet_windows={c.name: c.quiet_windows for c in it.conditions},
        max_gamma=max((e.max_gamma or 0 for e in stored), default=None),
        selected=it.selection.chosen if it.selection else None,
        oracle_calls=it.oracle_calls,
        decision=it.decision,
    )


def status_of(db: Database, doc: CampaignDoc, lp=None) -> CampaignStatus:
    """The typed status of one campaign (``lp``: a LaunchPad, for the workflow's state)."""
    pot = db.latest_potential(doc.name)
    yace = pot.files.get("yace") if pot else None
    path = yace.path if yace else None
    if pot and doc.summary and doc.summary.potential_id == pot.id and doc.summary.potential_path:
        path = doc.summary.potential_path  # the copy the campaign's end verified (fetched again when damaged)
    v = doc.validation
    st = CampaignStatus(
        campaign=doc.name,
        state=doc.state,
        end_reason=doc.end_reason,
        stage=doc.stage,
        iteration=doc.iteration,
        iterations=[iteration_status(n, it) for n, it in doc.iteration_docs()],
        dataset_size=db.count_records(doc.name, "labelled") - _surrogate_labelled(db, doc),
        oracle_calls=doc.oracle_calls,
        surrogate=doc.surrogate,
        potential_id=pot.id if pot else None,
        potential_path=path,
        test_metrics=doc.test_metrics,
        validation=ValidationStatus(potential_id=v.potential_id, verdict=v.verdict, reasons=v.reasons)
        if v
        else None,
        workdir=doc.workdir,
    )
    if lp is not None and doc.wf_root_fw_id is not None:
        wf = workflow_states(lp, doc.wf_root_fw_id)
        st.workflow_state = wf["state"]
        jobs = campaign_jobs(lp, wf.get("nodes", []))
        if any(j.queue_id for j in jobs):  # asks the scheduler only when a queue job ran something here
            system = ((doc.config or {}).get("resources") or {}).get("system", "slurm")
            jobs = with_queue_states(jobs, system)
        st.jobs = [JobStatus(**vars(j)) for j in jobs]
    return st


def _surrogate_labelled(db: Database, doc: CampaignDoc) -> int:
    return db.count_records(doc.name, "labelled", doc.surrogate.settings_hash) if doc.surrogate else 0


def campaign_status(db: Database, doc: CampaignDoc | Mapping[str, Any], lp=None) -> dict[str, Any]:
    """The stable status document of one campaign (the schema of ``pyacemaker status --json``); a stored
    document (mapping) is validated into :class:`CampaignDoc` first."""
    if not isinstance(doc, CampaignDoc):
        doc = CampaignDoc.model_validate(doc)
    return status_of(db, doc, lp).model_dump()  # python mode: NaN stays NaN, as json.dumps writes it
