"""The decision logic of ``decide`` (pure function: no database, no FireWorks)."""

from pyacemaker.campaign.stages.decide import decide_outcome
from pyacemaker.config import parse_config, resolve

CFG, _ = resolve(
    parse_config(
        {
            "elements": ["Cu"],
            "oracle": {"type": "emt"},
            "budget": {"max_iterations": 3, "max_oracle_calls": 100},
        }
    )
)
HALT = {"halted": True, "candidate_ids": ["a"]}
QUIET = {"halted": False, "candidate_ids": []}
TRAINED = {"skipped": False}


def test_continue_while_md_halts():
    assert decide_outcome(0, [HALT, QUIET], TRAINED, CFG, 10)[0] == "continue"


def test_converged_without_halts():
    verdict, reason = decide_outcome(1, [QUIET, QUIET], TRAINED, CFG, 10)
    assert verdict == "converged" and "no halts" in reason


def test_stalled_when_nothing_new_was_learned():
    assert decide_outcome(1, [HALT], {"skipped": True}, CFG, 10)[0] == "stalled"
    assert decide_outcome(1, [{"halted": True, "candidate_ids": []}], TRAINED, CFG, 10)[0] == "stalled"


def test_budget_limits():
    assert decide_outcome(2, [HALT], TRAINED, CFG, 10)[0] == "budget"  # iteration 2 is the third of 3
    assert decide_outcome(0, [HALT], TRAINED, CFG, 100)[0] == "budget"
