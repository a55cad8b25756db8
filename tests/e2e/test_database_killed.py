"""The embedded database daemon killed (SIGKILL) in the middle of a campaign: `pyacemaker run`'s watcher restarts
it on its port and the campaign finishes without anyone stepping in, nothing labelled twice."""

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


def test_campaign_survives_its_database_being_killed(tmp_path):
    from pyacemaker.db import Database, resolve_target

    data = tmp_path / "data"
    cfg = tmp_path / "dbkill.yaml"
    cfg.write_text(tiny_variant("dbkill_cu"))
    env = {**os.environ, "PYACEMAKER_DATA_DIR": str(data)}
    exe = shutil.which("pyacemaker") or str(Path(sys.executable).with_name("pyacemaker"))
    proc = subprocess.Popen([exe, "run", str(cfg), "--workdir", str(tmp_path / "work")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline, killed = time.monotonic() + 600, None
        while time.monotonic() < deadline and proc.poll() is None and killed is None:
            time.sleep(0.5)
            try:
                db = Database.connect(resolve_target(data_dir=data, start_embedded=False))
                stage = (db.campaign("dbkill_cu") or {}).get("stage")
            except Exception:  # not up yet
                continue
            if stage == "train":  # labels stored, the fit running: its end must be written after the restart
                killed = json.loads((data / "server.json").read_text())["pid"]
                os.kill(killed, signal.SIGKILL)
        assert killed, "the campaign never reached its fit"
        out, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    try:
        assert proc.returncode == 0, out[-4000:]
        assert "restarted it on port" in out, out[-3000:]
        db = Database.connect(resolve_target(data_dir=data, start_embedded=False))
        doc = db.campaign("dbkill_cu")
        assert doc["state"] == "budget" and doc["stage"] == "done"
        labelled = db.records.count_documents({"campaign": "dbkill_cu", "labels": {"$ne": None}})
        assert doc["oracle_calls"] == labelled  # nothing labelled twice
    finally:
        run_cli("db", "stop", env={"PYACEMAKER_DATA_DIR": str(data)}, timeout=120)
