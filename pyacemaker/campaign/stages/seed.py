"""Iteration 0: the seed structures from the elements, and cold-start snapshots from a universal potential."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pyacemaker.campaign.context import Context
from pyacemaker.db import Database
from pyacemaker.explore.cold_start import cold_start_pool, select_first_labels, universal_calculator
from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.structures.seeds import base_cells, build_seeds

log = logging.getLogger(__name__)


def seed_stage(db: Database, ctx: Context) -> dict[str, Any]:
    """Build the iteration-0 structures and store them as records (known hashes are not duplicated)."""

    recs = [
        StructureRecord.new(
            atoms, ctx.campaign, Provenance(origin="seed", iteration=0, builder=desc), "selected"
        )
        for atoms, desc in build_seeds(ctx.config)
    ]
    cold = cold_start_records(ctx)
    recs += cold["chosen"]
    new = db.insert_records(recs + cold["pool"])
    if not (db.campaign(ctx.campaign) or {}).get("config"):  # submitted without `pyacemaker run`/`submit`
        db.update_campaign(ctx.campaign, {"config": ctx.config.model_dump(mode="json"), "workdir": str(ctx.workdir),
                                          "state": "running"})  # fmt: skip
    db.set_iteration(ctx.campaign, 0, {"seeds": len(recs), "cold_start": cold["report"]})
    db.update_campaign(ctx.campaign, {"stage": "seed"})
    return {"ids": [r.id for r in recs], "n_new": len(new)}


def cold_start_records(ctx: Context) -> dict[str, Any]:
    """Cold-start snapshots (universal potential) as records: the D-optimal ``chosen`` ones to label
    (status selected) and the rest of the ``pool`` (status candidate, kept for provenance)."""

    s = ctx.config.seeds
    calc = universal_calculator(s.cold_start)
    if calc is None:
        return {"chosen": [], "pool": [], "report": {"used": False, "setting": s.cold_start}}
    temps = ctx.config.explore.temperatures or [300.0]
    rng = np.random.default_rng(s.seed + 1)
    snaps = cold_start_pool(base_cells(ctx.config, rng), lambda: calc, float(temps[len(temps) // 2]),
                            s.cold_start_steps, 4, rng)  # fmt: skip
    pool = [
        StructureRecord.new(a, ctx.campaign, Provenance(origin="cold_start", iteration=0, builder=d))
        for a, d in snaps
    ]
    chosen = select_first_labels(pool, ctx.config.elements, ctx.config.train, s.cold_start_labels,
                                 ctx.workdir / "cold_start")  # fmt: skip
    for r in chosen:
        r.status = "selected"
    ids = {r.id for r in chosen}
    report = {"used": True, "calculator": type(calc).__name__, "pool": len(pool), "chosen": len(chosen)}
    return {"chosen": chosen, "pool": [r for r in pool if r.id not in ids], "report": report}
