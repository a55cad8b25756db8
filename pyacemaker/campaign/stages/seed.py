"""Iteration 0: the seed structures from the elements, and cold-start snapshots from a universal potential."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pyacemaker.campaign.context import Context
from pyacemaker.db import Database
from pyacemaker.explore.cold_start import cold_start_pool, select_first_labels, universal_calculator
from pyacemaker.schemas.records import StructureRecord
from pyacemaker.schemas.stages import ColdStartReport, Selection
from pyacemaker.structures.seeds import base_cells, build_seeds


@dataclass
class ColdStart:
    """Cold-start snapshots as records: the D-optimal ``chosen`` ones to label, the rest of the ``pool``."""

    report: ColdStartReport
    chosen: list[StructureRecord] = field(default_factory=list)
    pool: list[StructureRecord] = field(default_factory=list)


def seed_stage(db: Database, ctx: Context) -> Selection:
    """Build the iteration-0 structures and store them as records (known hashes are not duplicated)."""
    recs = [StructureRecord.new(sd.atoms, ctx.campaign, sd.provenance("seed"), "selected")
            for sd in build_seeds(ctx.config)]  # fmt: skip
    cold = cold_start_records(ctx)
    recs += cold.chosen
    new = db.insert_records(recs + cold.pool)
    doc = db.campaign_doc(ctx.campaign)
    if doc is None or doc.config is None:
        # submitted without `pyacemaker run`/`submit` (e.g. a workflow file added with lpad)
        db.update_campaign(ctx.campaign, {"config": ctx.config.model_dump(mode="json"), "workdir": str(ctx.workdir),
                                          "state": "running"})  # fmt: skip
    db.set_iteration_part(ctx.campaign, 0, seeds=len(recs), cold_start=cold.report)
    db.update_campaign(ctx.campaign, {"stage": "seed"})
    return Selection(ids=[r.id for r in recs], origin="seed", n_new=len(new), chosen=len(recs))


def cold_start_records(ctx: Context) -> ColdStart:
    """Cold-start snapshots (universal potential): relaxed and shaken seed cells, D-optimal ones to label
    (status selected), the others kept as candidates for provenance."""
    s = ctx.config.seeds
    calc = universal_calculator(s.cold_start)
    if calc is None:
        return ColdStart(ColdStartReport(used=False, setting=s.cold_start))
    temps = ctx.config.explore.temperatures or [300.0]
    rng = np.random.default_rng(s.seed + 1)
    snaps = cold_start_pool(base_cells(ctx.config, rng), lambda: calc, float(temps[len(temps) // 2]),
                            s.cold_start_steps, s.cold_start_snapshots, rng)  # fmt: skip
    pool = [StructureRecord.new(sd.atoms, ctx.campaign, sd.provenance("cold_start")) for sd in snaps]
    chosen = select_first_labels(pool, ctx.config.elements, ctx.config.train, s.cold_start_labels,
                                 ctx.workdir / "cold_start")  # fmt: skip
    for r in chosen:
        r.status = "selected"
    ids = {r.id for r in chosen}
    report = ColdStartReport(used=True, calculator=type(calc).__name__, pool=len(pool), chosen=len(chosen))
    return ColdStart(report, chosen, [r for r in pool if r.id not in ids])
