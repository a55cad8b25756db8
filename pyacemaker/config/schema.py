"""The campaign configuration schema: one strict pydantic model of every section (each in its own module).

A user writes only what is specific to the material (``elements`` and an ``oracle``); every ``None`` left here is
derived by :mod:`pyacemaker.config.resolve`. The ``oracle`` section's fields belong to the oracle plugin its
``type`` names (:class:`OracleSettings`). Loading YAML and turning pydantic's errors into one readable line per
problem is :mod:`pyacemaker.config.load`.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Literal

from ase.data import atomic_numbers, chemical_symbols
from pydantic import BaseModel, Field, field_validator, model_validator

# the sections live in one module each; their names are re-exported here, where the whole schema is read
from pyacemaker.config.base import ConfigError, Strict
from pyacemaker.config.explore_config import (
    INTERNAL_BUILDERS,
    ConditionConfig,
    ExploreConfig,
    SeedConfig,
    SelectConfig,
)
from pyacemaker.config.oracle_config import OracleConfig, OracleSettings, oracle_settings_model
from pyacemaker.config.queue_config import JOB_CLASSES, JobResources, ResourcesConfig, WorkerConfig
from pyacemaker.config.surrogate_config import SurrogateConfig
from pyacemaker.config.train_config import TrainConfig
from pyacemaker.config.validation_config import GateSettings, ValidationConfig, ValidationThresholds

__all__ = [
    "BASELINE_MODELS", "INTERNAL_BUILDERS", "JOB_CLASSES", "UNION_TAGS", "BaselineConfig", "BudgetConfig",
    "CampaignConfig", "ConditionConfig", "ConfigError", "DatabaseConfig", "ExploreConfig", "GateSettings",
    "JobResources", "LJBaseline", "NoBaseline", "OracleConfig", "OracleSettings", "ResourcesConfig", "SeedConfig",
    "SelectConfig", "Strict", "SurrogateConfig", "TrainConfig", "ValidationConfig", "ValidationThresholds", "WorkerConfig",
    "ZBLBaseline", "oracle_settings_model",
]  # fmt: skip


class BudgetConfig(Strict):
    """When the campaign ends even if MD still halts."""

    max_iterations: int = Field(5, ge=1, le=1000)
    max_oracle_calls: int = Field(
        1000, ge=1, description="oracle calls for training labels (the held-out test set is counted apart)"
    )


class DatabaseConfig(Strict):
    """Where the campaign lives. Credentials never go here: use a launchpad file or PYACEMAKER_DB_URI."""

    launchpad: str | None = Field(None, description="FireWorks launchpad YAML of a real MongoDB")
    name: str | None = Field(None, description="database name (default: pyacemaker)")


class ZBLBaseline(Strict):
    """Ziegler-Biersack-Littmark screened repulsion, switched off between ``inner`` and ``outer`` (LAMMPS pair zbl)."""

    type: Literal["zbl"] = "zbl"
    inner: float | None = Field(None, gt=0, le=5, description="switching starts, A")
    outer: float | None = Field(None, gt=0, le=6, description="baseline is zero beyond, A")

    @model_validator(mode="after")
    def _order(self) -> ZBLBaseline:
        if self.inner is not None and self.outer is not None and self.inner >= self.outer:
            raise ValueError(f"inner ({self.inner}) must be below outer ({self.outer})")
        return self


class LJBaseline(Strict):
    """Lennard-Jones (LAMMPS lj/cut, arithmetic mixing of sigma, geometric of epsilon between elements)."""

    type: Literal["lj"] = "lj"
    epsilon: float | None = Field(None, gt=0, le=10, description="well depth, eV")
    sigma: dict[str, float] | None = Field(None, description="element -> sigma, A")
    cutoff: float | None = Field(None, gt=0, le=15, description="A")


class NoBaseline(Strict):
    """Fit the labels directly (pacemaker's own ZBL core below ``train.inner_cutoff`` keeps contacts repulsive)."""

    type: Literal["none"] = "none"


BaselineConfig = Annotated[ZBLBaseline | LJBaseline | NoBaseline, Field(discriminator="type")]
BASELINE_MODELS: dict[str, type[BaseModel]] = {"zbl": ZBLBaseline, "lj": LJBaseline, "none": NoBaseline}
UNION_TAGS: dict[str, dict[str, type[BaseModel]]] = {"baseline": BASELINE_MODELS}
"""Sections that are pydantic discriminated unions (their tag appears in error locations)."""


class CampaignConfig(Strict):
    """Everything a campaign needs. Only ``elements`` and ``oracle`` are required."""

    name: str | None = Field(None, description="campaign name (default: the config file's stem)")
    elements: list[str]
    oracle: OracleConfig
    workflow: Literal["loop", "distill"] = Field(
        "loop",
        description="loop: gamma-driven active learning; distill: oracle labels fine-tune a surrogate that labels "
        "a large pool for a base ACE, which the oracle labels then correct (the loop continues on top)",
    )
    surrogate: SurrogateConfig = SurrogateConfig()
    baseline: BaselineConfig = ZBLBaseline()
    seeds: SeedConfig = SeedConfig()
    train: TrainConfig = TrainConfig()
    explore: ExploreConfig = ExploreConfig()
    select: SelectConfig = SelectConfig()
    budget: BudgetConfig = BudgetConfig()
    workers: WorkerConfig = WorkerConfig()
    resources: ResourcesConfig = ResourcesConfig()
    validation: ValidationConfig = ValidationConfig()
    database: DatabaseConfig = DatabaseConfig()

    @field_validator("elements")
    @classmethod
    def _known_elements(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one element, e.g. elements: [Cu]")
        bad = [e for e in v if e not in atomic_numbers or e == "X"]
        if bad:
            hints = []
            for e in bad:
                close = difflib.get_close_matches(str(e).capitalize(), chemical_symbols[1:], n=1)
                hints.append(f"{e!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ValueError(f"unknown element {', '.join(hints)}; use chemical symbols such as Cu, Si, Ti")
        if len(set(v)) != len(v):
            raise ValueError(f"elements are repeated: {v}")
        return v

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError("name may use letters, digits, '_', '-', '.' (at most 64 characters)")
        return v

    @model_validator(mode="after")
    def _oracle_supports_elements(self) -> CampaignConfig:
        self.oracle.check_elements(self.elements)
        if self.workflow == "distill":
            try:
                oracle_settings_model(self.surrogate.model).model_validate(
                    {"type": self.surrogate.model}
                ).check_elements(self.elements)
            except ValueError as exc:
                raise ValueError(f"surrogate.model: {exc}") from None
            if self.oracle.type == self.surrogate.model:
                raise ValueError(
                    f"workflow: distill needs an oracle other than its surrogate ({self.surrogate.model}): the "
                    "oracle's labels are what the surrogate is fine-tuned on and corrected with"
                )
        return self

    @model_validator(mode="after")
    def _no_conflicts(self) -> CampaignConfig:
        """Settings that contradict each other (one of them would be ignored without a word)."""
        if self.workers.category:
            own = [c for c in JOB_CLASSES if getattr(self.resources, c).category is not None]
            if own:
                keys = ", ".join(f"resources.{c}.category" for c in own)
                raise ValueError(
                    f"workers.category puts every job in one category, so {keys} would be ignored: "
                    "set one of them, not both"
                )
        conds = self.explore.conditions
        alien = sorted({c.element for c in conds or [] if c.element and c.element not in self.elements})
        if alien:
            raise ValueError(
                f"explore.conditions name element(s) {', '.join(alien)} that are not among the campaign's elements "
                f"{self.elements}: a condition's element is one of them"
            )
        if self.explore.kmc and conds is not None and not any(c.driver in ("kmc", "eon") for c in conds):
            raise ValueError(
                "explore.kmc: true adds a kMC condition to the policy's conditions, but explore.conditions "
                "replaces them: add one to the list instead, e.g. {driver: kmc, start: vacancy, temperature_K: 600}"
            )
        return self
