"""One trial: its tiny campaigns, the `run` processes it starts and its database daemon."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from faultsuite.procs import alive, all_pids, cmdline, descendants, kill_pids, proc_stat, processes_using

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.test_campaign import tiny_variant  # noqa: E402

EXE = next(
    (str(p) for p in (Path(sys.executable).with_name("pyacemaker"), ROOT / ".venv" / "bin" / "pyacemaker")
     if p.exists()),
    shutil.which("pyacemaker") or "pyacemaker",
)  # fmt: skip
END_STATES = ("converged", "stalled", "budget")
RUN_TIMEOUT_S = 1500.0  # one `pyacemaker run` of a tiny campaign, on a loaded 2-core machine
HANG_TIMEOUT_S = 150.0  # train.timeout_s of the hanging-fit campaign (a normal tiny fit takes ~40 s here)
FSIZE_LIMIT = 2048  # bytes: RLIMIT_FSIZE of the "disk full" fault (the potential files are ~2.3-3.6 kB)
DISK_FULL_HOLD_S = 90.0  # how long the disk stays "full" unless the run ends first
LOST_AFTER_S = 180.0  # workers.lost_after_s of the hanging-MD campaign (the least the option allows)
PW_TIMEOUT_S = (
    45.0  # oracle.timeout_s of the hanging-pw.x campaign (a pw.x of its Si2 cells takes 1-3 s here)
)
# Si with real pw.x: the DFT faults' campaign (2-atom seed cells, 8-atom MD; about 90 s on 2 cores, 8 pw.x runs)
QE_TINY = """
name: {name}
elements: [Si]
oracle: {{type: espresso, ecutwfc: 20, kspacing: 0.8, timeout_s: {timeout:g}}}
seeds: {{supercell_atoms: 2, volume_strains: [-0.04, 0.0, 0.04], rattled_per_strain: 1, shear_strains: [], tetragonal_strains: [],
        cold_start: none}}
train: {{final_fit: false, max_fit_iterations: 25}}
explore: {{temperatures: [800], steps: 300, supercell_atoms: 8, gamma_collect: 1.05, gamma_halt: 1.3, perturbations: 1,
          npt: false, defects: false, surfaces: false}}
select: {{budget: 4}}
budget: {{max_iterations: 1}}
workers: {{label_batches: 2}}
validation: {{test_structures: 2, test_md_steps: 30, gate: false}}
"""
console = Console(width=200, highlight=False)


def one_iteration(name: str) -> str:
    return tiny_variant(name)


def qe_one_iteration(name: str, timeout_s: float = 3600.0) -> str:
    """QE_TINY: one iteration of Si with real pw.x."""
    return QE_TINY.format(name=name, timeout=timeout_s)


def two_iterations(name: str) -> str:
    """tiny_variant with a second iteration (TINY with max_iterations 2 and no final fit)."""
    return tiny_variant(name).replace("max_iterations: 1", "max_iterations: 2")


class Run:
    """One ``pyacemaker run`` (or any pyacemaker command) with its output drained into memory and a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, spare: Callable[[], set[int]] = set):
        self.args, self.log, self.spare = args, log, spare  # spare(): pids stop() leaves alone (the database)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([EXE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, errors="replace")  # fmt: skip
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._drain, daemon=True)
        self._t.start()

    def _drain(self) -> None:
        with open(self.log, "a") as fh:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                self.lines.append(line.rstrip("\n"))
                fh.write(line)
                fh.flush()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def rc(self) -> int | None:
        return self.proc.poll()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None when it still runs after ``timeout`` seconds."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._t.join(10)
        return rc

    def tail(self, n: int = 15) -> str:
        return "\n".join(self.lines[-n:])

    def stop(self) -> None:
        """SIGTERM (the run stops its workers), SIGKILL after 60 s; then whatever it started that outlived it
        (except the database daemon it may have started: that is stopped with ``pyacemaker db stop``)."""
        if self.proc.poll() is None:
            spare = self.spare()
            spare |= {p for s in spare for p in descendants(s)}
            kids = [p for p in descendants(self.pid) if p not in spare]
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            if self.wait(60) is None:
                self.proc.kill()
                self.wait(30)
            kill_pids([p for p in kids if alive(p)])
        self._t.join(10)


# ----------------------------------------------------------------------------------------------- a trial
class Trial:
    """A temporary directory with its own database daemon, the runs started in it and the faults' helpers."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.data = root / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PYACEMAKER_DB_")}
        self.env.update(PYACEMAKER_DATA_DIR=str(self.data), OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2",
                        CUDA_VISIBLE_DEVICES="-1")  # fmt: skip
        self.runs: list[Run] = []
        self._db = None
        self.events: list[str] = []
        self.t0 = time.monotonic()

    # ---------------------------------------------------------------------------------------- runs
    def config(self, name: str, text: str) -> Path:
        path = self.root / f"{name}.yaml"
        path.write_text(text)
        return path

    def workdir(self, name: str) -> Path:
        return self.root / f"work_{name}"

    def run(self, name: str, workers: int = 2, tag: str = "") -> Run:
        """``pyacemaker run NAME.yaml --workdir work_NAME --workers N --quiet``."""
        args = ["run", str(self.root / f"{name}.yaml"), "--workdir", str(self.workdir(name)), "--workers",
                str(workers), "--quiet"]  # fmt: skip
        r = Run(args, self.env, self.root / f"run_{name}{tag}_{len(self.runs)}.log",
                lambda: {p for p in [self.db_pid()] if p})  # fmt: skip
        self.runs.append(r)
        self.say(f"started `pyacemaker {' '.join(args[:2])} ...` (pid {r.pid}){' ' + tag if tag else ''}")
        return r

    def say(self, line: str) -> None:
        self.events.append(line)
        console.print(f"    [dim]{time.monotonic() - self.t0:6.1f} s[/] {line}")

    # ---------------------------------------------------------------------------------------- database
    @property
    def db(self):
        """pyacemaker's Database on this trial's daemon (None while it is not up)."""
        if self._db is None:
            from pyacemaker.db import Database, DatabaseError, resolve_target

            try:
                target = resolve_target(data_dir=self.data, start_embedded=False)
                self._db = Database.connect(target, timeout_ms=3000)
            except DatabaseError:
                return None
        return self._db

    def reset_db(self) -> None:
        """Forget the connection (the daemon may have been restarted on another port)."""
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.db.client.close()
        self._db = None

    def campaign(self, name: str) -> dict[str, Any]:
        """The campaign document ({} while the database cannot be reached)."""
        from pymongo.errors import PyMongoError

        for _ in range(2):
            db = self.db
            if db is None:
                return {}
            try:
                return db.campaign(name) or {}
            except PyMongoError:
                self.reset_db()
        return {}

    def fireworks(self, name: str, state: str | None = None) -> list[dict[str, Any]]:
        """The campaign's fireworks (``state``: only those), with their last launch's worker token."""
        db = self.db
        doc = self.campaign(name)
        if db is None or doc.get("wf_root_fw_id") is None:
            return []
        wf = db.db["workflows"].find_one({"nodes": doc["wf_root_fw_id"]}, {"nodes": 1})
        q: dict[str, Any] = {"fw_id": {"$in": (wf or {}).get("nodes", [])}}
        if state:
            q["state"] = state
        fws = list(db.db["fireworks"].find(q, {"fw_id": 1, "name": 1, "state": 1, "launches": 1}))
        for fw in fws:
            fw["token"] = fw["launch_id"] = None
            if fw.get("launches"):
                fw["launch_id"] = fw["launches"][-1]
                launch = db.db["launches"].find_one(
                    {"launch_id": fw["launch_id"]}, {"fworker": 1, "state": 1}
                )
                fw["token"] = (((launch or {}).get("fworker") or {}).get("env") or {}).get(
                    "pyacemaker_worker"
                )
        return fws

    def launch_state(self, launch_id: int) -> str | None:
        doc = self.db.db["launches"].find_one({"launch_id": launch_id}, {"state": 1}) if self.db else None
        return (doc or {}).get("state")

    def db_pid(self) -> int | None:
        import json

        with contextlib.suppress(OSError, ValueError, KeyError):
            return int(json.loads((self.data / "server.json").read_text())["pid"])
        return None

    def worker_pid(self, name: str, token: str, run: Run) -> int | None:
        """The local worker (a child of ``run``) whose fworker file carries ``token``."""
        for f in (self.workdir(name) / "fireworks").glob("my_fworker_*.yaml"):
            with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):
                if (yaml.safe_load(f.read_text()).get("env") or {}).get("pyacemaker_worker") != token:
                    continue
                for p in all_pids():
                    st = proc_stat(p)
                    if st and st[1] == run.pid and str(f) in cmdline(p):
                        return p
        return None

    def watch(self, until: Callable[[], Any], runs: list[Run], timeout: float = RUN_TIMEOUT_S,
              poll: float = 0.05) -> Any:  # fmt: skip
        """Poll ``until()`` (database errors while the daemon is down count as not yet) until it returns something
        true; None when every run in ``runs`` ended first or ``timeout`` passed."""
        from pymongo.errors import PyMongoError

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                got = until()
            except PyMongoError:
                got = None
            if got:
                return got
            if all(r.rc is not None for r in runs):
                return None
            time.sleep(poll)
        return None

    # ---------------------------------------------------------------------------------------- cleanup
    def stop_all(self) -> list[int]:
        """Stop every run, every process left in this directory (workers, codes), then the database daemon.
        Returns the pids that had to be killed after their run had ended."""
        for r in self.runs:
            r.stop()
        self.reset_db()
        dbpid = self.db_pid()
        left = processes_using(self.root, {dbpid} if dbpid else set())
        kill_pids(left)
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run([EXE, "db", "stop"], env=self.env, capture_output=True, timeout=120)
        if dbpid and alive(dbpid):
            kill_pids([dbpid])
        kill_pids(processes_using(self.root, set()))
        return left


class NotAvailable(RuntimeError):
    """The fault cannot be injected here (the message says why): its row says so instead of faking it."""
