"""An interrupted `pyacemaker run` continues where it stopped: finished jobs are not re-run, no structure is
labelled twice, jobs cut off by the interrupt run again. While it runs, a second controller of the campaign is
refused, and so is the same campaign in another working directory; a SIGHUP (a dropped ssh session) stops it like
Ctrl-C, its workers and their codes included. The database daemon killed (SIGKILL) under the continued run is
restarted by the watcher and the campaign finishes."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.e2e.test_campaign import tiny_variant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _processes_using(path: Path) -> list[int]:
    """Pids whose command line names ``path`` or that run inside it (its workers, the pacemaker they started)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if str(path) in cmd or os.readlink(d / "cwd").startswith(str(path)):
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def test_interrupted_run_continues_without_repeating_work(tmp_path):
    from pyacemaker.db import Database, resolve_target

    cfg = tmp_path / "resume.yaml"
    cfg.write_text(tiny_variant("resume_cu"))
    env = {**os.environ, "PYACEMAKER_DATA_DIR": str(tmp_path / "data")}
    exe = shutil.which("pyacemaker") or str(Path(sys.executable).with_name("pyacemaker"))
    args = [exe, "run", str(cfg), "--workdir", str(tmp_path / "work"), "--workers", "2"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # interrupt while the first fit runs: seeds and labels are done, train is cut off
        deadline = time.monotonic() + 600
        db = None
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                db = db or Database.connect(resolve_target(data_dir=tmp_path / "data", start_embedded=False))
            except Exception:  # server not up yet
                continue
            if (db.campaign("resume_cu") or {}).get("stage") == "train":
                break
        assert db is not None and proc.poll() is None
        env_db = {"PYACEMAKER_DATA_DIR": str(tmp_path / "data")}
        second = run_cli("run", str(cfg), "--workdir", str(tmp_path / "work"), env=env_db, timeout=120)
        assert second.returncode == 2 and "already worked by another controller" in second.stderr, (
            second.stderr
        )
        assert f"pid {proc.pid}" in second.stderr
        elsewhere = run_cli("run", str(cfg), "--workdir", str(tmp_path / "other"), env=env_db, timeout=120)
        assert elsewhere.returncode == 2 and f"working in {tmp_path / 'work'}" in elsewhere.stderr, (
            elsewhere.stderr
        )
        assert not (tmp_path / "other").exists()
        time.sleep(3)
        proc.send_signal(signal.SIGHUP)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 128 + signal.SIGHUP, out
        assert "stopped by SIGHUP" in out
        orphans = [pid for pid in _processes_using(tmp_path / "work") if pid != os.getpid()]
        assert not orphans, orphans  # the workers and the fit they ran ended with the controller
        lp = resolve_target(data_dir=tmp_path / "data", start_embedded=False).launchpad()
        root = db.campaign("resume_cu")["wf_root_fw_id"]
        nodes = lp.workflows.find_one({"nodes": root})["nodes"]
        states = {fw["name"]: fw["state"] for fw in lp.fireworks.find({"fw_id": {"$in": nodes}})}
        assert "RUNNING" not in states.values(), states  # the cut-off train job was re-queued
        assert states["seed (it 0)"] == "COMPLETED"
        calls = db.campaign("resume_cu")["oracle_calls"]
        assert calls > 0

        # the same command continues; meanwhile the database daemon is killed (SIGKILL) after the cut-off fit:
        # the watcher restarts it on its port and the campaign goes on
        again = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        killed = None
        while killed is None and again.poll() is None and time.monotonic() < deadline + 600:
            time.sleep(0.5)
            with contextlib.suppress(Exception):
                if db.campaign("resume_cu")["stage"] != "train":  # the re-run fit ended, its results stored
                    killed = json.loads((tmp_path / "data" / "server.json").read_text())["pid"]
                    os.kill(killed, signal.SIGKILL)
        again_out, _ = again.communicate(timeout=900)
        assert killed and again.returncode == 0, again_out[-3000:]
        assert "restarted it on port" in again_out, again_out[-3000:]
        again = subprocess.CompletedProcess(args, again.returncode, again_out, "")
        assert "continuing campaign" in again.stdout
        for fw in lp.fireworks.find({"fw_id": {"$in": nodes}}):
            if fw["name"].startswith(("seed", "label")):
                assert len(fw["launches"]) == 1, fw["name"]  # finished before the interrupt: not re-run
        doc = db.campaign("resume_cu")
        assert doc["state"] == "budget" and doc["stage"] == "done"
        labelled = db.records.count_documents({"campaign": "resume_cu", "labels": {"$ne": None}})
        assert (
            doc["oracle_calls"] == labelled
        )  # one oracle call per labelled structure: nothing labelled twice
    finally:
        if proc.poll() is None:
            proc.kill()
        run_cli("db", "stop", env={"PYACEMAKER_DATA_DIR": str(tmp_path / "data")}, timeout=120)
