"""The embedded database: a SecantusDB daemon (MongoDB wire protocol) that pyacemaker starts when none is configured.

SecantusDB is GPL-2.0, so it is only ever run as a separate process (``python -m secantus``), never imported.
It binds to loopback, runs ``--standalone --sync-on-commit`` (docs/toolchain.md: replica-set mode slows writes, and
without sync-on-commit a SIGKILL can lose acknowledged writes), and keeps a pidfile and a state file in its
data directory so every pyacemaker command and worker finds and reuses the same server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 27117  # not MongoDB's 27017, so a real local mongod is never shadowed
HOST = "127.0.0.1"


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
    """A SecantusDB daemon owning ``root/db``; ``root/server.json`` says where it listens."""

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

    def _state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def status(self) -> dict | None:
        """The running server's state (pid, host, port, uri, storage), or None when it is not up."""
        st = self._state()
        if not st or not _pid_alive(int(st.get("pid", -1))):
            return None
        st["uri"] = f"mongodb://{st['host']}:{st['port']}/"
        st["responding"] = ping(st["uri"])
        return st

    def start(self, port: int | None = None, timeout: float = 60.0) -> str:
        """Start the daemon unless it is already up; return its URI. Safe to call from several processes at once."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            st = self.status()
            if st:
                if not st["responding"] and not self._wait(st["uri"], timeout):
                    raise ServerError(
                        f"the embedded database (pid {st['pid']}) is running but does not answer; "
                        f"see {self.logfile}, or stop it with `pyacemaker db stop`"
                    )
                return st["uri"]
            import importlib.util

            if importlib.util.find_spec("secantus") is None:  # never imported: it runs as its own process
                raise ServerError(
                    "no database configured and the embedded server is not installed: "
                    "run scripts/setup.sh (installs secantusdb), or set PYACEMAKER_DB_URI / give a launchpad file"
                )
            want = port or int(os.environ.get("PYACEMAKER_DB_PORT", DEFAULT_PORT))
            if not _port_free(want):
                want = _any_free_port()
            cmd = [
                sys.executable, "-m", "secantus",
                "--host", HOST, "--port", str(want),
                "--storage-path", str(self.storage),
                "--standalone", "--sync-on-commit", "--log-level", "WARNING",
            ]  # fmt: skip
            with open(self.logfile, "ab") as log:
                proc = subprocess.Popen(
                    cmd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            uri = f"mongodb://{HOST}:{want}/"
            self.pidfile.write_text(str(proc.pid))
            self.state_file.write_text(
                json.dumps({"pid": proc.pid, "host": HOST, "port": want, "storage": str(self.storage)})
            )
            if not self._wait(uri, timeout, proc):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                tail = self.logfile.read_text(errors="replace")[-1500:] if self.logfile.exists() else ""
                raise ServerError(
                    f"the embedded database did not start within {timeout:.0f} s. Log tail:\n{tail}"
                )
            return uri

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
        """SIGTERM the daemon (it checkpoints, 3-4 s), SIGKILL after ``timeout``. False if it was not running."""
        st = self._state()
        if not st or not _pid_alive(int(st["pid"])):
            self.state_file.unlink(missing_ok=True)
            self.pidfile.unlink(missing_ok=True)
            return False
        pid = int(st["pid"])
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + timeout
        while time.monotonic() < end and _pid_alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.state_file.unlink(missing_ok=True)
        self.pidfile.unlink(missing_ok=True)
        return True
