"""The quality gate as a campaign stage: the final potential against the oracle on each element's reference
crystal; the verdict goes into the campaign document, and a No-Go yields targeted structures for another iteration.

The oracle's properties depend only on its settings, so they are computed once per settings hash and element and
stored in the campaign (``validation_reference``); later gates (after a No-Go iteration) reuse them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from pyacemaker.campaign.context import Context, potential_files, reference_energies
from pyacemaker.db import Database
from pyacemaker.oracle import make_oracle
from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.structures.builders import reference_cell
from pyacemaker.train.pacemaker import calculator
from pyacemaker.validate.gate import PropertyReport, run_gate, targeted_structures

log = logging.getLogger(__name__)


class OracleCalculator(Calculator):
    """Any pyacemaker oracle as an ASE calculator (each call a fresh directory), so the validators run the same
    functions on the oracle as on the potential. Energies include nothing but what the oracle reports."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, oracle, workdir: Path, **kwargs):
        super().__init__(**kwargs)
        self.oracle, self.workdir, self.calls = oracle, Path(workdir), 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        wd = self.workdir / f"call_{self.calls:05d}"
        wd.mkdir(parents=True, exist_ok=True)
        e, f, s, _ = self.oracle.compute(self.atoms.copy(), wd)
        self.results = {"energy": e, "free_energy": e, "forces": np.asarray(f)}
        if s is not None:
            self.results["stress"] = np.asarray(s)


def oracle_factory(ctx: Context):
    """A factory of the campaign oracle's ASE calculator (EMT directly; others through :class:`OracleCalculator`)."""

    if ctx.config.oracle.type == "emt":
        from ase.calculators.emt import EMT

        return EMT
    oracle = make_oracle(ctx.config.oracle)
    return lambda: OracleCalculator(oracle, ctx.workdir / "validation" / "oracle")


def validation_stage(
    db: Database, ctx: Context, potential_id: str, iteration: int, record_only: bool = False
) -> dict[str, Any]:
    """Run the gate on ``potential_id``; store the verdict; on No-Go insert targeted structures (status
    ``selected``, origin ``validation``) and return their ids. ``record_only``: an iteration's potential, whose
    verdict goes into ``iterations.N.validation`` and asks for nothing."""

    v = ctx.config.validation
    if not v.gate:
        return {"verdict": "not validated", "reasons": [], "targeted_ids": []}
    if not record_only:
        db.update_campaign(ctx.campaign, {"stage": "validation"})
    t0 = time.perf_counter()
    files = potential_files(db, ctx, potential_id)
    refs = reference_energies(db, ctx)
    baseline = ctx.baseline

    def candidate():
        return calculator(files["yaml"], files.get("asi"), baseline, refs)

    settings_hash = make_oracle(ctx.config.oracle).settings_hash
    stored = ((db.campaign(ctx.campaign) or {}).get("validation_reference") or {}).get(settings_hash) or {}
    oracle = oracle_factory(ctx)
    reports, targeted, reasons = {}, [], []
    for el in ctx.config.elements[: v.structures]:
        atoms = reference_cell(el)
        ref = PropertyReport.model_validate(stored[el]) if el in stored else oracle
        rep = run_gate(candidate, ref, atoms, thresholds=v.thresholds, settings=v.settings,
                       properties=v.properties, candidate_label=f"{potential_id}",
                       reference_label=ctx.config.oracle.type)  # fmt: skip
        if el not in stored:
            db.update_campaign(
                ctx.campaign,
                {f"validation_reference.{settings_hash}.{el}": rep.reference.model_dump(mode="json")},
            )
        reports[el] = rep.model_dump(mode="json")
        reasons += [f"{el}: {c.reason}" for c in rep.verdict.checks if not c.passed]
        if not rep.verdict.go:
            targeted += [(a, f"validation of {el}: {d}") for a, d in targeted_structures(rep)]
    go = all(r["verdict"]["go"] for r in reports.values())
    ids: list[str] = []
    if not go and targeted and not record_only:
        rng = np.random.default_rng(0)
        pick = rng.permutation(len(targeted))[: ctx.config.select.budget]  # a budget's worth, all kinds mixed
        recs = [StructureRecord.new(targeted[i][0], ctx.campaign, Provenance(
            origin="validation", iteration=iteration, parent=None, builder=targeted[i][1]), "selected")
            for i in sorted(pick)]  # fmt: skip
        db.insert_records(recs)
        ids = [r.id for r in db.get_records([r.id for r in recs]) if r.labels is None]
    out = {
        "potential_id": potential_id,
        "verdict": "go" if go else "no-go",
        "reasons": reasons,
        "checks": {el: r["verdict"]["checks"] for el, r in reports.items()},
        "targeted_ids": ids,
        "wall_time_s": round(time.perf_counter() - t0, 1),
    }
    if record_only:
        db.set_iteration(ctx.campaign, iteration, {"validation": out})
        return out
    db.update_campaign(ctx.campaign, {"validation": {**out, "reports": reports}})
    log.info("validation of %s: %s %s", potential_id, out["verdict"], "; ".join(reasons))
    return out
