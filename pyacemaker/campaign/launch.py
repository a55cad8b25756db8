"""Working a campaign through a queue (Slurm or PBS): one FireWorks ``qlaunch`` feed per job class.

Each of the classes ``label``, ``train`` and ``explore`` gets its own fworker (its category: it takes only its
class's jobs) and its own queue adapter (its class's resources), and the controller keeps a queue job submitted for
every READY job of the class (up to ``max_queued`` per class). ``light`` jobs (select, decide, seconds each) never wait
in the queue: a local worker of the controller takes them. Nothing here schedules: FireWorks' queue launcher
submits (non-reservation mode: the queue job runs ``rlaunch singleshot`` with the class's fworker), Slurm or PBS
allocates, the workers pull their jobs from the LaunchPad.

Lost jobs are re-run while the controller runs: a RUNNING job whose queue job has ended (scancel, walltime
``TIMEOUT``, node failure) at once (:func:`pyacemaker.campaign.queue_jobs.rerun_ended`), one whose worker stopped
pinging (a node the queue still believes in) after the ping expiry, and a job that failed for a passing reason (a
label job that stopped itself before its walltime with pw.x's state saved, the database out of reach for a while:
:func:`pyacemaker.campaign.launchpad.rerun_transient`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from fireworks import FWorker
from fireworks.queue.queue_launcher import launch_rocket_to_queue
from fireworks.utilities.fw_serializers import load_object_from_file

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.launchpad import job_names, recover_lost, rerun_transient, workflow_states
from pyacemaker.campaign.queue import qadapter
from pyacemaker.campaign.queue_jobs import (
    ACTIVE,
    RECORD_QUEUE_ID,
    campaign_jobs,
    phase,
    queue_states,
    rerun_ended,
)
from pyacemaker.campaign.workers import LOST_AFTER_S, fw_config_file, job_query, stop_workers, worker_files
from pyacemaker.db import DatabaseError, DbTarget

QUEUED_CLASSES = ("label", "train", "explore")


@dataclass
class QueueFeed:
    """The files and the queue jobs of one campaign's classes."""

    launchpad: Path
    fworkers: dict[str, Path]
    qadapters: dict[str, Path]
    light_fworker: Path
    launch_dir: Path
    env: dict[str, str]
    submitted: dict[str, list[str]] = field(default_factory=dict)  # class -> queue job ids


def prepare(target: DbTarget, ctx: Context, system: str) -> QueueFeed:
    """Write each class's fworker and queue adapter (``WORKDIR/fireworks``); never with credentials (with the
    embedded server's, the launchpad and jobflow files there are links to private files in its data directory)."""
    if target.has_credentials:
        raise DatabaseError("the queue jobs would need the database's credentials in files: use `pyacemaker run`, "
                            "or the embedded server / a launchpad file without a password")  # fmt: skip
    fw_dir = ctx.workdir / "fireworks"
    files = worker_files(target, fw_dir, ctx.campaign, None)
    worker_lp = files.get("worker_launchpad", files["launchpad"])  # with the login (a link to a private file)
    launch_dir = ctx.workdir / "launches"
    logs = ctx.workdir / "queue_logs"
    launch_dir.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    fw_config = fw_config_file(launch_dir)
    env_lines = [f"export JOBFLOW_CONFIG_FILE={files['jobflow']}", f"export FW_CONFIG_FILE={fw_config}",
                 "export TF_CPP_MIN_LOG_LEVEL=2", RECORD_QUEUE_ID]  # fmt: skip
    query = json.dumps(job_query(ctx.campaign))  # this campaign's pyacemaker jobs only
    cfg = ctx.config
    fworkers, qadapters = {}, {}
    for cls in (*QUEUED_CLASSES, "light"):
        res = getattr(cfg.resources, cls)
        category = cfg.workers.category or res.category or cls
        fworkers[cls] = fw_dir / f"my_fworker_{cls}.yaml"
        fworkers[cls].write_text(
            yaml.safe_dump({"name": f"pyacemaker-{cls}", "category": category, "query": query})
        )
        if cls == "light":
            continue
        rocket = (
            f"{sys.executable} -m pyacemaker.campaign.workers -l {worker_lp} -w {fworkers[cls]} --singleshot"
        )
        qa = qadapter(res, system, rocket, str(logs), f"{ctx.campaign}-{cls}"[:60])
        qa["pre_rocket"] = "\n".join([*env_lines, *([res.pre_rocket] if res.pre_rocket else [])])
        qadapters[cls] = fw_dir / f"my_qadapter_{cls}.yaml"
        qadapters[cls].write_text(yaml.safe_dump(qa))
    env = {**os.environ, "JOBFLOW_CONFIG_FILE": str(files["jobflow"]), "FW_CONFIG_FILE": str(fw_config)}
    return QueueFeed(worker_lp, fworkers, qadapters, fworkers["light"], launch_dir, env)


def _ready(lp, nodes: list[int], category: str) -> int:
    return lp.fireworks.count_documents(
        {"fw_id": {"$in": nodes}, "state": "READY", "spec._category": category}
    )


def feed(
    lp,
    qf: QueueFeed,
    nodes: list[int],
    max_queued: int,
    system: str,
    states: dict[str, str] | None,
    taken: set[str],
) -> dict[str, int]:
    """Submit one queue job per READY job of each class that has no queue job waiting for it yet (at most
    ``max_queued`` waiting per class); returns the submissions. ``states``: the scheduler's view of the submitted
    jobs (None: it did not answer, so all count as alive); ``taken``: queue jobs that already run a firework."""
    done: dict[str, int] = {}
    for cls in QUEUED_CLASSES:
        fworker = FWorker.from_file(str(qf.fworkers[cls]))
        mine = qf.submitted.get(cls, [])
        alive = mine if states is None else [j for j in mine if phase(system, states.get(j)) in ACTIVE]
        qf.submitted[cls] = alive
        waiting = [j for j in alive if j not in taken]  # a queue job running a firework waits for nothing
        want = min(_ready(lp, nodes, fworker.category) - len(waiting), max_queued - len(waiting))
        for _ in range(max(want, 0)):
            qa = load_object_from_file(str(qf.qadapters[cls]))
            job_id = launch_rocket_to_queue(lp, fworker, qa, str(qf.launch_dir), create_launcher_dir=True,
                                            fill_mode=True)  # fmt: skip
            if not job_id:
                break
            qf.submitted[cls].append(str(job_id))
            done[cls] = done.get(cls, 0) + 1
    return done


def run_queue(target: DbTarget, ctx: Context, root_fw_id: int, *, system: str | None = None, max_queued: int = 4,
              poll_s: float = 5.0, lost_after_s: float = LOST_AFTER_S,
              timeout_s: float | None = None, say: Callable[[str], None] = print) -> str:  # fmt: skip
    """Keep each class's queue fed and a local worker on the light jobs until the workflow ends; returns the
    workflow's final state (COMPLETED, or FIZZLED/stuck when nothing can progress)."""
    lp = target.launchpad()
    system = system or ctx.config.resources.system
    qf = prepare(target, ctx, system)
    log = open(ctx.workdir / "queue_logs" / "light_worker.log", "ab")  # noqa: SIM115  (closed below)
    light = subprocess.Popen([sys.executable, "-m", "pyacemaker.campaign.workers", "-l", str(qf.launchpad),
                              "-w", str(qf.light_fworker), "--sleep", "0.5"], cwd=qf.launch_dir, stdout=log,
                             stderr=subprocess.STDOUT, env=qf.env, stdin=subprocess.DEVNULL,
                             start_new_session=True)  # fmt: skip
    start = last_ping_check = time.monotonic()
    try:
        while True:
            for name in job_names(lp, rerun_transient(lp, root_fw_id)):
                say(
                    f"re-queued {name}: it failed for a passing reason (its allocation's time ran out, or the "
                    "database was out of reach); it continues from what was stored"
                )
            st = workflow_states(lp, root_fw_id)
            if st["state"] in ("COMPLETED", "FIZZLED", "DEFUSED") or st["state"] == "MISSING":
                return st["state"]
            nodes = st.get("nodes", [])
            # one look at the queue per round: the jobs submitted here and the ones running fireworks
            jobs = campaign_jobs(lp, nodes)
            taken = {j.queue_id for j in jobs if j.queue_id}
            ask = {i for ids in qf.submitted.values() for i in ids} | {
                j.queue_id for j in jobs if j.fw_state == "RUNNING" and j.queue_id
            }
            states = queue_states(system, ask, qf.env)
            for j in rerun_ended(lp, nodes, system, qf.env, states=states):
                say(f"re-queued {j.name} (fw {j.fw_id}): its {system} job {j.queue_id} ended "
                    f"({j.queue_state or 'no longer known to the queue'}) while it ran")  # fmt: skip
            if time.monotonic() - last_ping_check > 60:  # workers the queue still believes in, but silent
                last_ping_check = time.monotonic()
                for name in job_names(lp, recover_lost(lp, root_fw_id, lost_after_s)):
                    say(f"re-queued {name}: no ping from its worker for {lost_after_s:.0f} s")
            sent = feed(lp, qf, nodes, max_queued, system, states, taken)
            for cls, n in sent.items():
                say(f"queued {n} {cls} job(s) ({system})")
            waiting = sum(len(v) for v in qf.submitted.values())
            counts = st["counts"]
            idle = not (waiting or counts.get("READY") or counts.get("RUNNING") or counts.get("RESERVED"))
            if idle and (light.poll() is not None or counts.get("FIZZLED")):
                return "STUCK"  # nothing queued, nothing running, and nothing that could start
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                return "TIMEOUT"
            time.sleep(poll_s)
    finally:
        stop_workers([light])
        log.close()
