"""The embedded database: a SecantusDB daemon (MongoDB wire protocol) that pyacemaker starts when none is configured.

SecantusDB is GPL-2.0, so it is only ever run as a separate process (``python -m secantus``), never imported.
It binds to loopback, runs ``--standalone --sync-on-commit`` (docs/toolchain.md: replica-set mode slows writes, and
without sync-on-commit a SIGKILL can lose acknowledged writes), and keeps a pidfile and a state file in its
data directory so every pyacemaker command and worker finds and reuses the same server.

Security by default: the server runs with ``--auth`` (SCRAM-SHA-256). Its one user is created on the first start
(a password from :mod:`secrets`) and kept in ``credentials.json`` in the data directory (directory 0700, file 0600).
A data directory without that file (made before authentication existed, or new) is provisioned on its next start:
the server runs once without ``--auth`` on a free loopback port just long enough to create the user and to drop any
other user, then starts with ``--auth``. ``server.json`` and every URI this module returns or prints hold no
credentials; :meth:`EmbeddedServer.client_uri` gives the authenticated one to code that connects.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

DEFAULT_PORT = 27117  # not MongoDB's 27017, so a real local mongod is never shadowed
HOST = "127.0.0.1"
USER = "pyacemaker"  # the embedded server's one user (root role on every database)
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


# servers started by this process, by address (found even where the registry directory cannot be written)
_STARTED: dict[tuple[str, int], Path] = {}


class ServerError(RuntimeError):
    """The embedded server could not be started, reached or stopped (message says what to do)."""


def default_data_dir() -> Path:
    """``$PYACEMAKER_DATA_DIR``, else ``$XDG_DATA_HOME/pyacemaker``, else ``~/.local/share/pyacemaker``."""
    env = os.environ.get("PYACEMAKER_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return (base / "pyacemaker").resolve()


def registry_dir() -> Path:
    """Where each running embedded server notes its data directory under its address (``HOST_PORT.json``), so a
    plain ``mongodb://127.0.0.1:PORT/`` (PYACEMAKER_DB_URI, a launchpad file) finds the server's credentials.
    ``$XDG_STATE_HOME/pyacemaker/servers``, else ``~/.local/state/pyacemaker/servers``. No secret is kept there."""
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "pyacemaker" / "servers"


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only (0600), atomically: the file never exists with wider
    permissions, not even for a moment. Returns ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) and make it 0700; refuse a directory that belongs to someone else."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise ServerError(
            f"{path} belongs to another user (uid {st.st_uid}): choose a data directory of your own"
        )
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still "exists": treat it as dead
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _cmdline(pid: int) -> list[str] | None:
    """A process's arguments (``/proc/PID/cmdline``; ``ps`` where there is no /proc), None when unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    except OSError:
        pass
    try:
        out = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True,
                             timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.split() if out.returncode == 0 and out.stdout.strip() else None


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to exit (reaping it when it is our child); whether it is gone."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and _pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return not _pid_alive(pid)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _any_free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def ping(uri: str, timeout_ms: int = 1000) -> bool:
    """Whether a server answers at ``uri`` (``ping`` needs no authentication)."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    try:
        with MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms) as c:
            c.admin.command("ping")
        return True
    except PyMongoError:
        return False


@dataclass
class EmbeddedServer:
    """A SecantusDB daemon owning ``root/db``; ``root/server.json`` says where it listens, ``root/credentials.json``
    (0600) how to log in."""

    root: Path

    @property
    def storage(self) -> Path:
        return self.root / "db"

    @property
    def state_file(self) -> Path:
        return self.root / "server.json"

    @property
    def pidfile(self) -> Path:
        return self.root / "server.pid"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    @property
    def config_file(self) -> Path:
        """An (empty) secantusd.toml of our own: passed with ``--config`` so that no ``./secantusd.toml`` or
        ``~/.secantus/secantusd.toml`` found by SecantusDB's auto-discovery changes how the server runs."""
        return self.root / "secantusd.toml"

    def _state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------------------------------- credentials
    def credentials(self) -> dict | None:
        """``{"user", "password", "auth_source"}`` from ``credentials.json``, or None when there is none yet.
        Never print or log the result."""
        path = self.credentials_file
        try:
            st = path.stat()
        except OSError:
            return None
        if st.st_uid != os.getuid():
            raise ServerError(f"{path} belongs to another user: refusing to use it")
        if st.st_mode & 0o077:
            os.chmod(path, 0o600)
        try:
            creds = json.loads(path.read_text())
            if not (isinstance(creds.get("user"), str) and isinstance(creds.get("password"), str)):
                raise ValueError("no user or password")
        except (OSError, ValueError, AttributeError):
            raise ServerError(
                f"{path} is unreadable or damaged: delete it, and the next start of the embedded database "
                "creates new credentials"
            ) from None
        creds.setdefault("auth_source", "admin")
        return creds

    def client_uri(self, st: dict | None = None) -> str | None:
        """The URI with the credentials of the running server (None when it is not running). Secret: pass it to
        MongoClient/LaunchPad/stores only, never print, log or write it outside a private file."""
        st = st or self.status()
        creds = self.credentials()
        if not st or not creds:
            return None
        user, pwd = quote_plus(creds["user"]), quote_plus(creds["password"])
        return (
            f"mongodb://{user}:{pwd}@{st['host']}:{st['port']}/?authSource={quote_plus(creds['auth_source'])}"
        )

    # ------------------------------------------------------------------------------------------- process
    def _is_ours(self, pid: int) -> bool:
        """Whether process ``pid`` is a SecantusDB server on this data directory (its command line names the
        secantus module or executable and ``--storage-path`` this directory's ``db``)."""
        args = _cmdline(pid)
        if not args:
            return False
        runs_secantus = any(
            a == "-m" and b == "secantus" for a, b in zip(args, args[1:], strict=False)
        ) or any(Path(a).name.startswith(("secantus", "secantusd")) for a in args[:2])
        storage = {str(self.storage), str(self.storage.resolve())}
        on_storage = any(
            a == "--storage-path" and b in storage for a, b in zip(args, args[1:], strict=False)
        ) or any(a.startswith("--storage-path=") and a.split("=", 1)[1] in storage for a in args)
        return runs_secantus and on_storage

    def status(self) -> dict | None:
        """The running server's state (pid, host, port, uri without credentials, storage, auth, responding), or
        None when it is not up (no state, its process gone, or that pid now belongs to another program)."""
        st = self._state()
        if not st or not _pid_alive(int(st.get("pid", -1))) or not self._is_ours(int(st["pid"])):
            return None
        st["uri"] = f"mongodb://{st['host']}:{st['port']}/"
        st["auth"] = bool(st.get("auth"))
        st["responding"] = ping(st["uri"])
        return st

    def _command(self, port: int, auth: bool, log_level: str = "WARNING") -> list[str]:
        return [
            sys.executable, "-m", "secantus", "--config", str(self.config_file),
            "--host", HOST, "--port", str(port), "--storage-path", str(self.storage),
            "--standalone", "--sync-on-commit", "--log-level", log_level,
            *(["--auth"] if auth else []),
        ]  # fmt: skip

    def _spawn(self, cmd: list[str]) -> subprocess.Popen:
        with open(self.logfile, "ab") as log:
            return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.root, start_new_session=True)  # fmt: skip

    def _prepare_root(self) -> None:
        private_dir(self.root)
        if not self.config_file.exists():
            write_private(
                self.config_file, "# pyacemaker's own (empty) SecantusDB config: see pyacemaker/server.py\n"
            )
        if not self.logfile.exists():
            write_private(self.logfile, "")
        # `pyacemaker db start` writes these two, with the credentials
        for name in ("my_launchpad.yaml", "jobflow.yaml"):
            path = self.root / name
            if path.is_file() and path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)

    def _provision(self, creds: dict | None, timeout: float) -> dict:
        """Create (or reset) the server's one user with ``creds`` (new ones when None) and drop every other user,
        on a server run without ``--auth`` on a free loopback port for the few seconds it takes; then write
        ``credentials.json``. Safe to repeat after an interruption (an existing user gets the password again)."""
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        creds = creds or {"user": USER, "password": secrets.token_urlsafe(32), "auth_source": "admin"}
        port = _any_free_port()
        uri = f"mongodb://{HOST}:{port}/"
        proc = self._spawn(self._command(port, auth=False, log_level="ERROR"))
        try:
            if not self._wait(uri, timeout, proc):
                raise ServerError(
                    f"the embedded database did not start to set up its credentials. {self._tail()}"
                )
            roles = [{"role": "root", "db": "admin"}]
            try:
                with MongoClient(uri, serverSelectionTimeoutMS=10000) as c:
                    admin = c[creds["auth_source"]]
                    exists = admin.command("usersInfo", creds["user"]).get("users")
                    admin.command("updateUser" if exists else "createUser", creds["user"], pwd=creds["password"],
                                  roles=roles)  # fmt: skip
                    # the server ran without authentication: nobody else may have left a user behind
                    for u in c["admin"]["system.users"].find({}, {"user": 1, "db": 1}):
                        if (u.get("db"), u.get("user")) != (creds["auth_source"], creds["user"]):
                            c[u["db"]].command("dropUser", u["user"])
            except PyMongoError as exc:
                raise ServerError(
                    f"could not set up the embedded database's credentials ({type(exc).__name__}); see {self.logfile}"
                ) from None
        finally:
            self._terminate(proc, timeout=30)
        write_private(self.credentials_file, json.dumps(creds) + "\n")
        return creds

    @staticmethod
    def _terminate(proc: subprocess.Popen, timeout: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _tail(self) -> str:
        tail = self.logfile.read_text(errors="replace")[-1500:] if self.logfile.exists() else ""
        return f"Log tail:\n{tail}" if tail else f"See {self.logfile}."

    def _port_taken_since(self, offset: int) -> bool:
        """Whether the server log, past ``offset`` bytes, says its port was already in use."""
        with open(self.logfile, "rb") as f:
            f.seek(offset)
            return b"Address already in use" in f.read()

    def _storage_ready(self) -> bool:
        return self.storage.is_dir() and any(self.storage.iterdir())

    def start(self, port: int | None = None, timeout: float = 60.0) -> str:
        """Start the daemon unless it is already up; return its URI (without credentials: :meth:`client_uri` has
        them). Safe to call from several processes at once."""
        if port is not None and not _port_free(port) and (self.status() or {}).get("port") != port:
            # asked for by name and taken by something else: refused before anything is created
            raise ServerError(f"port {port} is in use: choose another --port, or leave it out for a free one")
        self._prepare_root()
        with open(self.root / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            st = self.status()
            if st and not st["auth"]:
                raise ServerError(
                    f"the embedded database (pid {st['pid']}, data in {self.root}) runs without authentication "
                    "(started by an older pyacemaker): stop it with `pyacemaker db stop`; its next start sets up "
                    "credentials and turns authentication on"
                )
            if st:
                if not st["responding"] and not self._wait(st["uri"], timeout):
                    raise ServerError(
                        f"the embedded database (pid {st['pid']}) is running but does not answer; "
                        f"see {self.logfile}, or stop it with `pyacemaker db stop`"
                    )
                self._register(st)
                return st["uri"]
            import importlib.util

            if importlib.util.find_spec("secantus") is None:  # never imported: it runs as its own process
                raise ServerError(
                    "no database configured and the embedded server is not installed: "
                    "run scripts/setup.sh (installs secantusdb), or set PYACEMAKER_DB_URI / give a launchpad file"
                )
            creds = self.credentials()
            if creds is None or not self._storage_ready():
                creds = self._provision(creds, timeout)
            want = port or int(os.environ.get("PYACEMAKER_DB_PORT", DEFAULT_PORT))
            if not _port_free(want):
                if port is not None:  # asked for by name: another port would not be what the user wrote down
                    raise ServerError(
                        f"port {port} is in use: choose another --port, or leave it out for a free one"
                    )
                want = _any_free_port()
            for attempt in range(3):
                logged = self.logfile.stat().st_size
                proc = self._spawn(self._command(want, auth=True))
                uri = f"mongodb://{HOST}:{want}/"
                st = {"pid": proc.pid, "host": HOST, "port": want, "storage": str(self.storage), "auth": True}
                self.pidfile.write_text(str(proc.pid))
                self.state_file.write_text(json.dumps(st))
                if self._wait(uri, timeout, proc):
                    break
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                # the port was free when looked at, then taken by another server starting at the same moment:
                # when no port was asked for, another free one will do
                if port is None and attempt < 2 and self._port_taken_since(logged):
                    want = _any_free_port()
                    continue
                raise ServerError(
                    f"the embedded database did not start within {timeout:.0f} s. {self._tail()}"
                )
            self._check_login(st)
            self._register(st)
            return uri

    def _check_login(self, st: dict) -> None:
        from pymongo import MongoClient
        from pymongo.errors import OperationFailure, PyMongoError

        try:
            with MongoClient(self.client_uri(st), serverSelectionTimeoutMS=10000) as c:
                c.admin.command("listDatabases", nameOnly=True)
        except OperationFailure:
            raise ServerError(
                f"the embedded database refuses the credentials in {self.credentials_file}: stop it "
                "(`pyacemaker db stop`), delete that file, and start it again (new credentials are set up)"
            ) from None
        except PyMongoError as exc:
            raise ServerError(
                f"the embedded database does not answer ({type(exc).__name__}); see {self.logfile}"
            ) from None

    # ------------------------------------------------------------------------------------------- registry
    def _registry_entry(self, st: dict) -> Path:
        return registry_dir() / f"{st['host']}_{st['port']}.json"

    def _register(self, st: dict) -> None:
        _STARTED[(st["host"], int(st["port"]))] = self.root
        with contextlib.suppress(OSError, ServerError):  # an unwritable home only costs the lookup by address
            private_dir(registry_dir())
            entry = self._registry_entry(st)
            text = json.dumps({"root": str(self.root)})
            if not entry.exists() or entry.read_text() != text:
                write_private(entry, text)

    def _unregister(self, st: dict) -> None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            entry = self._registry_entry(st)
            if json.loads(entry.read_text()).get("root") == str(self.root):
                entry.unlink()

    @staticmethod
    def _wait(uri: str, timeout: float, proc: subprocess.Popen | None = None) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc is not None and proc.poll() is not None:
                return False
            if ping(uri, 500):
                return True
            time.sleep(0.2)
        return False

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the daemon (it checkpoints, 3-4 s), SIGKILL after ``timeout``. False if it was not running.

        The pid of the state file is signalled only when it is this data directory's server (its command line);
        otherwise a :class:`ServerError` says so and nothing is signalled or removed."""
        st = self._state()
        if not st or not _pid_alive(int(st.get("pid", -1))):
            self.state_file.unlink(missing_ok=True)
            self.pidfile.unlink(missing_ok=True)
            if st:
                self._unregister(st)
            return False
        pid = int(st["pid"])
        if not self._is_ours(pid):
            raise ServerError(
                f"refusing to stop pid {pid}: {self.state_file} names it, but it is not the embedded database of "
                f"{self.root} (another program has that pid now). Nothing was signalled or removed; if no "
                f"database runs on this data directory, delete {self.state_file.name} and {self.pidfile.name}"
            )
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            # gone before we return: a start right after (a restart on the same port) must find the port free
            _wait_gone(pid, 10.0)
        self.state_file.unlink(missing_ok=True)
        self.pidfile.unlink(missing_ok=True)
        self._unregister(st)
        return True


def find_running(host: str, port: int) -> EmbeddedServer | None:
    """The running embedded server listening at ``host:port`` whose credentials this user can read: the one of
    the default data directory, else the one the registry names for that address."""
    if host not in LOOPBACK:
        return None
    roots = [default_data_dir()]
    if (HOST, int(port)) in _STARTED:
        roots.append(_STARTED[(HOST, int(port))])
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        entry = registry_dir() / f"{HOST}_{int(port)}.json"
        roots.append(Path(json.loads(entry.read_text())["root"]))
    for root in roots:
        server = EmbeddedServer(root)
        with contextlib.suppress(ServerError, OSError):
            st = server._state()
            if not st or int(st.get("port", -1)) != int(port) or not st.get("auth"):
                continue
            if server.status() and server.credentials():
                return server
    return None
