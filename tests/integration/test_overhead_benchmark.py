"""benchmarks/overhead.py still runs: its local part (3 no-op jobs in a chain and a fan-out, real rlaunch workers,
its own embedded database) prints the no-op table and leaves no process behind. Nothing about speed is asserted."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _own_processes(marker: str) -> list[str]:
    out = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmd.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            out.append(text)
    return out


def test_local_part_prints_the_no_op_table(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "-1"}
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "overhead.py"),
        "--jobs",
        "3",
        "--skip-slurm",
        "--skip-campaign",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=300)
    except (
        subprocess.TimeoutExpired
    ):  # a hung benchmark: SIGINT lets it stop what it started, then the group goes
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"the benchmark hung:\n{out[-2000:]}\n{err[-2000:]}") from None
    r = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "no-op jobs" in r.stdout
    assert "local chain (2 workers)" in r.stdout and "local fan-out (2 workers)" in r.stdout
    assert "Slurm part skipped" in r.stdout
    assert not _own_processes(str(tmp_path))  # database server and workers stopped
    assert not list(tmp_path.glob("overhead_bench_*"))  # its temporary directory removed
