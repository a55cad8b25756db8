"""What each stage of a campaign hands to the next: typed outputs, never bare dicts.

They travel between jobflow jobs (serialised by pydantic, restored by jobflow's MSONable support for pydantic
models), and the same models are the parts of the campaign document (:mod:`pyacemaker.schemas.campaign`), so the
status command and the report read what the stages wrote, field by field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pyacemaker.config.schema import ConditionConfig


class Out(BaseModel):
    """Base of stage outputs: unknown keys of older documents are ignored, values are checked."""

    model_config = ConfigDict(extra="ignore")


# ----------------------------------------------------------------------------------------------- exploration
class ActiveCondition(Out):
    """A condition as it runs in one iteration: the configured base, its escalation level and its quiet record."""

    base: ConditionConfig
    level: int = Field(0, ge=0)
    quiet_fs: float = Field(0.0, ge=0, description="simulated time since this condition last halted")
    quiet_windows: int = Field(0, ge=0, description="halt-free runs in a row")

    @property
    def name(self) -> str:
        return self.base.name or ""


class RunCondition(Out):
    """A condition at its current escalation level: the values a driver runs with."""

    name: str
    driver: str = "md"  # "md" (the engine of explore.engine), or a registered driver name
    start: Literal["bulk", "vacancy", "interstitial", "surface"] = "bulk"
    ensemble: Literal["nvt", "npt"] = "nvt"
    temperature_K: float
    pressure_GPa: float = 0.0
    swap: bool = False
    element: str | None = None  # the end member whose own crystal the run starts from (None: the bulk seed)
    steps: int
    level: int = 0
    quiet_fs: float = 0.0
    quiet_windows: int = 0

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Campaigns from before named conditions stored only the temperature (and no step count)."""
        if isinstance(data, dict) and not data.get("name"):
            data = {"steps": 0, **data, "name": f"{data.get('temperature_K') or 0:.0f}K"}
        return data


class ExploreOut(Out):
    """One exploration run: its condition, how it ended, and the candidate structures it produced."""

    run_id: str
    condition: RunCondition
    start: str | None = None  # how the start structure was made, for humans
    skipped: bool = False
    halted: bool = False
    steps_done: int = 0
    simulated_time_fs: float = 0.0
    max_gamma: float | None = None
    halt_step: int | None = None
    n_frames: int = 0
    thermo: dict[str, float | None] = Field(default_factory=dict)  # NaN (nothing measured) is stored as null
    error: str | None = None
    driver: str | None = None
    notice: str | None = None
    candidate_ids: list[str] = Field(default_factory=list)


# ----------------------------------------------------------------------------------------------- selection, labels
class ColdStartReport(Out):
    used: bool
    setting: str | None = None
    calculator: str | None = None
    pool: int = 0
    chosen: int = 0


class SurrogateReport(Out):
    """The surrogate of ``workflow: distill``: how it was fine-tuned, its errors against the oracle's held-out
    labels before and after (energy meV/atom, forces meV/A, stress GPa), its weights (GridFS bucket
    ``surrogate_files``), the pool it explored and what it labelled, and the base ACE fitted on its labels."""

    model: str
    settings_hash: str  # of the fine-tuned surrogate: the labels it gives carry it
    oracle_settings_hash: str  # of the oracle whose labels it was fine-tuned on
    weights: dict[str, Any] | None = None  # the GridFS file record (name, sha256, size, path where written)
    finetuned_on: str | None = None
    n_train: int = 0
    n_test: int = 0
    epochs: int = 0
    before: dict[str, float] = Field(default_factory=dict)
    after: dict[str, float] = Field(default_factory=dict)
    test_set: dict[str, float] = Field(
        default_factory=dict
    )  # on the campaign's held-out test set, at its end
    finetune_wall_time_s: float = 0.0
    pool: int = 0
    chosen: int = 0
    labelled: int = 0
    rejected: int = 0
    label_wall_time_s: float = 0.0
    base_potential: str | None = None
    base_metrics: dict[str, float] = Field(default_factory=dict)


class Selection(Out):
    """The structures an iteration labels: the seeds, a selection from candidates, or the gate's targeted set."""

    ids: list[str]
    origin: Literal["seed", "select", "targeted"] = "select"
    n_new: int | None = None  # seeds: records not known before
    method: str | None = None
    pooled: int = 0
    candidates: int = 0
    chosen: int = 0
    extrapolative: int = 0
    gamma_max: float | None = None
    gamma_median: float | None = None


class Rejection(Out):
    id: str
    reason: str | None


class LabelOut(Out):
    """One label batch: what was labelled, rejected (with reasons), reused, or left for lack of budget."""

    labelled: list[str] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)
    reused: int = 0
    shared: int = 0  # labels another campaign of the database had computed with the same settings (no call)
    over_budget: list[str] = Field(default_factory=list)
    oracle_calls: int = 0


# ----------------------------------------------------------------------------------------------- training
class DatasetSummary(Out):
    structures: int = 0
    atoms: int = 0
    atoms_per_element: dict[str, int] = Field(default_factory=dict)
    by_origin: dict[str, int] = Field(default_factory=dict)
    by_iteration: dict[str, int] = Field(default_factory=dict)
    families: int = 0


class TrainOut(Out):
    """One iteration's fit, or why there was none (``skipped``; ``failed`` when a fit was rejected)."""

    potential_id: str | None
    iteration: int
    skipped: bool = False
    failed: bool = False
    reason: str | None = None
    n_structures: int = 0
    n_test: int = 0
    n_functions: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)  # train_*, and test_* on held-out families
    wall_time_s: float | None = None
    warm_start: bool | None = None
    excluded_high_energy: list[str] = Field(default_factory=list)
    excluded_high_force: list[str] = Field(default_factory=list)

    @property
    def trained(self) -> bool:
        """A new potential came out of this iteration."""
        return not self.skipped and self.potential_id is not None


class FinalFit(Out):
    potential_id: str | None = None
    n_functions: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    wall_time_s: float | None = None
    warm_start: bool | None = None
    failed: bool = False
    reason: str | None = None


# ----------------------------------------------------------------------------------------------- the loop
Verdict = Literal["continue", "converged", "stalled", "budget"]


class Decision(Out):
    """What ``decide`` concluded after an iteration: go on (with these conditions) or end, and why."""

    verdict: Verdict
    reason: str
    iteration: int
    conditions: list[ActiveCondition] = Field(default_factory=list)  # the next iteration's, after adaptation
    halts: int = 0

    @property
    def ends(self) -> bool:
        return self.verdict != "continue"


class Check(Out):
    """One line of a quality-gate verdict."""

    name: str
    property: str
    value: float | None
    threshold: float | None
    unit: str
    passed: bool
    reason: str


class GateOut(Out):
    """The quality gate's verdict on one potential; on No-Go, the ids of the targeted structures to label."""

    potential_id: str | None = None
    verdict: Literal["go", "no-go", "not validated"]
    reasons: list[str] = Field(default_factory=list)
    checks: dict[str, list[Check]] = Field(default_factory=dict)  # element -> checks
    targeted_ids: list[str] = Field(default_factory=list)
    wall_time_s: float | None = None
    reports: dict[str, Any] | None = None  # element -> full GateReport (campaign document only)


class SummaryOut(Out):
    """How a campaign ended: its potential, errors and verdict."""

    state: str
    reason: str
    potential_id: str
    potential_path: str | None = None
    lammps_dir: str | None = None
    n_structures: int | None = None
    test_metrics: dict[str, float] = Field(default_factory=dict)
    train_metrics: dict[str, float] = Field(default_factory=dict)
    validation: str | None = None
    validation_reasons: list[str] = Field(default_factory=list)
