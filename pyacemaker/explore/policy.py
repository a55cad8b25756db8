"""The exploration policy per iteration: a condition that halted stays where it is (the potential is still
learning there); one that ran its whole window without a halt escalates one level (hotter by
``temperature_factor``, ``pressure_step_GPa`` higher in NPT, ``steps_factor`` longer), up to the caps; its halt-free
windows in a row (``quiet_windows``) are the per-condition convergence signal.

The decision table that sets up the conditions of iteration 0 from the material is
:mod:`pyacemaker.config.policy`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from pyacemaker.config.policy import initial_conditions
from pyacemaker.config.schema import CampaignConfig, ConditionConfig


class ActiveCondition(BaseModel):
    """A condition as it runs in one iteration: the configured base, its escalation level and its quiet time."""

    base: ConditionConfig
    level: int = Field(0, ge=0)
    quiet_fs: float = Field(0.0, ge=0, description="simulated time since this condition last halted")
    quiet_windows: int = Field(0, ge=0, description="halt-free runs in a row")

    @property
    def name(self) -> str:
        return self.base.name or ""

    def effective(self, cfg: CampaignConfig) -> dict[str, Any]:
        """Temperature, pressure and steps at this level (what the driver runs)."""
        e, b = cfg.explore, self.base
        t_cap = max(e.max_temperature or b.temperature_K, b.temperature_K)
        p_cap = max(e.max_pressure_GPa if e.max_pressure_GPa is not None else b.pressure_GPa, b.pressure_GPa)
        steps0 = b.steps or (e.kmc_steps if b.driver != "md" else e.steps)
        return {
            **b.model_dump(),
            "temperature_K": float(min(b.temperature_K * e.temperature_factor**self.level, t_cap)),
            "pressure_GPa": float(
                min(b.pressure_GPa + self.level * e.pressure_step_GPa, p_cap)
                if b.ensemble == "npt"
                else b.pressure_GPa
            ),
            "steps": int(min(round(steps0 * e.steps_factor**self.level), round(steps0 * e.max_steps_factor))),
            "level": self.level,
            "quiet_fs": self.quiet_fs,
        }


def start(cfg: CampaignConfig) -> list[ActiveCondition]:
    return [ActiveCondition(base=c) for c in cfg.explore.conditions or initial_conditions(cfg)]


def adapt(
    active: list[ActiveCondition], outcomes: list[dict[str, Any]], cfg: CampaignConfig
) -> list[ActiveCondition]:
    """The next iteration's conditions: halted ones stay, halt-free ones escalate (``explore.escalate``)."""
    by_name = {(o.get("condition") or {}).get("name"): o for o in outcomes}
    out = []
    for c in active:
        o = by_name.get(c.name)
        if o is None or o.get("skipped"):
            out.append(c.model_copy())
        elif o.get("halted"):
            out.append(c.model_copy(update={"quiet_fs": 0.0, "quiet_windows": 0}))
        else:
            out.append(
                c.model_copy(
                    update={
                        "level": c.level + 1 if cfg.explore.escalate else c.level,
                        "quiet_fs": c.quiet_fs + float(o.get("simulated_time_fs") or 0.0),
                        "quiet_windows": c.quiet_windows + 1,
                    }
                )
            )
    return out


def converged(active: list[ActiveCondition], cfg: CampaignConfig) -> bool:
    """Every condition ran ``explore.converge_windows`` halt-free windows in a row (read after :func:`adapt`)."""
    return all(c.quiet_windows >= cfg.explore.converge_windows for c in active)
