"""What the queue (Slurm or PBS) says about a campaign's jobs, and the jobs it shows to be lost.

FireWorks' queue launcher in non-reservation mode does not record which queue job ran which firework, so every
queue job pyacemaker submits writes its own id into its launch directory (:data:`RECORD_QUEUE_ID`, part of the
class's ``pre_rocket``); the firework's launch document names that directory. From there the scheduler's view
(``squeue``; ``sacct`` for jobs Slurm has forgotten; ``qstat`` on PBS) gives each job's queue state.

A firework still RUNNING whose queue job has ended (scancel, walltime ``TIMEOUT``, node failure, out of memory)
can never finish: its worker is gone. :func:`rerun_ended` re-queues it at once, without waiting for the ping
expiry that covers workers the queue cannot see.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

QUEUE_ID_FILE = "pyacemaker_queue_job"
# shell line of each queue job (before rlaunch): its id, where the firework's launch directory will be
RECORD_QUEUE_ID = f'echo "${{SLURM_JOB_ID:-${{PBS_JOBID:-}}}}" > {QUEUE_ID_FILE}'

# what a person reads: the scheduler's many states in five words
PENDING, RUNNING, FINISHED, FAILED, GONE = "pending", "running", "finished", "failed", "gone"
UNKNOWN = "unknown"  # the scheduler did not answer (not on a login node, controller down)
ACTIVE = (PENDING, RUNNING)
_SLURM_PHASE = {
    **dict.fromkeys(("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"), PENDING),
    **dict.fromkeys(("RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"), RUNNING),
    "COMPLETED": FINISHED,
}  # fmt: skip
_PBS_PHASE = {
    **dict.fromkeys("QHWTM", PENDING),
    **dict.fromkeys("REBSU", RUNNING),
    "F": FINISHED,
    "X": FINISHED,
}


def phase(system: str, state: str | None) -> str:
    """pending / running / finished / failed / gone (unknown to the queue) for a scheduler's raw state."""
    if not state:
        return GONE
    if system == "pbs":
        return _PBS_PHASE.get(state, FAILED)
    return _SLURM_PHASE.get(state.split()[0].rstrip("+"), FAILED)  # "CANCELLED by 0" -> CANCELLED


def queue_id(launch_dir: str | os.PathLike | None) -> str | None:
    """The queue job id a launch directory recorded (None for launches not made by a queue job)."""
    if not launch_dir:
        return None
    try:
        text = (Path(launch_dir) / QUEUE_ID_FILE).read_text().strip()
    except OSError:
        return None
    return text or None


def _run(cmd: list[str], env: Mapping[str, str] | None) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(env) if env else None, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def parse_pairs(text: str | None, sep: str = "|") -> dict[str, str]:
    """``id<sep>STATE`` lines (squeue/sacct output) -> {id: STATE}; job steps (``123.batch``) are skipped."""
    out = {}
    for line in (text or "").splitlines():
        if sep in line:
            jid, state = (x.strip() for x in line.split(sep, 1))
            if jid and "." not in jid:
                out[jid] = state
    return out


def parse_qstat(text: str | None) -> dict[str, str]:
    """``qstat -f`` output -> {job id: job_state letter}."""
    out, current = {}, None
    for line in (text or "").splitlines():
        m = re.match(r"Job Id:\s*(\S+)", line)
        if m:
            current = m.group(1)
        m = re.match(r"\s+job_state = (\w)", line)
        if m and current:
            out[current] = m.group(1)
    return out


def queue_states(
    system: str, ids: Collection[str], env: Mapping[str, str] | None = None
) -> dict[str, str] | None:
    """The scheduler's raw state of each job in ``ids`` it still knows; None when the scheduler did not answer
    (so that no job is taken for ended because ``squeue`` failed)."""
    ids = [str(i) for i in ids if i]
    if not ids:
        return {}
    if system == "pbs":
        text = _run(["qstat", "-x", "-f", *ids], env) or _run(["qstat", "-f", *ids], env)  # Torque has no -x
        return None if text is None else parse_qstat(text)
    # all of this user's jobs in one call (squeue -j fails as a whole on one id it has forgotten)
    text = _run(["squeue", "-h", "--states=all", "-u", getpass.getuser(), "-o", "%i|%T"], env)
    if text is None:
        return None
    mine = parse_pairs(text)
    found = {i: mine[i] for i in ids if i in mine}
    missing = [i for i in ids if i not in found]
    if missing:  # finished long ago: only Slurm's accounting remembers (when a cluster keeps it)
        acct = parse_pairs(
            _run(["sacct", "-n", "-X", "-P", "-j", ",".join(missing), "-o", "JobID,State"], env)
        )
        found.update({i: acct[i] for i in missing if i in acct})
    return found


@dataclass
class QueueJob:
    """One firework of the campaign as FireWorks and the queue see it."""

    fw_id: int
    name: str
    job_class: str
    fw_state: str
    launches: int
    queue_id: str | None = None
    queue_state: str | None = None  # the scheduler's own word (TIMEOUT, CANCELLED, ...)
    queue_phase: str | None = None  # pending / running / finished / failed / gone / unknown


def campaign_jobs(lp, nodes: Collection[int]) -> list[QueueJob]:
    """Every firework of the workflow with its class and the queue job of its latest launch (no queue call)."""
    fws = list(lp.fireworks.find({"fw_id": {"$in": list(nodes)}},
                                 {"fw_id": 1, "name": 1, "state": 1, "launches": 1, "spec.pyacemaker_class": 1}))  # fmt: skip
    latest = {}
    launch_ids = [max(fw["launches"]) for fw in fws if fw.get("launches")]
    for la in lp.launches.find({"launch_id": {"$in": launch_ids}}, {"launch_id": 1, "launch_dir": 1}):
        latest[la["launch_id"]] = la.get("launch_dir")
    out = []
    for fw in sorted(fws, key=lambda f: f["fw_id"]):
        lid = max(fw["launches"]) if fw.get("launches") else None
        out.append(QueueJob(fw["fw_id"], fw.get("name", "?"), (fw.get("spec") or {}).get("pyacemaker_class", "?"),
                            fw["state"], len(fw.get("launches") or []), queue_id(latest.get(lid))))  # fmt: skip
    return out


def with_queue_states(
    jobs: list[QueueJob],
    system: str,
    env: Mapping[str, str] | None = None,
    states: Mapping[str, str] | None = None,
) -> list[QueueJob]:
    """Fill in each job's queue state (one scheduler call for all, unless ``states`` holds its answer already:
    the caller asked about every queue id of ``jobs``)."""
    if states is None:  # not asked yet (or no answer: asked once more)
        states = queue_states(system, {j.queue_id for j in jobs if j.queue_id}, env)
    for j in jobs:
        if j.queue_id:
            j.queue_state = states.get(j.queue_id) if states is not None else None
            j.queue_phase = phase(system, j.queue_state) if states is not None else UNKNOWN
    return jobs


def rerun_ended(
    lp,
    nodes: Collection[int],
    system: str,
    env: Mapping[str, str] | None = None,
    states: Mapping[str, str] | None = None,
) -> list[QueueJob]:
    """Re-queue the RUNNING fireworks whose queue job has ended (cancelled, timed out, failed, forgotten).
    ``states``: the scheduler's answer when the caller has it already (else it is asked here).

    The firework is read again after the queue answered: a job that finished cleanly between the two reads is
    COMPLETED by then (rlaunch records the end before its process exits), so only a dead job is re-run."""
    running = [j for j in campaign_jobs(lp, nodes) if j.fw_state == "RUNNING" and j.queue_id]
    out = []
    for j in with_queue_states(running, system, env, states):
        if j.queue_phase in (*ACTIVE, UNKNOWN):
            continue
        now = lp.fireworks.find_one({"fw_id": j.fw_id}, {"state": 1, "launches": 1})
        if now and now["state"] == "RUNNING" and len(now.get("launches") or []) == j.launches:
            lp.rerun_fw(j.fw_id)
            out.append(j)
    return out
