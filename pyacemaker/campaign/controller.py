"""One controller per campaign: the lock that ``run`` and ``launch`` hold while they work a campaign.

Two controllers of one campaign would each re-queue the jobs they believe lost, including the ones the other's
workers are running (two pw.x in one directory, oracle calls counted twice). The lock lives in the campaign
document (``controller``: host, pid, start, heartbeat, token), is taken with one atomic update, refreshed by a
heartbeat thread and released on every exit path. A controller that died without releasing it is taken over once
its heartbeat is ``stale_s`` old, or at once when it ran on this host and its pid is gone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pyacemaker.db import Database

STALE_S = 120.0
BEAT_S = 15.0


class ControllerBusy(RuntimeError):
    """Another live controller works this campaign (the message names it and what to do)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(holder: dict[str, Any], now: datetime) -> str:
    beat = holder.get("heartbeat")
    ago = f", last heartbeat {(now - beat.replace(tzinfo=UTC)).total_seconds():.0f} s ago" if beat else ""
    return f"pid {holder.get('pid')} on host {holder.get('host')} ({holder.get('command', 'run')}{ago})"


def acquire(db: Database, campaign: str, command: str, stale_s: float = STALE_S) -> dict[str, Any]:
    """Take the campaign's controller lock or raise ControllerBusy. Returns the lock held (with its token)."""
    now = datetime.now(UTC)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "command": command, "started": now, "heartbeat": now,
          "token": uuid.uuid4().hex}  # fmt: skip
    free = {
        "$or": [{"controller": None}, {"controller.heartbeat": {"$lt": now - timedelta(seconds=stale_s)}}]
    }
    if db.campaigns.find_one_and_update({"_id": campaign, **free}, {"$set": {"controller": me}}):
        return me
    holder = (db.campaigns.find_one({"_id": campaign}, {"controller": 1}) or {}).get("controller") or {}
    if holder.get("host") == me["host"] and not _pid_alive(int(holder.get("pid", -1))):
        # a controller of this host that is gone (killed): take over its lock, and only that one
        if db.campaigns.find_one_and_update({"_id": campaign, "controller.token": holder.get("token")},
                                            {"$set": {"controller": me}}):  # fmt: skip
            return me
        holder = (db.campaigns.find_one({"_id": campaign}, {"controller": 1}) or {}).get("controller") or {}
    raise ControllerBusy(
        f"campaign {campaign!r} is already worked by another controller, {_describe(holder, now)}: two would "
        f"re-queue each other's running jobs. Stop that one first (Ctrl-C, or kill {holder.get('pid')} on "
        f"{holder.get('host')}) or let it finish; a controller that died is taken over after {stale_s:.0f} s "
        "without a heartbeat."
    )


def release(db: Database, campaign: str, lock: dict[str, Any]) -> None:
    db.campaigns.update_one(
        {"_id": campaign, "controller.token": lock["token"]}, {"$set": {"controller": None}}
    )


@contextlib.contextmanager
def controller_lock(
    db: Database, campaign: str, command: str, stale_s: float = STALE_S, beat_s: float = BEAT_S
) -> Iterator[dict[str, Any]]:
    """Hold the campaign's controller lock for the block, with a heartbeat every ``beat_s`` seconds."""
    lock = acquire(db, campaign, command, stale_s)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(beat_s):
            with contextlib.suppress(Exception):  # a database hiccup must not kill the controller
                db.campaigns.update_one({"_id": campaign, "controller.token": lock["token"]},
                                        {"$set": {"controller.heartbeat": datetime.now(UTC)}})  # fmt: skip

    t = threading.Thread(target=beat, name="controller-heartbeat", daemon=True)
    t.start()
    try:
        yield lock
    finally:
        stop.set()
        t.join(5)
        with contextlib.suppress(Exception):
            release(db, campaign, lock)
