"""The loop's rules, in one place, as pure functions: how conditions adapt between iterations and what the
campaign does next.

Per iteration (:func:`adapt`): a condition that halted stays where it is (the potential is still learning
there); one that ran its whole window without a halt escalates one level (hotter by ``temperature_factor``,
``pressure_step_GPa`` higher in NPT, ``steps_factor`` longer), up to the caps; its halt-free windows in a row
(``quiet_windows``) are the per-condition convergence signal. :func:`plan_next` turns an iteration's outcome into a
:class:`~pyacemaker.schemas.stages.Decision` (continue, or converged / stalled / budget); :func:`after_gate` decides
whether a No-Go of the quality gate buys one more iteration.

The decision table that sets up the conditions of iteration 0 from the material is
:mod:`pyacemaker.config.policy`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyacemaker.config.policy import initial_conditions
from pyacemaker.config.schema import CampaignConfig, ExploreConfig
from pyacemaker.schemas.stages import ActiveCondition, Decision, ExploreOut, GateOut, RunCondition, TrainOut


def effective(active: ActiveCondition, explore: ExploreConfig) -> RunCondition:
    """Temperature, pressure and steps of a condition at its escalation level (what the driver runs)."""
    e, b = explore, active.base
    t_cap = max(e.max_temperature or b.temperature_K, b.temperature_K)
    p_cap = max(e.max_pressure_GPa if e.max_pressure_GPa is not None else b.pressure_GPa, b.pressure_GPa)
    steps0 = b.steps or (e.kmc_steps if b.driver != "md" else e.steps)
    pressure = (
        min(b.pressure_GPa + active.level * e.pressure_step_GPa, p_cap)
        if b.ensemble == "npt"
        else b.pressure_GPa
    )
    return RunCondition(
        name=active.name, driver=b.driver, start=b.start, ensemble=b.ensemble, swap=b.swap, element=b.element,
        temperature_K=float(min(b.temperature_K * e.temperature_factor**active.level, t_cap)),
        pressure_GPa=float(pressure),
        steps=int(min(round(steps0 * e.steps_factor**active.level), round(steps0 * e.max_steps_factor))),
        level=active.level, quiet_fs=active.quiet_fs, quiet_windows=active.quiet_windows,
    )  # fmt: skip


def start(cfg: CampaignConfig) -> list[ActiveCondition]:
    """The conditions of iteration 0, at level 0."""
    return [ActiveCondition(base=c) for c in cfg.explore.conditions or initial_conditions(cfg)]


def adapt(
    active: Sequence[ActiveCondition], outcomes: Sequence[ExploreOut], cfg: CampaignConfig
) -> list[ActiveCondition]:
    """The next iteration's conditions: halted ones stay, halt-free ones escalate (``explore.escalate``)."""
    by_name = {o.condition.name: o for o in outcomes}
    out = []
    for c in active:
        o = by_name.get(c.name)
        if o is None or o.skipped:
            out.append(c.model_copy())
        elif o.halted:
            out.append(c.model_copy(update={"quiet_fs": 0.0, "quiet_windows": 0}))
        else:
            out.append(c.model_copy(update={
                "level": c.level + 1 if cfg.explore.escalate else c.level,
                "quiet_fs": c.quiet_fs + float(o.simulated_time_fs or 0.0),
                "quiet_windows": c.quiet_windows + 1,
            }))  # fmt: skip
    return out


def converged(active: Sequence[ActiveCondition], cfg: CampaignConfig) -> bool:
    """Every condition ran ``explore.converge_windows`` halt-free windows in a row (read after :func:`adapt`)."""
    return all(c.quiet_windows >= cfg.explore.converge_windows for c in active)


def plan_next(iteration: int, outcomes: Sequence[ExploreOut], train: TrainOut, cfg: CampaignConfig, oracle_calls: int,
              active: Sequence[ActiveCondition]) -> Decision:  # fmt: skip
    """What follows iteration ``iteration``: ``continue`` with the adapted conditions, or an end state with the
    reason. ``active`` are the conditions this iteration ran; they are adapted here."""
    nxt = adapt(active, outcomes, cfg)
    verdict, reason = _verdict(iteration, outcomes, train, cfg, oracle_calls, nxt)
    halts = sum(1 for o in outcomes if o.halted)
    return Decision(verdict=verdict, reason=reason, iteration=iteration, conditions=nxt, halts=halts)


def _verdict(iteration: int, outcomes: Sequence[ExploreOut], train: TrainOut, cfg: CampaignConfig,
             oracle_calls: int, nxt: Sequence[ActiveCondition]) -> tuple[str, str]:  # fmt: skip
    b = cfg.budget
    halts = [o for o in outcomes if o.halted]
    if not halts:
        quiet = ", ".join(
            f"{o.condition.name} {float(o.simulated_time_fs or 0) / 1000:.2f} ps" for o in outcomes
        )
        if converged(nxt, cfg):
            return "converged", f"no halts at any of {len(outcomes)} conditions ({quiet})"
        if iteration + 1 >= b.max_iterations:
            return "budget", f"reached max_iterations={b.max_iterations} before every condition had " \
                             f"{cfg.explore.converge_windows} halt-free runs"  # fmt: skip
        return "continue", (
            f"no halts ({quiet}); conditions escalate until each has {cfg.explore.converge_windows} halt-free runs"
        )
    if train.skipped and iteration > 0:
        return "stalled", "MD halted but no new structure survived selection and labelling"
    if not any(o.candidate_ids for o in halts):
        return "stalled", "MD halted but produced no candidate structures"
    if iteration + 1 >= b.max_iterations:
        return "budget", f"reached max_iterations={b.max_iterations} with {len(halts)} halting conditions"
    if oracle_calls >= b.max_oracle_calls:
        return "budget", f"reached max_oracle_calls={b.max_oracle_calls}"
    return "continue", f"{len(halts)} of {len(outcomes)} conditions halted on gamma"


def after_gate(ended: Decision, gate: GateOut, no_go_rounds: int, oracle_calls: int, cfg: CampaignConfig,
               active: Sequence[ActiveCondition]) -> Decision:  # fmt: skip
    """After the quality gate: a No-Go with targeted structures buys one more iteration (``continue``) while
    ``validation.no_go_iterations`` rounds and ``budget.max_oracle_calls`` allow (it may go beyond
    ``budget.max_iterations``); otherwise the campaign's end stands."""
    v, b = cfg.validation, cfg.budget
    if (gate.verdict == "no-go" and gate.targeted_ids and no_go_rounds < v.no_go_iterations
            and oracle_calls < b.max_oracle_calls):  # fmt: skip
        return Decision(verdict="continue", reason="quality gate No-Go: " + "; ".join(gate.reasons),
                        iteration=ended.iteration + 1, conditions=list(active))  # fmt: skip
    return ended
