"""The campaign document (collection ``campaigns``): one per campaign, written by its stages, read by
``pyacemaker status``, the report and ``decide``.

Stages write the typed parts (:mod:`pyacemaker.schemas.stages`) into their places; readers validate the whole
document into :class:`CampaignDoc` and use its fields, never dotted keys. Unknown keys (from newer or older
versions) are ignored, so an old campaign still reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
    TrainOut,
    Verdict,
)


class IterationDoc(BaseModel):
    """``iterations.<n>`` of the campaign document: what each stage of iteration n recorded."""

    model_config = ConfigDict(extra="ignore")

    seeds: int | None = None
    cold_start: ColdStartReport | None = None
    origin: str | None = None  # "validation no-go" for an iteration the quality gate asked for
    targeted: int | None = None
    selection: Selection | None = None
    oracle_calls: int = 0
    train: TrainOut | None = None
    dataset: DatasetSummary | None = None
    explore: dict[str, ExploreOut] = Field(default_factory=dict)  # condition index (as text) -> run
    decision: Verdict | None = None
    decision_reason: str | None = None
    halts: int | None = None
    conditions: list[RunCondition] = Field(default_factory=list)  # the next iteration's, with quiet windows
    validation: GateOut | None = None  # validation.every_iteration

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
    summary: SummaryOut | None = None
    test_metrics: dict[str, float] = Field(default_factory=dict)

    def iteration_docs(self) -> list[tuple[int, IterationDoc]]:
        """(n, iteration) in order."""
        return sorted(((int(k), v) for k, v in self.iterations.items()), key=lambda kv: kv[0])
