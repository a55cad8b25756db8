"""What the batch system gave this process, and where pyacemaker's own tools are.

A job runs pacemaker (one process: threads), pw.x and LAMMPS (MPI ranks x threads) inside whatever allocation the
worker holds: Slurm (``SLURM_CPUS_PER_TASK``, ``SLURM_NTASKS``), PBS (``OMP_NUM_THREADS`` as PBS sets it from
``ompthreads``, ``NCPUS``, Torque's ``PBS_NP``) or none (a workstation, CI: one thread unless the user's own
``OMP_NUM_THREADS`` says otherwise, one rank). Everything here is a pure function of an environment mapping,
except :func:`tool`, which looks at the file system, and :func:`seconds_left`, which may ask the batch system.

:func:`seconds_left` is the time left before the allocation's walltime ends (Slurm: ``SLURM_JOB_END_TIME``, else
``squeue -o %L``; PBS/Torque: ``qstat -f``): a program that stops cleanly before then (pw.x's ``max_seconds``)
keeps its work for the next job instead of losing it to the batch system's SIGTERM/SIGKILL.

Tools (pacemaker, pace_yaml2yace, pace_activeset, lmp, rlaunch, qlaunch, ...) are looked up beside the running
interpreter first, then on PATH: a worker started as ``.venv/bin/pyacemaker`` without an activated environment
still finds the environment's tools. The interpreter's directory is taken as it is named (``.venv/bin``), never
through its symlink (which would lead to the base Python's directory).

This module imports nothing of pyacemaker's (bottom layer).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Source = Literal["slurm", "pbs", "local"]


class ToolNotFound(FileNotFoundError):
    """An executable is neither beside the interpreter nor on PATH (the message names both places)."""


def _count(value: str | None) -> int | None:
    """A positive count from an environment value (``"4"``, ``"4(x2)"``, ``"a100:2"``, ``"4,2"``); None if absent
    or not a positive number."""
    if value is None:
        return None
    text = value.strip().split("(")[0].split(",")[0].rsplit(":", 1)[-1].strip()
    try:
        n = int(text)
    except ValueError:
        return None
    return n if n > 0 else None


def _devices(value: str | None) -> int | None:
    """The number of devices in a list such as ``CUDA_VISIBLE_DEVICES`` (``-1``, ``NoDevFiles``, empty: 0)."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return 0 if not items or items[0] in ("-1", "NoDevFiles") else len(items)


@dataclass(frozen=True)
class Allocation:
    """CPUs and GPUs this process may use.

    ``ntasks`` is the number of MPI ranks a parallel program gets, ``cpus_per_task`` the threads of each rank;
    ``cpus_on_node`` (None: not known) caps what one process that is not launched with MPI can use on this node.
    """

    cpus_per_task: int = 1
    ntasks: int = 1
    gpus: int = 0
    source: Source = "local"
    cpus_on_node: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Allocation:
        """The allocation an environment describes: Slurm when a Slurm job id is set, else PBS when a PBS job id
        is set, else local (threads: the user's ``OMP_NUM_THREADS`` or 1; one rank; no GPU)."""
        if "SLURM_JOB_ID" in env or "SLURM_JOBID" in env:
            return cls._slurm(env)
        if "PBS_JOBID" in env:
            return cls._pbs(env)
        return cls(cpus_per_task=_count(env.get("OMP_NUM_THREADS")) or 1)

    @classmethod
    def _slurm(cls, env: Mapping[str, str]) -> Allocation:
        node = _count(env.get("SLURM_CPUS_ON_NODE"))
        cpt = _count(env.get("SLURM_CPUS_PER_TASK"))
        ntasks = _count(env.get("SLURM_NTASKS")) or _count(env.get("SLURM_NPROCS"))
        if cpt is None and ntasks is None:
            cpt = node or 1  # neither asked for: one task holding the node's CPUs
        gpus = _count(env.get("SLURM_GPUS_ON_NODE"))
        for key in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS"):
            gpus = gpus if gpus is not None else _devices(env.get(key))
        for key in ("SLURM_GPUS", "SLURM_GPUS_PER_NODE"):
            gpus = gpus if gpus is not None else _count(env.get(key))
        if gpus is None:
            gpus = _devices(env.get("CUDA_VISIBLE_DEVICES"))
        return cls(cpt or 1, ntasks or 1, gpus or 0, "slurm", node)

    @classmethod
    def _pbs(cls, env: Mapping[str, str]) -> Allocation:
        # PBS Pro: NCPUS (this node's chunk), OMP_NUM_THREADS (ompthreads); Torque: PBS_NP (all processors)
        threads = _count(env.get("OMP_NUM_THREADS"))
        node = _count(env.get("NCPUS")) or _count(env.get("PBS_NUM_PPN"))
        total = _count(env.get("PBS_NP"))
        if total is not None:
            cpt, ntasks = threads or 1, max(1, total // (threads or 1))
            node = node or total
        elif node is not None:
            cpt = min(threads or 1, node)
            ntasks = max(1, node // cpt)
        else:
            cpt, ntasks = threads or 1, 1
        gpus = _count(env.get("NGPUS"))
        if gpus is None:
            gpus = _devices(env.get("CUDA_VISIBLE_DEVICES"))
        return cls(cpt, ntasks, gpus or 0, "pbs", node)

    @property
    def process_cpus(self) -> int:
        """Threads for one process that is not launched with MPI (pacemaker): every CPU of the allocation on this
        node."""
        total = self.cpus_per_task * self.ntasks
        return max(1, min(total, self.cpus_on_node) if self.cpus_on_node else total)


def thread_env(
    alloc: Allocation, env: Mapping[str, str] | None = None, *, per_rank: bool = False
) -> dict[str, str]:
    """Thread-count variables for a child process: OpenMP and TensorFlow threads from the allocation
    (``process_cpus`` for one process, ``cpus_per_task`` for each rank of an MPI launch with ``per_rank``), and
    ``CUDA_VISIBLE_DEVICES=-1`` when the allocation has no GPU and ``env`` (default: ``os.environ``) does not set it.
    Merge it over the caller's environment: ``{**os.environ, **thread_env(alloc)}``."""
    env = os.environ if env is None else env
    n = alloc.cpus_per_task if per_rank else alloc.process_cpus
    out = {
        "OMP_NUM_THREADS": str(n),
        "TF_NUM_INTRAOP_THREADS": str(n),
        "TF_NUM_INTEROP_THREADS": str(min(2, n)),
    }
    if alloc.gpus == 0 and "CUDA_VISIBLE_DEVICES" not in env:
        out["CUDA_VISIBLE_DEVICES"] = "-1"
    return out


def mpi_prefix(alloc: Allocation, launcher: str | None = None, *, beside: str | None = None) -> list[str]:
    """The launcher words before an MPI program: a configured ``launcher`` (e.g. ``oracle.mpi_command``) always
    wins (an empty one: no launcher); otherwise ``srun -n N`` inside Slurm (``-c C`` with C threads per rank),
    ``mpirun -np N`` elsewhere when the allocation has N > 1 ranks, and nothing for one rank.

    ``beside`` (the program's resolved path) prefers the ``mpirun`` of the program's own directory, so a program
    is launched by its own MPI (a Python environment may hold another MPI's ``mpirun``)."""
    if launcher is not None:
        return shlex.split(launcher)
    n = alloc.ntasks
    if n <= 1:
        return []
    if alloc.source == "slurm":
        return ["srun", "-n", str(n), *(["-c", str(alloc.cpus_per_task)] if alloc.cpus_per_task > 1 else [])]
    mpirun = "mpirun"
    if beside is not None:
        own = shutil.which("mpirun", path=str(Path(beside).parent))
        mpirun = own or mpirun
    return [mpirun, "-np", str(n)]


def interpreter_bin() -> Path:
    """The directory of the running interpreter as it is named (a virtual environment's ``bin``): the symlink
    to the base interpreter is not followed."""
    return Path(os.path.abspath(sys.executable)).parent


def tool(name: str, *, bindir: str | Path | None = None, path: str | None = None) -> str:
    """The executable ``name``: beside the interpreter (``bindir``, default :func:`interpreter_bin`), then on
    ``path`` (default ``$PATH``). A name with a directory in it is taken as given. ToolNotFound names both places."""
    if os.sep in name:
        if os.path.isfile(name) and os.access(name, os.X_OK):
            return name
        raise ToolNotFound(f"{name!r} is not an executable file")
    here = Path(bindir) if bindir is not None else interpreter_bin()
    found = shutil.which(name, path=str(here))
    if found is None:
        found = shutil.which(name, path=path if path is not None else os.environ.get("PATH", os.defpath))
    if found is None:
        searched = path if path is not None else os.environ.get("PATH", "")
        raise ToolNotFound(
            f"{name!r} not found on PATH ({searched}) nor beside the Python interpreter ({here})"
        )
    return found


# ----------------------------------------------------------------------------------------- walltime left
def parse_slurm_time_left(text: str) -> float | None:
    """Seconds in Slurm's time-left column (``squeue -o %L``): ``D-HH:MM:SS``, ``HH:MM:SS``, ``MM:SS`` (and Slurm's
    other time forms: ``D-HH``, ``D-HH:MM``, ``MM``). None for ``UNLIMITED``, ``NOT_SET``, ``INVALID``, an empty or
    unreadable text. The first non-empty line is read."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", lines[0])
    if m is None:
        return None
    days, a, b, c = m.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        h, mi, s = int(a), int(b or 0), int(c or 0)
        return float(((int(days) * 24 + h) * 60 + mi) * 60 + s)
    if c is not None:  # HH:MM:SS
        return float((int(a) * 60 + int(b)) * 60 + int(c))
    if b is not None:  # MM:SS
        return float(int(a) * 60 + int(b))
    return float(int(a) * 60)  # MM


def parse_hms(text: str) -> float | None:
    """Seconds in a PBS duration: ``HH:MM:SS`` (hours may exceed 24), ``MM:SS`` or plain seconds; None if
    unreadable."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    if any(v < 0 for v in values):
        return None
    total = 0.0
    for v in values:
        total = total * 60 + v
    return total


def parse_pbs_time_left(qstat_f: str) -> float | None:
    """Seconds left in a ``qstat -f JOBID`` listing: Torque's ``Walltime.Remaining``, else PBS Pro's
    ``Resource_List.walltime`` minus ``resources_used.walltime`` (nothing used yet: the whole limit). None when no
    walltime is listed."""
    attrs = {}
    for line in qstat_f.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            attrs[key.strip()] = value.strip()
    if "Walltime.Remaining" in attrs:
        left = parse_hms(attrs["Walltime.Remaining"])
        if left is not None:
            return max(left, 0.0)
    limit = parse_hms(attrs.get("Resource_List.walltime", ""))
    if limit is None:
        return None
    used = parse_hms(attrs.get("resources_used.walltime", "")) or 0.0
    return max(limit - used, 0.0)


def _ask(cmd: list[str]) -> str | None:
    """A batch command's standard output (None when it is missing, fails or hangs)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def seconds_left(
    env: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
    ask: Callable[[list[str]], str | None] = _ask,
) -> float | None:
    """Seconds before the walltime of the allocation ``env`` (default ``os.environ``) describes ends (0 when it
    has passed); None outside an allocation or when the end is not known (no limit, the batch command missing).

    Slurm: ``SLURM_JOB_END_TIME`` (epoch seconds) when set, else ``squeue -h -j $SLURM_JOB_ID -o %L``. PBS/Torque:
    ``qstat -f $PBS_JOBID``. ``now`` (epoch seconds) and ``ask`` (runs a command, returns its output or None) are
    for tests."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    if job:
        try:
            end = float(env.get("SLURM_JOB_END_TIME", ""))
        except ValueError:
            end = 0.0
        if end > 0:
            return max(end - (time.time() if now is None else now), 0.0)
        out = ask(["squeue", "-h", "-j", job, "-o", "%L"])
        return None if out is None else parse_slurm_time_left(out)
    job = env.get("PBS_JOBID")
    if job:
        out = ask(["qstat", "-f", job])
        return None if out is None else parse_pbs_time_left(out)
    return None
