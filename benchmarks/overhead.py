"""Engine overhead benchmark: seconds per job spent in FireWorks, jobflow and database round trips (not in
science), and that cost as a share of a demo campaign's wall time, for local workers (``pyacemaker run``) and for
Slurm (``pyacemaker launch --queue slurm``). The project's goal: under 2 % of a demo campaign's wall time.

    python benchmarks/overhead.py [--jobs 20] [--slurm-jobs 6] [--poll 10] [--skip-slurm] [--skip-campaign]
    python benchmarks/overhead.py --campaign NAME --db-uri mongodb://HOST:PORT/ [--db-name pyacemaker]
    python benchmarks/overhead.py --slurm-campaign     # also work the demo campaign through Slurm (minutes)

Method:

1. Local no-op jobs, on a real embedded database server (started as the tests start it): a chain of N jobs (each
   takes the previous job's output, so jobflow resolves a reference from the JobStore) and a fan-out of N
   independent jobs, worked by 2 real ``rlaunch`` workers started as ``pyacemaker run`` starts them
   (``LocalWorkers``). A job only imports ``pyacemaker.campaign.flows`` (what a worker does to load a real job's
   function; ``--bare``: nothing). Times come from the launches collection: a job is READY when its last parent
   completed (roots: when the workflow was created), picked up at RUNNING, done at COMPLETED. Engine cost per
   job: the chain's median READY -> COMPLETED; what the chain took beyond jobs x median (the workers' start-up,
   each worker's first import) is a one-off cost per campaign.
2. The same chain through a real one-node Slurm (``tests/support/slurm.py``), worked by
   ``pyacemaker.campaign.launch.run_queue`` (the loop of ``pyacemaker launch``: per-class fworkers and queue
   adapters, one queue job per READY job, each a fresh ``rlaunch singleshot``) looking every 0.5 s. The launch
   command looks every ``--poll`` seconds (its default: 10), so a job READY at a random moment waits
   (poll - 0.5)/2 s more on average: added to the per-job cost. Light jobs (select, decide) stay on the
   controller's local worker and cost what a local job costs.
3. The share, from a finished campaign: by default the small EMT campaign ``TINY`` of
   ``tests/e2e/test_campaign.py`` worked by ``pyacemaker run`` on the same server (``--slurm-campaign``: also by
   ``pyacemaker launch --queue slurm``; ``--campaign NAME``: one read from ``--db-uri`` instead). Its jobs, wall
   time (workflow created -> last job completed), the sum of the jobs' run times, the time when no job ran
   although one was READY (engine gaps measured in the campaign itself, the workers' start-up included), and two
   shares: (one-off + jobs x per-job cost) / wall (every job's cost counted: an upper bound when jobs overlap),
   and the critical-path share (wall - science alone replayed on the campaign's graph) / wall. The mode the
   campaign did not run in is replayed: its graph, each job's science (run time less the engine's in-launch
   part), that mode's engine cost per job.

Everything runs in a temporary directory (``--keep`` keeps it); every process started here (database server,
workers, Slurm daemons and jobs, the campaign's ``pyacemaker`` process) is stopped on every exit path.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobflow import job

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOAD = "pyacemaker.campaign.flows"
FAST_POLL_S = 0.5  # poll_s of the launch loop (run_queue) in the Slurm no-op chain
QUEUED = ("label", "train", "explore")


@job
def noop(i: int, prev: Any = None, load: str | None = None) -> int:
    """A job with no science: import what a real job's function needs (``load``), return its index. Workers
    import this module as ``overhead`` (its directory on their PYTHONPATH); the rest of it imports nothing heavy."""
    if load:
        importlib.import_module(load)
    return i


# ----------------------------------------------------------------------------------------------- timelines
@dataclass
class JobTimes:
    """One firework's last completed launch: epoch seconds READY, RUNNING, COMPLETED."""

    fw_id: int
    name: str
    job_class: str  # the class its name says (pyacemaker.campaign.queue.JOB_CLASS); "noop" for no-op jobs
    spec_class: str | None  # the class its FireWorks spec carries
    worker: str
    ready: float
    start: float
    end: float

    @property
    def latency(self) -> float:
        return self.end - self.ready


@dataclass
class Timeline:
    created: float
    jobs: list[JobTimes]
    parents: dict[int, list[int]]
    unfinished: int = 0

    @property
    def wall(self) -> float:
        return max(j.end for j in self.jobs) - self.created if self.jobs else 0.0

    @property
    def run_sum(self) -> float:
        return sum(j.end - j.start for j in self.jobs)

    def idle_while_ready(self) -> float:
        """Seconds in which no job was RUNNING although at least one was READY (engine gaps)."""
        pts = sorted({t for j in self.jobs for t in (j.ready, j.start, j.end)})
        idle = 0.0
        for a, b in zip(pts, pts[1:], strict=False):
            mid = 0.5 * (a + b)
            running = any(j.start <= mid < j.end for j in self.jobs)
            waiting = any(j.ready <= mid < j.start for j in self.jobs)
            if waiting and not running:
                idle += b - a
        return idle

    def mode(self) -> str:
        """slurm when any job ran on a queue fworker (``pyacemaker-label`` ...), else local."""
        return "slurm" if any(j.worker in {f"pyacemaker-{c}" for c in QUEUED} for j in self.jobs) else "local"


def _epoch(value: Any) -> float:
    """A FireWorks time (datetime, naive UTC when read back, or an ISO string) in epoch seconds."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def timeline(lp, root_fw_id: int) -> Timeline:
    """Each completed firework of the workflow holding ``root_fw_id``, with its READY/RUNNING/COMPLETED times."""
    from pyacemaker.campaign.queue import JOB_CLASS

    wf = lp.workflows.find_one({"nodes": root_fw_id})
    if wf is None:
        raise RuntimeError(f"no workflow holds firework {root_fw_id}")
    created = _epoch(wf["created_on"])
    parents = {int(k): v for k, v in (wf.get("parent_links") or {}).items()}
    done: dict[int, tuple[dict, dict]] = {}
    unfinished = 0
    for fw in lp.fireworks.find({"fw_id": {"$in": wf["nodes"]}}, {"fw_id": 1, "name": 1, "launches": 1,
                                                                   "spec.pyacemaker_class": 1}):  # fmt: skip
        launch = lp.launches.find_one(
            {"launch_id": {"$in": fw.get("launches", [])}, "state": "COMPLETED"}, sort=[("launch_id", -1)]
        )
        if launch is None or not launch.get("time_start") or not launch.get("time_end"):
            unfinished += 1
            continue
        done[fw["fw_id"]] = (fw, launch)
    jobs = []
    for fw_id, (fw, launch) in done.items():
        ends = [_epoch(done[p][1]["time_end"]) for p in parents.get(fw_id, []) if p in done]
        name = fw.get("name", "")
        jobs.append(JobTimes(
            fw_id, name, "noop" if name.startswith("noop") else JOB_CLASS.get(name.split()[0], "light"),
            (fw.get("spec") or {}).get("pyacemaker_class"), ((launch.get("fworker") or {}).get("name") or ""),
            max(ends) if ends else created, _epoch(launch["time_start"]), _epoch(launch["time_end"]),
        ))  # fmt: skip
    jobs.sort(key=lambda j: j.start)
    return Timeline(created, jobs, parents, unfinished)


# ----------------------------------------------------------------------------------------------- no-op runs
@dataclass
class NoopResult:
    """A no-op workflow's numbers (seconds)."""

    label: str
    jobs: int
    wall: float
    per_job: float  # chain: median READY -> COMPLETED; fan-out: wall / jobs
    wait: float | None  # chain: median READY -> RUNNING (Slurm: READY -> submitted)
    queue: float | None  # Slurm: median submitted -> RUNNING
    in_job: float  # median RUNNING -> COMPLETED
    once: float  # chain: sum of READY -> COMPLETED beyond jobs x per_job (workers' start-up, first imports)


def _chain_result(label: str, tl: Timeline, subs: list[float] | None = None) -> NoopResult:
    """Per job: the median time READY -> COMPLETED; one-off: what the chain took beyond jobs x median (the
    workers' start-up, each worker's first import)."""
    js = tl.jobs
    med = statistics.median
    per = med(j.latency for j in js)
    queue = None
    if subs is not None:  # Slurm: split READY -> RUNNING at the submission that fed each job
        waits, queues = [], []
        for j in js:
            sub = min((s for s in subs if s >= j.ready - 0.05), default=j.ready)
            waits.append(sub - j.ready)
            queues.append(j.start - sub)
        wait, queue = med(waits), med(queues)
    else:
        wait = med(j.start - j.ready for j in js)
    once = max(0.0, sum(j.latency for j in js) - len(js) * per)
    return NoopResult(label, len(js), tl.wall, per, wait, queue, med(j.end - j.start for j in js), once)


def _fanout_result(label: str, tl: Timeline) -> NoopResult:
    js = tl.jobs
    return NoopResult(label, len(js), tl.wall, tl.wall / len(js), None, None,
                      statistics.median(j.end - j.start for j in js), 0.0)  # fmt: skip


def _flow(n: int, chain: bool, manager_config: dict, load: str | None, fn):
    from jobflow import Flow, JobConfig

    jobs, prev = [], None
    for i in range(n):
        j = fn(i, prev.output if (chain and prev is not None) else None, load)
        j.name = f"noop {'chain' if chain else 'fan-out'} {i}"
        j.config = JobConfig(manager_config=dict(manager_config))
        jobs.append(j)
        prev = j
    return Flow(jobs, name=f"noop {'chain' if chain else 'fan-out'}")


def _add(lp, flow, campaign: str) -> int:
    from jobflow.managers.fireworks import flow_to_workflow

    wf = flow_to_workflow(flow)
    wf.metadata = {"pyacemaker_campaign": campaign}
    return min(lp.add_wf(wf).values())


def _context(name: str, workdir: Path, extra: dict | None = None):
    from pyacemaker.campaign.context import Context
    from pyacemaker.config import parse_config, resolve

    cfg, _ = resolve(
        parse_config({"name": name, "elements": ["Cu"], "oracle": {"type": "emt"}, **(extra or {})})
    )
    return Context(name, cfg, workdir)


def _wait_done(lp, root: int, timeout: float, alive: Callable[[], bool], why: Callable[[], str]) -> None:
    from pyacemaker.campaign.launchpad import workflow_states

    end = time.monotonic() + timeout
    while True:
        st = workflow_states(lp, root)
        if st["state"] == "COMPLETED":
            return
        if st["state"] in ("FIZZLED", "DEFUSED", "MISSING") or not alive():
            raise RuntimeError(f"no-op workflow {st['state']} (workers alive: {alive()}): {why()}")
        if time.monotonic() > end:
            raise RuntimeError(f"no-op workflow not done after {timeout:.0f} s ({st['counts']}): {why()}")
        time.sleep(0.25)


def _tail(paths: list[Path], n: int = 1500) -> str:
    return " | ".join(f"{p.name}: {p.read_text(errors='replace')[-n:]}" for p in paths if p.is_file())


def run_local(uri: str, work: Path, n: int, load: str | None, fn, workers: int, timeout: float):
    """A chain and a fan-out of ``n`` no-op jobs worked by ``workers`` local rlaunch workers."""
    from pyacemaker.campaign.launchpad import ensure_launchpad
    from pyacemaker.campaign.workers import LocalWorkers
    from pyacemaker.db import DbTarget

    target = DbTarget(uri, "overhead_local", "benchmark server")
    lp = target.launchpad()
    ensure_launchpad(lp)
    ctx = _context("overhead_local", work / "local")
    mc = {
        "pyacemaker_campaign": ctx.campaign,
        "pyacemaker_class": "light",
    }  # what local workers take (job_query)
    chain = _add(lp, _flow(n, True, mc, load, fn), ctx.campaign)
    pool = LocalWorkers(target, ctx, workers, None)  # started once the workflow is added, as `pyacemaker run`
    try:
        alive = lambda: bool(pool.alive())  # noqa: E731
        why = lambda: _tail(sorted(pool.logs.glob("worker_*.log")))  # noqa: E731
        _wait_done(lp, chain, timeout, alive, why)
        fan = _add(lp, _flow(n, False, mc, load, fn), ctx.campaign)
        _wait_done(lp, fan, timeout, alive, why)
    finally:
        pool.stop()
    return (_chain_result(f"local chain ({workers} workers)", timeline(lp, chain)),
            _fanout_result(f"local fan-out ({workers} workers)", timeline(lp, fan)))  # fmt: skip


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _slurm_resources() -> dict:
    import yaml

    from tests.e2e.test_slurm_campaign import RESOURCES

    return yaml.safe_load(RESOURCES)  # the e2e test's per-class requests (they fit a 2-CPU node)


def run_slurm(uri: str, work: Path, n: int, load: str | None, fn, timeout: float) -> NoopResult:
    """A chain of ``n`` no-op label jobs through the running Slurm cluster, worked by ``run_queue`` (the loop of
    ``pyacemaker launch``) looking every 0.5 s. Submissions are timed by its ``say`` lines ("queued N ...")."""
    from pyacemaker.campaign.launch import run_queue
    from pyacemaker.campaign.launchpad import ensure_launchpad
    from pyacemaker.campaign.queue import manager_config
    from pyacemaker.db import DbTarget

    target = DbTarget(uri, "overhead_slurm", "benchmark server")
    lp = target.launchpad()
    ensure_launchpad(lp)
    ctx = _context("overhead_slurm", work / "slurm_noop", _slurm_resources())
    root = _add(lp, _flow(n, True, manager_config(ctx.config, ctx.campaign, "label"), load, fn), ctx.campaign)
    subs: list[float] = []

    def say(line: str) -> None:
        if line.startswith("queued "):
            now = time.time()
            with contextlib.suppress(ValueError, IndexError):
                subs.extend([now] * int(line.split()[1]))

    # FireWorks' queue launcher logs each submission to stdout: into a file (its handler keeps the file)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    log = open(ctx.workdir / "queue_launcher.log", "a")  # noqa: SIM115
    with contextlib.redirect_stdout(log):
        state = run_queue(target, ctx, root, system="slurm", max_queued=4, poll_s=FAST_POLL_S,
                          timeout_s=timeout, say=say)  # fmt: skip
    if state != "COMPLETED":
        logs = sorted((ctx.workdir / "queue_logs").glob("*"))[-3:]
        raise RuntimeError(f"Slurm no-op chain ended {state}: {_tail(logs)}")
    return _chain_result(f"slurm chain (launch loop every {FAST_POLL_S} s)", timeline(lp, root), subs or None)


# ----------------------------------------------------------------------------------------------- the campaign
def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _descendants(pid: int) -> list[tuple[int, int]]:
    """Every process below ``pid``: (pid, start time), so that a pid reused later is never signalled."""
    kids: dict[int, list[tuple[int, int]]] = {}
    for d in Path("/proc").glob("[0-9]*"):
        st = _stat(int(d.name))
        if st:
            kids.setdefault(st[0], []).append((int(d.name), st[1]))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k[0])
    return out


@contextlib.contextmanager
def _process(cmd: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A child process, interrupted (SIGINT: pyacemaker stops its workers) and then killed with everything it
    started, on any exit path while it still runs."""
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            kids = _descendants(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            if proc.poll() is None:
                proc.kill()
            for pid, start in kids:  # what it left behind (each worker leads its own process group)
                st = _stat(pid)
                if st and st[1] == start:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            proc.wait()


def run_campaign(uri: str, work: Path, db_name: str, slurm_env: dict[str, str] | None, poll: float,
                 timeout: float) -> tuple[str, float]:  # fmt: skip
    """The demo campaign (TINY) with `pyacemaker run`, or `pyacemaker launch --queue slurm` given a Slurm env;
    returns its name and the command's wall time."""
    from tests.e2e.test_campaign import TINY

    name = "overhead_tiny_slurm" if slurm_env else "overhead_tiny"
    text = TINY.replace("name: tiny_cu", f"name: {name}")
    if slurm_env:
        from tests.e2e.test_slurm_campaign import RESOURCES

        text += RESOURCES
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "campaign.yaml").write_text(text)
    exe = shutil.which("pyacemaker") or str(Path(sys.executable).with_name("pyacemaker"))
    cmd = [exe, "run", str(d / "campaign.yaml"), "--workdir", str(d / "work"), "--workers", "2", "--quiet"]
    if slurm_env:
        cmd = [exe, "launch", str(d / "campaign.yaml"), "--queue", "slurm", "--workdir", str(d / "work"),
               "--poll", str(poll)]  # fmt: skip
    env = {**os.environ, **(slurm_env or {}), "PYACEMAKER_DB_URI": uri, "PYACEMAKER_DB_NAME": db_name}
    t0 = time.monotonic()
    with _process(cmd, d / "cli.log", env) as proc:
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{name} not done after {timeout:.0f} s; see {d / 'cli.log'}") from None
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} {name} failed (exit {rc}): {_tail([d / 'cli.log'], 2500)}")
    return name, time.monotonic() - t0


def campaign_timeline(uri: str, db_name: str, name: str) -> Timeline:
    from pyacemaker.db import Database, DbTarget

    target = DbTarget(uri, db_name, "benchmark database")
    doc = Database.connect(target).campaign(name)
    if not doc or doc.get("wf_root_fw_id") is None:
        raise RuntimeError(f"campaign {name!r} not found in database {db_name!r}")
    return timeline(target.launchpad(), doc["wf_root_fw_id"])


# ----------------------------------------------------------------------------------------------- the share
@dataclass
class Costs:
    """Engine seconds per job under one mode: READY -> COMPLETED of a no-op job through the queue and on a local
    worker, the part of it inside the launch (RUNNING -> COMPLETED), and the one-off cost per campaign."""

    queued: float
    local: float
    queued_in: float
    local_in: float
    once: float

    @staticmethod
    def is_queued(j: JobTimes, measured: bool) -> bool:
        """Through the queue: where the job ran when ``measured`` (a queue fworker), else where its class runs
        (label, train, explore through the queue; light ones on the controller's local worker)."""
        return j.worker in {f"pyacemaker-{c}" for c in QUEUED} if measured else j.job_class in QUEUED

    def cost(self, j: JobTimes, measured: bool) -> float:
        return self.queued if self.is_queued(j, measured) else self.local

    def in_launch(self, j: JobTimes, measured: bool) -> float:
        return self.queued_in if self.is_queued(j, measured) else self.local_in

    def total(self, tl: Timeline, measured: bool) -> float:
        return self.once + sum(self.cost(j, measured) for j in tl.jobs)


def critical_wall(
    tl: Timeline, science: dict[int, float], cost: Callable[[JobTimes], float], once: float
) -> float:
    """The campaign's wall time replayed on its own graph: each job starts when its last parent ends (roots after
    the one-off cost) and lasts its science plus its engine cost; enough workers for every READY job."""
    end: dict[int, float] = {}
    for j in tl.jobs:  # in start order: parents come first
        ready = max((end[p] for p in tl.parents.get(j.fw_id, []) if p in end), default=tl.created + once)
        end[j.fw_id] = ready + science[j.fw_id] + cost(j)
    return max(end.values()) - tl.created


def share_rows(tl: Timeline, name: str, costs: dict[str, Costs]) -> tuple[list[list[str]], str | None]:
    """One row per mode, and a line comparing the replayed wall time of the measured mode with the real one."""
    ran = tl.mode()
    if ran not in costs:
        return [[m, f"n/a (no {ran} costs)", *["-"] * 8] for m in ("local", "slurm")], None
    # science: each job's run time less the engine's part inside a launch of where it ran
    science = {j.fw_id: max(0.0, j.end - j.start - costs[ran].in_launch(j, True)) for j in tl.jobs}
    bare = critical_wall(tl, science, lambda j: 0.0, 0.0)
    rows, check = [], None
    for mode in ("local", "slurm"):
        if mode not in costs:
            rows.append([mode, "n/a (skipped)", str(len(tl.jobs)), *["-"] * 7])
            continue
        c, measured = costs[mode], mode == ran
        replayed = critical_wall(tl, science, lambda j, c=c, m=measured: c.cost(j, m), c.once)
        if measured:
            wall, src = tl.wall, f"measured ({name})"
            idle = tl.idle_while_ready()
            idle_s, runs = f"{idle:.1f} ({100 * idle / wall:.1f} %)", f"{tl.run_sum:.1f}"
            check = (f"{name}: replaying its graph with the {mode} costs gives {replayed:.1f} s against "
                     f"{wall:.1f} s measured; science alone on the critical path: {bare:.1f} s")  # fmt: skip
        else:
            wall, src, idle_s, runs = replayed, f"replayed from the {ran} run", "-", "-"
        total = c.total(tl, measured)
        rows.append([mode, src, str(len(tl.jobs)), f"{wall:.1f}", runs, idle_s,
                     f"{(total - c.once) / len(tl.jobs):.2f}", f"{c.once:.1f}", f"{100 * total / wall:.1f}",
                     f"{100 * (wall - bare) / wall:.1f}"])  # fmt: skip
    return rows, check


# ----------------------------------------------------------------------------------------------- main
def _importable_noop() -> tuple[Any, str]:
    """``noop`` from a module the workers can import, and the directory to put on their PYTHONPATH."""
    if __name__ != "__main__":
        mod = sys.modules[__name__]
        return noop, str(Path(mod.__file__).resolve().parents[len(__name__.split(".")) - 1])
    sys.path.insert(0, str(HERE))
    return importlib.import_module("overhead").noop, str(HERE)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # run every finally: block (servers, workers, Slurm) on a plain kill


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add("--jobs", type=int, default=20, help="no-op jobs in the local chain and in the fan-out (default 20)")
    add("--slurm-jobs", type=int, default=6, help="no-op jobs in the Slurm chain (default 6)")
    add("--workers", type=int, default=2, help="local workers (default 2, as pyacemaker run)")
    add("--poll", type=float, default=10.0, help="pyacemaker launch's --poll the Slurm cost is given for "
        "(default 10, its own default)")  # fmt: skip
    add("--bare", action="store_true", help=f"no-op jobs import nothing (default: they import {LOAD})")
    add("--skip-slurm", action="store_true", help="no Slurm part")
    add("--skip-campaign", action="store_true", help="no-op jobs only (no share table)")
    add("--slurm-campaign", action="store_true", help="also work the demo campaign through Slurm with "
        "pyacemaker launch (minutes)")  # fmt: skip
    add("--campaign", help="read this finished campaign instead of running the demo one")
    add("--db-uri", help="the database server of --campaign (default: $PYACEMAKER_DB_URI)")
    add("--db-name", help="its database name (default: $PYACEMAKER_DB_NAME, else pyacemaker)")
    add("--timeout", type=float, default=900, help="seconds per part before giving up (default 900)")
    add("--keep", action="store_true", help="keep the temporary directory (logs, launch directories)")
    return ap


@dataclass
class Results:
    noops: list[NoopResult] = field(default_factory=list)
    costs: dict[str, Costs] = field(default_factory=dict)
    timelines: list[tuple[str, Timeline]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def measure(args, work: Path, fn, load: str | None, say: Callable[[str], None]) -> Results:
    """Every part, on one embedded database server stopped at the end (whatever happens)."""
    from pyacemaker.server import EmbeddedServer
    from tests.support import slurm

    res = Results()
    server = EmbeddedServer(work / "db")
    try:
        shown = server.start(port=_free_port())  # not the default port another pyacemaker may want
        uri = server.client_uri()  # with the server's own login (it runs with authentication): never printed
        say(f"embedded database {shown}, files in {work}")
        loc_chain, loc_fan = run_local(uri, work, args.jobs, load, fn, args.workers, args.timeout)
        res.noops += [loc_chain, loc_fan]
        lc = loc_chain
        res.costs["local"] = Costs(lc.per_job, lc.per_job, lc.in_job, lc.in_job, lc.once)
        why = "--skip-slurm" if args.skip_slurm else slurm.available()
        if why:
            res.notes.append(f"Slurm part skipped: {why}")
        else:
            with slurm.slurm_cluster(work / "slurm") as senv, _environ(senv):
                s = run_slurm(uri, work, args.slurm_jobs, load, fn, args.timeout)
                res.noops.append(s)
                extra = max(0.0, (args.poll - FAST_POLL_S) / 2)
                res.costs["slurm"] = Costs(s.per_job + extra, lc.per_job, s.in_job, lc.in_job, s.once)
                res.notes.append(
                    f"Slurm per-job cost for `pyacemaker launch --poll {args.poll:g}`: {s.per_job:.2f} s measured "
                    f"with the launch loop looking every {FAST_POLL_S} s + {extra:.2f} s mean extra wait for its "
                    "next look; light jobs (select, decide) run on the controller's local worker"
                )
                if args.slurm_campaign and not (args.campaign or args.skip_campaign):
                    name, wall = run_campaign(uri, work, "overhead_campaign", senv, args.poll, args.timeout)
                    res.notes.append(f"pyacemaker launch {name}: {wall:.0f} s command wall time")
                    res.timelines.append((name, campaign_timeline(uri, "overhead_campaign", name)))
        if args.campaign:
            res.timelines.insert(
                0, (args.campaign, campaign_timeline(args.db_uri, args.db_name, args.campaign))
            )
        elif not args.skip_campaign:
            name, wall = run_campaign(uri, work, "overhead_campaign", None, args.poll, args.timeout)
            res.notes.append(f"pyacemaker run {name}: {wall:.0f} s command wall time (its start-up and summary "
                             "included; the table's wall: workflow created -> last job completed)")  # fmt: skip
            res.timelines.insert(0, (name, campaign_timeline(uri, "overhead_campaign", name)))
    finally:
        server.stop()
    return res


def report(console, res: Results, load: str | None) -> None:
    from rich.table import Table

    t = Table(title=f"no-op jobs (engine only{'' if load is None else f'; each imports {load}'})")
    for col in (
        "run",
        "jobs",
        "wall s",
        "s/job",
        "READY->picked s",
        "queued->RUNNING s",
        "in job s",
        "one-off s",
    ):
        t.add_column(col, justify="left" if col == "run" else "right")
    opt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for r in res.noops:
        t.add_row(r.label, str(r.jobs), f"{r.wall:.1f}", f"{r.per_job:.3f}", opt(r.wait), opt(r.queue),
                  f"{r.in_job:.3f}", f"{r.once:.2f}")  # fmt: skip
    console.print(t)
    console.print("[dim]chain: medians per job (s/job: READY->COMPLETED); one-off: the chain's total beyond "
                  "jobs x s/job (workers' start-up, each worker's first import); fan-out s/job: wall/jobs. "
                  "Slurm READY->picked: until the launch loop submitted its queue job.[/]")  # fmt: skip
    notes = list(res.notes)
    for name, line in res.timelines:
        if not line.jobs:
            notes.append(f"{name}: no completed job to measure")
            continue
        if line.unfinished:
            notes.append(f"{name}: {line.unfinished} firework(s) without a completed launch are left out")
        wrong = [j for j in line.jobs if j.spec_class and j.spec_class != j.job_class]
        if wrong:
            notes.append(
                f"{name}: {len(wrong)} of {len(line.jobs)} jobs carry FireWorks class {wrong[0].spec_class!r} "
                f"though their name says otherwise (e.g. {wrong[0].name!r} is {wrong[0].job_class!r}): jobs "
                "added by a Response inherit the parent's manager_config (jobflow's pass_manager_config), so "
                "under Slurm they run on the controller's light worker; the estimate uses the name's class"
            )
        picked = statistics.fmean(j.start - j.ready for j in line.jobs[1:] or line.jobs)
        notes.append(
            f"{name}: mean READY->RUNNING in the campaign itself {picked:.3f} s/job (first job left out)"
        )
        s = Table(title=f"engine share of campaign {name} (goal: under 2 % of its wall time)")
        for col in ("mode", "wall from", "jobs", "wall s", "jobs' run s", "idle while READY s", "engine s/job",
                    "one-off s", "engine % of wall", "critical path %"):  # fmt: skip
            s.add_column(col, justify="left" if col in ("mode", "wall from") else "right")
        rows, check = share_rows(line, name, res.costs)
        for row in rows:
            s.add_row(*row)
        console.print(s)
        if check:
            notes.append(check)
    if res.timelines:
        console.print("[dim]engine % of wall = (one-off + jobs x engine s/job) / wall (every job's cost counted, "
                      "as if all were on the critical path); critical path % = (wall - science alone on the "
                      "campaign's critical path) / wall; idle while READY: measured seconds when no job ran though "
                      "one was READY. A replayed row: the campaign's graph with that mode's engine costs.[/]")  # fmt: skip
    for n in notes:
        console.print(f"- {n}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.campaign:
        args.db_uri = args.db_uri or os.environ.get("PYACEMAKER_DB_URI")
        args.db_name = args.db_name or os.environ.get("PYACEMAKER_DB_NAME") or "pyacemaker"
        if not args.db_uri:
            raise SystemExit("--campaign needs --db-uri (or PYACEMAKER_DB_URI)")
    signal.signal(signal.SIGTERM, _sigterm)
    # an interrupt stops everything, and children may take it too (a shell starts background jobs with SIGINT
    # ignored, which they would inherit: `pyacemaker run` could then not be asked to stop its workers)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    warnings.filterwarnings("ignore", "Some jobs are not connected")  # the fan-out, on purpose
    warnings.filterwarnings("ignore", "cd is deprecated", FutureWarning)  # FireWorks' queue launcher
    sys.path.insert(0, str(ROOT))  # tests.support.slurm, tests.e2e.test_campaign
    for k, v in {"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}.items():
        os.environ.setdefault(k, v)
    fn, path = _importable_noop()
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (path, os.environ.get("PYTHONPATH")) if p)
    load = None if args.bare else LOAD

    from rich.console import Console

    console = Console(width=170)
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="overhead_bench_"))
    try:
        res = measure(args, work, fn, load, lambda line: console.print(f"[dim]{line}[/]"))
    except KeyboardInterrupt:
        console.print("interrupted: every process the benchmark started has been stopped")
        return 130
    finally:
        if args.keep:
            console.print(f"[dim]kept {work}[/]")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(console, res, load)
    console.print(f"benchmark wall time: {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
