"""Provenance queries: what trained a potential, where a record came from, how its labels were made."""

from __future__ import annotations

from typing import Any

from pyacemaker.db import Database


def potential_id(db: Database, campaign: str, iteration: int | None = None) -> str:
    """The id of the campaign's potential of ``iteration`` (latest when None)."""
    pot = db.latest_potential(campaign, iteration)
    if pot is None and db.campaign_doc(campaign) is None:
        raise KeyError(f"no campaign named {campaign!r} in the database (pyacemaker status lists them)")
    if pot is None:
        raise KeyError(
            f"no potential for campaign {campaign!r}"
            + (f" at iteration {iteration}" if iteration is not None else "")
        )
    return pot.id


def training_set(db: Database, pot_id: str) -> list[dict[str, Any]]:
    """The records that trained a potential, each with origin, iteration and MD condition."""
    pot = db.potential(pot_id)
    if pot is None:
        raise KeyError(f"potential {pot_id!r} not found")
    rows = []
    for r in db.get_records(pot.dataset_ids):
        p = r.provenance
        rows.append({"id": r.id, "formula": r.formula, "origin": p.origin, "iteration": p.iteration,
                     "condition": p.condition.model_dump() if p.condition else None, "step": p.step, "parent": p.parent, "builder": p.builder})  # fmt: skip
    return rows


def lineage(db: Database, record_id: str) -> list[dict[str, Any]]:
    """The record and its ancestors, newest first: origin, MD run, condition, step, gamma, builder."""
    chain, seen = [], set()
    rid: str | None = record_id
    while rid and rid not in seen:
        seen.add(rid)
        found = db.find_records({"_id": rid})
        if not found:
            chain.append({"id": rid, "missing": True})
            break
        r = found[0]
        p = r.provenance
        chain.append({"id": r.id, "formula": r.formula, "status": r.status, "origin": p.origin,
                      "iteration": p.iteration, "run_id": p.run_id, "condition": p.condition.model_dump() if p.condition else None, "step": p.step,
                      "gamma": p.gamma, "builder": p.builder, "parent": p.parent})  # fmt: skip
        rid = p.parent
    return chain


def label_info(db: Database, record_id: str) -> dict[str, Any]:
    """Which oracle, with which settings and corrections, produced a record's labels (or why it was rejected)."""
    found = db.find_records({"_id": record_id})
    if not found:
        raise KeyError(f"record {record_id!r} not found")
    r = found[0]
    if r.labels is None:
        return {"id": r.id, "status": r.status, "labelled": False, "reject_reason": r.reject_reason}
    return {"id": r.id, "status": r.status, "labelled": True, "oracle": r.labels.oracle,
            "settings": r.labels.settings, "settings_hash": r.labels.settings_hash,
            "corrections": [c.model_dump() for c in r.labels.corrections], "energy_eV": r.labels.energy,
            "wall_time_s": r.labels.wall_time_s}  # fmt: skip


def potentials_trained_on(db: Database, record_id: str) -> list[str]:
    """Potentials whose training set contains the record."""
    return db.potentials_trained_on(record_id)
