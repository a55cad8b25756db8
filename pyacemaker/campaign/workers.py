"""Local FireWorks workers of ``pyacemaker run``: their launchpad/fworker/jobflow/FireWorks files, starting,
replacing and stopping them, and the worker process used when the database needs the user's credentials
(``python -m pyacemaker.campaign.workers``: it calls FireWorks' ``rapidfire`` with the JobStore built in memory from
the environment or the user's launchpad file, so no credential is written to a file).

Each local worker has its own ``my_fworker_<i>.yaml`` whose ``env`` carries a token unique to that worker process
(:data:`WORKER_KEY`): FireWorks stores the fworker in every launch, so a launch says which worker ran it, and the
RUNNING jobs of a worker that died can be re-queued without touching those of live workers. Its ``query``
(:func:`job_query`) takes only this campaign's pyacemaker jobs: a firework someone else put into the database is
never run.

Credentials (README, "Database"): with the embedded server, ``WORKDIR/fireworks/my_launchpad.yaml`` and
``jobflow.yaml`` are symbolic links to private files in its data directory (:meth:`DbTarget.private_files`), so
plain ``rlaunch``/``lpad`` work and the working directory holds no secret; with the user's credentials nothing is
written and workers take them from the environment (PYACEMAKER_DB_URI) or the user's own launchpad file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jobflow
import yaml
from fireworks import FWorker
from fireworks.core.rocket_launcher import launch_rocket, rapidfire

from pyacemaker import fw_ids
from pyacemaker.allocation import Allocation
from pyacemaker.campaign.context import Context
from pyacemaker.campaign.queue import JOB_CLASS
from pyacemaker.db import DbTarget, resolve_target

# a worker pings the launch of its running job this often (FireWorks' PING_TIME_SECS, default 3600 s)
PING_TIME_S = 60
# a RUNNING job whose launch has not been pinged for this long is lost (its worker died or its node is gone)
LOST_AFTER_S = 10 * PING_TIME_S
# the key of the fworker's env that names the local worker process (stored with every launch it makes)
WORKER_KEY = "pyacemaker_worker"


def job_query(campaign: str) -> dict:
    """The fworker query of every pyacemaker worker: this campaign's fireworks that pyacemaker made (their spec
    carries ``pyacemaker_campaign`` and a ``pyacemaker_class`` of :data:`JOB_CLASS`, see
    :func:`pyacemaker.campaign.queue.manager_config`). A foreign firework in the same database (another project's,
    or one inserted by hand) is never taken."""
    return {
        "spec.pyacemaker_campaign": campaign,
        "spec.pyacemaker_class": {"$in": sorted(set(JOB_CLASS.values()))},
    }


def _link(path: Path, target: Path) -> None:
    """``path`` becomes a symbolic link to ``target`` (replacing whatever was there)."""
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def _unlink_generated(path: Path) -> None:
    """Remove a file or link pyacemaker generated earlier (before writing a plain file in its place: writing through
    a link would change the private file it points to)."""
    if path.is_symlink() or path.is_file():
        path.unlink()


def worker_files(
    target: DbTarget, directory: Path, campaign: str, fworker_name: str | None
) -> dict[str, Path]:
    """my_launchpad.yaml, my_fworker.yaml and jobflow.yaml for workers. Never a file holding credentials here:
    with the embedded server's, the launchpad and jobflow files are links to private files in its data directory
    (``worker_launchpad``: the one workers use, when ``launchpad`` is the user's own file without the login); with
    the user's, there is no launchpad/jobflow file (workers get them from the environment or the user's launchpad
    file) and the returned mapping has only ``fworker`` (and ``launchpad`` when it is the user's file)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {"launchpad": directory / "my_launchpad.yaml", "fworker": directory / "my_fworker.yaml",
             "jobflow": directory / "jobflow.yaml"}  # fmt: skip
    if target.private:
        private = target.private_files()
        _link(files["jobflow"], private["jobflow"])
        if target.launchpad_file:  # the user's file names the server; workers log in through the private copy
            files["launchpad"] = Path(target.launchpad_file)
            files["worker_launchpad"] = private["launchpad"]
        else:
            _link(files["launchpad"], private["launchpad"])
    elif target.has_credentials:
        for key in ("launchpad", "jobflow"):
            _unlink_generated(files.pop(key))
        if target.launchpad_file:
            files["launchpad"] = Path(target.launchpad_file)
    else:
        if target.launchpad_file:
            files["launchpad"] = Path(target.launchpad_file)
        else:
            _unlink_generated(files["launchpad"])
            files["launchpad"].write_text(yaml.safe_dump(target.launchpad_spec()))
        _unlink_generated(files["jobflow"])
        files["jobflow"].write_text(yaml.safe_dump({"JOB_STORE": target.jobflow_store_spec()}))
    fworker = {"name": fworker_name or f"pyacemaker-local-{os.uname().nodename}", "category": "",
               "query": json.dumps(job_query(campaign))}  # fmt: skip
    files["fworker"].write_text(yaml.safe_dump(fworker))
    return files


WORKER_SLEEP_S = 0.5  # an idle worker looks for a READY job this often (one cheap query)


def worker_command(target: DbTarget) -> list[str]:
    """``python -m pyacemaker.campaign.workers`` for this target (with ``target.worker_env()`` in its environment;
    add ``-w FWORKER`` and, for one job, ``--singleshot``)."""
    cmd = [sys.executable, "-m", "pyacemaker.campaign.workers"]
    if target.launchpad_file:
        cmd += ["-l", target.launchpad_file]
    return cmd


def fw_config_file(directory: Path, ping_s: int = PING_TIME_S) -> Path:
    """``FW_config.yaml`` in ``directory`` with ``PING_TIME_SECS: ping_s``; the other settings are the user's own
    FireWorks config (``$FW_CONFIG_FILE`` or ``~/.fireworks/FW_config.yaml``) when there is one. FireWorks reads
    ``FW_config.yaml`` of the current directory first: local workers run in ``directory`` (and get
    ``FW_CONFIG_FILE`` pointing at it); workers elsewhere use it through ``FW_CONFIG_FILE``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "FW_config.yaml"
    settings: dict = {}
    for src in (os.environ.get("FW_CONFIG_FILE"), Path.home() / ".fireworks" / "FW_config.yaml"):
        if src and Path(src).is_file() and Path(src).resolve() != path.resolve():
            with contextlib.suppress(OSError, yaml.YAMLError):
                loaded = yaml.safe_load(Path(src).read_text())
                settings = loaded if isinstance(loaded, dict) else {}
            break
    settings["PING_TIME_SECS"] = int(ping_s)
    # plain rlaunch/qlaunch workers elsewhere: a workflow lock left by a killed worker is taken over (pyacemaker.fw_ids)
    settings.update(WFLOCK_EXPIRATION_SECS=fw_ids.WFLOCK_EXPIRE_S, WFLOCK_EXPIRATION_KILL=True)
    path.write_text(yaml.safe_dump(settings))
    return path


def worker_threads(n_workers: int, environ: Mapping[str, str] | None = None) -> int:
    """Threads each of ``n_workers`` local workers gives its codes (pacemaker's TensorFlow, pw.x's OpenMP): the
    user's ``OMP_NUM_THREADS`` when set, else this machine's usable CPUs shared among the workers."""
    environ = os.environ if environ is None else environ
    given = environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // max(1, n_workers))


@dataclass
class LocalWorker:
    """One worker process: ``token`` is stored with every launch it makes (``fworker.env``)."""

    index: int
    token: str
    proc: subprocess.Popen

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def describe_exit(self) -> str:
        rc = self.proc.poll()
        if rc is None:
            return "running"
        if rc < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-rc).name}"
            return f"killed by signal {-rc}"
        return f"exited with code {rc}"


class LocalWorkers:
    """The local ``rlaunch rapidfire`` workers of one ``pyacemaker run``, logging to workdir/logs. A worker that
    dies is replaced (:meth:`replace`) up to ``max_replacements`` times in all."""

    def __init__(self, target: DbTarget, ctx: Context, n: int, fworker_name: str | None,
                 max_replacements: int | None = None) -> None:  # fmt: skip
        self.ctx, self.fworker_name = ctx, fworker_name
        self.fw_dir = ctx.workdir / "fireworks"
        self.launches_dir = ctx.workdir / "launches"
        self.logs = ctx.workdir / "logs"
        self.files = worker_files(target, self.fw_dir, ctx.campaign, fworker_name)
        self.launches_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.fw_config = fw_config_file(self.launches_dir)
        self.env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "FW_CONFIG_FILE": str(self.fw_config)}
        if Allocation.from_env(os.environ).source == "local":  # inside Slurm/PBS jobs take the allocation's
            self.env.update(OMP_NUM_THREADS=str(worker_threads(n)), CUDA_VISIBLE_DEVICES="-1")
        if target.has_credentials:
            # the user's credentials: the store is built in the worker process from the environment (PYACEMAKER_DB_URI,
            # which a child inherits anyway) or the user's launchpad file; nothing is written to disk
            self.env.update(target.worker_env())
            self.cmd = worker_command(target)
        else:  # links to private files in the embedded server's data directory, or plain files without credentials
            self.env["JOBFLOW_CONFIG_FILE"] = str(self.files["jobflow"])
            login = self.files.get("worker_launchpad", self.files["launchpad"])
            self.cmd = [sys.executable, "-m", "pyacemaker.campaign.workers", "-l", str(login)]
        self.host = os.uname().nodename
        self.max_replacements = 2 * n + 2 if max_replacements is None else max_replacements
        self.replaced = 0
        self.started = 0
        self.workers: list[LocalWorker] = [self._start() for _ in range(n)]

    def _start(self) -> LocalWorker:
        i = self.started
        self.started += 1
        token = f"{self.host}:{os.getpid()}:{int(time.time())}:{i}"
        fworker = {"name": self.fworker_name or f"pyacemaker-local-{self.host}-{i}", "category": "",
                   "query": json.dumps(job_query(self.ctx.campaign)),
                   "env": {WORKER_KEY: token}}  # fmt: skip
        wfile = self.fw_dir / f"my_fworker_{i}.yaml"
        wfile.write_text(yaml.safe_dump(fworker))
        # FireWorks' rapidfire in our own worker process: its LaunchPad takes ids safely (pyacemaker.fw_ids)
        cmd = [*self.cmd, "-w", str(wfile), "--sleep", str(WORKER_SLEEP_S)]
        log = open(self.logs / f"worker_{i}.log", "ab")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(cmd, cwd=self.launches_dir, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        log.close()  # the child holds its own copy
        return LocalWorker(i, token, proc)

    def alive(self) -> list[LocalWorker]:
        return [w for w in self.workers if w.alive]

    def dead(self) -> list[LocalWorker]:
        return [w for w in self.workers if not w.alive]

    @property
    def procs(self) -> list[subprocess.Popen]:
        return [w.proc for w in self.workers]

    def replace(self, worker: LocalWorker) -> LocalWorker | None:
        """Forget a dead worker (and whatever it left running) and start another, within the budget of
        replacements. Returns the new worker, or None when the budget is spent."""
        stop_workers([worker.proc], timeout=1.0)  # its children (pacemaker, ...) go with it
        self.workers.remove(worker)
        if self.replaced >= self.max_replacements:
            return None
        self.replaced += 1
        new = self._start()
        self.workers.append(new)
        return new

    def kill(self, worker: LocalWorker) -> None:
        """End a live worker that no longer answers (and what it started); :meth:`replace` follows as for any
        dead worker."""
        stop_workers(
            [worker.proc], timeout=1.0
        )  # SIGTERM stays pending in a stopped process: SIGKILL 1 s later

    def stop(self, timeout: float = 10.0) -> None:
        stop_workers(self.procs, timeout)


def stop_workers(procs: list[subprocess.Popen], timeout: float = 10.0) -> None:
    """Stop the workers and everything they started (pacemaker, ...): each worker leads its own process group."""

    def signal_group(p: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)

    for p in procs:
        signal_group(p, signal.SIGTERM)
    end = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(p, signal.SIGKILL)
            p.wait()
        signal_group(p, signal.SIGKILL)  # children that outlived their worker


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyacemaker.campaign.workers")
    ap.add_argument(
        "-l", "--launchpad", help="launchpad file (default: PYACEMAKER_DB_URI or the embedded server)"
    )
    ap.add_argument("-w", "--fworker", required=True,
                    help="my_fworker.yaml (its query: this campaign's pyacemaker jobs, see job_query)")  # fmt: skip
    ap.add_argument("--sleep", type=float, default=1.0)
    ap.add_argument("--singleshot", action="store_true", help="run one job and stop (a queue job's worker)")
    args = ap.parse_args(argv)
    for sig in (
        signal.SIGTERM,
        signal.SIGHUP,
    ):  # stopped (by run, by the queue): never inside a workflow lock
        signal.signal(sig, fw_ids.stop_outside_locks)
    target = resolve_target(args.launchpad, start_embedded=False)
    jobflow.SETTINGS.JOB_STORE = target.job_store()
    fworker = FWorker.from_file(args.fworker)
    lp = target.launchpad()
    if args.singleshot:
        launch_rocket(lp, fworker)
    else:
        rapidfire(lp, fworker, nlaunches="infinite", sleep_time=args.sleep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
