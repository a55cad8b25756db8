"""`pyacemaker gui`: FireWorks' web GUI on the campaign's database, bound to loopback, rendered in headless Chromium:
the page lists the campaign's workflow and its jobs by state."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.support import missing

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gui_lists_the_campaign_workflow_and_job_states(db_server, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        msg = "chromium not installed (scripts/setup.sh installs it when run as root)"
        missing(msg)
    env = {**os.environ, "PYACEMAKER_DB_URI": db_server["uri"], "PYACEMAKER_DB_NAME": "gui_test"}
    cfg = tmp_path / "ni_gui.yaml"
    cfg.write_text("name: ni_gui\nelements: [Ni]\noracle: {type: emt}\n")
    sub = run_cli("submit", str(cfg), "--workdir", str(tmp_path / "w"), env=env)
    assert sub.returncode == 0, sub.stderr
    port = _free_port()
    exe = shutil.which("pyacemaker") or str(Path(sys.executable).with_name("pyacemaker"))
    gui = subprocess.Popen([exe, "gui", "ni_gui", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the GUI did not answer on {url}")
        dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120).stdout  # fmt: skip
        text = " ".join(re.sub(r"<[^>]+>", " ", dom).split())
        assert "Newest Workflows ni_gui READY" in text  # the campaign's workflow, by name, with its state
        assert "seed (it 0)" in text and "decide (it 0)" in text  # its jobs
        assert "WAITING 9" in text and "READY 1" in text  # jobs by state (seed ready, the rest waiting)
        with socket.socket() as s:  # loopback only: not reachable on another interface of this machine
            s.settimeout(1)
            other = socket.gethostbyname(socket.gethostname())
            if not other.startswith("127."):
                assert s.connect_ex((other, port)) != 0
    finally:
        os.killpg(gui.pid, signal.SIGINT)
        try:
            gui.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(gui.pid, signal.SIGKILL)
            gui.wait()
