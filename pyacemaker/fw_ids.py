"""FireWorks' id counters, handed out safely on the embedded database server.

FireWorks gives out firework and launch ids with ``find_one_and_update({}, {"$inc": ...})`` and trusts the returned
document to be unique to the caller. SecantusDB applies every increment, but under concurrent clients it returns
the same pre-image to several of them (measured: 200 calls from 4 clients at once, 163 distinct values), so two
workers checking out at the same moment could share a launch id and overwrite each other's launch. A conditional
update is atomic there (4 clients claiming 40 READY documents with a state filter: 40 distinct claims), so the
counters are taken by compare-and-swap instead: read the value, increment only if it is still that value. It is as
correct on MongoDB. :func:`install` replaces the two LaunchPad methods in this process (idempotent).

A worker stopped with SIGTERM or SIGHUP (``run`` stopping its workers) must not die while it holds a workflow's lock
(the next update of that workflow waits out the expiry: ``run`` took 64 s to exit after SIGTERM) nor half way
through checking a job out (FireWorks marks it RESERVED before it creates its launch: a worker that dies between
leaves a job no worker takes, and the campaign waited for it for ever; found by benchmarks/faults.py).
:func:`stop_outside_locks` is such a worker's signal handler: it ends the process at once, or, inside one of those
critical sections, as soon as it is left.

It also makes FireWorks' workflow lock expire: a worker killed while it held a workflow's lock (it is held for the
moments a job's state is written) left the workflow locked for good, and every later update of it waited 5 minutes
and failed (``LockedWorkflowError``, found by benchmarks/faults.py). After ``WFLOCK_EXPIRE_S`` the lock is taken over.
"""

from __future__ import annotations

import os

from fireworks import LaunchPad
from fireworks.core.launchpad import WFLock

MAX_TRIES = 10_000
WFLOCK_EXPIRE_S = 60  # a lock held this long belongs to a dead worker: held for milliseconds otherwise
_ORIGINAL = (WFLock.__enter__, WFLock.__exit__, LaunchPad.checkout_fw)
_held = [0]  # critical sections (workflow locks, job checkouts) this process is in
_pending: list[int] = []  # a stop signal that came while one was held


def _enter(self):
    _held[0] += 1  # counted before it is taken: no moment holds a lock the count does not show
    try:
        return _ORIGINAL[0](self)
    except BaseException:
        _released()
        raise


def _exit(self, *exc):
    try:
        return _ORIGINAL[1](self, *exc)
    finally:
        _released()


def _checkout(self, *args, **kwargs):
    _held[0] += 1
    try:
        return _ORIGINAL[2](self, *args, **kwargs)
    finally:
        _released()


def _released() -> None:
    _held[0] -= 1
    if _held[0] == 0 and _pending:
        os._exit(128 + _pending[0])


def stop_outside_locks(signum: int, frame) -> None:
    """Signal handler of a worker process: exit with 128 + ``signum`` now, or once it has left the workflow lock or
    the job checkout it is in. The job it runs stays RUNNING, for whoever stopped it to re-queue (as when it is killed)."""
    if _held[0]:
        _pending.append(signum)
        return
    os._exit(128 + signum)


def take(counters, key: str, quantity: int = 1) -> int:
    """The first of ``quantity`` consecutive values of counter ``key`` (FireWorks' ``fw_id_assigner`` document)."""
    for _ in range(MAX_TRIES):
        doc = counters.find_one({}, {key: 1})
        if doc is None:
            raise ValueError(
                f"no {key} counter: the LaunchPad was never initialised (pyacemaker does it on first use)"
            )
        if (
            counters.update_one({"_id": doc["_id"], key: doc[key]}, {"$inc": {key: quantity}}).modified_count
            == 1
        ):
            return int(doc[key])
    raise RuntimeError(f"could not take a FireWorks {key} after {MAX_TRIES} tries")


def install() -> None:
    """Make every LaunchPad of this process take ids by compare-and-swap."""
    LaunchPad.get_new_fw_id = lambda self, quantity=1: take(self.fw_id_assigner, "next_fw_id", quantity)
    LaunchPad.get_new_launch_id = lambda self: take(self.fw_id_assigner, "next_launch_id")
    WFLock.__init__.__defaults__ = (WFLOCK_EXPIRE_S, True)  # (expire_secs, kill): take over an expired lock
    WFLock.__enter__, WFLock.__exit__ = _enter, _exit
    LaunchPad.checkout_fw = _checkout
