"""External codes (pw.x, VASP, pacemaker and its tools, LAMMPS, EON) run with a hard wall-clock limit and never
outlive the Python side that started them.

Each code runs in a session (process group) of its own, so one signal reaches it and everything it started
(``mpirun`` and its ranks, a shell and its children; descendants that left the group with setsid, as Open MPI's
singleton ``orted --set-sid`` does, are signalled one by one). When its time limit passes the whole group gets
SIGTERM, then SIGKILL after a grace period (:data:`GRACE_S`); the process is always reaped, and
:class:`ProcTimeout` names the command, the limit and where its output went. Callers turn it into their normal
failure path (the oracle: a rejection; a fit: a failed fit; MD and kMC: a run that ends with an error).

Nothing is orphaned:

- an exception or KeyboardInterrupt while the code runs stops its group (TERM, grace, KILL) before it propagates;
- SIGTERM to this process (a worker being stopped, which used to reach its children through the worker's own
  process group) first stops every running group, then ends the process as SIGTERM would have (only while a code
  runs, only from the main thread, only when SIGTERM still has its default action);
- on Linux the code's first process gets SIGKILL when the thread that started it dies (``PR_SET_PDEATHSIG``),
  which covers a SIGKILL of this process.

:class:`Proc` is a :class:`subprocess.Popen` (Custodian's jobs return it and Custodian polls it: the limit is
enforced in ``poll``/``wait``); :func:`run` is the blocking form. This module imports nothing of pyacemaker's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

GRACE_S = 10.0
"""Seconds between SIGTERM and SIGKILL of a process group."""
_SIGTERM_GRACE_S = 5.0  # when this process itself is being terminated: less than the 10 s workers are given


class ProcTimeout(RuntimeError):
    """A command ran past its time limit; its process group was terminated (SIGTERM), then killed (SIGKILL)
    when it outlived the grace period, and reaped."""

    def __init__(self, command: Sequence[str], limit_s: float, output: str | Path | None = None,
                 grace_s: float = GRACE_S, killed: bool = False, pid: int | None = None):  # fmt: skip
        self.command = [str(c) for c in command]
        self.pid = pid  # the process (and group) that was stopped
        self.limit_s = float(limit_s)
        self.output = None if output is None else str(output)
        self.grace_s = float(grace_s)
        self.killed = killed
        how = f"SIGTERM, then SIGKILL after {grace_s:g} s" if killed else "SIGTERM"
        where = f"; its output is in {self.output}" if self.output else ""
        super().__init__(f"timeout: {describe(self.command)} did not finish within {self.limit_s:g} s and was "
                         f"stopped ({how}){where}")  # fmt: skip

    def __reduce__(self):  # pickles (jobflow/FireWorks may store the exception)
        return (ProcTimeout, (self.command, self.limit_s, self.output, self.grace_s, self.killed, self.pid))


def describe(command: Sequence[str], width: int = 160) -> str:
    """The command line for a message, shortened to ``width`` characters."""
    text = shlex.join([str(c) for c in command])
    return text if len(text) <= width else text[: width - 3] + "..."


# ------------------------------------------------------------------------------------------- process groups
def _stat_fields(pid: str) -> tuple[str, int, int] | None:
    """(state, parent, process group) of a /proc entry, None when it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()  # the command name may hold spaces and parentheses
    return rest[0].decode(), int(rest[1]), int(rest[2])


def _live(state: str) -> bool:
    return state not in ("Z", "X")


def _table() -> dict[int, tuple[str, int, int]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(entry)) is not None:
            out[int(entry)] = fields
    return out


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``. Without /proc: ``[pgid]`` when a signal 0 still
    reaches the group, else []."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    return [pid for pid, (state, _, pgrp) in _table().items() if pgrp == pgid and _live(state)]


def escaped(pid: int, pgid: int) -> list[int]:
    """Live descendants of ``pid`` outside process group ``pgid``: processes that left it with setsid (Open MPI's
    singleton ``orted --set-sid`` does), which a signal to the group does not reach. Empty without /proc."""
    if not Path("/proc/self/stat").exists():
        return []
    table = _table()
    children: dict[int, list[int]] = {}
    for child, (_, parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        state, _, pgrp = table[p]
        if pgrp != pgid and _live(state):
            out.append(p)
    return out


def _alive(pid: int) -> bool:
    fields = _stat_fields(str(pid))
    return fields is not None and _live(fields[0])


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when nothing of it is left."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _wait_group(pgid: int, until: float, others: Sequence[int] = ()) -> bool:
    """Wait (polling) until the group and ``others`` have no live member or ``until`` (monotonic) passes; True
    when they are gone."""
    delay = 0.01
    while group_members(pgid) or any(_alive(p) for p in others):
        if time.monotonic() >= until:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    return True


def _signal_all(pgid: int, others: Sequence[int], sig: int) -> None:
    signal_group(pgid, sig)
    for p in others:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, sig)


# ------------------------------------------------------------------------------------------- parent death
_PR_SET_PDEATHSIG = 1
_prctl: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it


def _child_setup(parent: int, then: Callable[[], None] | None) -> Callable[[], None] | None:
    """The function the child runs between fork and exec: SIGKILL on the parent thread's death (Linux), then the
    caller's own setup. None when there is nothing to do (keeps the fast spawn path)."""
    if _prctl is None and then is None:
        return None

    def setup() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os.kill(os.getpid(), signal.SIGKILL)
        if then is not None:
            then()

    return setup


# ------------------------------------------------------------------------------------------- SIGTERM to us
_running: set[Proc] = set()
_lock = threading.Lock()
_installed = False


def _on_sigterm(signum: int, frame: Any) -> None:
    """This process is being terminated: stop every running group first, then die of SIGTERM as before."""
    procs = list(_running)
    others = {p: escaped(p.pid, p.pgid) if p.returncode is None else [] for p in procs}
    for p in procs:
        _signal_all(p.pgid, others[p], signal.SIGTERM)
    until = time.monotonic() + min([_SIGTERM_GRACE_S, *(p.grace_s for p in procs)])
    for p in procs:
        if not _wait_group(p.pgid, until, others[p]):
            _signal_all(p.pgid, others[p], signal.SIGKILL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _arm() -> None:
    """Install the SIGTERM handler (before a code starts, so a SIGTERM right after its start finds it)."""
    global _installed
    with _lock:
        if _installed or threading.current_thread() is not threading.main_thread():
            return
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
                _installed = True


def _unregister(p: Proc | None) -> None:
    """Forget ``p``; with no code left running, give SIGTERM its default action back."""
    global _installed
    with _lock:
        _running.discard(p)  # type: ignore[arg-type]
        if _running or not _installed or threading.current_thread() is not threading.main_thread():
            return
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) is _on_sigterm:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _installed = False


# ------------------------------------------------------------------------------------------- the process
class Proc(subprocess.Popen):
    """A :class:`subprocess.Popen` in a new session with a wall-clock limit.

    ``poll()`` and ``wait()`` enforce ``timeout_s`` (counted from the start): past it the group is stopped
    (:meth:`stop`), ``timed_out`` is set and ``on_timeout`` is called with the :class:`ProcTimeout` (the
    process then has a return code; Custodian sees an ended job). ``terminate()``/``kill()`` signal the whole
    group; :meth:`stop` is SIGTERM, ``grace_s``, SIGKILL, reaped. When the process ends, members of its group
    still running (a launcher's leftovers) are stopped the same way. ``output`` names where its output goes,
    for the messages."""

    def __init__(self, args: Sequence[str], *, timeout_s: float | None = None, grace_s: float = GRACE_S,
                 output: str | Path | None = None, on_timeout: Callable[[ProcTimeout], None] | None = None,
                 **kwargs: Any):  # fmt: skip
        kwargs["start_new_session"] = True
        kwargs.pop("process_group", None)
        kwargs["preexec_fn"] = _child_setup(os.getpid(), kwargs.get("preexec_fn"))
        self.timeout_s = timeout_s if timeout_s and timeout_s > 0 else None
        self.grace_s = float(grace_s)
        self.output = output
        self.on_timeout = on_timeout
        self.timed_out = False
        self.killed = False
        self.timeout_error: ProcTimeout | None = None
        self._finished = False
        self.started = time.monotonic()
        _arm()
        try:
            super().__init__(list(args), **kwargs)
        except BaseException:
            _unregister(None)
            raise
        self.pgid = self.pid  # the session leader's pid is the group's id
        self.deadline = None if self.timeout_s is None else self.started + self.timeout_s
        with _lock:
            _running.add(self)

    # -- signals to the group
    def send_signal(self, sig: int) -> None:
        if self.returncode is None or group_members(self.pgid):
            signal_group(self.pgid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def stop(self, grace_s: float | None = None) -> int:
        """SIGTERM to the group, SIGKILL to what is left after ``grace_s`` (default: the instance's), reap.
        Returns the return code (negative: the signal that ended it)."""
        grace = self.grace_s if grace_s is None else grace_s
        if super().poll() is None or group_members(self.pgid):
            # descendants that left the group (setsid) are found while the leader still links them
            others = escaped(self.pid, self.pgid) if self.returncode is None else []
            _signal_all(self.pgid, others, signal.SIGTERM)
            until = time.monotonic() + grace
            with contextlib.suppress(subprocess.TimeoutExpired):
                super().wait(max(0.0, until - time.monotonic()))
            if not _wait_group(self.pgid, until, others):
                self.killed = True
                _signal_all(self.pgid, others, signal.SIGKILL)
                _wait_group(self.pgid, time.monotonic() + 5.0, others)
        rc = super().wait()  # always reaped
        self._finish(stopped=True)
        return rc

    # -- waiting, with the limit
    def _expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _time_out(self) -> int:
        self.timed_out = True
        rc = self.stop()
        assert self.timeout_s is not None
        self.timeout_error = ProcTimeout(
            self.args, self.timeout_s, self.output, self.grace_s, self.killed, self.pid
        )
        if self.on_timeout is not None:
            self.on_timeout(self.timeout_error)
        return rc

    def _finish(self, stopped: bool = False) -> None:
        if self._finished:
            return
        self._finished = True
        if not stopped and group_members(self.pgid):  # the leader ended; what it left running goes too
            self.stop()
        _unregister(self)

    def poll(self) -> int | None:
        rc = super().poll()
        if rc is None and self._expired():
            return self._time_out()
        if rc is not None:
            self._finish()
        return rc

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            limits = [t - now for t in (self.deadline, end) if t is not None]
            try:
                rc = super().wait(max(0.0, min(limits)) if limits else None)
            except subprocess.TimeoutExpired:
                if self._expired():
                    return self._time_out()
                if end is not None and time.monotonic() >= end:
                    raise
                continue
            self._finish()
            return rc

    def __exit__(self, exc_type, value, traceback) -> None:
        if exc_type is not None:  # an exception or KeyboardInterrupt on our side: nothing is left running
            self.stop()
        super().__exit__(exc_type, value, traceback)

    def __del__(self, *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(Exception):
            _running.discard(self)
        super().__del__(*args, **kwargs)  # type: ignore[misc]


def _target(spec: Any, mode: str, stack: contextlib.ExitStack) -> Any:
    """A path opens a file (closed when the call returns); file objects, PIPE/DEVNULL/STDOUT and None pass."""
    if isinstance(spec, str | Path):
        return stack.enter_context(open(spec, mode))  # noqa: SIM115
    return spec


def _name(spec: Any) -> str | None:
    if isinstance(spec, str | Path):
        return str(spec)
    name = getattr(spec, "name", None)
    return name if isinstance(name, str) and not name.startswith("<") else None


def run(args: Sequence[str], *, cwd: str | Path | None = None, env: dict[str, str] | None = None,
        stdin: Any = subprocess.DEVNULL, stdout: Any = None, stderr: Any = None, append: bool = False,
        capture_output: bool = False, text: bool = False, timeout_s: float | None = None,
        grace_s: float = GRACE_S, output: str | Path | None = None,
        preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """Run ``args`` to its end within ``timeout_s`` (None: no limit) and return its CompletedProcess.

    ``stdout``/``stderr`` take a path (written, or appended with ``append``), a file object, ``subprocess.STDOUT``
    (stderr only), DEVNULL or None (inherited); ``capture_output`` collects both (through temporary files, so a
    chatty code cannot block on a full pipe) into the result, as text with ``text``. Past the limit the group is
    stopped (SIGTERM, ``grace_s``, SIGKILL, reaped) and :class:`ProcTimeout` raised, naming ``output`` (default:
    the stdout file). An exception or KeyboardInterrupt while waiting stops the group before it propagates."""
    mode = "ab" if append else "wb"
    with contextlib.ExitStack() as stack:
        if capture_output:
            stdout = stack.enter_context(tempfile.TemporaryFile())
            stderr = stack.enter_context(tempfile.TemporaryFile())
        out, err = _target(stdout, mode, stack), _target(stderr, mode, stack)
        where = output if output is not None else _name(stdout) or _name(stderr)
        p = Proc(args, cwd=cwd, env=env, stdin=stdin, stdout=out, stderr=err, timeout_s=timeout_s,
                 grace_s=grace_s, output=where, preexec_fn=preexec_fn)  # fmt: skip
        try:
            rc = p.wait()
        except BaseException:
            p.stop()
            raise
        if p.timeout_error is not None:
            raise p.timeout_error
        got_out: Any = None
        got_err: Any = None
        if capture_output:
            got = []
            for fh in (stdout, stderr):
                fh.seek(0)
                data = fh.read()
                got.append(data.decode(errors="replace") if text else data)
            got_out, got_err = got
        return subprocess.CompletedProcess(p.args, rc, got_out, got_err)


def run_logged(args: Sequence[str], cwd: Path, log: Path, failure: type[Exception], *,
               env: dict[str, str] | None = None, timeout_s: float | None = None, grace_s: float = GRACE_S,
               tail_chars: int = 2000) -> None:  # fmt: skip
    """Run a tool (a fit, a training) to its end, its output appended to ``log``; raise ``failure`` with the log's
    last ``tail_chars`` when it exits non-zero or runs past ``timeout_s`` (its group then stopped, as :func:`run`)."""

    def tail() -> str:
        return log.read_text(errors="replace")[-tail_chars:] if log.exists() else ""

    name = Path(args[0]).name
    try:
        rc = run(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, append=True, timeout_s=timeout_s,
                 grace_s=grace_s).returncode  # fmt: skip
    except ProcTimeout as exc:
        raise failure(f"{name} in {cwd}: {exc}; log tail:\n{tail()}") from None
    if rc != 0:
        raise failure(f"{name} {' '.join(args[1:])} exited with {rc} in {cwd}; log tail:\n{tail()}")
