"""The exploration policy's decision table: from the material (its elements alone) to explore settings and the
conditions of iteration 0. :func:`pyacemaker.config.resolve.resolve` applies it; the per-iteration rules
(escalation, convergence, the next step) are :mod:`pyacemaker.explore.policy`.

==========================  ===============================================================================
property                    decision
==========================  ===============================================================================
solid (melting point known) bulk runs at constant pressure (NPT) from 0 GPa; gases/liquids: NVT
metallic                    pressure escalates to 10 GPa (non-metals 5 GPa); surface slabs on
metallic alloy (>1 element) atom-swap Monte Carlo on in bulk runs (chemical order is part of the landscape)
solid metallic alloy        a bulk run in each element's own crystal (the gate validates those crystals)
non-metallic compound       no swaps (anti-site defects in ionic/covalent solids cost eV: off the landscape)
solid                       a vacancy condition (defects are where potentials fail first)
melting point Tm            temperature ladder 0.25/0.5/0.75 Tm, escalation capped at 1.2 Tm (the melt)
==========================  ===============================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyacemaker.config.schema import CampaignConfig, ConditionConfig
from pyacemaker.elements import is_metal, solid_melting_points


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
        tm = solid_melting_points(elements)
        return cls(tuple(elements), all(is_metal(el) for el in elements), min(tm.values()) if tm else None)


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
    if profile.n_elements > 1 and profile.metallic and profile.solid:
        out["end_members"] = (
            True,
            "metallic alloy: each element's own crystal runs too; the gate validates a0, B0, Cij and phonons "
            "there, where runs of the alloy never go",
        )
    else:
        out["end_members"] = (False, "one element, or not a metallic alloy: no end-member runs")
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
    if e.end_members:
        conds += [ConditionConfig(start="bulk", element=el, ensemble=bulk_ensemble, temperature_K=mid)
                  for el in cfg.elements]  # fmt: skip
    if e.defects:
        conds.append(ConditionConfig(start="vacancy", ensemble="nvt", temperature_K=mid))
    if e.surfaces:
        conds.append(ConditionConfig(start="surface", ensemble="nvt", temperature_K=mid))
    if e.kmc:
        conds.append(ConditionConfig(driver="kmc", start="vacancy", temperature_K=mid))
    return conds
