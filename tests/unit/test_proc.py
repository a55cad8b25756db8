"""pyacemaker.proc: every external code runs in its own process group with a hard limit; past it the group gets
SIGTERM, then SIGKILL after the grace period, is reaped, and nothing of it is left (real processes, real signals)."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pyacemaker import proc
from pyacemaker.proc import Proc, ProcTimeout, group_members, run
from tests.support import needs

pytestmark = needs(sys.platform != "linux", "process groups and /proc: Linux")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (os.kill(pid, 0) alone also reaches zombies)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_file(path: Path, timeout: float = 10.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} never written")


def test_a_shell_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    """``trap '' TERM``: the shell and its background child (which inherits the ignored TERM) survive SIGTERM;
    SIGKILL to the group follows after the grace period, and neither is left."""
    script = f"trap '' TERM; sleep 60 & echo $! > {tmp_path}/child; echo started; sleep 60"
    t0 = time.monotonic()
    with pytest.raises(ProcTimeout) as err:
        run(["sh", "-c", script], timeout_s=1.0, grace_s=1.5, stdout=tmp_path / "out.txt")
    took = time.monotonic() - t0
    exc = err.value
    assert exc.killed and exc.limit_s == 1.0 and exc.pid is not None
    assert 2.5 <= took < 5.0  # limit + grace, then KILL (not the 60 s of sleep)
    msg = str(exc)
    assert msg.startswith("timeout:") and "within 1 s" in msg and "SIGKILL after 1.5 s" in msg
    assert str(tmp_path / "out.txt") in msg and "sh -c" in msg
    child = int((tmp_path / "child").read_text())
    assert not alive(exc.pid) and not alive(child) and group_members(exc.pid) == []
    assert (tmp_path / "out.txt").read_text() == "started\n"


def test_a_process_that_honours_sigterm_stops_at_the_limit_without_sigkill(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(ProcTimeout) as err:
        run(["sleep", "60"], timeout_s=0.5)
    assert time.monotonic() - t0 < 2.0
    assert not err.value.killed and "stopped (SIGTERM)" in str(err.value)
    assert group_members(err.value.pid) == []


def test_results_within_the_limit_and_output_files(tmp_path):
    r = run(["sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True, text=True, timeout_s=30)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    log = tmp_path / "log"
    log.write_text("before\n")
    run(["sh", "-c", "echo a; echo b >&2"], stdout=log, stderr=subprocess.STDOUT, append=True)
    assert log.read_text() == "before\na\nb\n"
    with pytest.raises(FileNotFoundError):
        run(["/nonexistent/tool"])


def test_what_a_finished_process_left_running_in_its_group_is_stopped(tmp_path):
    """The leader exits at once; its background child (same group) does not outlive the call."""
    r = run(["sh", "-c", f"sleep 60 & echo $! > {tmp_path}/child"], timeout_s=30, grace_s=1)
    assert r.returncode == 0
    assert not alive(int((tmp_path / "child").read_text()))


@needs(shutil.which("setsid") is None, "util-linux setsid not installed")
def test_a_descendant_that_left_the_group_with_setsid_is_stopped_too(tmp_path):
    """Open MPI's singleton forks ``orted --set-sid``: a signal to the group misses it, so stop() also signals
    the descendants outside the group that it finds while the leader still links them."""
    p = Proc(
        ["sh", "-c", f"setsid sleep 60 & echo $! > {tmp_path}/child; sleep 60"], timeout_s=1.5, grace_s=1
    )
    child = int(wait_file(tmp_path / "child"))
    time.sleep(0.2)  # setsid has run
    assert os.getpgid(child) != p.pgid  # outside the group
    p.wait()
    assert p.timed_out and not p.killed  # SIGTERM reached both
    assert not alive(child) and not alive(p.pid)


def test_an_exception_while_waiting_stops_the_group(tmp_path):
    """KeyboardInterrupt (here from SIGALRM, as Ctrl-C would raise it) while run() waits: the group is stopped
    before the interrupt propagates."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(["sh", "-c", f"echo $$ > {tmp_path}/pid; sleep 60 & sleep 60"], timeout_s=60, grace_s=1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    pid = int((tmp_path / "pid").read_text())
    assert not alive(pid) and group_members(pid) == []
    assert not proc._running  # nothing registered any more


def test_proc_as_custodian_polls_it(tmp_path):
    """Custodian polls the Popen a job returns: ``poll()`` enforces the limit and reports the timeout."""
    seen = []
    p = Proc(["sleep", "60"], timeout_s=0.5, grace_s=1, on_timeout=seen.append)
    assert isinstance(p, subprocess.Popen)
    while p.poll() is None:
        time.sleep(0.1)
    assert p.timed_out and p.returncode == -signal.SIGTERM
    assert len(seen) == 1 and seen[0] is p.timeout_error and group_members(p.pid) == []
    q = Proc(["sh", "-c", f"trap '' TERM; echo ready > {tmp_path}/ready; sleep 60"], grace_s=0.5)
    wait_file(tmp_path / "ready")
    q.terminate()  # the group gets SIGTERM: ignored
    time.sleep(0.3)
    assert q.poll() is None
    assert q.stop() == -signal.SIGKILL and q.killed and group_members(q.pid) == []


CHILD = textwrap.dedent("""
    import sys
    from pyacemaker.proc import run
    run(["sh", "-c", "echo $$ > " + sys.argv[1] + "; sleep 60 & sleep 60"], timeout_s=600)
""")


def test_sigterm_to_the_python_side_stops_its_groups_first(tmp_path):
    """A worker stopped with SIGTERM (which no longer reaches codes in their own session) stops them first, and
    still dies of SIGTERM."""
    pidfile = tmp_path / "pid"
    py = subprocess.Popen([sys.executable, "-c", CHILD, str(pidfile)])
    pid = int(wait_file(pidfile))
    assert alive(pid)
    py.send_signal(signal.SIGTERM)
    assert py.wait(20) == -signal.SIGTERM
    end = (
        time.monotonic() + 5
    )  # the stopped code's processes leave /proc once reaped (later on a loaded machine)
    while (alive(pid) or group_members(pid)) and time.monotonic() < end:
        time.sleep(0.05)
    assert not alive(pid) and group_members(pid) == []


def test_sigkill_of_the_python_side_takes_the_code_with_it(tmp_path):
    """PR_SET_PDEATHSIG: the code's first process gets SIGKILL when its parent dies without a chance to act."""
    pidfile = tmp_path / "pid"
    code = CHILD.replace("sleep 60 & sleep 60", "exec sleep 60")
    py = subprocess.Popen([sys.executable, "-c", code, str(pidfile)])
    pid = int(wait_file(pidfile))
    py.kill()
    py.wait(10)
    end = time.monotonic() + 5
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    assert not alive(pid)


def test_run_logged_raises_the_callers_error_with_the_log_tail(tmp_path):
    from pyacemaker.proc import run_logged

    class ToolError(RuntimeError):
        pass

    log = tmp_path / "tool.log"
    run_logged(["sh", "-c", "echo fine"], tmp_path, log, ToolError)
    with pytest.raises(
        ToolError, match=r"sh -c echo broke; exit 3 exited with 3 in .*log tail:\nfine\nbroke"
    ):
        run_logged(["sh", "-c", "echo broke; exit 3"], tmp_path, log, ToolError)
    with pytest.raises(ToolError, match=r"(?s)sh in .*did not finish.*log tail:.*slow"):
        run_logged(["sh", "-c", "echo slow; sleep 30"], tmp_path, log, ToolError, timeout_s=0.5, grace_s=0.5)
