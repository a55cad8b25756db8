"""The ``surrogate:`` section: the universal potential ``workflow: distill`` fine-tunes on the oracle's labels and
then uses as a cheap labeller of a large exploration pool."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from pyacemaker.config.base import Strict
from pyacemaker.config.oracle_config import oracle_settings_model


class SurrogateConfig(Strict):
    """What ``workflow: distill`` fine-tunes, how large a pool it explores and how much of it the surrogate labels.
    Ignored by ``workflow: loop``."""

    model: str = Field("chgnet", description="a surrogate oracle plugin (chgnet: weights ship in its wheel)")
    model_file: Path | None = Field(
        None,
        description="weights to fine-tune (default: the model's own pretrained weights, nothing downloaded)",
    )
    finetune_epochs: int = Field(10, ge=0, le=10000, description="0: use the weights as they are")
    finetune_learning_rate: float = Field(1e-4, gt=0, le=1)
    finetune_stress: bool = Field(
        False,
        description="fit stresses too (off: measured on Cu, stresses in the loss made held-out forces worse)",
    )
    test_fraction: float = Field(
        0.2, ge=0.05, le=0.5, description="oracle labels held out to measure the surrogate"
    )
    labels: int | None = Field(None, ge=1, le=100000, description="pool structures the surrogate labels")
    pool_size: int | None = Field(None, ge=1, le=1000000, description="MD snapshots the surrogate explores")
    md_steps: int | None = Field(None, ge=1, le=1000000, description="MD steps per seed cell and temperature")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="where the surrogate runs and is fine-tuned (auto: a CUDA GPU when torch sees one)",
    )
    chunk_size: int = Field(
        32, ge=1, le=4096, description="structures per batch the surrogate labels at once"
    )
    correction: Literal["warm_start", "joint"] = Field(
        "warm_start",
        description="how the oracle's labels correct the base ACE: warm_start (fits of the oracle's labels alone, "
        "starting from the base) or joint (the surrogate's labels stay in every fit at joint_weight)",
    )
    joint_weight: float = Field(
        0.1,
        gt=0,
        le=1,
        description="correction: joint: energy and force weight of a surrogate label (oracle: 1)",
    )
    seed: int = 0

    def oracle_settings(self, **over):
        """The surrogate's oracle settings (model, its file, device), ``over`` on top (a fine-tuning's weights)."""
        base = {"type": self.model, "weights_file": str(self.model_file) if self.model_file else None,
                "device": self.device}  # fmt: skip
        return oracle_settings_model(self.model).model_validate({**base, **over})

    @field_validator("model")
    @classmethod
    def _a_surrogate(cls, v: str) -> str:
        settings = oracle_settings_model(v)
        if not settings.surrogate:
            raise ValueError(
                f"{v!r} is an oracle without a surrogate's batch interface (fine-tuning, chunks)"
            )
        return v
