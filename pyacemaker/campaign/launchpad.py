"""Putting a campaign on a LaunchPad and reading its workflow's state back.

Nothing here schedules anything itself: workflows go through jobflow's ``flow_to_workflow`` and the LaunchPad,
work is done by FireWorks workers (:mod:`pyacemaker.campaign.workers`), and state is read from the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo.errors import DuplicateKeyError

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.flows import campaign_flow
from pyacemaker.campaign.workers import WORKER_KEY
from pyacemaker.config import CampaignConfig
from pyacemaker.db import Database
from pyacemaker.schemas.campaign import CampaignDoc


class CampaignError(RuntimeError):
    """A campaign cannot be created or continued (message says why)."""


# where and how long jobs run, not what they compute: changing these continues the same campaign
RUNTIME_ONLY = {"database": True, "resources": True, "workers": True, "oracle": {"timeout_s"},
                "train": {"timeout_s"}, "explore": {"timeout_s"}}  # fmt: skip


def config_hash(cfg: CampaignConfig) -> str:
    """The campaign's identity in its config: the science, without where and how long jobs run."""
    blob = json.dumps(cfg.model_dump(mode="json", exclude=RUNTIME_ONLY), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def same_science(doc: CampaignDoc, cfg: CampaignConfig) -> bool:
    """Whether ``cfg`` is the config the campaign was created with (defaults added since then included; runtime
    settings such as resources and time limits may differ)."""
    try:
        stored = doc.campaign_config()
    except ValueError:  # a config of an older schema: only its recorded hash can tell
        stored = None
    if stored is not None:
        return config_hash(stored) == config_hash(cfg)
    return not doc.config_hash or doc.config_hash == config_hash(cfg)


def build_workflow(ctx: Context):
    """The campaign's FireWorks Workflow (no store inside: workers use their own jobflow config)."""
    from jobflow.managers.fireworks import flow_to_workflow

    wf = flow_to_workflow(campaign_flow(ctx))
    wf.metadata = {"pyacemaker_campaign": ctx.campaign}  # FireWorks' workflow files need a metadata key
    return wf


def ensure_launchpad(lp) -> None:
    """Initialise FireWorks' id counters on a database that has never held a workflow (a no-op otherwise).

    Not ``lp.reset``: two controllers starting at once on a fresh database would each wipe the other's first
    workflow. The counter document has FireWorks' own fixed ``_id``, so one upsert wins and the other is a no-op."""
    if lp.fw_id_assigner.count_documents({}) == 0:
        with contextlib.suppress(DuplicateKeyError):
            lp.fw_id_assigner.update_one({"_id": -1}, {"$setOnInsert": {"next_fw_id": 1, "next_launch_id": 1}},
                                         upsert=True)  # fmt: skip
        lp.tuneup()  # FireWorks' indexes (idempotent)


def ensure_campaign(db: Database, lp, ctx: Context) -> tuple[CampaignDoc, bool]:
    """Create the campaign and add its workflow, or find it to continue. Returns (campaign doc, created)."""
    doc = db.campaign_doc(ctx.campaign)
    h = config_hash(ctx.config)
    if doc and doc.wf_root_fw_id is not None:
        if not same_science(doc, ctx.config):
            raise CampaignError(
                f"campaign {ctx.campaign!r} already exists with a different config; "
                "give the new campaign another name (name: in the config) to keep both"
            )
        if doc.workdir and Path(doc.workdir) != ctx.workdir:
            # its jobs write where the campaign was created: a second directory would be a silent lie
            raise CampaignError(
                f"campaign {ctx.campaign!r} already exists, working in {doc.workdir}; this run asked for "
                f"{ctx.workdir}. Continue it with --workdir {doc.workdir}, or give the new campaign another name "
                "(name: in the config) to keep both"
            )
        try:
            lp.get_wf_by_fw_id_lzyfw(doc.wf_root_fw_id)
        except ValueError:
            raise CampaignError(
                f"campaign {ctx.campaign!r} is recorded but its workflow is gone from the LaunchPad "
                "(was the LaunchPad reset?); choose another campaign name"
            ) from None
        return doc, False
    wf = build_workflow(ctx)
    ensure_launchpad(lp)
    ids = lp.add_wf(wf)
    root = min(ids.values())
    db.update_campaign(ctx.campaign, {
        "config": ctx.config.model_dump(mode="json"), "config_hash": h, "workdir": str(ctx.workdir),
        "state": "running", "created": datetime.now(UTC), "wf_root_fw_id": root, "iteration": 0, "stage": "queued",
    })  # fmt: skip
    return db.campaign_doc(ctx.campaign), True


def workflow_states(lp, root_fw_id: int) -> dict[str, Any]:
    """The workflow's state and its fireworks by state (names included for the RUNNING ones)."""
    wf = lp.workflows.find_one({"nodes": root_fw_id}, {"state": 1, "nodes": 1})
    if wf is None:
        return {"state": "MISSING", "counts": {}, "running": [], "fizzled": []}
    counts: dict[str, int] = {}
    running, fizzled = [], []
    for fw in lp.fireworks.find({"fw_id": {"$in": wf["nodes"]}}, {"state": 1, "name": 1, "fw_id": 1}):
        counts[fw["state"]] = counts.get(fw["state"], 0) + 1
        if fw["state"] == "RUNNING":
            running.append(fw["name"])
        if fw["state"] == "FIZZLED":
            fizzled.append(fw["fw_id"])
    return {
        "state": wf["state"],
        "counts": counts,
        "running": running,
        "fizzled": fizzled,
        "nodes": wf["nodes"],
    }


def requeue_local_launches(
    lp, root_fw_id: int, launches_dir: Path, workers: Collection[str] | None = None
) -> list[int]:
    """Re-queue this campaign's RUNNING jobs that local workers left behind (killed or interrupted). Only launches
    in this campaign's own local launch directory are touched: jobs running on other machines (rlaunch/qlaunch
    elsewhere) are left alone. With ``workers`` (tokens, see :data:`pyacemaker.campaign.workers.WORKER_KEY`),
    only the jobs those local workers ran: the jobs of live workers stay as they are."""
    st = workflow_states(lp, root_fw_id)
    if not st.get("nodes"):
        return []
    prefix = str(launches_dir.resolve())
    out = []
    for fw in lp.fireworks.find(
        {"fw_id": {"$in": st["nodes"]}, "state": "RUNNING"}, {"fw_id": 1, "launches": 1}
    ):
        launch = lp.launches.find_one(
            {"launch_id": {"$in": fw.get("launches", [])}}, sort=[("launch_id", -1)]
        )
        if not launch or not str(launch.get("launch_dir", "")).startswith(prefix):
            continue
        if workers is not None and _worker_token(launch) not in workers:
            continue
        lp.rerun_fw(fw["fw_id"])
        out.append(fw["fw_id"])
    return out


def _worker_token(launch: dict[str, Any]) -> str | None:
    return (((launch.get("fworker") or {}).get("env")) or {}).get(WORKER_KEY)


# a job is RESERVED for the milliseconds between a worker taking it and starting its launch: longer, its worker died
STALE_RESERVATION_S = 30.0


def release_reservations(lp, root_fw_id: int, older_than_s: float = STALE_RESERVATION_S) -> list[int]:
    """This campaign's jobs left RESERVED without a launch for ``older_than_s`` seconds (a worker killed between
    taking a job and starting it): READY again. No worker takes a RESERVED job, so the campaign would wait for it
    for ever. (A job a queue reservation holds has its launch: it is not touched.) Returns their firework ids."""
    return _release(lp, workflow_states(lp, root_fw_id).get("nodes") or [], older_than_s)


def _release(lp, nodes: list[int], older_than_s: float) -> list[int]:
    """:func:`release_reservations` among the firework ids ``nodes``."""
    if not nodes:
        return []
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    out = []
    for fw in lp.fireworks.find(
        {"fw_id": {"$in": nodes}, "state": "RESERVED", "launches": {"$size": 0}},
        {"fw_id": 1, "updated_on": 1},
    ):
        when = fw.get("updated_on")
        if isinstance(when, str):
            with contextlib.suppress(ValueError):
                when = datetime.fromisoformat(when)
        if isinstance(when, datetime) and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if isinstance(when, datetime) and when > cutoff:
            continue  # being checked out right now
        done = lp.fireworks.update_one(
            {"fw_id": fw["fw_id"], "state": "RESERVED", "launches": {"$size": 0}},
            {"$set": {"state": "READY", "updated_on": datetime.now(UTC)}},
        )
        if done.modified_count:
            lp._refresh_wf(fw["fw_id"])  # FireWorks' own bookkeeping of the workflow's states
            out.append(fw["fw_id"])
    return out


def recover_lost(lp, root_fw_id: int, expiration_s: float, spare: Collection[str] = ()) -> list[int]:
    """Re-run this campaign's lost jobs: RUNNING, but their launch has not been pinged for ``expiration_s``
    seconds (its worker died, its node is gone), and jobs left RESERVED by a worker that died while taking them
    (:func:`release_reservations`). Launches of the local workers named in ``spare`` (tokens) are left alone: their
    liveness is known otherwise. Returns the re-queued firework ids."""
    st = workflow_states(lp, root_fw_id)
    if not st.get("nodes"):
        return []
    released = _release(lp, st["nodes"], STALE_RESERVATION_S)
    launch_query = {f"fworker.env.{WORKER_KEY}": {"$nin": list(spare)}} if spare else None
    _, lost, _ = lp.detect_lostruns(
        expiration_secs=expiration_s,
        rerun=True,
        query={"fw_id": {"$in": st["nodes"]}},
        launch_query=launch_query,
    )
    return sorted({*lost, *released})


def silent_workers(lp, root_fw_id: int, expiration_s: float, tokens: Collection[str]) -> list[str]:
    """The local workers (of ``tokens``) whose RUNNING launch in this campaign has not been pinged for
    ``expiration_s`` seconds: alive, but frozen (SIGSTOP, a stuck node) or hung in code that blocks their ping
    thread. The query is :func:`recover_lost`'s (FireWorks' ``detect_lostruns``), turned to our own workers."""
    if not tokens:
        return []
    st = workflow_states(lp, root_fw_id)
    if not st.get("nodes"):
        return []
    cutoff = (datetime.now(UTC) - timedelta(seconds=expiration_s)).isoformat()
    found = lp.launches.find(
        {
            "state": "RUNNING",
            "fw_id": {"$in": st["nodes"]},
            f"fworker.env.{WORKER_KEY}": {"$in": list(tokens)},
            "state_history": {"$elemMatch": {"state": "RUNNING", "updated_on": {"$lte": cutoff}}},
        },
        {f"fworker.env.{WORKER_KEY}": 1},
    )
    return sorted({t for t in (_worker_token(x) for x in found) if t})


def rerun_fizzled(lp, root_fw_id: int) -> list[int]:
    """Re-queue this campaign's FIZZLED jobs. Returns their firework ids."""
    fizzled = workflow_states(lp, root_fw_id).get("fizzled", [])
    for fw_id in fizzled:
        lp.rerun_fw(fw_id)
    return fizzled


def _stacktrace(lp, fw: dict[str, Any]) -> str:
    """The traceback FireWorks stored for a firework's latest launch ('' when none)."""
    launch = lp.launches.find_one({"launch_id": {"$in": fw.get("launches", [])}}, sort=[("launch_id", -1)])
    exc = (((launch or {}).get("action") or {}).get("stored_data") or {}).get("_exception") or {}
    return str(exc.get("_stacktrace", ""))


# failures that say nothing about the job: its allocation's time ran out with its work saved
# (pyacemaker.oracle.base.OracleInterrupted), the database was unreachable for a while (pymongo's errors), or the
# database server answered "internal server error" (seen once from the embedded server just restarted after a
# SIGKILL, in the resume e2e test; a server that keeps failing still fails the job after max_reruns)
TRANSIENT = ("OracleInterrupted", "ServerSelectionTimeoutError", "AutoReconnect", "NetworkTimeout",
             "ConnectionFailure", "'codeName': 'InternalError'")  # fmt: skip


def rerun_transient(lp, root_fw_id: int, max_reruns: int = 3) -> list[int]:
    """Re-queue this campaign's FIZZLED jobs that failed only for a transient reason (:data:`TRANSIENT`; their
    re-run continues from what was stored), at most ``max_reruns`` times each; real failures stay failed.
    Returns their firework ids."""
    fizzled = workflow_states(lp, root_fw_id).get("fizzled", [])
    out = []
    for fw in lp.fireworks.find(
        {"fw_id": {"$in": fizzled}}, {"fw_id": 1, "launches": 1, "archived_launches": 1}
    ):
        tb = _stacktrace(lp, fw)
        last = [ln for ln in tb.strip().splitlines() if ln.strip()][-1:] or [""]
        if any(t in last[0] for t in TRANSIENT) and len(fw.get("archived_launches") or []) < max_reruns:
            lp.rerun_fw(fw["fw_id"])
            out.append(fw["fw_id"])
    return out


def job_names(lp, fw_ids: Collection[int]) -> list[str]:
    """'name (fw id)' of each firework, for messages."""
    names = {
        fw["fw_id"]: fw["name"]
        for fw in lp.fireworks.find({"fw_id": {"$in": list(fw_ids)}}, {"fw_id": 1, "name": 1})
    }
    return [f"{names.get(i, '?')} (fw {i})" for i in fw_ids]


def fizzle_reasons(lp, fw_ids: list[int]) -> list[str]:
    out = []
    for fw_id in fw_ids:
        fw = lp.fireworks.find_one({"fw_id": fw_id}, {"name": 1, "launches": 1})
        tb = _stacktrace(lp, fw)
        last = [ln for ln in tb.strip().splitlines() if ln.strip()][-1:] or ["(no traceback recorded)"]
        out.append(f"{fw['name']} (fw {fw_id}): {last[0]}")
    return out
