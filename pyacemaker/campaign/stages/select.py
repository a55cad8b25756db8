"""Selection: the structures of the next iteration, chosen from the previous iteration's candidates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pyacemaker.campaign.context import Context, potential_files
from pyacemaker.db import Database
from pyacemaker.schemas.stages import ExploreOut, Selection
from pyacemaker.select.selectors import dedupe, extrapolation_grades, select


def select_stage(db: Database, ctx: Context, iteration: int, explore_outs: Sequence[ExploreOut],
                 potential_id: str) -> Selection:  # fmt: skip
    """Choose from the previous iteration's candidates (deduplicated, minus anything already labelled); the
    selection report (pooled, extrapolative, chosen, gamma statistics) goes into the campaign document."""
    db.update_campaign(ctx.campaign, {"stage": "select", "iteration": iteration})
    ids = [i for o in explore_outs for i in o.candidate_ids]
    fetched = [r for r in db.get_records(ids) if r.status == "candidate"] if ids else []
    pool = dedupe(fetched, db.labelled_hashes(ctx.campaign))
    files = potential_files(db, ctx, potential_id)
    s = ctx.config.select
    chosen = select(s.method, pool, files["yaml"], files["asi"], s.budget, s.gamma_tolerance, iteration)
    db.set_status([c.id for c in chosen], "selected")
    grades = extrapolation_grades(pool, files["yaml"], files["asi"]) if pool else np.array([])
    out = Selection(
        ids=[c.id for c in chosen], origin="select", method=s.method, pooled=len(ids), candidates=len(pool),
        chosen=len(chosen), extrapolative=int((grades > s.gamma_tolerance).sum()),
        gamma_max=float(grades.max()) if grades.size else None,
        gamma_median=float(np.median(grades)) if grades.size else None,
    )  # fmt: skip
    db.set_iteration_part(
        ctx.campaign, iteration, selection=out.model_dump(mode="json", exclude={"ids", "origin", "n_new"})
    )
    return out
