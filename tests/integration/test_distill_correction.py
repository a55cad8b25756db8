"""How the oracle's labels correct a distilled base, on a real database: ``warm_start`` fits the oracle's labels
alone; ``joint`` adds every surrogate label at ``surrogate.joint_weight`` on its energy and forces, and only
surrogate labels of this campaign's fine-tuned surrogate."""

from __future__ import annotations

import pytest
from ase.build import bulk

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.stages.train import surrogate_share
from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.records import Labels, Provenance, StructureRecord
from pyacemaker.schemas.stages import SurrogateReport

pytestmark = pytest.mark.integration


def _record(i: int, oracle: str, settings_hash: str) -> StructureRecord:
    a = bulk("Cu", cubic=True)
    a.rattle(0.05, seed=i)
    r = StructureRecord.new(a, "c", Provenance(origin="surrogate_md"), "labelled")
    r.labels = Labels(
        energy=-14.0 + 0.01 * i, forces=[[0.1, 0, 0]] * 4, oracle=oracle, settings_hash=settings_hash
    )
    return r


@pytest.mark.parametrize("correction", ["warm_start", "joint"])
def test_the_surrogates_labels_enter_fits_only_when_joint(db, tmp_path, correction):
    cfg, _ = resolve(parse_config({"name": "c", "elements": ["Cu"], "oracle": {"type": "emt"}, "workflow": "distill",
                                   "surrogate": {"correction": correction, "joint_weight": 0.2}}))  # fmt: skip
    ctx = Context("c", cfg, tmp_path)
    db.insert_records([_record(1, "emt", ctx.oracle.settings_hash), _record(2, "chgnet", "tuned"),
                       _record(3, "chgnet", "tuned"), _record(4, "chgnet", "someone-elses")])  # fmt: skip
    assert surrogate_share(db, ctx, {"Cu": 0.0}) == []  # no surrogate fine-tuned yet
    report = SurrogateReport(
        model="chgnet", settings_hash="tuned", oracle_settings_hash=ctx.oracle.settings_hash
    )
    db.set_campaign_part("c", surrogate=report.model_dump(mode="json"))
    share = surrogate_share(db, ctx, {"Cu": 0.0})
    if correction == "warm_start":
        assert share == []
    else:
        assert sorted(r.labels.energy for r in share) == [-13.98, -13.97]  # this campaign's surrogate only
        assert all(r.weight == 0.2 and r.force_weights == [0.2] * 4 for r in share)
        stored = db.get_records([r.id for r in share])
        assert all(
            r.weight == 1.0 and r.force_weights is None for r in stored
        )  # weights only in the fit's copy
