"""Campaigns on a database with credentials leak the password nowhere (issue 12).

The embedded server runs with authentication, so credentials are real: one campaign reaches it as a user with a
login of their own in PYACEMAKER_DB_URI (workers get it from the environment), another as the embedded server (its generated
credentials from the data directory). Then every output, log and file under the working and data directories is
searched for both passwords: only the private files of the data directory (0600 in 0700 directories) hold the
server's, and nothing holds the user's."""

import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from tests.conftest import run_cli
from tests.e2e.test_campaign import tiny_variant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_campaigns_with_credentials_leak_the_password_nowhere(tmp_path):
    from pymongo import MongoClient

    from pyacemaker.server import EmbeddedServer

    data, work_env, work_emb = tmp_path / "data", tmp_path / "work_env", tmp_path / "work_embedded"
    server = EmbeddedServer(data)
    server.start()
    try:
        password = server.credentials()["password"]
        # the user's way: a URI with their own login in the environment (a real MongoDB with a password that
        # holds what URIs use as separators)
        alice = "al@ce:p/w?" + secrets.token_urlsafe(12)
        with MongoClient(server.client_uri()) as c:
            c.admin.command("createUser", "alice", pwd=alice, roles=[{"role": "root", "db": "admin"}])
        login = f"mongodb://alice:{quote_plus(alice)}@127.0.0.1:{server.status()['port']}/?authSource=admin"
        as_user = {"PYACEMAKER_DATA_DIR": str(data), "PYACEMAKER_DB_URI": login}
        # each password as it is, URL-encoded, and its pieces between separators that a partial mask would leave
        ours, theirs = ({s.encode() for s in (pw, quote_plus(pw), *re.split(r"[@:/?]", pw)) if len(s) >= 8}
                        for pw in (password, alice))  # fmt: skip
        embedded = {"PYACEMAKER_DATA_DIR": str(data)}
        cfg_env, cfg_emb = tmp_path / "env.yaml", tmp_path / "emb.yaml"
        cfg_env.write_text(tiny_variant("cred_env"))
        cfg_emb.write_text(tiny_variant("cred_emb"))
        with ThreadPoolExecutor(2) as pool, MongoClient(server.client_uri()) as c:  # both campaigns at once
            both = {"run (PYACEMAKER_DB_URI)": pool.submit(run_cli, "run", str(cfg_env), "--workdir", str(work_env),
                                                           env=as_user)}  # fmt: skip
            end = (
                time.monotonic() + 300
            )  # once the first workflow is on the fresh LaunchPad (its counters set up)
            while not c["pyacemaker"]["campaigns"].find_one({"wf_root_fw_id": {"$ne": None}}):
                assert time.monotonic() < end and not both["run (PYACEMAKER_DB_URI)"].done()
                time.sleep(0.5)
            both["run (embedded)"] = pool.submit(run_cli, "run", str(cfg_emb), "--workdir", str(work_emb),
                                                 env=embedded)  # fmt: skip
            runs = {name: f.result() for name, f in both.items()}
        for r in runs.values():
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        masked = "PYACEMAKER_DB_URI (mongodb://***@127.0.0.1:"
        assert masked in runs["run (PYACEMAKER_DB_URI)"].stdout
        assert "embedded server mongodb://127.0.0.1:" in runs["run (embedded)"].stdout
        runs["status (PYACEMAKER_DB_URI)"] = run_cli("status", "--json", env=as_user)
        runs["status (embedded)"] = run_cli("status", "--jobs", env=embedded)
        runs["db status"] = run_cli("db", "status", "--json", env=embedded)
        assert all(r.returncode == 0 for r in runs.values()), {k: r.stderr[-500:] for k, r in runs.items()}
        # the user's credentials: no launchpad/jobflow file was written for the workers
        written = sorted(p.name for p in (work_env / "fireworks").iterdir())
        assert "my_launchpad.yaml" not in written and "jobflow.yaml" not in written, written
        # the embedded server's: plain FireWorks tools log in through links to the data directory's private files
        lpad = shutil.which("lpad") or str(Path(sys.executable).with_name("lpad"))
        out = subprocess.run([lpad, "-l", str(work_emb / "fireworks" / "my_launchpad.yaml"), "get_wflows"],
                             capture_output=True, text=True, env={**os.environ, **embedded})  # fmt: skip
        assert out.returncode == 0 and "cred_emb" in out.stdout, out.stderr[-2000:]
        runs["lpad"] = out
    finally:
        server.stop()

    outputs = {name: r.stdout + r.stderr for name, r in runs.items()}
    leaks = [name for name, text in outputs.items() if any(x.decode() in text for x in ours | theirs)]
    private, links, searched = [], [], 0
    for base in (work_env, work_emb, data):
        for dirpath, _dirs, names in os.walk(base):  # links are not followed: a link is not a copy
            for name in names:
                path = Path(dirpath) / name
                if path.is_symlink():
                    links.append(path)
                    continue
                searched += 1
                content = path.read_bytes()
                if any(x in content for x in theirs):
                    leaks.append(path)  # the user's password: in no file at all
                elif any(x in content for x in ours):
                    (private if path.is_relative_to(data) else leaks).append(path)
    assert searched > 100 and not leaks, leaks  # logs, launch directories, FW.json, the server's storage...
    assert (work_emb / "logs").is_dir() and (data / "server.log").is_file()
    assert data / "credentials.json" in private
    for path in private:  # the credentials file and the launchpad/jobflow files derived from it
        assert path == data / "credentials.json" or path.parent.parent == data / "launchpads", path
        assert _mode(path) == 0o600 and _mode(path.parent) == 0o700 and _mode(data) == 0o700, path
    assert links and all(p.resolve().is_relative_to(data / "launchpads") for p in links), links
