"""The exploration policy: a small decision table from material properties to exploration conditions, and the
rule that adapts them per iteration.

Decisions (each with the reason shown by ``pyacemaker config``):

==========================  ===============================================================================
property                    decision
==========================  ===============================================================================
solid (melting point known) bulk runs at constant pressure (NPT) from 0 GPa; gases/liquids: NVT
metallic                    pressure escalates to 10 GPa (non-metals 5 GPa); surface slabs on
metallic alloy (>1 element) atom-swap Monte Carlo on in bulk runs (chemical order is part of the landscape)
non-metallic compound       no swaps (anti-site defects in ionic/covalent solids cost eV: off the landscape)
solid                       a vacancy condition (defects are where potentials fail first)
melting point Tm            temperature ladder 0.25/0.5/0.75 Tm, escalation capped at 1.2 Tm (the melt)
==========================  ===============================================================================

Per iteration (:func:`adapt`): a condition that halted stays where it is (the potential is still learning
there); one that ran its whole window without a halt escalates one level (hotter by ``temperature_factor``,
``pressure_step_GPa`` higher in NPT, ``steps_factor`` longer), up to the caps; its halt-free simulated time
(``quiet_fs``) is the per-condition convergence signal ``decide`` reads (:func:`converged`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from pyacemaker.config import CampaignConfig, ConditionConfig

# Elements that are not metals in their elemental solid (metalloids included: their compounds are covalent).
NONMETALS = frozenset(
    [
        "H",
        "He",
        "B",
        "C",
        "N",
        "O",
        "F",
        "Ne",
        "Si",
        "P",
        "S",
        "Cl",
        "Ar",
        "Ge",
        "As",
        "Se",
        "Br",
        "Kr",
        "Sb",
        "Te",
        "I",
        "Xe",
        "At",
        "Rn",
    ]
)


@dataclass(frozen=True)
class MaterialProfile:
    """What the policy knows about a material before any calculation: from the element list alone."""

    elements: tuple[str, ...]
    metallic: bool
    melting_K: float | None  # lowest melting point among the solid elements

    @property
    def n_elements(self) -> int:
        return len(self.elements)

    @property
    def solid(self) -> bool:
        return self.melting_K is not None

    @classmethod
    def from_elements(cls, elements: list[str]) -> MaterialProfile:
        from pyacemaker.defaults import melting_points

        tm = [melting_points()[el] for el in elements if melting_points().get(el, 0) > 300]
        return cls(tuple(elements), not any(el in NONMETALS for el in elements), min(tm) if tm else None)


def decisions(profile: MaterialProfile) -> dict[str, tuple[Any, str]]:
    """The decision table: explore-config key -> (value, reason)."""
    kind = "metal" if profile.metallic else "non-metal"
    out: dict[str, tuple[Any, str]] = {}
    if profile.solid:
        out["npt"] = (True, "solid: bulk runs at constant pressure so the cell follows thermal expansion")
        out["defects"] = (True, "solid: a vacancy condition, defects are where potentials fail first")
        out["max_temperature"] = (
            round(1.2 * profile.melting_K),
            f"1.2 x melting point {profile.melting_K:.0f} K: escalation reaches the melt, not beyond",
        )
    else:
        out["npt"] = (False, "no solid element: constant volume")
        out["defects"] = (False, "no solid element: no lattice to make vacancies in")
        out["max_temperature"] = (2000, "no melting point known: generic cap")
    out["max_pressure_GPa"] = (
        10.0 if profile.metallic else 5.0,
        f"{kind}: pressure escalates up to {'10' if profile.metallic else '5'} GPa",
    )
    out["surfaces"] = (
        profile.metallic and profile.solid,
        "metal: low-index slabs are cheap, physical start structures"
        if profile.metallic
        else "non-metal: unreconstructed slabs are poor starts, off unless asked for",
    )
    if profile.n_elements > 1 and profile.metallic:
        out["swap"] = (True, "metallic alloy: atom-swap Monte Carlo samples chemical order")
    elif profile.n_elements > 1:
        out["swap"] = (False, "non-metallic compound: anti-site swaps are high-energy, off")
    else:
        out["swap"] = (False, "one element: nothing to swap")
    return out


def initial_conditions(cfg: CampaignConfig) -> list[ConditionConfig]:
    """The conditions of iteration 0 from a resolved config's ladder and policy switches."""
    e = cfg.explore
    temps = [float(t) for t in e.temperatures or []]
    mid = temps[len(temps) // 2]
    bulk_ensemble = "npt" if e.npt else "nvt"
    conds = [
        ConditionConfig(start="bulk", ensemble=bulk_ensemble, temperature_K=t, swap=bool(e.swap))
        for t in temps
    ]
    if e.defects:
        conds.append(ConditionConfig(start="vacancy", ensemble="nvt", temperature_K=mid))
    if e.surfaces:
        conds.append(ConditionConfig(start="surface", ensemble="nvt", temperature_K=mid))
    if e.kmc:
        conds.append(ConditionConfig(driver="kmc", start="vacancy", temperature_K=mid))
    return conds


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
