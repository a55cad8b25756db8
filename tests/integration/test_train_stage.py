"""The train stage keeps the previous potential when a refit fails or diverges (real database; the fit itself is
replaced by one that fails, since a real pacemaker run cannot be made to diverge on demand)."""

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.stages.train import train_stage
from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.records import Labels, Provenance, StructureRecord, settings_hash
from pyacemaker.train.pacemaker import FitError, FitResult

pytestmark = pytest.mark.integration


@pytest.fixture
def campaign(db, tmp_path):
    cfg, _ = resolve(parse_config({"name": "ts", "elements": ["Cu"], "oracle": {"type": "emt"}}))
    ctx = Context("ts", cfg, tmp_path)
    h = settings_hash("emt", cfg.oracle.model_dump(mode="json"))
    recs = []
    for k in range(3):
        a = bulk("Cu", cubic=True)
        a.rattle(0.05, seed=k)
        r = StructureRecord.new(
            a, "ts", Provenance(origin="seed", builder=f"b{k}", family=f"seed:b{k}"), "labelled"
        )
        r.labels = Labels(energy=-1.0 * k, forces=np.zeros((4, 3)).tolist(), oracle="emt", settings_hash=h)
        recs.append(r)
    db.insert_records(recs)
    f = tmp_path / "prev.yaml"
    f.write_text("previous potential")
    db.save_potential({"_id": "ts:pot000", "campaign": "ts", "iteration": 0, "n_structures": 2, "n_labelled": 2,
                       "n_functions": 16, "dataset_ids": [r.id for r in recs[:2]],
                       "metrics": {"train_energy_rmse_meV_atom": 2.0, "train_forces_rmse_meV_A": 40.0}},
                      {"yaml": f})  # fmt: skip
    db.update_campaign("ts", {"current_potential": "ts:pot000"})
    return db, ctx


def test_failed_refit_keeps_the_previous_potential(campaign, monkeypatch):
    db, ctx = campaign

    def failing_fit(*a, **k):
        raise FitError("the fit diverged: loss nan")

    monkeypatch.setattr("pyacemaker.campaign.stages.train.fit", failing_fit)
    out = train_stage(db, ctx, 1)
    assert out.failed and out.potential_id == "ts:pot000" and "diverged" in out.reason
    assert db.campaign("ts")["current_potential"] == "ts:pot000"
    assert db.campaign("ts")["iterations"]["1"]["train"]["failed"] is True


def test_refit_with_far_worse_errors_is_rejected(campaign, monkeypatch, tmp_path):
    db, ctx = campaign

    def bad_fit(records, *a, **k):
        y = tmp_path / "bad.yaml"
        y.write_text("bad")
        return FitResult(y, y, y, len(records), 16, {"train_energy_rmse_meV_atom": 500.0,
                                                     "train_forces_rmse_meV_A": 40.0})  # fmt: skip

    monkeypatch.setattr("pyacemaker.campaign.stages.train.fit", bad_fit)
    monkeypatch.setattr("pyacemaker.campaign.stages.train.evaluate", lambda *a, **k: {})
    out = train_stage(db, ctx, 1)
    assert out.failed and "rose from 2 to 500" in out.reason
    assert db.latest_potential("ts").id == "ts:pot000"


@pytest.mark.parametrize("warm", [True, False])
def test_final_fit_starts_from_the_last_potential_unless_told_not_to(campaign, monkeypatch, tmp_path, warm):
    """train.final_warm_start: the final fit gets the last potential's file as its start, or none (from scratch);
    the potential document and the campaign's final_fit record which."""
    from pyacemaker.campaign.stages.train import final_fit_stage

    db, ctx = campaign
    ctx.config.train.final_warm_start = warm
    seen = {}

    def recording_fit(records, *a, initial_potential=None, **k):
        seen["start"] = initial_potential
        y = tmp_path / "final.yaml"
        y.write_text("final")
        return FitResult(y, y, y, len(records), 32, {"train_energy_rmse_meV_atom": 1.0,
                                                    "train_forces_rmse_meV_A": 30.0})  # fmt: skip

    monkeypatch.setattr("pyacemaker.campaign.stages.train.fit", recording_fit)
    assert final_fit_stage(db, ctx, "ts:pot000") == "ts:final"
    assert (seen["start"] is not None) == warm
    if warm:
        assert seen["start"].read_text() == "previous potential"
    assert db.potential("ts:final").warm_start_from == ("ts:pot000" if warm else None)
    assert db.campaign("ts")["final_fit"]["warm_start"] is warm
