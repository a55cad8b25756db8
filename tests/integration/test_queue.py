"""Queueing a campaign for plain FireWorks workers: `pyacemaker workflow` + `lpad add`, and `pyacemaker submit`."""

import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli

pytestmark = pytest.mark.integration

CFG = "name: {name}\nelements: [Ni]\noracle: {{type: emt}}\nexplore: {{temperatures: [500, 900]}}\n"


def _lpad(*args):
    exe = shutil.which("lpad") or str(Path(sys.executable).with_name("lpad"))
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def launchpad_file(db_server, tmp_path, request):
    name = "q_" + request.node.name[:30]
    f = tmp_path / "my_launchpad.yaml"
    f.write_text(yaml.safe_dump({"host": db_server["uri"], "name": name, "uri_mode": True}))
    today = datetime.now().strftime("%Y-%m-%d")  # lpad reset's password is today's date
    assert _lpad("-l", str(f), "reset", "--password", today).returncode == 0
    return f


def test_workflow_file_is_accepted_by_lpad_add(tmp_path, launchpad_file):
    cfg = tmp_path / "ni.yaml"
    cfg.write_text(CFG.format(name="ni_wf"))
    r = run_cli("workflow", str(cfg), "-o", str(tmp_path / "wf.yaml"), "--workdir", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr
    wf = yaml.safe_load((tmp_path / "wf.yaml").read_text())
    names = [fw["name"] for fw in wf["fws"]]
    # seed, 2 label batches, train, one explore per policy condition (bulk NPT at each temperature, a vacancy
    # and a surface run for a metal), decide
    explores = [n for n in names if n.startswith("explore")]
    assert names[0] == "seed (it 0)" and len(explores) == 4 and len(names) == 9
    assert any("vacancy" in n for n in explores) and any("surface" in n for n in explores)
    assert all(fw["spec"]["pyacemaker_campaign"] == "ni_wf" for fw in wf["fws"])
    added = _lpad("-l", str(launchpad_file), "add", str(tmp_path / "wf.yaml"))
    assert added.returncode == 0, added.stderr
    listed = _lpad("-l", str(launchpad_file), "get_fws", "-d", "count")
    assert listed.stdout.strip() == "9"


def test_submit_adds_once_and_refuses_a_changed_config(tmp_path, launchpad_file):
    cfg = tmp_path / "ni.yaml"
    cfg.write_text(CFG.format(name="ni_sub"))
    first = run_cli("submit", str(cfg), "-l", str(launchpad_file))
    assert first.returncode == 0, first.stderr
    assert "added: root firework id" in first.stdout
    again = run_cli("submit", str(cfg), "-l", str(launchpad_file))
    assert again.returncode == 0 and "already on the LaunchPad" in again.stdout
    assert _lpad("-l", str(launchpad_file), "get_wflows", "-d", "count").stdout.strip() == "1"
    cfg.write_text(CFG.format(name="ni_sub").replace("900", "1000"))
    changed = run_cli("submit", str(cfg), "-l", str(launchpad_file))
    assert changed.returncode == 2 and "different config" in changed.stderr


def test_recover_reruns_lost_and_failed_jobs_of_its_campaign_only(tmp_path, launchpad_file):
    """`pyacemaker recover`: a running job whose worker stopped pinging is re-queued, a failed one too; another
    campaign's lost job on the same LaunchPad is left alone."""
    from datetime import UTC, timedelta

    from fireworks import FWorker

    from pyacemaker.db import resolve_target

    lp = resolve_target(str(launchpad_file)).launchpad()
    launches = {}
    for name in ("ni_rec_a", "ni_rec_b"):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(CFG.format(name=name))
        assert run_cli("submit", str(cfg), "-l", str(launchpad_file)).returncode == 0
        fw, launch_id = lp.checkout_fw(FWorker(query={"spec.pyacemaker_campaign": name}), str(tmp_path))
        assert fw.name == "seed (it 0)"
        lp.ping_launch(launch_id, ptime=datetime.now(UTC) - timedelta(hours=1))  # its worker went quiet
        launches[name] = (fw.fw_id, launch_id)

    def state(name):
        return lp.fireworks.find_one({"fw_id": launches[name][0]})["state"]

    r = run_cli("recover", "ni_rec_a", "--expire", "600", "-l", str(launchpad_file))
    assert r.returncode == 0, r.stderr
    assert f"re-queued lost job: seed (it 0) (fw {launches['ni_rec_a'][0]})" in r.stdout
    assert "1 lost and 0 failed job(s) re-queued" in r.stdout
    assert state("ni_rec_a") == "READY" and state("ni_rec_b") == "RUNNING"

    fw, launch_id = lp.checkout_fw(FWorker(query={"spec.pyacemaker_campaign": "ni_rec_a"}), str(tmp_path))
    lp.mark_fizzled(launch_id)
    r = run_cli("recover", "ni_rec_a", "-l", str(launchpad_file))
    assert r.returncode == 0 and "0 lost and 1 failed job(s) re-queued" in r.stdout, r.stdout + r.stderr
    assert state("ni_rec_a") == "READY" and state("ni_rec_b") == "RUNNING"
    # the default expiry leaves a job alone that pinged a minute ago
    lp.ping_launch(launches["ni_rec_b"][1], ptime=datetime.now(UTC) - timedelta(minutes=1))
    r = run_cli("recover", "ni_rec_b", "-l", str(launchpad_file))
    assert r.returncode == 0 and "0 lost and 0 failed" in r.stdout and state("ni_rec_b") == "RUNNING"

    unknown = run_cli("recover", "no_such_campaign", "-l", str(launchpad_file))
    assert unknown.returncode == 2 and "no campaign named 'no_such_campaign'" in unknown.stderr
