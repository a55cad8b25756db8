"""Processes of a trial: found through /proc, killed on every exit path."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


# ----------------------------------------------------------------------------------------------- processes
def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None when it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()
    return rest[0].decode(), int(rest[1])


def cmdline(pid: int) -> list[str]:
    try:
        return [
            a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a
        ]
    except OSError:
        return []


def all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children first)."""
    parent = {}
    for p in all_pids():
        st = proc_stat(p)
        if st and st[0] not in ("Z", "X"):
            parent[p] = st[1]
    out, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        out += kids
        frontier = kids
    return out


def processes_using(path: Path, exclude: set[int]) -> list[int]:
    """Live processes whose command line names ``path`` or whose working directory lies inside it."""
    out = []
    for p in all_pids():
        if p in exclude or p == os.getpid():
            continue
        st = proc_stat(p)
        if not st or st[0] in ("Z", "X"):
            continue
        try:
            cwd = os.readlink(f"/proc/{p}/cwd")
        except OSError:
            cwd = ""
        if cwd.startswith(str(path)) or any(str(path) in a for a in cmdline(p)):
            out.append(p)
    return out


def kill_pids(pids: list[int]) -> None:
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGCONT)  # a stopped process (the hanging-fit fault)
            os.kill(p, signal.SIGKILL)


def alive(pid: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")
