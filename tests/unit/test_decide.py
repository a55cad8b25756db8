"""The loop's decision (:func:`pyacemaker.explore.policy.plan_next`): a pure function, no database, no FireWorks."""

from pyacemaker.config import parse_config, resolve
from pyacemaker.explore.policy import effective, plan_next, start
from pyacemaker.schemas.stages import ExploreOut, TrainOut

CFG, _ = resolve(
    parse_config(
        {
            "elements": ["Cu"],
            "oracle": {"type": "emt"},
            "budget": {"max_iterations": 3, "max_oracle_calls": 100},
        }
    )
)
ACTIVE = start(CFG)
TRAINED = TrainOut(potential_id="p", iteration=0)
SKIPPED = TrainOut(potential_id="p", iteration=1, skipped=True)


def outs(*halted: bool, candidates: bool = True) -> list[ExploreOut]:
    """One run per condition: the first len(halted) conditions halt as given, the rest run quietly."""
    flags = list(halted) + [False] * (len(ACTIVE) - len(halted))
    return [
        ExploreOut(
            run_id=f"r{i}",
            condition=effective(a, CFG.explore),
            halted=h,
            simulated_time_fs=0 if h else 4000,
            candidate_ids=["a"] if h and candidates else [],
        )  # fmt: skip
        for i, (a, h) in enumerate(zip(ACTIVE, flags, strict=True))
    ]


def decide(iteration, outcomes, train=TRAINED, calls=10):
    return plan_next(iteration, outcomes, train, CFG, calls, ACTIVE)


def test_continue_while_md_halts():
    d = decide(0, outs(True))
    assert d.verdict == "continue" and not d.ends and d.halts == 1


def test_converged_without_halts():
    d = decide(1, outs())
    assert d.verdict == "converged" and "no halts" in d.reason and d.ends


def test_stalled_when_nothing_new_was_learned():
    assert decide(1, outs(True), SKIPPED).verdict == "stalled"
    assert decide(1, outs(True, candidates=False)).verdict == "stalled"


def test_budget_limits():
    assert decide(2, outs(True)).verdict == "budget"  # iteration 2 is the third of 3
    assert decide(0, outs(True), calls=100).verdict == "budget"


def test_decision_carries_the_adapted_conditions():
    d = decide(0, outs(True))
    assert [c.name for c in d.conditions] == [a.name for a in ACTIVE]
    assert d.conditions[0].level == 0 and all(c.level == 1 for c in d.conditions[1:])  # quiet ones escalate
