"""The Quantum ESPRESSO oracle: pre-run sanity check, pw.x under Custodian, parsing, corrections recorded.

pw.x runs with the MPI ranks of the allocation the worker holds (``srun -n N`` inside Slurm, ``mpirun -np N``
elsewhere with N > 1 ranks; one rank outside any allocation) unless ``oracle.mpi_command`` says how to launch it.

Inside an allocation whose end is known (:func:`pyacemaker.allocation.seconds_left`) pw.x stops at ``max_seconds``
before the walltime kill (``healing`` sets it per launch); when the allocation has no time left to continue, the
run raises OracleInterrupted and leaves its directory as it is. The next run for the same structure in the same
directory continues pw.x from its saved state (``restart_mode='restart'``) instead of starting it again, and a
finished run is never recomputed.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from pyacemaker.allocation import Allocation, ToolNotFound, mpi_prefix, seconds_left, thread_env, tool
from pyacemaker.oracle.base import Oracle, OracleFailure, OracleInterrupted
from pyacemaker.oracle.checks import close_contact
from pyacemaker.oracle.espresso import pw
from pyacemaker.oracle.espresso.healing import (
    PwJob,
    PwValidator,
    WalltimeHandler,
    budget_until,
    handlers,
    interrupted,
    time_budget,
    too_late,
)
from pyacemaker.oracle.espresso.pseudos import pseudo_dirs
from pyacemaker.oracle.espresso.settings import EspressoSettings
from pyacemaker.plugins import ORACLES

ISOLATED_BOX_A = 10.0  # vacuum box for isolated-atom reference energies
# Custodian rewrites its log on each run: the logs of earlier, unfinished runs in a directory go to the history.
LOG, HISTORY = "custodian.json", "custodian_history.json"


def _error_line(directory: Path) -> str:
    if (directory / pw.TIMEOUT_MARK).is_file():  # pw.x ran past oracle.timeout_s and was stopped
        return pw.read_text(directory / pw.TIMEOUT_MARK).strip()
    text = pw.read_text(directory / pw.PW_OUT) + pw.read_text(directory / pw.PW_ERR)
    m = re.search(r"Error in routine\s+(\S+)\s*\((\d+)\):\s*\n\s*(.+)", text)
    if m:
        return f"pw.x error in {m.group(1)} ({m.group(2)}): {m.group(3).strip()}"
    for sig in ("scf_not_converged", "walltime", "out_of_memory"):
        if sig in pw.detect_errors(directory):
            return sig.replace("_", " ")
    tail = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or ["no output"]
    return f"pw.x failed: {tail[0].strip()[:200]}"


@ORACLES.register("espresso")
class EspressoOracle(Oracle):
    name = "espresso"
    settings_model = EspressoSettings
    config: EspressoSettings

    def command(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """pw.x's command line without its input: the launcher (``oracle.mpi_command``, else the allocation's
        that ``environ``, default ``os.environ``, describes) and the executable (beside the interpreter, then PATH).
        Inside an allocation without ``mpi_command`` the ranks' thread count goes first (``env OMP_NUM_THREADS=``)."""
        environ = os.environ if environ is None else environ
        try:
            exe = tool(self.config.command, path=environ.get("PATH", os.defpath))
        except ToolNotFound as exc:
            raise OracleFailure(
                f"{exc}: install Quantum ESPRESSO "
                "(as root: apt-get install quantum-espresso quantum-espresso-data) or set oracle.command"
            ) from None
        if self.config.mpi_command is not None:
            return [*mpi_prefix(Allocation(), self.config.mpi_command), exe]
        alloc = Allocation.from_env(environ)
        if alloc.source == "local":
            return [exe]  # one rank; the threads of the user's environment (PwJob)
        threads = thread_env(alloc, environ, per_rank=True)["OMP_NUM_THREADS"]
        return ["env", f"OMP_NUM_THREADS={threads}", *mpi_prefix(alloc, beside=exe), exe]

    def check_ready(self) -> None:
        self.command()

        for el, name in (self.config.pseudopotentials or {}).items():
            if not any((d / name).is_file() for d in pseudo_dirs(self.config.pseudo_dir)):
                raise OracleFailure(
                    f"pseudopotential {name!r} for {el} not found (oracle.pseudo_dir, $ESPRESSO_PSEUDO)"
                )

    @property
    def settings(self) -> dict[str, Any]:
        # what defines the labels; how pw.x is launched (command, limits, healing budget) does not
        keep = {
            "command",
            "mpi_command",
            "max_seconds",
            "max_corrections",
            "timeout_s",
            "min_distance_factor",
        }
        return {k: v for k, v in self.config.model_dump(mode="json").items() if k not in keep}

    def compute(self, atoms: Atoms, workdir: Path) -> tuple[float, np.ndarray, np.ndarray | None, list[dict]]:
        reason = close_contact(atoms, self.config.min_distance_factor)
        if reason:
            raise OracleFailure(reason)
        result, corrections = self.run_pw(atoms, workdir)
        stress = (
            result.stress if all(atoms.pbc) else None
        )  # a cluster in a vacuum box has no meaningful stress
        return result.energy, result.forces, stress, corrections

    def run_pw(
        self,
        atoms: Atoms,
        workdir: Path,
        memory_limit_mb: int | None = None,
        inject: dict[str, dict] | None = None,
    ):
        """pw.x under Custodian in ``workdir``; returns the parsed result and the corrections applied.

        A finished run in ``workdir`` is reused; a run that a previous job's allocation ended (pw.x stopped at
        ``max_seconds``, its state saved) is continued with ``restart_mode='restart'``. Inside an allocation with
        a known end, OracleInterrupted when its time runs out (the directory is left for the next run).

        ``inject`` starts the run with deliberately bad numerics and ``memory_limit_mb`` caps its address space:
        both exist for the healing tests and benchmark, which provoke each failure class for real.
        """
        from custodian import Custodian
        from custodian.custodian import CustodianError

        cmd = self.command()
        if pw.succeeded(workdir):  # a finished, complete run (e.g. a re-run job): reuse, do not recompute
            return pw.parse(workdir), _corrections(workdir)
        _set_aside_incomplete(workdir)
        (workdir / pw.TIMEOUT_MARK).unlink(missing_ok=True)  # an earlier run's
        left = seconds_left()  # inside an allocation with a known end: pw.x stops by its end less the margin
        stop_by = None if left is None else time.time() + time_budget(left)
        budget = budget_until(stop_by)
        if too_late(budget):
            raise interrupted(workdir, budget, "pw.x was not started")
        resume = pw.restartable(workdir) and pw.same_structure(workdir, atoms)
        _keep_log(workdir)
        if resume:
            # the job before stopped pw.x when its allocation ended: the walltime correction continues it (and
            # backs up that run's input and output first)
            _log_resume(workdir, WalltimeHandler().correct(str(workdir)))
        pw.prepare(workdir, atoms, self.config)
        if inject:
            pw.apply_overrides(workdir, inject)
        job = PwJob(cmd, self.config.timeout_s, memory_limit_mb, stop_by)
        c = Custodian(handlers(stop_by), [job], validators=[PwValidator()],
                      max_errors=self.config.max_corrections + 1, polling_time_step=1, monitor_freq=3,
                      directory=str(workdir))  # fmt: skip
        try:
            c.run()
        except Exception as exc:
            if isinstance(exc, OracleInterrupted):
                raise
            if (workdir / pw.TIMEOUT_MARK).is_file():  # stopped at oracle.timeout_s: rejected, saying so
                raise OracleFailure(_error_line(workdir)) from None
            if not isinstance(exc, CustodianError):
                raise
            tried = [corr["handler"] for corr in _corrections(workdir)]
            raise OracleFailure(
                f"{_error_line(workdir)}; not healed"
                + (f" after {len(tried)} correction(s) ({', '.join(tried)})" if tried else "")
                + f" [{type(exc).__name__}]"
            ) from None
        finally:
            job.stop()  # nothing of pw.x outlives this call (an exception or KeyboardInterrupt here included)
        return pw.parse(workdir), _corrections(workdir)

    def reference_energy(self, element: str, workdir: Path) -> float:
        """Isolated atom in a vacuum box, Gamma point, with the campaign's settings."""
        atom = Atoms(element, positions=[[ISOLATED_BOX_A / 2] * 3], cell=[ISOLATED_BOX_A] * 3, pbc=False)
        try:
            result, _ = self.run_pw(atom, workdir / f"isolated_{element}")
        except OracleFailure as exc:
            raise OracleFailure(f"isolated-atom reference for {element} failed: {exc}") from None
        return float(result.energy)


def _set_aside_incomplete(directory: Path) -> None:
    """A pw.x output that reached a converged SCF but is incomplete (pw.x killed while writing its forces or
    stress) is not reused: it is kept as ``pw.out.incomplete`` and the run is redone in the same directory (its
    restart state and overrides stay)."""
    out = directory / pw.PW_OUT
    if out.is_file() and pw.CONVERGED in pw.read_text(out) and pw.missing_parts(directory):
        out.replace(directory / f"{pw.PW_OUT}.incomplete")


def _runs(path: Path) -> list[dict[str, Any]]:
    try:
        runs = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return runs if isinstance(runs, list) else []


def _keep_log(directory: Path) -> None:
    """Move the Custodian log of an earlier, unfinished run in ``directory`` to the history (Custodian rewrites
    its log on each run), so the labels record every correction that led to them."""
    log = directory / LOG
    if log.exists():
        (directory / HISTORY).write_text(json.dumps(_runs(directory / HISTORY) + _runs(log), indent=1))
        log.unlink()


def _log_resume(directory: Path, correction: dict[str, Any]) -> None:
    """Record the continuation of a run that an allocation's end interrupted, as a WalltimeHandler correction."""
    entry = {
        "job": "continued in a new allocation",
        "corrections": [{
            "errors": ["walltime: the allocation ended; continued from the saved state"],
            "actions": correction["actions"],
            "handler": {"@module": WalltimeHandler.__module__, "@class": WalltimeHandler.__name__},
        }],
    }  # fmt: skip
    (directory / HISTORY).write_text(json.dumps([*_runs(directory / HISTORY), entry], indent=1))


def _corrections(directory: Path) -> list[dict[str, Any]]:
    """The corrections Custodian applied in ``directory`` (its earlier runs' logs, then custodian.json), as plain
    dicts."""
    out = []
    for run in _runs(directory / HISTORY) + _runs(directory / LOG):
        for corr in run.get("corrections", []):
            if corr.get("actions"):
                handler = corr.get("handler", {})
                name = handler.get("@class") if isinstance(handler, dict) else str(handler)
                action: dict[str, Any] = {}
                for a in corr["actions"]:
                    action.update(a.get("action", {}).get("_set", {}))
                out.append({"handler": name, "error": ", ".join(corr.get("errors", [])), "action": action})
    return out
