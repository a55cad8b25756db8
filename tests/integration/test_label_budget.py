"""Parallel label batches share one oracle budget (real database, real EMT oracle): each structure is reserved
atomically before it is labelled, so batches racing for the last calls never overshoot ``max_oracle_calls``;
every label is stored and counted as it completes; a re-run spends nothing new."""

import threading

import pytest
from ase.build import bulk

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.stages.label import label_stage
from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.schemas.stages import Selection

pytestmark = pytest.mark.integration


def test_racing_batches_never_overshoot_the_budget(db, tmp_path):
    cfg, _ = resolve(parse_config({"name": "bud", "elements": ["Cu"], "oracle": {"type": "emt"},
                                   "budget": {"max_oracle_calls": 5}}))  # fmt: skip
    ctx = Context("bud", cfg, tmp_path)
    recs = []
    for k in range(12):
        a = bulk("Cu", cubic=True).repeat((2, 2, 2))
        a.rattle(0.05, seed=k)
        recs.append(StructureRecord.new(a, "bud", Provenance(origin="seed", builder=f"b{k}", family="seed:b"),
                                        "selected"))  # fmt: skip
    db.insert_records(recs)
    sel = Selection(ids=[r.id for r in recs], origin="seed", chosen=len(recs))
    outs: dict[int, object] = {}
    n_batches = 4  # each batch alone would see all 5 calls left: 4 x 3 structures = 12 without reservations
    barrier = threading.Barrier(n_batches)

    def batch(b: int) -> None:
        barrier.wait()
        outs[b] = label_stage(db, ctx, sel, b, n_batches, 0)

    threads = [threading.Thread(target=batch, args=(b,)) for b in range(n_batches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    labelled = db.records.count_documents({"campaign": "bud", "labels": {"$ne": None}})
    doc = db.campaign_doc("bud")
    assert labelled == 5 and doc.oracle_calls == 5
    assert sum(o.oracle_calls for o in outs.values()) == 5
    assert sum(len(o.over_budget) for o in outs.values()) == 12 - 5
    # the same batches again (a re-run of the jobs): nothing new is computed or counted
    again = [label_stage(db, ctx, sel, b, n_batches, 0) for b in range(n_batches)]
    assert sum(o.oracle_calls for o in again) == 0 and db.campaign_doc("bud").oracle_calls == 5
