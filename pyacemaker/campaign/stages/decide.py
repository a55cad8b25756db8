"""The decision after an iteration: continue, or end (converged / stalled / budget)."""

from __future__ import annotations

import logging

from pyacemaker.config import CampaignConfig
from pyacemaker.explore.policy import converged

log = logging.getLogger(__name__)


END_STATES = ("converged", "stalled", "budget")


def decide_outcome(
    iteration: int,
    explore_outs: list[dict],
    train_out: dict,
    cfg: CampaignConfig,
    oracle_calls: int,
    active: list | None = None,
) -> tuple[str, str]:
    """``continue`` or an end state, with the reason. Pure logic: unit-tested without a database.

    ``active`` are the conditions after :func:`pyacemaker.explore.policy.adapt` (their halt-free windows in a row
    are the convergence signal); without them one halt-free iteration converges.
    """

    halts = [o for o in explore_outs if o.get("halted")]
    if not halts:
        quiet = ", ".join(
            f"{(o.get('condition') or {}).get('name', i)} {float(o.get('simulated_time_fs') or 0) / 1000:.2f} ps"
            for i, o in enumerate(explore_outs)
        )
        if active is None or converged(active, cfg):
            return "converged", f"no halts at any of {len(explore_outs)} conditions ({quiet})"
        if iteration + 1 >= cfg.budget.max_iterations:
            return "budget", f"reached max_iterations={cfg.budget.max_iterations} before every condition had " \
                             f"{cfg.explore.converge_windows} halt-free runs"  # fmt: skip
        return "continue", (
            f"no halts ({quiet}); conditions escalate until each has {cfg.explore.converge_windows} halt-free runs"
        )
    if train_out.get("skipped") and iteration > 0:
        return "stalled", "MD halted but no new structure survived selection and labelling"
    if not any(o.get("candidate_ids") for o in halts):
        return "stalled", "MD halted but produced no candidate structures"
    if iteration + 1 >= cfg.budget.max_iterations:
        return (
            "budget",
            f"reached max_iterations={cfg.budget.max_iterations} with {len(halts)} halting conditions",
        )
    if oracle_calls >= cfg.budget.max_oracle_calls:
        return "budget", f"reached max_oracle_calls={cfg.budget.max_oracle_calls}"
    return "continue", f"{len(halts)} of {len(explore_outs)} conditions halted on gamma"
