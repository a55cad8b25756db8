"""An interrupted `pyacemaker run` continues where it stopped: finished jobs are not re-run, no structure is
labelled twice, jobs cut off by the interrupt run again."""

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
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130, out
        lp = resolve_target(data_dir=tmp_path / "data", start_embedded=False).launchpad()
        root = db.campaign("resume_cu")["wf_root_fw_id"]
        nodes = lp.workflows.find_one({"nodes": root})["nodes"]
        states = {fw["name"]: fw["state"] for fw in lp.fireworks.find({"fw_id": {"$in": nodes}})}
        assert "RUNNING" not in states.values(), states  # the cut-off train job was re-queued
        assert states["seed (it 0)"] == "COMPLETED"
        calls = db.campaign("resume_cu")["oracle_calls"]
        assert calls > 0

        again = run_cli(
            "run",
            str(cfg),
            "--workdir",
            str(tmp_path / "work"),
            env={"PYACEMAKER_DATA_DIR": str(tmp_path / "data")},
        )
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
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
