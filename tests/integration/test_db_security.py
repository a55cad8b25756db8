"""Security by default of the database (issue 12): the embedded server requires its generated credentials, kept
private in its data directory; an older data directory is provisioned on its next start; URIs are masked whatever
the password holds; targets with the user's credentials write none; workers take only this campaign's pyacemaker
jobs; `db stop` signals nothing but the database server. All against real SecantusDB servers."""

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.support import needs

pytestmark = pytest.mark.integration


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _no_login_write(uri: str) -> str:
    """What the server answers a write without credentials (the error's codeName)."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    with MongoClient(uri, serverSelectionTimeoutMS=5000) as c:
        try:
            c["pyacemaker"]["records"].insert_one({"x": 1})
        except OperationFailure as exc:
            return str(exc.details.get("codeName"))
    return "accepted"


def test_embedded_server_requires_its_private_credentials(db_server):
    from urllib.parse import quote_plus

    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    from pyacemaker.db import Database, DbTarget

    root, server = db_server["root"], db_server["server"]
    creds = server.credentials()
    assert _mode(root) == 0o700 and _mode(server.credentials_file) == 0o600
    assert len(creds["password"]) >= 40  # secrets.token_urlsafe(32)
    st = server.status()
    assert st["auth"] and st["host"] == "127.0.0.1" and "@" not in st["uri"]  # loopback, no credentials shown
    for name in ("server.json", "server.pid", "server.log", "secantusd.toml"):
        assert creds["password"] not in (root / name).read_text()
    assert _no_login_write(db_server["plain_uri"]) == "Unauthorized"
    bad = db_server["plain_uri"].replace("mongodb://", "mongodb://pyacemaker:wrong@") + "?authSource=admin"
    with pytest.raises(OperationFailure), MongoClient(bad, serverSelectionTimeoutMS=5000) as c:
        c.admin.command("listDatabases")
    # pyacemaker finds the credentials from the plain address; they never show in what it prints
    for uri in (
        db_server["plain_uri"],
        db_server["uri"],
    ):  # the address alone, or with the server's own login
        target = DbTarget(uri, "t_security", "test server")
        assert target.private and target.auth_root == root and not target.has_credentials
        assert (
            creds["password"] in target.uri and creds["password"] not in target.describe + target.public_uri
        )
        Database.connect(target).campaigns.replace_one({"_id": "x"}, {"_id": "x"}, upsert=True)
    target.client().drop_database("t_security")
    # someone's own login on that server stays theirs: never written, workers get it from the environment
    other = db_server["uri"].replace(quote_plus(creds["password"]), "not-the-password")
    assert not DbTarget(other, "t_security", "test server").private


def test_an_older_data_directory_gets_credentials_on_its_next_start(tmp_path):
    """A data directory of a pyacemaker without authentication: its running server is refused (stop it), the next
    start provisions credentials, keeps the data and drops users someone added while it was open."""
    from pymongo import MongoClient

    from pyacemaker.server import EmbeddedServer, ServerError, _any_free_port

    root = tmp_path / "old"
    root.mkdir(mode=0o755)
    port = _any_free_port()
    proc = subprocess.Popen([sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
                             "--storage-path", str(root / "db"), "--standalone", "--sync-on-commit"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    (root / "server.json").write_text(json.dumps({"pid": proc.pid, "host": "127.0.0.1", "port": port,
                                                  "storage": str(root / "db")}))  # fmt: skip
    server = EmbeddedServer(root)
    try:
        old_uri = f"mongodb://127.0.0.1:{port}/"
        assert EmbeddedServer._wait(old_uri, 60, proc)
        with MongoClient(old_uri) as c:
            c["pyacemaker"]["campaigns"].insert_one({"_id": "kept"})
            c["other"].command("createUser", "intruder", pwd="x", roles=["readWrite"])
        with pytest.raises(ServerError, match="without authentication.*db stop"):
            server.start()
        assert server.stop() and proc.wait(30) is not None
        uri = server.start()
        assert _mode(root) == 0o700 and _mode(server.credentials_file) == 0o600
        assert _no_login_write(uri) == "Unauthorized"
        with MongoClient(server.client_uri()) as c:
            assert c["pyacemaker"]["campaigns"].find_one({"_id": "kept"}) is not None
            users = {(u["db"], u["user"]) for u in c["admin"]["system.users"].find({})}
        assert users == {("admin", "pyacemaker")}
        password = server.credentials()["password"]
        assert server.stop()
        server.start()  # a restart keeps the credentials
        assert server.credentials()["password"] == password
    finally:
        server.stop()
        if proc.poll() is None:
            proc.kill()


def test_db_stop_signals_only_the_database_server(db_server, tmp_path):
    """A state file whose pid is another program (a reused pid, the session's server of another data directory):
    `db stop` refuses, says why, signals nothing and removes nothing."""
    from pyacemaker.server import EmbeddedServer, ServerError

    sleeper = subprocess.Popen(["sleep", "120"])
    others = {"sleep": sleeper.pid, "server of another data directory": db_server["server"]._state()["pid"]}
    try:
        for what, pid in others.items():
            root = tmp_path / what.replace(" ", "_")
            root.mkdir()
            state = json.dumps(
                {"pid": pid, "host": "127.0.0.1", "port": 1, "storage": str(root / "db"), "auth": True}
            )
            (root / "server.json").write_text(state)
            (root / "server.pid").write_text(str(pid))
            with pytest.raises(ServerError, match=f"refusing to stop pid {pid}"):
                EmbeddedServer(root).stop()
            r = run_cli("db", "stop", "--data-dir", str(root), timeout=120)
            assert r.returncode == 3 and f"refusing to stop pid {pid}" in r.stderr, what
            assert "Traceback" not in r.stderr
            assert (root / "server.json").read_text() == state and (root / "server.pid").exists(), what
            assert EmbeddedServer(root).status() is None  # nor is it taken for this directory's server
        time.sleep(0.5)
        assert sleeper.poll() is None and db_server["server"].status()["responding"]
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("password", ["s3cret", "p@ss:w/rd?x", "p%40ss%3Aword", "a@b@c", "pass word#&="])
def test_masking_hides_the_whole_password(password, monkeypatch):
    from urllib.parse import quote_plus

    from pyacemaker.db import redact, resolve_target

    for pwd in {password, quote_plus(password)}:
        for uri in (f"mongodb://alice:{pwd}@db.example.org:27017/pam?authSource=admin",
                    f"mongodb+srv://alice:{pwd}@cluster0.example.net/", f"mongodb://alice:{pwd}@h1:1,h2:2/"):  # fmt: skip
            shown = redact(uri)
            assert "***@" in shown and "alice" not in shown
            for part in {pwd, *pwd.split("@"), *pwd.split(":"), *pwd.split("/")} - {""}:
                if len(part) >= 3:
                    assert part not in shown, (uri, shown)
            monkeypatch.setenv("PYACEMAKER_DB_URI", uri)
            target = resolve_target()
            assert target.has_credentials and pwd not in target.describe
    assert redact("mongodb://127.0.0.1:27117/") == "mongodb://127.0.0.1:27117/"


def test_the_users_credentials_are_written_nowhere(tmp_path, monkeypatch):
    """A PYACEMAKER_DB_URI with credentials: worker files hold none (workers get the URI from the environment)."""
    from pyacemaker.campaign.workers import worker_command, worker_files
    from pyacemaker.db import resolve_target

    uri = "mongodb://alice:p%40ss-S3cret@db.example.org:27017/"
    monkeypatch.setenv("PYACEMAKER_DB_URI", uri)
    target = resolve_target(name="campdb")
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "my_launchpad.yaml").write_text("host: stale\n")  # from an earlier run without credentials
    files = worker_files(target, fw, "camp", None)
    assert set(files) == {"fworker"} and sorted(p.name for p in fw.iterdir()) == ["my_fworker.yaml"]
    assert "S3cret" not in files["fworker"].read_text()
    env = target.worker_env()
    assert env == {"PYACEMAKER_DB_NAME": "campdb", "PYACEMAKER_DB_URI": uri}  # a child's environment only
    assert not any("S3cret" in a for a in worker_command(target))


def test_plain_fireworks_tools_use_private_files_through_links(db_server, tmp_path):
    """With the embedded server, WORKDIR/fireworks holds links to 0600 files in the 0700 data directory."""
    from fireworks import LaunchPad

    from pyacemaker.campaign.workers import worker_files
    from pyacemaker.db import DbTarget, resolve_target

    target = DbTarget(db_server["plain_uri"], "t_links", "test server")
    files = worker_files(target, tmp_path / "fireworks", "camp", None)
    password = db_server["server"].credentials()["password"]
    for key in ("launchpad", "jobflow"):
        link = files[key]
        assert link.is_symlink() and link.resolve().parent == db_server["root"] / "launchpads" / "t_links"
        assert _mode(link.resolve()) == 0o600 and _mode(link.resolve().parent) == 0o700
        assert _mode(db_server["root"] / "launchpads") == 0o700
    assert password not in files["fworker"].read_text()
    assert LaunchPad.from_file(str(files["launchpad"])).get_fw_ids() == []  # lpad/rlaunch log in through it
    spec = yaml.safe_load(files["jobflow"].read_text())["JOB_STORE"]
    assert spec["docs_store"]["database"] == "t_links"
    # a launchpad file of the user's naming the server without a login (launchpad_config/my_launchpad.yaml)
    user_lp = tmp_path / "my_launchpad.yaml"
    user_lp.write_text(yaml.safe_dump({"host": db_server["plain_uri"], "name": "t_links2", "uri_mode": True}))
    target = resolve_target(str(user_lp))
    assert target.private and not target.has_credentials and target.launchpad().get_fw_ids() == []
    files = worker_files(target, tmp_path / "fireworks2", "camp", None)
    assert files["launchpad"] == user_lp.resolve() and password not in user_lp.read_text()
    assert (
        LaunchPad.from_file(str(files["worker_launchpad"])).name == "t_links2"
    )  # what its workers log in with


def test_workers_never_run_a_foreign_firework(db_server, tmp_path):
    """Fireworks inserted into the campaign's LaunchPad that pyacemaker did not make (no class, another class,
    another campaign) stay READY while the campaign's local workers run its own jobs; the queue's fworkers ask the
    same."""
    from fireworks import Firework, ScriptTask, Workflow

    from pyacemaker.campaign.context import Context
    from pyacemaker.campaign.launch import prepare
    from pyacemaker.campaign.launchpad import ensure_launchpad
    from pyacemaker.campaign.queue import manager_config
    from pyacemaker.campaign.workers import LocalWorkers, job_query
    from pyacemaker.config import parse_config, resolve
    from pyacemaker.db import DbTarget

    cfg, _ = resolve(parse_config({"name": "camp", "elements": ["Cu"], "oracle": {"type": "emt"}}))
    target = DbTarget(db_server["uri"], "t_foreign", "test server")
    lp = target.launchpad()
    ensure_launchpad(lp)
    ctx = Context("camp", cfg, tmp_path / "work")
    ctx.workdir.mkdir()
    ours, mark = tmp_path / "ours", tmp_path / "foreign"
    foreign_specs = {"no spec": {}, "campaign key only": {"pyacemaker_campaign": "camp"},
                     "unknown class": {"pyacemaker_campaign": "camp", "pyacemaker_class": "shell"},
                     "another campaign": manager_config(cfg, "other", "light")}  # fmt: skip
    for what, spec in foreign_specs.items():
        lp.add_wf(
            Firework(ScriptTask.from_str(f"echo '{what}' >> {mark}"), name=f"foreign: {what}", spec=spec)
        )
    lp.add_wf(Workflow([Firework(ScriptTask.from_str(f"touch {ours}"), name="ours",
                                 spec=manager_config(cfg, "camp", "light"))]))  # fmt: skip
    workers = LocalWorkers(target, ctx, 1, None)
    try:
        end = time.monotonic() + 90
        while not ours.exists() and time.monotonic() < end and workers.alive():
            time.sleep(0.5)
        assert ours.exists(), (ctx.workdir / "logs" / "worker_0.log").read_text()[-3000:]
        time.sleep(4)  # several more polls of the worker (--sleep 1)
    finally:
        workers.stop()
    assert not mark.exists(), mark.read_text()
    states = {d["name"]: d["state"] for d in lp.fireworks.find({}, {"name": 1, "state": 1})}
    assert states.pop("ours") == "COMPLETED" and set(states.values()) == {"READY"}
    qf = prepare(target, ctx, "slurm")
    for path in qf.fworkers.values():
        assert json.loads(yaml.safe_load(path.read_text())["query"]) == job_query("camp")
    target.client().drop_database("t_foreign")


@needs(not Path("/proc/self/cmdline").exists(), "needs /proc")
def test_worker_command_lines_hold_no_credentials(db_server, tmp_path):
    """What `ps` shows of a worker: files and flags, never a password."""
    from pyacemaker.campaign.workers import worker_command
    from pyacemaker.db import DbTarget

    target = DbTarget(db_server["uri"], "t_cmd", "test server")
    password = db_server["server"].credentials()["password"]
    assert not any(password in a for a in worker_command(target))
    assert all(password not in v for v in target.worker_env().values())
    assert target.worker_env()["PYACEMAKER_DATA_DIR"] == str(db_server["root"])
