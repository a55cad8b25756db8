"""Fault benchmark: inject each fault for real into small EMT campaigns and check what the database holds at the end.

    python benchmarks/faults.py [--trials N] [--only NAME[,NAME]] [--list] [--workdir DIR] [--keep]

Every trial is a fresh, tiny ``pyacemaker run`` of Cu with ASE's EMT as the oracle (``tiny_variant`` of
``tests/e2e/test_campaign.py``: one iteration, no final fit, about 1 min on 2 cores; the faults that need a second
label or explore stage to land in use the same campaign with ``budget.max_iterations: 2``; the DFT faults a tiny
Si campaign with real pw.x, ``QE_TINY``: 8 pw.x runs, about 90 s), with its own
``PYACEMAKER_DATA_DIR`` (its own embedded database daemon) in a temporary directory. The fault is injected for real
(signals to the real processes, a file truncated on disk, a file-size limit on the real processes), then the run
goes on by itself or the documented user action follows (running the same command again: the ``action`` column
of ``--list`` and the note column of the table), and the campaign's end state is read from its database.

Columns (summed over trials; wall time: mean per trial, injection and user action included):

- **recovered**: the campaign reached an end state (campaign document ``state`` in converged/stalled/budget and
  ``stage`` done) without manual repair, or after the documented user action for that fault (running the same
  command again), which the note column names. Some faults add a condition, said in their note (two controllers
  of one campaign: the second must be refused with exit code 2).
- **records lost**: labelled records the campaign counted that are missing or carry no labels in ``records``: the
  ids in the stored potentials' ``dataset_ids`` and ``test_ids`` that are missing or unlabelled, plus the excess of
  the per-iteration oracle calls (sum of ``iterations.<n>.oracle_calls``) over the distinct non-test records that
  were labelled or rejected by the oracle.
- **labels duplicated**: the campaign's ``oracle_calls`` minus the number of distinct records that were labelled or
  rejected by the oracle (test-set records included), when positive. (A count the records cannot account for shows
  in both columns: the database alone cannot tell a lost label from a call counted twice.)
- **wrong labels**: every labelled record (``StructureRecord.to_atoms``) recomputed from scratch by its oracle; a
  record whose energy (eV) or any force component (eV/A) differs by more than 1e-6 (EMT), 1e-4 eV and 1e-3 eV/A
  (pw.x: the SCF's own precision) is wrong.
- **oracle calls over budget**: max(0, training labels - ``budget.max_oracle_calls``), training labels being
  ``oracle_calls`` less the held-out test set's (``test_oracle_calls``: the budget is the training labels', the
  test set is counted apart; shown in the note when it matters).

Faults (``--list`` prints them with their documented user action; "none": the same ``run`` must recover alone,
as README.md promises for lost workers and a killed database daemon):

- ``kill_worker_label`` / ``kill_worker_train`` / ``kill_worker_explore``: SIGKILL of the local ``rlaunch`` worker
  (a child of the run process) whose job is RUNNING in that stage, found through the launch's worker token
  (``fworker.env.pyacemaker_worker``) and the worker's ``my_fworker_<i>.yaml``; train: once pacemaker runs. A kill
  that lands after the job completed is a miss and the trial aims at the next such job. Action: none.
- ``kill_worker_wflock``: SIGKILL of the worker whose job changed state last while the workflow carries FireWorks'
  ``locked`` flag (WFLock, held around every checkout and completion); a hit leaves the flag set with its holder
  dead (checked 3 and 6 s later), else the next lock is aimed at (at most 4 kills). Action: none.
- ``kill_db``: SIGKILL of the embedded database daemon (pid in ``$PYACEMAKER_DATA_DIR/server.json``) while the fit
  runs. Action: none (``run`` restarts it).
- ``sigterm_run`` (while a label job runs) / ``sighup_run`` (while pacemaker runs): the signal to ``run``; it must
  exit (143/129) with its workers; action: the same command again.
- ``two_runs_one_campaign``: a second ``run`` of the campaign while the first holds it: it must be refused with exit
  code 2 (counted in "recovered"), the first must finish. Action: none.
- ``two_campaigns``: two campaigns started at once on one database daemon (one data directory); each job must run
  in its own campaign's directory. Action: none.
- ``four_workers``: ``--workers 4`` with ``workers.label_batches: 4``. Action: none.
- ``budget_parallel``: ``budget.max_oracle_calls: 4`` (the campaign has 6 seeds) with 4 label batches worked by 4
  workers at once. Action: none.
- ``hanging_md``: the worker running an explore job (ASE MD runs in the worker's process) frozen with SIGSTOP, with
  ``workers.lost_after_s: 180``: it stops pinging, and ``run`` must kill it and re-run the job. Action: none.
- ``hanging_pw``: a real pw.x of a label job frozen with SIGSTOP, ``oracle.timeout_s: 45``: SIGTERM at the limit,
  SIGKILL after the grace period, the structure rejected as ``pw.x timeout``. Action: none.
- ``pw_killed_mid_write``: a real pw.x and its worker SIGKILLed while pw.x writes the end of its output (its output
  has the forces, not yet the stress nor ``JOB DONE``: found by reading ``pw.out`` every 2 ms); the re-run must
  keep the cut output as ``pw.out.incomplete`` and run pw.x again. Action: none.
- ``truncated_potential``: ``iter_000/train/output_potential.yace`` truncated to half as soon as iteration 0's
  potential is stored; the next load must fetch it again from the database (``iter_000/potential/``). Action: none.
- ``hanging_fit``: pacemaker SIGSTOPped with ``train.timeout_s: 150`` in the config (read back from
  ``pyacemaker config``; a row "not available" when the option does not exist); the limit must end it. Iteration
  0 has no previous potential to keep, so its job fails: action: the same command again.
- ``disk_full`` / ``disk_full_db``: RLIMIT_FSIZE of 2048 bytes (``resource.prlimit``, no root needed) on the run,
  its workers and pacemaker while pacemaker writes (the potential files are 2.3-3.6 kB: they cannot be written
  whole), ``disk_full_db`` on the database daemon too (its data on the same full filesystem); lifted after 90 s
  or when the run ends (space freed). Action: the same command again. When ``disk_full_db`` has not ended after
  it, ``pyacemaker db stop`` and the command once more are tried and reported, not counted as recovered.

The note also says where each injection landed, the exit codes (with the line saying why a run failed), and
checks beyond the columns: processes left over, a workflow left locked, and whether the stored potential files and
the file the campaign names as its potential (``summary.potential_path``) match their sha256. The header names the
pyacemaker commit the runs used (the tree may change while the benchmark runs). Trials that did not recover keep
their directory (``--keep``: all), and their exit codes, last output lines and database state are printed under
the table. Every process started here (the ``run`` commands, their workers and codes, the database daemons) is
stopped on every exit path; the exit code is 0 only when every row recovered with all counts 0.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
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
seeds: {{supercell_atoms: 2, volume_strains: [-0.04, 0.0, 0.04], rattled_per_strain: 1, shear_strains: [],
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


# ----------------------------------------------------------------------------------------------- processes
def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None when it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()
    return rest[0].decode(), int(rest[1])


def _cmdline(pid: int) -> list[str]:
    try:
        return [
            a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a
        ]
    except OSError:
        return []


def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children first)."""
    parent = {}
    for p in _pids():
        st = _stat(p)
        if st and st[0] not in ("Z", "X"):
            parent[p] = st[1]
    out, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        out += kids
        frontier = kids
    return out


def processes_using(path: Path, exclude: set[int]) -> list[int]:
    """Live processes whose command line names ``path`` or whose working directory lies inside it."""
    out = []
    for p in _pids():
        if p in exclude or p == os.getpid():
            continue
        st = _stat(p)
        if not st or st[0] in ("Z", "X"):
            continue
        try:
            cwd = os.readlink(f"/proc/{p}/cwd")
        except OSError:
            cwd = ""
        if cwd.startswith(str(path)) or any(str(path) in a for a in _cmdline(p)):
            out.append(p)
    return out


def kill_pids(pids: list[int]) -> None:
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGCONT)  # a stopped process (the hanging-fit fault)
            os.kill(p, signal.SIGKILL)


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


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
            kill_pids([p for p in kids if _alive(p)])
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
                for p in _pids():
                    st = _stat(p)
                    if st and st[1] == run.pid and str(f) in _cmdline(p):
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
        if dbpid and _alive(dbpid):
            kill_pids([dbpid])
        kill_pids(processes_using(self.root, set()))
        return left


# ----------------------------------------------------------------------------------------------- checks
@dataclass
class Audit:
    name: str
    ended: bool
    state: str | None
    stage: str | None
    oracle_calls: int = 0
    test_calls: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    over: int = 0
    labelled: int = 0
    notes: list[str] = field(default_factory=list)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def audit(trial: Trial, name: str, max_calls: int) -> Audit:
    """The end state of campaign ``name`` in the trial's database (see the module docstring for the columns)."""
    from pymongo.errors import PyMongoError

    trial.reset_db()
    try:
        return _audit(trial, name, max_calls)
    except PyMongoError as exc:
        return Audit(
            name, False, None, None, notes=[f"database unreachable at the end ({type(exc).__name__})"]
        )


def reference_oracle(
    trial: Trial, name: str
) -> tuple[Callable[[Any, str], tuple[float, np.ndarray]], float, float]:
    """How a label of campaign ``name`` is recomputed (energy eV, forces eV/A) and the tolerances: EMT to 1e-6;
    pw.x (the campaign's own settings, a fresh directory) to 1e-4 eV and 1e-3 eV/A, the SCF's own precision (a
    run continued from saved wavefunctions converges to the same state, not the same bits)."""
    cfg_text = (trial.root / f"{name}.yaml").read_text()
    if "espresso" not in cfg_text:
        from ase.calculators.emt import EMT

        def emt(atoms, key: str) -> tuple[float, np.ndarray]:
            atoms.calc = EMT()
            return atoms.get_potential_energy(), atoms.get_forces()

        return emt, 1e-6, 1e-6
    from pyacemaker.config import parse_config, resolve
    from pyacemaker.oracle import make_oracle

    cfg, _ = resolve(parse_config(yaml.safe_load(cfg_text)))
    oracle = make_oracle(cfg.oracle)

    def dft(atoms, key: str) -> tuple[float, np.ndarray]:
        res, _ = oracle.run_pw(atoms, trial.root / "recomputed" / key)
        return float(res.energy), np.asarray(res.forces)

    return dft, 1e-4, 1e-3


def _audit(trial: Trial, name: str, max_calls: int) -> Audit:
    import gridfs

    from pyacemaker.schemas.records import StructureRecord

    db = trial.db
    if db is None:
        return Audit(name, False, None, None, notes=["database unreachable at the end"])
    doc = db.campaign(name) or {}
    a = Audit(name, doc.get("state") in END_STATES and doc.get("stage") == "done", doc.get("state"),
              doc.get("stage"), int(doc.get("oracle_calls") or 0), int(doc.get("test_oracle_calls") or 0))  # fmt: skip
    recs = {r["_id"]: r for r in db.records.find({"campaign": name})}
    by_oracle = [r for r in recs.values() if r.get("labels") or r.get("status") == "rejected"]
    non_test = [r for r in by_oracle if (r.get("provenance") or {}).get("origin") != "test_set"]
    counted: set[str] = set()
    pots = list(db.potentials.find({"campaign": name}))
    for p in pots:
        counted.update(p.get("dataset_ids") or [])
        counted.update(p.get("test_ids") or [])
    missing = [i for i in counted if i not in recs or not recs[i].get("labels")]
    iter_calls = sum(
        int((it or {}).get("oracle_calls") or 0) for it in (doc.get("iterations") or {}).values()
    )
    a.lost = len(missing) + max(0, iter_calls - len(non_test))
    a.duplicated = max(0, a.oracle_calls - len(by_oracle))
    a.over = max(
        0, a.oracle_calls - a.test_calls - max_calls
    )  # the test set is counted apart from the budget
    if missing:
        a.notes.append(f"{len(missing)} trained-on record(s) missing/unlabelled: {sorted(missing)[:3]}")
    if iter_calls > len(non_test):
        a.notes.append(f"iterations counted {iter_calls} calls, {len(non_test)} non-test records labelled")
    # every label recomputed by the same oracle, from scratch
    recompute, tol_e, tol_f = reference_oracle(trial, name)
    for raw in recs.values():
        if not raw.get("labels"):
            continue
        rd = dict(raw)
        rd["id"] = rd.pop("_id")
        rec = StructureRecord.model_validate(rd)
        e, f = recompute(rec.to_atoms(with_labels=False), rec.hash[:16])
        a.labelled += 1
        if abs(e - rec.labels.energy) > tol_e or np.max(np.abs(f - np.asarray(rec.labels.forces))) > tol_f:
            a.wrong += 1
            a.notes.append(f"wrong label {rec.id}: dE {e - rec.labels.energy:.2e} eV")
    # the potential files as stored, and the one the campaign names
    fs = gridfs.GridFS(db.db, collection="potential_files")
    bad = []
    for p in pots:
        for kind, meta in (p.get("files") or {}).items():
            try:
                data = fs.get(meta["gridfs_id"]).read()
            except Exception as exc:  # noqa: BLE001 (any failure is a damaged file)
                bad.append(f"{p['_id']} {kind}: {type(exc).__name__}")
                continue
            if meta.get("sha256") and _sha(data) != meta["sha256"] or not data:
                bad.append(f"{p['_id']} {kind}: stored bytes differ from their sha256")
    if bad:
        a.notes.append("damaged stored potential files: " + "; ".join(bad[:3]))
    named = (doc.get("summary") or {}).get("potential_path")
    pid = (doc.get("summary") or {}).get("potential_id")
    if named and pid:
        meta = ((db.potentials.find_one({"_id": pid}) or {}).get("files") or {}).get("yace") or {}
        path = Path(named)
        if not path.is_file():
            a.notes.append(f"the potential the campaign names ({path.name}) does not exist")
        elif meta.get("sha256") and _sha(path.read_bytes()) != meta["sha256"]:
            a.notes.append(
                f"the potential file the campaign names (summary.potential_path: {path.parent.name}/"
                f"{path.name}) does not match its stored sha256"
            )
    return a


def failure_report(trial: Trial, names: list[str]) -> str:
    """Exit codes, last output lines and database state of a trial that did not recover."""
    out = []
    for r in trial.runs:
        out.append(f"  `pyacemaker {' '.join(r.args[:2])}` (pid {r.pid}) exit code {r.rc}; last lines:")
        out += [f"    | {line}" for line in r.tail(15).splitlines()]
    for name in names:
        with contextlib.suppress(Exception):
            doc = trial.campaign(name)
            out.append(f"  campaign {name}: state {doc.get('state')!r}, stage {doc.get('stage')!r}, end_reason "
                       f"{doc.get('end_reason')!r}, oracle_calls {doc.get('oracle_calls')}, "
                       f"controller {doc.get('controller')}")  # fmt: skip
            fws = trial.fireworks(name)
            counts: dict[str, int] = {}
            for fw in fws:
                counts[fw["state"]] = counts.get(fw["state"], 0) + 1
            out.append(
                f"  fireworks: {counts}"
                + ("; workflow LOCKED (FireWorks WFLock)" if stale_lock(trial, name) else "")
            )
            for fw in fws:
                if fw["state"] not in ("COMPLETED", "WAITING", "READY") or len(fw.get("launches") or []) > 1:
                    msg = ""
                    if fw["state"] == "FIZZLED" and fw.get("launch_id"):
                        launch = trial.db.db["launches"].find_one({"launch_id": fw["launch_id"]})
                        act = (launch or {}).get("action") or {}
                        tb = ((act.get("stored_data") or {}).get("_exception") or {}).get("_stacktrace") or ""
                        msg = ": " + (tb.strip().splitlines() or [""])[-1][:300]
                    out.append(f"    {fw['name']} (fw {fw['fw_id']}): {fw['state']}, "
                               f"{len(fw.get('launches') or [])} launch(es){msg}")  # fmt: skip
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------- faults
@dataclass
class Outcome:
    """What a fault's trial did: the campaigns to audit (name, max_oracle_calls), whether its own condition held,
    notes for the table, and the user action taken (None: none was needed)."""

    campaigns: list[tuple[str, int]]
    ok: bool = True
    notes: list[str] = field(default_factory=list)
    action: str | None = None


def why_ended(run: Run) -> str:
    """The line of a failed run's output that says why it ended (its last error, failure or final exception)."""
    keys = ("nothing can progress", "no local worker left", "job failed:", "failed:", "error:", "Error")
    for line in reversed(run.lines):
        text = line.strip()
        if text and not line.startswith((" ", "\t")) and any(k in text for k in keys):
            return text[:160]
    return run.lines[-1].strip()[:160] if run.lines else "no output"


def _finish(trial: Trial, run: Run, name: str, out: Outcome, again_if_failed: bool, why: str = "",
            timeout: float = RUN_TIMEOUT_S) -> Outcome:  # fmt: skip
    """Wait for ``run``; when it did not end the campaign and the fault documents it, run the same command
    again (the user action) and wait for that."""
    rc = run.wait(timeout)
    out.notes.append(f"exit {rc}" + (f" ({why_ended(run)})" if rc else "") if rc is not None
                     else f"no exit within {timeout:.0f} s: stopped")  # fmt: skip
    if rc is None:
        run.stop()
        if not again_if_failed:
            out.ok = False
            return out
    doc = trial.campaign(name)
    if again_if_failed and not (doc.get("state") in END_STATES and doc.get("stage") == "done"):
        trial.say(f"run ended (exit {rc}){why}: running the same command again")
        out.action = "ran the same command again"
        again = trial.run(name, tag="again")
        rc2 = again.wait(timeout)
        out.notes.append(f"again: exit {rc2}" + (f" ({why_ended(again)})" if rc2 else "") if rc2 is not None
                         else f"again: no exit within {timeout:.0f} s")  # fmt: skip
        if rc2 is None:
            again.stop()
            out.ok = False
    return out


def not_injected(
    trial: Trial, run: Run, name: str, out: Outcome, what: str, again_if_failed: bool = False
) -> Outcome:
    """The moment to inject never came (``what`` did not happen): the trial fails, the run is waited for."""
    out.ok = False
    out.notes.append(f"{what}: fault not injected")
    return _finish(trial, run, name, out, again_if_failed=again_if_failed)


def _kill_worker_in(trial: Trial, name: str, prefix: str, run: Run, mid_fit: bool = False) -> tuple[int, int]:
    """SIGKILL the local worker running a job whose name starts with ``prefix``, aiming again at the next such job
    when the kill missed (the job completed anyway). Returns (kills, hits)."""
    kills = hits = 0
    aimed: set[int] = set()
    while True:

        def target() -> Any:
            for fw in trial.fireworks(name, "RUNNING"):
                if fw["name"].startswith(prefix) and fw["token"] and fw["fw_id"] not in aimed:
                    pid = trial.worker_pid(name, fw["token"], run)
                    if pid is None:
                        continue
                    if mid_fit and not any("input.yaml" in _cmdline(p) for p in descendants(pid)):
                        continue  # until pacemaker runs
                    return fw, pid
            return None

        got = trial.watch(target, [run], poll=0.02)
        if not got:
            return kills, hits
        fw, pid = got
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        kills += 1
        aimed.add(fw["fw_id"])
        time.sleep(3)
        state = trial.launch_state(fw["launch_id"])
        hit = state != "COMPLETED"
        hits += hit
        trial.say(f"SIGKILL worker pid {pid} running {fw['name']!r}: " + ("hit (its launch did not complete)"
                  if hit else "missed (the job had completed); aiming at the next one"))  # fmt: skip
        if hit:
            return kills, hits


def kill_worker(prefix: str, mid_fit: bool = False, two: bool = True) -> Callable[[Trial], Outcome]:
    def fault(trial: Trial) -> Outcome:
        name = f"kill_{prefix}"
        trial.config(name, (two_iterations if two else one_iteration)(name))
        run = trial.run(name)
        kills, hits = _kill_worker_in(trial, name, prefix, run, mid_fit)
        out = Outcome([(name, 1000)], notes=[f"{hits}/{kills} kill(s) landed in a running {prefix} job"])
        out.ok = hits > 0
        if not hits:
            out.notes.append(f"no {prefix} job was caught running: fault not injected")
        _finish(trial, run, name, out, again_if_failed=False)
        if "re-queued; started worker" in run.text:
            out.notes.append("run re-queued it")
        return out

    return fault


def kill_db(trial: Trial) -> Outcome:
    name = "kill_db"
    trial.config(name, one_iteration(name))
    run = trial.run(name)

    def mid_fit() -> bool:
        return any(fw["name"].startswith("train") for fw in trial.fireworks(name, "RUNNING")) and any(
            "input.yaml" in _cmdline(p) for p in descendants(run.pid)
        )

    out = Outcome([(name, 1000)])
    if trial.watch(mid_fit, [run], poll=0.2):
        pid = trial.db_pid()
        os.kill(pid, signal.SIGKILL)
        trial.say(f"SIGKILL database daemon pid {pid} while train (it 0) runs")
        out.notes.append("daemon killed mid-fit")
    else:
        out.ok = False
        out.notes.append("the fit was not caught running: fault not injected")
    _finish(trial, run, name, out, again_if_failed=False)
    out.notes.append("run restarted it" if "restarted it on port" in run.text else "run did NOT restart it")
    return out


def signal_run(sig: signal.Signals, stage: str) -> Callable[[Trial], Outcome]:
    """``sig`` to ``run`` while a job of ``stage`` runs (train: once pacemaker runs), then the same command again."""

    def fault(trial: Trial) -> Outcome:
        name = f"sig{sig.name[3:].lower()}_run"
        trial.config(name, one_iteration(name))
        run = trial.run(name)

        def moment() -> Any:
            running = [fw["name"] for fw in trial.fireworks(name, "RUNNING")]
            if stage == "train":
                fitting = any("input.yaml" in _cmdline(p) for p in descendants(run.pid))
                return running if fitting and any(n.startswith("train") for n in running) else None
            if any(n.startswith(stage) for n in running):
                return running
            if any(n.startswith("train") for n in running):
                return running  # the label jobs were missed: as early after them as possible
            return None

        out = Outcome([(name, 1000)])
        got = trial.watch(moment, [run], poll=0.02)
        if got:
            run.proc.send_signal(sig)
            trial.say(f"{sig.name} to run pid {run.pid} while {got} ran")
            out.notes.append(
                f"{sig.name} while {', '.join(got)} ran" + (" (pacemaker running)" * (stage == "train"))
            )
        else:
            out.ok = False
            out.notes.append(f"no {stage} job was caught running: fault not injected")
        t_sig = time.monotonic()
        rc = run.wait(120)
        if rc is None:
            out.notes.append(f"run still running 120 s after {sig.name}: stopped by the benchmark")
            run.stop()
        else:
            out.notes.append(f"exit {rc} after {time.monotonic() - t_sig:.0f} s (expected {128 + sig.value})")
        dbpid = trial.db_pid()
        orphans = processes_using(trial.workdir(name), {dbpid} if dbpid else set())
        if orphans:
            out.notes.append(f"{len(orphans)} process(es) outlived the stopped run")
            kill_pids(orphans)
        if stale_lock(trial, name):
            out.notes.append("its workflow was left locked (FireWorks WFLock)")
        trial.say(f"run ended (exit {rc}): running the same command again")
        out.action = "ran the same command again"
        again = trial.run(name, tag="again")
        rc2 = again.wait(RUN_TIMEOUT_S)
        out.notes.append(f"again: exit {rc2}" + (f" ({why_ended(again)})" if rc2 else ""))
        if rc2 is None:
            again.stop()
        return out

    return fault


def stale_lock(trial: Trial, name: str) -> bool:
    """Whether the campaign's workflow carries FireWorks' ``locked`` flag (now: nobody should hold it)."""
    from pymongo.errors import PyMongoError

    root = trial.campaign(name).get("wf_root_fw_id")
    try:
        wf = trial.db.db["workflows"].find_one({"nodes": root}, {"locked": 1}) if trial.db and root else None
    except PyMongoError:
        return False
    return bool((wf or {}).get("locked"))


def kill_worker_wflock(trial: Trial) -> Outcome:
    """SIGKILL of a worker while it holds its workflow's FireWorks lock (WFLock: taken around every state change
    of a job, by checkout and completion): an out-of-memory kill at an unlucky moment."""
    name = "wflock"
    trial.config(name, two_iterations(name))
    run = trial.run(name)
    out = Outcome([(name, 1000)])
    kills = hits = 0
    while kills < 4 and not hits:

        def locked() -> Any:
            db = trial.db
            root = trial.campaign(name).get("wf_root_fw_id") if db else None
            wf = db.db["workflows"].find_one({"nodes": root}, {"locked": 1, "nodes": 1}) if root else None
            if not (wf or {}).get("locked"):
                return None
            # the worker of the job whose state changed last holds it (checkout or completion)
            for fw in db.db["fireworks"].find({"fw_id": {"$in": wf["nodes"]}, "launches.0": {"$exists": True}},
                                              {"name": 1, "launches": 1}).sort("updated_on", -1).limit(1):  # fmt: skip
                launch = db.db["launches"].find_one({"launch_id": fw["launches"][-1]}, {"fworker": 1})
                token = (((launch or {}).get("fworker") or {}).get("env") or {}).get("pyacemaker_worker")
                pid = trial.worker_pid(name, token, run) if token else None
                if pid:
                    return fw["name"], pid
            return None

        got = trial.watch(locked, [run], poll=0.01)
        if not got:
            break
        fw_name, pid = got
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        kills += 1
        time.sleep(3)
        held = stale_lock(trial, name)
        time.sleep(3)
        hits += held and stale_lock(trial, name)
        trial.say(f"SIGKILL worker pid {pid} (last state change: {fw_name!r}) while the workflow was locked: "
                  + ("the lock stayed (hit)" if hits else "the lock was released (missed)"))  # fmt: skip
    out.notes.append(f"{hits}/{kills} kill(s) left the lock held by a dead worker")
    out.ok = hits > 0
    if not hits:
        out.notes.append("no kill landed inside the lock: fault not injected")
    _finish(trial, run, name, out, again_if_failed=False)
    if stale_lock(trial, name):
        out.notes.append("workflow still locked at the end")
    if "LockedWorkflowError" in run.text:
        out.notes.append("run failed with LockedWorkflowError")
    return out


def two_runs_one_campaign(trial: Trial) -> Outcome:
    name = "two_runs"
    trial.config(name, one_iteration(name))
    first = trial.run(name)
    out = Outcome([(name, 1000)])
    if not trial.watch(
        lambda: (trial.campaign(name).get("controller") or {}).get("pid") == first.pid, [first]
    ):
        out.ok = False
        out.notes.append("the first run never held the campaign")
    second = trial.run(name, tag="second")
    rc2 = second.wait(300)
    refused = rc2 == 2 and "already worked by another controller" in second.text
    trial.say(f"second run: exit {rc2}" + (" (refused)" if refused else f": {second.tail(3)}"))
    out.notes.append(f"second run exit {rc2}" + ("" if refused else " (NOT refused as expected)"))
    out.ok &= refused
    if rc2 is None:
        second.stop()
    _finish(trial, first, name, out, again_if_failed=False)
    return out


def two_campaigns(trial: Trial) -> Outcome:
    names = ["two_a", "two_b"]
    for n in names:
        trial.config(n, one_iteration(n))
    runs = [trial.run(n) for n in names]
    out = Outcome([(n, 1000) for n in names])
    for n, r in zip(names, runs, strict=True):
        rc = r.wait(RUN_TIMEOUT_S)
        out.notes.append(f"{n}: exit {rc}")
        if rc is None:
            r.stop()
    db = trial.db
    if db is not None:  # each campaign's jobs ran in its own directory
        for n in names:
            other = trial.workdir(names[1 - names.index(n)])
            for fw in trial.fireworks(n):
                if fw.get("launch_id"):
                    launch = db.db["launches"].find_one({"launch_id": fw["launch_id"]}, {"launch_dir": 1})
                    if str((launch or {}).get("launch_dir", "")).startswith(str(other)):
                        out.ok = False
                        out.notes.append(f"{fw['name']} of {n} ran in the other campaign's directory")
    return out


def four_workers(trial: Trial) -> Outcome:
    name = "four_workers"
    trial.config(name, one_iteration(name).replace("label_batches: 2", "label_batches: 4"))
    run = trial.run(name, workers=4)
    out = Outcome([(name, 1000)], notes=["label_batches 4"])
    return _finish(trial, run, name, out, again_if_failed=False)


def budget_parallel(trial: Trial) -> Outcome:
    name = "budget"
    text = (one_iteration(name).replace("label_batches: 2", "label_batches: 4")
            .replace("budget: {max_iterations: 1}", "budget: {max_iterations: 1, max_oracle_calls: 4}"))  # fmt: skip
    trial.config(name, text)
    run = trial.run(name, workers=4)
    out = Outcome([(name, 4)], notes=["label_batches 4, max_oracle_calls 4 (6 seeds), --workers 4"])
    _finish(trial, run, name, out, again_if_failed=False)
    doc = trial.campaign(name)
    iters = sum(int((it or {}).get("oracle_calls") or 0) for it in (doc.get("iterations") or {}).values())
    out.notes.append(f"calls: {iters} labels + {doc.get('test_oracle_calls', 0)} test set; "
                     f"reserved {doc.get('oracle_reserved')}")  # fmt: skip
    return out


def truncated_potential(trial: Trial) -> Outcome:
    name = "truncated"
    trial.config(name, one_iteration(name))
    run = trial.run(name)
    pid = f"{name}:pot000"
    out = Outcome([(name, 1000)])

    def stored() -> Any:
        return trial.db.potentials.find_one({"_id": pid}) if trial.db is not None else None

    doc = trial.watch(stored, [run], poll=0.02)
    if doc:
        meta = doc["files"]["yace"]
        path = Path(meta["path"])
        os.truncate(path, meta["size"] // 2)
        before = [fw["name"] for fw in trial.fireworks(name) if fw["name"].startswith("explore")
                  and fw["state"] in ("RUNNING", "COMPLETED")]  # fmt: skip
        trial.say(f"truncated {path.relative_to(trial.root)} to {meta['size'] // 2} of {meta['size']} bytes"
                  + (f" (already running: {before})" if before else " (before explore started)"))  # fmt: skip
        out.notes.append("truncated before explore" if not before else "truncated while explore ran")
    else:
        out.ok = False
        out.notes.append("pot000 never stored: fault not injected")
    _finish(trial, run, name, out, again_if_failed=False)
    if doc:
        copy = trial.workdir(name) / "iter_000" / "potential" / Path(doc["files"]["yace"]["path"]).name
        fetched = copy.is_file() and _sha(copy.read_bytes()) == doc["files"]["yace"]["sha256"]
        out.notes.append("re-fetched from the database" if fetched else "NOT re-fetched")
        out.ok &= fetched
    return out


def _pw_processes(run: Run) -> list[tuple[int, Path]]:
    """The pw.x processes under ``run`` with their working directories."""
    found = []
    for p in descendants(run.pid):
        argv = _cmdline(p)
        if argv and Path(argv[0]).name == "pw.x":
            with contextlib.suppress(OSError):
                found.append((p, Path(os.readlink(f"/proc/{p}/cwd"))))
    return found


def _worker_of(pid: int, run: Run) -> int | None:
    """The local worker (a child of ``run``) that ``pid`` descends from."""
    while pid and pid != 1:
        st = _stat(pid)
        if st is None:
            return None
        if st[1] == run.pid:
            return pid
        pid = st[1]
    return None


def freeze_until_ended(trial: Trial, run: Run, pid: int, what: str, within_s: float, out: Outcome) -> None:
    """SIGSTOP ``pid`` (``what``) and wait until something ends it (the note says after how long) or ``within_s``
    passed (then the trial failed: the process is killed here)."""
    os.kill(pid, signal.SIGSTOP)
    t_stop = time.monotonic()
    trial.say(f"SIGSTOP {what} (pid {pid})")
    short = what.split(" (")[0]
    while _alive(pid) and run.rc is None and time.monotonic() - t_stop < within_s:
        time.sleep(0.5)
    if _alive(pid):
        out.ok = False
        out.notes.append(f"the frozen {short} was NOT ended within {within_s:.0f} s")
        kill_pids([pid])
    else:
        waited = time.monotonic() - t_stop
        by = f" (by the end of run, exit {run.rc}: not by a limit)" if run.rc is not None else ""
        trial.say(f"the frozen {short} was ended {waited:.0f} s after SIGSTOP{by}")
        out.notes.append(f"frozen {short} ended {waited:.0f} s after SIGSTOP{by}")
        out.ok &= not by


def hanging_md(trial: Trial) -> Outcome:
    """The worker running MD (ASE, in the worker's own process) frozen with SIGSTOP: it stops pinging its job, and
    ``run`` must kill it after ``workers.lost_after_s`` and run the job again."""
    name = "hanging_md"
    trial.config(name, one_iteration(name).replace("workers: {label_batches: 2}",
                                                   f"workers: {{label_batches: 2, lost_after_s: {LOST_AFTER_S:g}}}"))  # fmt: skip
    run = trial.run(name)
    out = Outcome([(name, 1000)], notes=[f"workers.lost_after_s {LOST_AFTER_S:g}"])

    aimed: set[int] = set()

    def explorer() -> Any:
        for fw in trial.fireworks(name, "RUNNING"):
            if fw["name"].startswith("explore") and fw["token"] and fw["fw_id"] not in aimed:
                pid = trial.worker_pid(name, fw["token"], run)
                if pid:
                    return fw, pid
        return None

    while True:  # freeze a worker whose MD job is still running once it is frozen (else aim at the next one)
        got = trial.watch(explorer, [run], poll=0.02)
        if not got:
            return not_injected(trial, run, name, out, "no explore job caught running")
        fw, pid = got
        aimed.add(fw["fw_id"])
        os.kill(pid, signal.SIGSTOP)
        if trial.launch_state(fw["launch_id"]) == "RUNNING":
            break
        os.kill(pid, signal.SIGCONT)
        trial.say(f"missed {fw['name']!r} (it completed before the worker froze); aiming at the next one")
    freeze_until_ended(trial, run, pid, f"worker ({fw['name']}: its MD runs in the worker process)",
                       LOST_AFTER_S + 240, out)  # fmt: skip
    return _finish(trial, run, name, out, again_if_failed=False)


def hanging_pw(trial: Trial) -> Outcome:
    """A real pw.x of a label job frozen with SIGSTOP (a stuck node): ``oracle.timeout_s`` must end it (SIGTERM,
    SIGKILL after the grace period) and the structure be rejected naming the limit."""
    if shutil.which("pw.x") is None:
        raise NotAvailable("pw.x is not installed (scripts/setup.sh installs quantum-espresso as root)")
    name = "hanging_pw"
    trial.config(name, qe_one_iteration(name, PW_TIMEOUT_S))
    run = trial.run(name)
    out = Outcome([(name, 1000)], notes=[f"oracle.timeout_s {PW_TIMEOUT_S:g}"])
    got = trial.watch(lambda: [(p, d) for p, d in _pw_processes(run) if "label" in d.parts], [run], poll=0.02)
    if not got:
        return not_injected(trial, run, name, out, "no pw.x caught running")
    pid, rundir = got[0]
    freeze_until_ended(
        trial, run, pid, f"pw.x (in {rundir.relative_to(trial.root)})", PW_TIMEOUT_S + 120, out
    )
    _finish(trial, run, name, out, again_if_failed=False)
    rejected = [
        r.get("reject_reason") or "" for r in trial.db.records.find({"campaign": name, "status": "rejected"})
    ]
    timed_out = [r for r in rejected if r.startswith("pw.x timeout")]
    out.notes.append(f"{len(timed_out)} structure(s) rejected as 'pw.x timeout'")
    out.ok &= len(timed_out) == 1
    return out


def pw_killed_mid_write(trial: Trial) -> Outcome:
    """A real pw.x and its worker SIGKILLed while pw.x writes the end of its output: after its forces, before its
    stress and ``JOB DONE`` (an output that used to look finished). The re-run must redo it, not parse it."""
    if shutil.which("pw.x") is None:
        raise NotAvailable("pw.x is not installed (scripts/setup.sh installs quantum-espresso as root)")
    name = "pw_mid_write"
    trial.config(name, qe_one_iteration(name))
    run = trial.run(name)
    out = Outcome([(name, 1000)])

    def writing() -> Any:
        for pid, d in _pw_processes(run):
            if "label" not in d.parts:
                continue
            with contextlib.suppress(OSError):
                text = (d / "pw.out").read_text(errors="replace")
                if (
                    "Forces acting on atoms" in text
                    and "total   stress" not in text
                    and "JOB DONE" not in text
                ):
                    return pid, d
        return None

    got = trial.watch(writing, [run], poll=0.002)
    if not got:
        return not_injected(trial, run, name, out, "no pw.x caught between its forces and its stress")
    pid, rundir = got
    worker = _worker_of(pid, run)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker, signal.SIGKILL) if worker else os.kill(pid, signal.SIGKILL)
    text = (rundir / "pw.out").read_text(errors="replace")
    trial.say(f"SIGKILL pw.x pid {pid} and its worker {worker} while writing: pw.out has forces, "
              f"{'no' if 'total   stress' not in text else ''} stress, {'no' if 'JOB DONE' not in text else ''} "
              f"JOB DONE ({len(text)} bytes)")  # fmt: skip
    _finish(trial, run, name, out, again_if_failed=False)
    kept = rundir / "pw.out.incomplete"
    redone = kept.is_file() and "JOB DONE" in (rundir / "pw.out").read_text(errors="replace")
    out.notes.append(
        "cut output kept as pw.out.incomplete, pw.x redone" if redone else "cut output NOT redone"
    )
    out.ok &= redone
    return out


def hanging_fit(trial: Trial) -> Outcome:
    name = "hanging_fit"
    cfg = trial.config(
        name, one_iteration(name).replace("train: {", f"train: {{timeout_s: {HANG_TIMEOUT_S:g}, ")
    )
    shown = subprocess.run(
        [EXE, "config", str(cfg)], env=trial.env, capture_output=True, text=True, timeout=120
    )
    try:
        timeout = (yaml.safe_load(shown.stdout).get("train") or {}).get("timeout_s")
    except (yaml.YAMLError, AttributeError):
        timeout = None
    if shown.returncode != 0 or timeout is None:
        raise NotAvailable("train.timeout_s is not an option of `pyacemaker config` "
                           f"(exit {shown.returncode}: {shown.stderr.strip()[-200:]})")  # fmt: skip
    run = trial.run(name)
    out = Outcome([(name, 1000)], notes=[f"train.timeout_s {timeout:g}"])

    def pacemaker() -> int | None:
        for p in descendants(run.pid):
            argv = _cmdline(p)
            if "input.yaml" in argv and any(a.endswith("pacemaker") for a in argv):
                return p
        return None

    pm = trial.watch(pacemaker, [run], poll=0.1)
    if not pm:
        return not_injected(trial, run, name, out, "pacemaker never caught running", again_if_failed=True)
    freeze_until_ended(trial, run, pm, "fit (pacemaker)", timeout + 120, out)
    _finish(trial, run, name, out, again_if_failed=True, why=" (iteration 0's fit has no previous potential)")
    if "timeout:" in "\n".join(r.text for r in trial.runs) or any(
        "timeout:" in f.read_text(errors="replace") for f in (trial.workdir(name) / "logs").glob("*.log")
    ):
        out.notes.append("failure reported as a timeout")
    return out


def disk_full(with_db: bool) -> Callable[[Trial], Outcome]:
    """The disk fills while pacemaker writes: RLIMIT_FSIZE on the run, its workers and pacemaker (``with_db``:
    and on the database daemon, as when its data lies on the same full filesystem), held for
    ``DISK_FULL_HOLD_S`` or until the run ends, then lifted (space freed); the same command again if the campaign
    had not ended."""

    def fault(trial: Trial) -> Outcome:
        if not hasattr(resource, "prlimit"):
            raise NotAvailable("resource.prlimit is not available on this platform")
        name = "disk_full_db" if with_db else "disk_full"
        trial.config(name, one_iteration(name))
        run = trial.run(name)
        out = Outcome([(name, 1000)])

        def fitting() -> bool:
            return any(fw["name"].startswith("train") for fw in trial.fireworks(name, "RUNNING")) and any(
                "input.yaml" in _cmdline(p) for p in descendants(run.pid)
            )

        if not trial.watch(fitting, [run], poll=0.1):
            return not_injected(trial, run, name, out, "the fit was not caught running", again_if_failed=True)
        dbpid = trial.db_pid()
        spared = set() if with_db or dbpid is None else {dbpid, *descendants(dbpid)}
        limited = []
        for p in [run.pid, *descendants(run.pid)]:
            if p in spared:
                continue
            try:
                _, hard = resource.prlimit(p, resource.RLIMIT_FSIZE)
                resource.prlimit(p, resource.RLIMIT_FSIZE, (FSIZE_LIMIT, hard))
                limited.append(p)
            except ProcessLookupError:
                continue
            except OSError as exc:
                raise NotAvailable(f"cannot set RLIMIT_FSIZE on pid {p}: {exc}") from None
        who = "the run, its workers and pacemaker" + (" and the database daemon" if with_db else "")
        trial.say(f"RLIMIT_FSIZE {FSIZE_LIMIT} bytes on {who} ({len(limited)} processes, mid-fit)")
        out.notes.append(f"files of {who} capped at {FSIZE_LIMIT} B mid-fit for {DISK_FULL_HOLD_S:.0f} s "
                         "or until the run ended")  # fmt: skip
        run.wait(DISK_FULL_HOLD_S)
        lifted = 0
        for p in {*limited, *(descendants(run.pid) if run.rc is None else [])} - spared:
            with contextlib.suppress(OSError):
                _, hard = resource.prlimit(p, resource.RLIMIT_FSIZE)
                resource.prlimit(p, resource.RLIMIT_FSIZE, (hard, hard))
                lifted += 1
        trial.say(f"space freed (limit lifted on {lifted} live processes; run " + ("still running)" if run.rc is None
                  else f"ended with exit {run.rc})"))  # fmt: skip
        if with_db and "WT_PANIC" in (trial.data / "server.log").read_text(errors="replace"):
            out.notes.append("the database daemon's storage panicked (WiredTiger WT_PANIC: File too large)")
        _finish(trial, run, name, out, again_if_failed=True, why=" (the disk was full)", timeout=240)
        doc = trial.campaign(name)
        if with_db and not (doc.get("state") in END_STATES and doc.get("stage") == "done"):
            # beyond the documented action (so the row stays not recovered): does a restarted daemon save it?
            subprocess.run([EXE, "db", "stop"], env=trial.env, capture_output=True, timeout=120)
            trial.reset_db()
            trial.say(
                "not ended after the documented action: `pyacemaker db stop`, then the same command again"
            )
            last = trial.run(name, tag="after_db_stop")
            rc = last.wait(240)
            doc = trial.campaign(name)
            ended = doc.get("state") in END_STATES and doc.get("stage") == "done"
            out.notes.append(f"beyond it, `pyacemaker db stop` + run: exit {rc}" + (f" ({why_ended(last)})" if rc
                             else "") + (", campaign ended (not counted as recovered)" if ended else ""))  # fmt: skip
            out.ok = False
            if rc is None:
                last.stop()
        spins = max(r.text.count("did not answer for a moment") for r in trial.runs)
        if spins > 10:
            out.notes.append(
                f"a run printed 'the database did not answer for a moment ... going on' {spins} times"
            )
        return out

    return fault


class NotAvailable(RuntimeError):
    """The fault cannot be injected here (the message says why): its row says so instead of faking it."""


@dataclass
class Fault:
    name: str
    what: str
    action: str  # the documented user action ("none": the same run recovers by itself)
    inject: Callable[[Trial], Outcome]


FAULTS = [
    Fault("kill_worker_label", "SIGKILL of the local worker running a label job (2-iteration campaign)", "none",
          kill_worker("label")),
    Fault("kill_worker_train", "SIGKILL of the local worker running the fit, while pacemaker runs", "none",
          kill_worker("train", mid_fit=True, two=False)),
    Fault("kill_worker_explore", "SIGKILL of the local worker running MD (2-iteration campaign)", "none",
          kill_worker("explore")),
    Fault("kill_worker_wflock", "SIGKILL of a worker while it holds its workflow's FireWorks lock (WFLock)",
          "none", kill_worker_wflock),
    Fault("kill_db", "SIGKILL of the embedded database daemon while the fit runs", "none", kill_db),
    Fault("sigterm_run", "SIGTERM of `run` while a label job runs", "run the same command again",
          signal_run(signal.SIGTERM, "label")),
    Fault("sighup_run", "SIGHUP of `run` while the fit (pacemaker) runs", "run the same command again",
          signal_run(signal.SIGHUP, "train")),
    Fault("two_runs_one_campaign", "a second `run` of the same campaign while the first runs (must exit 2)",
          "none", two_runs_one_campaign),
    Fault("two_campaigns", "two campaigns run at once on one database daemon", "none", two_campaigns),
    Fault("four_workers", "4 workers racing on one campaign (--workers 4, label_batches 4)", "none",
          four_workers),
    Fault("budget_parallel", "max_oracle_calls 4 with 4 parallel label batches and 4 workers", "none",
          budget_parallel),
    Fault("truncated_potential", "iter_000/train/output_potential.yace truncated once iteration 0 trained",
          "none", truncated_potential),
    Fault("hanging_md", f"the worker running ASE MD SIGSTOPped; workers.lost_after_s {LOST_AFTER_S:g} must end it",
          "none", hanging_md),
    Fault("hanging_pw", f"a real pw.x of a label job SIGSTOPped (Si); oracle.timeout_s {PW_TIMEOUT_S:g} must end it",
          "none", hanging_pw),
    Fault("pw_killed_mid_write", "a real pw.x and its worker SIGKILLed between writing forces and stress (Si)",
          "none", pw_killed_mid_write),
    Fault("hanging_fit", f"pacemaker SIGSTOPped; train.timeout_s {HANG_TIMEOUT_S:g} must end it",
          "run the same command again (iteration 0 has no previous potential to keep)", hanging_fit),
    Fault("disk_full", f"RLIMIT_FSIZE {FSIZE_LIMIT} B (prlimit) on run, workers and pacemaker mid-fit "
          "(database elsewhere)", "free space, run the same command again", disk_full(with_db=False)),
    Fault("disk_full_db", f"RLIMIT_FSIZE {FSIZE_LIMIT} B on run, workers, pacemaker and the database daemon "
          "mid-fit (one full filesystem)", "free space, run the same command again", disk_full(with_db=True)),
]  # fmt: skip


# ----------------------------------------------------------------------------------------------- driver
@dataclass
class Row:
    fault: Fault
    trials: int = 0
    recovered: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    over: int = 0
    wall: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unavailable: str | None = None
    failures: list[str] = field(default_factory=list)


def run_trial(fault: Fault, root: Path, keep: bool) -> tuple[bool, list[Audit], Outcome | None, str, float]:
    """One trial of ``fault`` in ``root``: (recovered, audits, outcome, failure report, wall s)."""
    trial = Trial(root)
    t0 = time.monotonic()
    out = None
    report = ""
    audits: list[Audit] = []
    try:
        out = fault.inject(trial)
        wall = time.monotonic() - t0
        audits = [audit(trial, n, cap) for n, cap in out.campaigns]
        dbpid = trial.db_pid()
        left = processes_using(trial.root, {dbpid} if dbpid else set())
        if left:
            out.notes.append(f"{len(left)} process(es) left after the runs ended: "
                             + ", ".join(" ".join(_cmdline(p))[-60:] for p in left[:2]))  # fmt: skip
        ok = out.ok and all(a.ended for a in audits)
        if not ok:
            report = failure_report(trial, [n for n, _ in out.campaigns])
        return ok, audits, out, report, wall
    except NotAvailable:
        raise
    except Exception as exc:  # noqa: BLE001 (the benchmark goes on with the next fault)
        import traceback

        report = f"  the trial itself failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
        with contextlib.suppress(Exception):
            report += "\n" + failure_report(trial, [n for n, _ in out.campaigns] if out else [])
        return False, audits, out, report, time.monotonic() - t0
    finally:
        trial.stop_all()


def code_version() -> str:
    """The commit of the pyacemaker tree, and how many of its files differ from it (other people may be changing
    it while the benchmark runs: each trial's runs use the code on disk when they start their processes)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "pyacemaker"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "(no git)"
    return f"at {head}" + (f" + {len(dirty)} changed file(s) in pyacemaker/" if dirty else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1, help="trials per fault (default 1)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this fault (repeat, or comma-separate; --list shows the names)")  # fmt: skip
    ap.add_argument("--list", action="store_true", help="list the faults and exit")
    ap.add_argument("--workdir", type=Path, help="where the trials run (default: a new temporary directory)")
    ap.add_argument(
        "--keep", action="store_true", help="keep every trial's directory (default: failed ones only)"
    )
    args = ap.parse_args()
    if args.list:
        t = Table(title="faults")
        for col in ("name", "what is injected", "user action"):
            t.add_column(col)
        for f in FAULTS:
            t.add_row(f.name, f.what, f.action)
        console.print(t)
        return 0
    only = {n.strip() for o in args.only for n in o.split(",") if n.strip()}
    unknown = only - {f.name for f in FAULTS}
    if unknown:
        ap.error(f"unknown fault(s) {sorted(unknown)}; --list shows the names")
    faults = [f for f in FAULTS if not only or f.name in only]
    for var in ("PYACEMAKER_DB_URI", "PYACEMAKER_DB_NAME"):
        os.environ.pop(var, None)  # every trial uses its own embedded daemon
    os.environ.update(OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")

    def stop(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="faults_"))
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    console.print(
        f"fault benchmark: {len(faults)} fault(s) x {args.trials} trial(s), work in {root}; "
        f"pyacemaker {code_version()}"
    )
    t_all = time.monotonic()
    rows = []
    for fault in faults:
        row = Row(fault)
        rows.append(row)
        console.rule(f"[bold]{fault.name}[/]: {fault.what}")
        for k in range(args.trials):
            where = root / fault.name / f"trial{k + 1}"
            shutil.rmtree(where, ignore_errors=True)
            try:
                ok, audits, out, report, wall = run_trial(fault, where, args.keep)
            except NotAvailable as exc:
                row.unavailable = str(exc)
                console.print(f"  [yellow]not available[/]: {exc}")
                shutil.rmtree(where, ignore_errors=True)
                break
            row.trials += 1
            row.recovered += ok
            row.wall.append(wall)
            for a in audits:
                row.lost += a.lost
                row.duplicated += a.duplicated
                row.wrong += a.wrong
                row.over += a.over
                row.notes += [f"{a.name}: {n}" if len(audits) > 1 else n for n in a.notes]
                if not a.ended:
                    row.notes.append(f"{a.name}: ended in state {a.state!r}, stage {a.stage!r}")
            if out is not None:
                row.notes += [n for n in out.notes if n not in row.notes]
                if out.action and f"action: {out.action}" not in row.notes:
                    row.notes.insert(0, f"action: {out.action}")
            calls = ", ".join(f"{a.oracle_calls} calls / {a.labelled} labelled" for a in audits)
            console.print(f"  trial {k + 1}: {'[green]recovered[/]' if ok else '[red]NOT recovered[/]'} in "
                          f"{wall:.0f} s; {calls}; lost {sum(a.lost for a in audits)}, duplicated "
                          f"{sum(a.duplicated for a in audits)}, wrong {sum(a.wrong for a in audits)}, "
                          f"over budget {sum(a.over for a in audits)}")  # fmt: skip
            if not ok:
                row.failures.append(f"trial {k + 1} (kept in {where}):\n{report}")
            elif not args.keep:
                shutil.rmtree(where, ignore_errors=True)
    elapsed = time.monotonic() - t_all

    table = Table(title=f"fault benchmark ({args.trials} trial(s) per fault, {elapsed / 60:.1f} min in all)")
    for col in ("fault", "trials", "recovered", "records lost", "labels duplicated", "wrong labels",
                "oracle calls over budget", "wall time (s)", "note"):  # fmt: skip
        table.add_column(col, overflow="fold")
    for r in rows:
        if r.unavailable:
            table.add_row(r.fault.name, "0", "not available", "-", "-", "-", "-", "-", r.unavailable)
            continue
        user = "action: none needed" if r.fault.action == "none" else f"documented action: {r.fault.action}"
        notes = [n for n in r.notes if not n.startswith("action: ")]
        taken = [n for n in r.notes if n.startswith("action: ")]
        table.add_row(r.fault.name, str(r.trials), f"{r.recovered}/{r.trials}", str(r.lost), str(r.duplicated),
                      str(r.wrong), str(r.over), f"{np.mean(r.wall):.0f}" if r.wall else "-",
                      "; ".join([user + (f" ({taken[0][8:]})" if taken else ""), *notes]))  # fmt: skip
    console.print(table)
    bad = [r for r in rows if r.failures]
    for r in bad:
        console.rule(f"[red]{r.fault.name}: not recovered[/]")
        for f in r.failures:
            console.print(f, markup=False)
    fine = all(r.recovered == r.trials and not (r.lost or r.duplicated or r.wrong or r.over) for r in rows)
    return 0 if fine else 1


if __name__ == "__main__":
    raise SystemExit(main())
