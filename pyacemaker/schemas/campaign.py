"""The campaign document (collection ``campaigns``): one per campaign, written by its stages, read by
``pyacemaker status``, the report and ``decide``.

Stages write the typed parts (:mod:`pyacemaker.schemas.stages`) into their places; readers validate the whole
document into :class:`CampaignDoc` and use its fields, never dotted keys. Unknown keys (from newer or older
versions) are ignored, so an old campaign still reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pyacemaker.config.schema import CampaignConfig
from pyacemaker.schemas.stages import (
    ActiveCondition,
    ColdStartReport,
    DatasetSummary,
    ExploreOut,
    FinalFit,
    GateOut,
    RunCondition,
    Selection,
    SummaryOut,
    SurrogateReport,
    TrainOut,
    Verdict,
)


def condition_name(cond: dict[str, Any]) -> str:
    """A condition's display name (campaigns from before named conditions: its temperature)."""
    return cond.get("name") or f"{cond.get('temperature_K') or 0:.0f}K"


def _named(run: Any, key: str | None) -> Any:
    """``run`` (or ``run[key]``) with the condition's name filled in when an older campaign stored none."""
    cond = run.get(key) if key and isinstance(run, dict) else run
    if not isinstance(cond, dict) or cond.get("name"):
        return run
    cond = {**cond, "name": condition_name(cond)}
    return {**run, key: cond} if key else cond


class SelectionReport(Selection):
    """``iterations.<n>.selection``: the selection's numbers; the chosen ids travel in the workflow, not here."""

    ids: list[str] = Field(default_factory=list)


class ReleaseEntry(BaseModel):
    """``releases.<X_Y_Z>``: one release package written by ``pyacemaker release``."""

    model_config = ConfigDict(extra="ignore")

    path: str
    potential_id: str
    forced: bool = False
    created: str | None = None  # ISO 8601, as in the manifest


class IterationDoc(BaseModel):
    """``iterations.<n>`` of the campaign document: what each stage of iteration n recorded."""

    model_config = ConfigDict(extra="ignore")

    seeds: int | None = None
    cold_start: ColdStartReport | None = None
    origin: str | None = None  # "validation no-go" for an iteration the quality gate asked for
    targeted: int | None = None
    selection: SelectionReport | None = None
    oracle_calls: int = 0
    train: TrainOut | None = None
    dataset: DatasetSummary | None = None
    explore: dict[str, ExploreOut] = Field(default_factory=dict)  # condition index (as text) -> run
    decision: Verdict | None = None
    decision_reason: str | None = None
    halts: int | None = None
    conditions: list[RunCondition] = Field(default_factory=list)  # the next iteration's, with quiet windows
    validation: GateOut | None = None  # validation.every_iteration

    @field_validator("explore", mode="before")
    @classmethod
    def _named_runs(cls, v: Any) -> Any:
        return {k: _named(r, "condition") for k, r in v.items()} if isinstance(v, dict) else v

    @field_validator("conditions", mode="before")
    @classmethod
    def _named_conditions(cls, v: Any) -> Any:
        return [_named(c, None) for c in v] if isinstance(v, list) else v

    def runs(self) -> list[ExploreOut]:
        """The exploration runs in condition order."""
        return [self.explore[k] for k in sorted(self.explore, key=int)]


class CampaignDoc(BaseModel):
    """One campaign's state: config, counters, iterations, the end and its verdict."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(alias="_id")
    config: dict[str, Any] | None = None  # the resolved CampaignConfig as stored (validate it to use it)
    config_hash: str | None = None
    workdir: str | None = None
    state: str = "unknown"
    stage: str | None = None
    end_reason: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    wf_root_fw_id: int | None = None
    iteration: int | None = None
    final_iteration: int | None = None
    oracle_calls: int = 0
    test_oracle_calls: int = 0
    iterations: dict[str, IterationDoc] = Field(default_factory=dict)
    active_conditions: list[ActiveCondition] | None = None
    current_potential: str | None = None
    current_potential_path: str | None = None
    latest_max_gamma: float | None = None
    reference_energies: dict[str, dict[str, float]] = Field(default_factory=dict)  # settings hash -> element
    validation_reference: dict[str, dict[str, Any]] = Field(default_factory=dict)  # settings hash -> element
    validation: GateOut | None = None
    no_go_rounds: int = 0
    final_fit: FinalFit | None = None
    surrogate: SurrogateReport | None = None  # workflow: distill
    summary: SummaryOut | None = None
    test_metrics: dict[str, float] = Field(default_factory=dict)
    releases: dict[str, ReleaseEntry] = Field(default_factory=dict)  # version with "_" for "." -> release

    def campaign_config(self) -> CampaignConfig | None:
        """The stored config, validated (None for a campaign recorded without one)."""
        return CampaignConfig.model_validate(self.config) if self.config is not None else None

    def iteration_docs(self) -> list[tuple[int, IterationDoc]]:
        """(n, iteration) in order."""
        return sorted(((int(k), v) for k, v in self.iterations.items()), key=lambda kv: kv[0])
