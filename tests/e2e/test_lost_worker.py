"""A local worker killed outright (an out-of-memory kill, a lost node) while it trains: the same `pyacemaker run`
notices, re-queues the job, starts another worker and finishes the campaign on its own, labelling nothing twice."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.e2e.test_campaign import tiny_variant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _pids_running(path: Path) -> list[int]:
    """Processes whose command line holds ``path``."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(path).encode() in argv:
            out.append(int(proc.name))
    return out


def _worker_pid(workdir: Path, token: str) -> int:
    """The pid of the local worker whose fworker file carries ``token`` (it leads its own process group)."""
    files = [
        f
        for f in (workdir / "fireworks").glob("my_fworker_*.yaml")
        if (yaml.safe_load(f.read_text()).get("env") or {}).get("pyacemaker_worker") == token
    ]
    assert len(files) == 1, token
    pids = _pids_running(files[0])
    assert len(pids) == 1, (files[0], pids)
    return pids[0]


def test_killed_worker_is_replaced_and_the_run_finishes(tmp_path):
    from pyacemaker.db import Database, resolve_target

    cfg = tmp_path / "lost.yaml"
    cfg.write_text(tiny_variant("lost_cu"))
    data = tmp_path / "data"
    env = {**os.environ, "PYACEMAKER_DATA_DIR": str(data)}
    exe = shutil.which("pyacemaker") or str(Path(sys.executable).with_name("pyacemaker"))
    work = tmp_path / "work"
    args = [exe, "run", str(cfg), "--workdir", str(work), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 600
        db = lp = launch = None
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            try:
                if db is None:
                    target = resolve_target(data_dir=data, start_embedded=False)
                    db, lp = Database.connect(target), target.launchpad()
            except Exception:  # server not up yet
                continue
            fw = lp.fireworks.find_one({"name": "train (it 0)", "state": "RUNNING"})
            if fw and fw.get("launches"):
                launch = lp.launches.find_one({"launch_id": fw["launches"][-1]})
                break
        assert launch is not None, proc.communicate(timeout=60)[0][-3000:] if proc.poll() is not None else ""
        token = launch["fworker"]["env"]["pyacemaker_worker"]
        os.killpg(_worker_pid(work, token), signal.SIGKILL)  # the worker and its pacemaker, at once

        out, _ = proc.communicate(timeout=600)  # the same run goes on: no interrupt, no second command
        assert proc.returncode == 0, out[-3000:]
        assert "killed by SIGKILL while running train (it 0)" in out and "re-queued; started worker 2" in out
        root = db.campaign("lost_cu")["wf_root_fw_id"]
        wf = lp.workflows.find_one({"nodes": root})
        assert wf["state"] == "COMPLETED"
        for fw in lp.fireworks.find({"fw_id": {"$in": wf["nodes"]}}):
            assert fw["state"] == "COMPLETED", fw["name"]
            if fw["name"].startswith(("seed", "label")):
                assert len(fw["launches"]) == 1, fw["name"]  # finished before the kill: not re-run
        doc = db.campaign("lost_cu")
        assert doc["stage"] == "done"
        labelled = db.records.count_documents({"campaign": "lost_cu", "labels": {"$ne": None}})
        # one oracle call per labelled structure (test-set records included): nothing labelled twice
        assert doc["oracle_calls"] == labelled > 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
        for f in (work / "fireworks").glob("my_fworker_*.yaml"):  # workers of a run that was killed
            for pid in _pids_running(f):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        run_cli("db", "stop", env={"PYACEMAKER_DATA_DIR": str(data)}, timeout=120)
