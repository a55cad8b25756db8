"""Local FireWorks workers of ``pyacemaker run``: their launchpad/fworker/jobflow files, starting and stopping them,
and the worker process used when the database needs credentials (``python -m pyacemaker.campaign.workers``: it
calls FireWorks' ``rapidfire`` with the JobStore built in memory, so no credential is written to a file)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jobflow
import yaml
from fireworks import FWorker
from fireworks.core.rocket_launcher import rapidfire

from pyacemaker.campaign.context import Context
from pyacemaker.db import DbTarget, resolve_target


def worker_files(
    target: DbTarget, directory: Path, campaign: str, fworker_name: str | None
) -> dict[str, Path]:
    """my_launchpad.yaml, my_fworker.yaml and jobflow.yaml for local workers (never with credentials)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {"launchpad": directory / "my_launchpad.yaml", "fworker": directory / "my_fworker.yaml",
             "jobflow": directory / "jobflow.yaml"}  # fmt: skip
    if target.launchpad_file:
        files["launchpad"] = Path(target.launchpad_file)
    else:
        files["launchpad"].write_text(yaml.safe_dump(target.launchpad_spec()))
    fworker = {"name": fworker_name or f"pyacemaker-local-{os.uname().nodename}", "category": "",
               "query": json.dumps({"spec.pyacemaker_campaign": campaign})}  # fmt: skip
    files["fworker"].write_text(yaml.safe_dump(fworker))
    if not target.has_credentials:
        files["jobflow"].write_text(yaml.safe_dump({"JOB_STORE": target.jobflow_store_spec()}))
    return files


def start_workers(target: DbTarget, ctx: Context, n: int, fworker_name: str | None) -> list[subprocess.Popen]:
    """Start ``n`` FireWorks ``rlaunch rapidfire`` workers for this campaign, logging to workdir/logs."""
    fw_dir = ctx.workdir / "fireworks"
    files = worker_files(target, fw_dir, ctx.campaign, fworker_name)
    logs = ctx.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}
    if target.has_credentials:
        # the store is built in the worker process from the environment / launchpad file: nothing written to disk
        cmd = [sys.executable, "-m", "pyacemaker.campaign.workers", "-w", str(files["fworker"])]
        if target.launchpad_file:
            cmd += ["-l", target.launchpad_file]
    else:
        env["JOBFLOW_CONFIG_FILE"] = str(files["jobflow"])
        rlaunch = shutil.which("rlaunch") or str(Path(sys.executable).with_name("rlaunch"))
        cmd = [rlaunch, "-l", str(files["launchpad"]), "-w", str(files["fworker"]), "rapidfire",
               "--nlaunches", "infinite", "--sleep", "1"]  # fmt: skip
    procs = []
    for i in range(n):
        wd = ctx.workdir / "launches"
        wd.mkdir(parents=True, exist_ok=True)
        log = open(logs / f"worker_{i}.log", "ab")  # noqa: SIM115  (closed with the process)
        procs.append(subprocess.Popen(cmd, cwd=wd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                      stdin=subprocess.DEVNULL, start_new_session=True))  # fmt: skip
    return procs


def stop_workers(procs: list[subprocess.Popen], timeout: float = 10.0) -> None:
    """Stop the workers and everything they started (pacemaker, ...): each worker leads its own process group."""

    def signal_group(p: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
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
    ap.add_argument("-w", "--fworker", help="my_fworker.yaml")
    ap.add_argument("--sleep", type=float, default=1.0)
    args = ap.parse_args(argv)
    target = resolve_target(args.launchpad)
    jobflow.SETTINGS.JOB_STORE = target.job_store()
    fworker = FWorker.from_file(args.fworker) if args.fworker else FWorker()
    rapidfire(target.launchpad(), fworker, nlaunches="infinite", sleep_time=args.sleep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
