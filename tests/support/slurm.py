"""A real one-node Slurm cluster for tests, started in a temporary directory and stopped on every exit path.

Debian's ``slurmctld``/``slurmd``/``slurm-client`` run without munge when authentication and credentials are
``none``; everything (state, spool, pid and log files, the finished-jobs log of ``jobcomp/filetxt``) lives in the
directory given. Needs root (the daemons run as root here); the README's set-up installs the packages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


def available() -> str | None:
    """Why a Slurm cluster cannot be started here (None when it can)."""
    missing = [t for t in ("slurmctld", "slurmd", "sbatch", "sinfo") if shutil.which(t) is None]
    if missing:
        return f"Slurm is not installed ({', '.join(missing)} missing): run scripts/setup.sh as root"
    if os.geteuid() != 0:
        return "the test's Slurm daemons run as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_conf(d: Path, cpus: int = 2, memory_mb: int = 4000) -> Path:
    """A one-node ``slurm.conf`` in ``d``. ``MinJobAge=300`` (Slurm's default) keeps an ended job in ``squeue`` for
    five minutes, as on a real cluster: with 2 s, a controller round slower than that on a busy 2-core machine found
    a cancelled job already forgotten (this cluster keeps no accounting for ``sacct``) and could not say why it
    ended."""
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    conf = d / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=pyacemaker-test", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root", "SlurmdUser=root",
        f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}", "AuthType=auth/none", "CredType=cred/none",
        f"StateSaveLocation={d / 'state'}", f"SlurmdSpoolDir={d / 'spool'}",
        f"SlurmctldPidFile={d / 'slurmctld.pid'}", f"SlurmdPidFile={d / 'slurmd.pid'}",
        f"SlurmctldLogFile={d / 'slurmctld.log'}", f"SlurmdLogFile={d / 'slurmd.log'}",
        "ProctrackType=proctrack/pgid", "TaskPlugin=task/none", "JobAcctGatherType=jobacct_gather/none",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", "ReturnToService=2",
        "JobCompType=jobcomp/filetxt", f"JobCompLoc={d / 'jobcomp.log'}", "MinJobAge=300", "KillWait=2",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP", "",
    ]))  # fmt: skip
    return conf


def _stop(pidfile: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def slurm_cluster(d: Path, cpus: int = 2) -> Iterator[dict[str, str]]:
    """Start slurmctld + slurmd on ``d``'s config; yield the environment for Slurm commands (``SLURM_CONF``)."""
    conf = write_conf(d, cpus)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    try:
        subprocess.run(["slurmctld", "-f", str(conf)], env=env, check=True, timeout=60)
        subprocess.run(["slurmd", "-f", str(conf)], env=env, check=True, timeout=60)
        for _ in range(150):
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, timeout=30
            )
            if out.stdout.strip() in ("idle", "mix"):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the test Slurm node did not come up: {out.stdout} {out.stderr}")
        yield {"SLURM_CONF": str(conf)}
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True, timeout=30)
        _stop(d / "slurmd.pid")
        _stop(d / "slurmctld.pid")


def finished_jobs(d: Path) -> list[dict[str, str]]:
    """The finished-jobs log (``jobcomp/filetxt``): one dict of its ``Key=Value`` fields per job."""
    log = d / "jobcomp.log"
    if not log.exists():
        return []
    return [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in log.read_text().splitlines()]


def wait_finished(d: Path, n: int, timeout_s: float = 60) -> list[dict[str, str]]:
    """The finished-jobs log once it holds ``n`` jobs (a job's record follows its end by a moment)."""
    end = time.monotonic() + timeout_s
    while len(jobs := finished_jobs(d)) < n and time.monotonic() < end:
        time.sleep(0.5)
    return jobs


def wait_queue_empty(env: dict[str, str], timeout_s: float = 60) -> None:
    """Until Slurm has no job left (pending, running or completing), so its finished-jobs log is whole."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        out = subprocess.run(
            ["squeue", "-h"], env={**os.environ, **env}, capture_output=True, text=True, timeout=30
        )
        if out.returncode == 0 and not out.stdout.strip():
            return
        time.sleep(0.5)
