"""The quality gate as a campaign stage: the potential against the oracle on each element's reference crystal;
the verdict goes into the campaign document, and a No-Go yields targeted structures for another iteration.

The oracle's properties depend only on its settings, so they are computed once per settings hash and element and
stored in the campaign (``validation_reference``); later gates (after a No-Go iteration) reuse them.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from pyacemaker.campaign.context import Context, load_potential
from pyacemaker.db import Database
from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.schemas.stages import GateOut
from pyacemaker.structures.builders import reference_cell
from pyacemaker.structures.seeds import seed_family
from pyacemaker.validate.gate import PropertyReport, run_gate, targeted_structures

log = logging.getLogger(__name__)


def validation_stage(
    db: Database, ctx: Context, potential_id: str, iteration: int, record_only: bool = False
) -> GateOut:
    """Run the gate on ``potential_id``; store the verdict; on No-Go insert targeted structures (status
    ``selected``, origin ``validation``) and return their ids. ``record_only``: an iteration's potential, whose
    verdict goes into ``iterations.N.validation`` and asks for nothing."""
    v = ctx.config.validation
    if not v.gate:
        return GateOut(verdict="not validated")
    if not record_only:
        db.update_campaign(ctx.campaign, {"stage": "validation"})
    t0 = time.perf_counter()
    potential = load_potential(db, ctx, potential_id)

    def candidate():
        return potential.calculator(with_gamma=True, absolute=True)

    settings_hash = ctx.oracle.settings_hash
    doc = db.campaign_doc(ctx.campaign)
    stored = (doc.validation_reference if doc else {}).get(settings_hash) or {}
    oracle = ctx.oracle.calculator_factory(ctx.workdir / "validation" / "oracle")
    reports, targeted, reasons = {}, [], []
    for el in ctx.config.elements[: v.structures]:
        ref = PropertyReport.model_validate(stored[el]) if el in stored else oracle
        rep = run_gate(candidate, ref, reference_cell(el), thresholds=v.thresholds, settings=v.settings,
                       properties=v.properties, candidate_label=potential_id,
                       reference_label=ctx.config.oracle.type)  # fmt: skip
        if el not in stored:
            db.update_campaign(
                ctx.campaign,
                {f"validation_reference.{settings_hash}.{el}": rep.reference.model_dump(mode="json")},
            )
        reports[el] = rep
        reasons += [f"{el}: {c.reason}" for c in rep.verdict.checks if not c.passed]
        if not rep.verdict.go:
            targeted += [(a, el, f"validation of {el}: {d}") for a, d in targeted_structures(rep)]
    go = all(r.verdict.go for r in reports.values())
    ids: list[str] = []
    if not go and targeted and not record_only:
        pick = np.random.default_rng(0).permutation(len(targeted))[
            : ctx.config.select.budget
        ]  # all kinds mixed
        recs = []
        for i in sorted(pick):
            atoms, el, why = targeted[i]
            prov = Provenance(origin="validation", iteration=iteration, builder=why, base=el, base_kind="element",
                              family=seed_family(why))  # fmt: skip
            recs.append(StructureRecord.new(atoms, ctx.campaign, prov, "selected"))
        db.insert_records(recs)
        ids = [r.id for r in db.get_records([r.id for r in recs]) if r.labels is None]
    out = GateOut(
        potential_id=potential_id, verdict="go" if go else "no-go", reasons=reasons,
        checks={el: [c.model_dump() for c in r.verdict.checks] for el, r in reports.items()}, targeted_ids=ids,
        wall_time_s=round(time.perf_counter() - t0, 1),
    )  # fmt: skip
    if record_only:
        db.set_iteration_part(
            ctx.campaign, iteration, validation=out.model_dump(mode="json", exclude={"reports"})
        )
        return out
    full = out.model_copy(update={"reports": {el: r.model_dump(mode="json") for el, r in reports.items()}})
    db.set_campaign_part(ctx.campaign, validation=full)
    log.info("validation of %s: %s %s", potential_id, out.verdict, "; ".join(reasons))
    return out
