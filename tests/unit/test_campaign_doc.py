"""The typed campaign document reads what every version of the stages wrote, and the status summary prints
the same from a status document or its model."""

from rich.console import Console

from pyacemaker.app import progress
from pyacemaker.campaign.status import CampaignStatus
from pyacemaker.db import to_stored
from pyacemaker.schemas.campaign import CampaignDoc, IterationDoc
from pyacemaker.schemas.stages import FinalFit, RunCondition


def test_older_shapes_read():
    it = IterationDoc.model_validate({
        "selection": {"method": "maxvol", "chosen": 3},  # the document keeps the numbers, not the ids
        "explore": {"0": {"run_id": "c:it000:md0", "condition": {"temperature_K": 600.0, "steps": 10}}},
        "conditions": [{"temperature_K": 1200.0, "steps": 10, "name": ""}],
    })  # fmt: skip
    assert it.selection.chosen == 3 and it.selection.ids == []
    assert it.runs()[0].condition.name == "600K" and it.conditions[0].name == "1200K"
    doc = CampaignDoc.model_validate({"_id": "c", "unknown_key": 1})
    assert (
        doc.name == "c" and doc.state == "unknown" and doc.campaign_config() is None and doc.iterations == {}
    )


def test_models_are_stored_as_json():
    cond = RunCondition(name="bulk 300K", temperature_K=300.0, steps=10)
    assert to_stored({"a": [cond], "b": FinalFit(failed=True), "c": (1, 2)}) == {
        "a": [cond.model_dump(mode="json")], "b": FinalFit(failed=True).model_dump(mode="json"), "c": [1, 2]
    }  # fmt: skip


def test_summary_prints_the_same_from_a_mapping_or_the_model(monkeypatch):
    st = CampaignStatus.model_validate({
        "campaign": "c", "state": "converged", "oracle_calls": 7, "potential_path": "/p.yace",
        "iterations": [{"iteration": 0, "dataset_size": 4, "max_gamma": 3.0, "halts": 1, "decision": "continue",
                        "conditions": [{"name": "bulk 300K", "halted": True, "temperature_K": 300.0, "simulated_time_fs": 40.0},
                                       {"name": "vacancy kmc", "halted": True, "temperature_K": 600.0, "driver": "kmc",
                                        "steps_done": 12}]}],
        "validation": {"potential_id": "c:final", "verdict": "go", "reasons": []},
    })  # fmt: skip

    def text(s, **kw):
        monkeypatch.setattr(progress, "console", Console(record=True, width=140))
        progress.print_summary(s, **kw)
        return progress.console.export_text()

    shown = text({**st.model_dump(), "oracle_calls_this_run": 5})
    assert shown == text(st, calls_this_run=5)
    assert "oracle calls: 7 (5 in this run)" in shown and "GO" in shown
    assert "H 300K @0.04ps" in shown and "H 600K @12 steps" in shown  # when each run halted
