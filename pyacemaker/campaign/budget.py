"""The oracle budget, reserved one structure at a time so that parallel label batches never overshoot it.

Each batch used to read "calls left" once and label that many: ``label_batches`` batches could each spend the
whole remainder. Now a structure is labelled only after it won a reservation: its record is marked (once: a re-run
of an interrupted or killed job finds its mark and spends nothing new), then the campaign's ``oracle_reserved``
counter is incremented atomically; a reservation that lands beyond ``max_oracle_calls`` is undone and the
structure is left over budget. A job killed mid-label leaves its structure reserved, so the budget can only be
under-spent by a crash, never exceeded.
"""

from __future__ import annotations

from pymongo import ReturnDocument

from pyacemaker.db import Database

RESERVED = "oracle_reserved"  # record flag and campaign counter


def reserve(db: Database, campaign: str, record_id: str, max_calls: int) -> bool:
    """Whether ``record_id`` may be labelled within ``max_calls`` (reserving it if it was not already)."""
    fresh = db.records.update_one({"_id": record_id, RESERVED: {"$ne": True}}, {"$set": {RESERVED: True}})
    if fresh.modified_count == 0:
        return True  # reserved by an earlier attempt (an interrupted or killed job): its reservation stands
    doc = db.campaigns.find_one_and_update(
        {"_id": campaign}, {"$inc": {RESERVED: 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    if doc[RESERVED] <= max_calls:
        return True
    db.campaigns.update_one({"_id": campaign}, {"$inc": {RESERVED: -1}})
    db.records.update_one({"_id": record_id}, {"$unset": {RESERVED: ""}})
    return False
