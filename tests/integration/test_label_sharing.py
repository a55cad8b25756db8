"""A structure another campaign of the database labelled with the same oracle settings is not computed again: the
label stage takes that label (``Labels.shared_from`` names its record) and spends no oracle call; labels of other
settings are never taken. Real database, real EMT oracle."""

import pytest
from ase.build import bulk

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.stages.label import label_stage
from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.schemas.stages import Selection

pytestmark = pytest.mark.integration


def cells(n: int):
    out = []
    for k in range(n):
        a = bulk("Cu", cubic=True).repeat((2, 1, 1))
        a.rattle(0.05, seed=k)
        out.append(a)
    return out


def selected(db, campaign: str, atoms) -> tuple[list[StructureRecord], Selection]:
    recs = [StructureRecord.new(a, campaign, Provenance(origin="seed", family=f"s{i}"), "selected")
            for i, a in enumerate(atoms)]  # fmt: skip
    db.insert_records(recs)
    return recs, Selection(ids=[r.id for r in recs], origin="seed", chosen=len(recs))


def ctx_for(name: str, tmp_path):
    cfg, _ = resolve(parse_config({"name": name, "elements": ["Cu"], "oracle": {"type": "emt"}}))
    return Context(name, cfg, tmp_path / name)


def test_a_structure_labelled_by_another_campaign_costs_no_call(db, tmp_path):
    first = ctx_for("share_cu", tmp_path)
    recs_a, sel_a = selected(db, "share_cu", cells(3))
    out_a = label_stage(db, first, sel_a, 0, 1, 0)
    assert out_a.oracle_calls == 3 and out_a.shared == 0
    # a second campaign meets two of those structures again, and one new
    second = ctx_for("share_cuau", tmp_path)
    recs_b, sel_b = selected(db, "share_cuau", cells(2) + [bulk("Cu", cubic=True).repeat((2, 1, 1))])
    out_b = label_stage(db, second, sel_b, 0, 1, 0)
    assert (out_b.shared, out_b.oracle_calls) == (2, 1)
    assert db.campaign_doc("share_cuau").oracle_calls == 1
    got = {r.hash: r for r in db.get_records([r.id for r in recs_b])}
    for a in recs_a[:2]:
        b = got[a.hash]
        assert b.status == "labelled" and b.labels.shared_from == a.id
        assert b.labels.energy == db.get_records([a.id])[0].labels.energy
    assert got[recs_b[2].hash].labels.shared_from is None  # computed here
    assert not (tmp_path / "share_cuau" / "iter_000" / "label" / recs_b[0].hash[:16]).exists()


def test_labels_of_other_settings_are_not_taken(db, tmp_path):
    from pyacemaker.schemas.records import Labels

    (a,) = cells(1)
    other = StructureRecord.new(a, "share_dft", Provenance(origin="seed"), "labelled")
    other.labels = Labels(energy=-1.0, forces=[[0.0, 0.0, 0.0]] * len(a), oracle="espresso",
                          settings_hash="0123456789abcdef")  # fmt: skip
    db.insert_records([other])
    ctx = ctx_for("share_emt", tmp_path)
    recs, sel = selected(db, "share_emt", [a])
    out = label_stage(db, ctx, sel, 0, 1, 0)
    assert (out.shared, out.oracle_calls) == (0, 1)
    (rec,) = db.get_records([recs[0].id])
    assert rec.labels.oracle == "emt" and rec.labels.energy != -1.0 and rec.labels.shared_from is None
