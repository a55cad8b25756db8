"""Selection: the structures of the next iteration, chosen from the previous iteration's candidates."""

from __future__ import annotations

import logging

import numpy as np

from pyacemaker.campaign.context import Context, potential_files
from pyacemaker.db import Database
from pyacemaker.select.selectors import dedupe, extrapolation_grades, select

log = logging.getLogger(__name__)


def select_stage(
    db: Database, ctx: Context, iteration: int, explore_outs: list[dict], potential_id: str
) -> dict:
    """Choose from the previous iteration's candidates (deduplicated, minus anything already labelled); the
    selection report (pooled, extrapolative, chosen, gamma statistics) goes into the campaign document."""

    db.update_campaign(ctx.campaign, {"stage": "select", "iteration": iteration})
    ids = [i for o in explore_outs for i in o.get("candidate_ids", [])]
    fetched = [r for r in db.get_records(ids) if r.status == "candidate"] if ids else []
    known = {
        d["hash"] for d in db.records.find({"campaign": ctx.campaign, "labels": {"$ne": None}}, {"hash": 1})
    }
    pool = dedupe(fetched, known)
    files = potential_files(db, ctx, potential_id)
    s = ctx.config.select
    chosen = select(s.method, pool, files["yaml"], files["asi"], s.budget, s.gamma_tolerance, iteration)
    db.set_status([c.id for c in chosen], "selected")
    grades = extrapolation_grades(pool, files["yaml"], files["asi"]) if pool else np.array([])
    report = {
        "method": s.method, "pooled": len(ids), "candidates": len(pool), "chosen": len(chosen),
        "extrapolative": int((grades > s.gamma_tolerance).sum()),
        "gamma_max": float(grades.max()) if grades.size else None,
        "gamma_median": float(np.median(grades)) if grades.size else None,
    }  # fmt: skip
    db.set_iteration(ctx.campaign, iteration, {"selection": report})
    return {"ids": [c.id for c in chosen], **report}
