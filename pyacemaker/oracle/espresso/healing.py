"""Custodian for pw.x: a Job, error handlers that change numerics only, and a validator.

Handlers never touch the physics (cutoffs, k-points, smearing, pseudopotentials, functional): labels made after a
correction are the same labels the campaign's settings define, only reached by another numerical path. Errors
that would need a physics change have no correction, so Custodian raises and the structure is rejected with the
reason. Custodian has no Quantum ESPRESSO module, hence these classes (docs/toolchain.md lists the signatures).

Inside a batch allocation whose end is known, the oracle gives each structure a time ``stop_by`` (epoch seconds):
the allocation's end less a margin of max(60 s, 10 % of the time left when the structure starts). Every pw.x
launch gets ``max_seconds`` = min(configured, stop_by - now): pw.x stops cleanly and writes its restart state
before the batch system's SIGTERM/SIGKILL. When less than ``MIN_RUN_S`` is left before ``stop_by``, pw.x is not
launched again and the walltime handler does not restart it in place: OracleInterrupted, and the next run of the
job continues from the saved state.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

from custodian.custodian import ErrorHandler, Job, Validator
from custodian.utils import backup

from pyacemaker.oracle.base import OracleInterrupted
from pyacemaker.oracle.espresso import pw
from pyacemaker.proc import GRACE_S, Proc, ProcTimeout

BACKUP_FILES = [pw.PW_IN, pw.PW_OUT, pw.PW_ERR, pw.OVERRIDES]

# Of the allocation's remaining time when a structure starts, pw.x leaves unused max(MARGIN_MIN_S, MARGIN_FRACTION
# x that time): pw.x checks max_seconds only between k-points and SCF iterations, then writes its restart files,
# and the job still has to store its results before the walltime kill. No pw.x is launched with under MIN_RUN_S.
MARGIN_FRACTION = 0.1
MARGIN_MIN_S = 60.0
MIN_RUN_S = 30.0
# pw.x's hard limit (oracle.timeout_s) never cuts a run that max_seconds stops cleanly: pw.x overshoots it by up to
# one k-point's diagonalisation, then writes its restart files. Past the limit its process group gets SIGTERM,
# then SIGKILL after KILL_GRACE_S (pyacemaker.proc).
MAX_SECONDS_SLACK = 1.25
MAX_SECONDS_MIN_SLACK_S = 60.0
KILL_GRACE_S = GRACE_S
MAX_SECONDS = re.compile(r"^\s*max_seconds\s*=\s*([0-9.eEdD+-]+)", re.M | re.I)


def time_budget(seconds_left: float) -> float:
    """Seconds pw.x may run when the allocation has ``seconds_left``: what the margin leaves (may be negative)."""
    return seconds_left - max(MARGIN_MIN_S, MARGIN_FRACTION * seconds_left)


def budget_until(stop_by: float | None) -> float | None:
    """Seconds from now to ``stop_by`` (epoch seconds); None when there is no such time (no known walltime)."""
    return None if stop_by is None else stop_by - time.time()


def too_late(budget: float | None) -> bool:
    """Under ``MIN_RUN_S`` left before the stop time (False when there is none)."""
    return budget is not None and budget < MIN_RUN_S


def interrupted(directory: str | Path, budget: float, why: str) -> OracleInterrupted:
    """The exception that ends a label job unfinished when the allocation's time is up (the message says why)."""
    return OracleInterrupted(
        f"{why}: {max(budget, 0.0):.0f} s left before the allocation's end and its safety margin, under the "
        f"{MIN_RUN_S:.0f} s a pw.x launch needs; {directory} is kept as it is for the next run of this job "
        "to continue"
    )


class PwJob(Job):
    """Runs ``pw.x -in pw.in`` in the run directory (no chdir), with unbuffered Fortran I/O, in a process group of
    its own with a hard wall-clock limit (``timeout_s``, raised to cover the run's ``max_seconds``): past it the
    group gets SIGTERM, then SIGKILL after ``grace_s``, and the run leaves ``pw.timeout`` (the message) for
    :class:`TimeoutHandler`. Custodian's ``terminate`` (a monitor stopping a diverging SCF) stops the same way."""

    def __init__(
        self,
        command: list[str],
        timeout_s: float | None = None,
        memory_limit_mb: int | None = None,
        stop_by: float | None = None,
        grace_s: float | None = None,
    ):
        self.command = list(command)
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.stop_by = stop_by
        self.grace_s = grace_s
        self.proc: Proc | None = None

    def setup(self, directory: str = "./") -> None:
        pass  # the input is prepared before Custodian starts (pw.prepare)

    def hard_limit(self, directory: Path) -> float | None:
        """This launch's limit: ``timeout_s``, or more when pw.in's ``max_seconds`` (with pw.x's overshoot) needs
        it (None: no limit)."""
        if not self.timeout_s:
            return None
        m = MAX_SECONDS.search(pw.read_text(directory / pw.PW_IN))
        if m is None:
            return float(self.timeout_s)
        clean = float(m.group(1).lower().replace("d", "e"))
        return max(float(self.timeout_s), clean * MAX_SECONDS_SLACK + MAX_SECONDS_MIN_SLACK_S)

    def run(self, directory: str = "./"):
        d = Path(directory)
        budget = budget_until(self.stop_by)
        if budget is not None:  # each launch: max_seconds within what the allocation has left
            if too_late(budget):
                raise interrupted(d, budget, "pw.x was not launched again")
            pw.render(d, max_seconds_cap=budget)
        (d / pw.TIMEOUT_MARK).unlink(missing_ok=True)
        cmd = [*self.command, "-in", pw.PW_IN]
        env = {
            **os.environ,
            "GFORTRAN_UNBUFFERED_PRECONNECTED": "y",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
        limit = self.memory_limit_mb

        def limit_memory() -> (
            None
        ):  # runs in the child: an address-space cap reproduces/contains memory blow-ups
            if limit:
                resource.setrlimit(resource.RLIMIT_AS, (limit * 2**20, limit * 2**20))

        def mark(exc: ProcTimeout) -> None:  # what TimeoutHandler and the rejection report
            (d / pw.TIMEOUT_MARK).write_text(f"pw.x {exc}")

        with open(d / pw.PW_OUT, "w") as out, open(d / pw.PW_ERR, "w") as err:  # the child keeps its copies
            self.proc = Proc(cmd, cwd=d, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                             preexec_fn=limit_memory if limit else None, timeout_s=self.hard_limit(d),
                             grace_s=KILL_GRACE_S if self.grace_s is None else self.grace_s,
                             output=d / pw.PW_OUT, on_timeout=mark)  # fmt: skip
        return self.proc

    def terminate(self, directory: str = "./") -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM to pw.x's process group, SIGKILL after the grace period, reaped (nothing when it has ended)."""
        if self.proc is not None:
            self.proc.stop()

    def postprocess(self, directory: str = "./") -> None:
        pass


def _correct(directory: str, errors: list[str], changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    backup(BACKUP_FILES, prefix="error", directory=directory)
    pw.apply_overrides(Path(directory), changes)
    return {
        "errors": errors,
        "actions": [{"dict": sec, "action": {"_set": kv}} for sec, kv in changes.items()],
    }


def _current(directory: str, section: str, key: str, default: Any) -> Any:
    return pw.load_overrides(Path(directory)).get(section, {}).get(key, default)


def _settings(directory: str) -> dict[str, Any]:
    import json

    return json.loads(pw.read_text(Path(directory) / pw.SETTINGS))


class ScfConvergenceHandler(ErrorHandler):
    """SCF not converged: gentler mixing, a longer history, local-TF mixing, more steps, then cg diagonalisation."""

    is_monitor = False

    def check(self, directory: str = "./") -> bool:
        errs = pw.detect_errors(Path(directory))
        return "scf_not_converged" in errs and "walltime" not in errs

    def correct(self, directory: str = "./") -> dict[str, Any]:
        s = _settings(directory)
        beta = float(_current(directory, "electrons", "mixing_beta", s["mixing_beta"]))
        steps = int(_current(directory, "electrons", "electron_maxstep", s["electron_maxstep"]))
        n = self.n_applied_corrections
        ladder: list[dict[str, dict[str, Any]]] = [
            {"electrons": {"mixing_beta": round(max(0.05, beta * 0.5), 4), "mixing_ndim": 12,
                           "electron_maxstep": max(steps, 100)}},
            {"electrons": {"mixing_mode": "local-TF", "mixing_beta": round(max(0.05, beta * 0.5), 4),
                           "electron_maxstep": steps * 2}},
            {"electrons": {"diagonalization": "cg", "mixing_beta": 0.05, "electron_maxstep": steps * 2}},
        ]  # fmt: skip
        if n >= len(ladder):
            return {"errors": ["scf_not_converged"], "actions": None}
        return _correct(directory, ["scf_not_converged"], ladder[n])


class DiagonalizationHandler(ErrorHandler):
    """Failures inside the iterative diagonaliser: Davidson -> conjugate gradient -> PPCG."""

    def check(self, directory: str = "./") -> bool:
        return "diagonalization" in pw.detect_errors(Path(directory))

    def correct(self, directory: str = "./") -> dict[str, Any]:
        order = ["david", "cg", "ppcg"]
        now = _current(directory, "electrons", "diagonalization", "david")
        nxt = order.index(now) + 1 if now in order else len(order)
        if nxt >= len(order):
            return {"errors": ["diagonalization"], "actions": None}
        return _correct(directory, ["diagonalization"], {"electrons": {"diagonalization": order[nxt]}})


class WalltimeHandler(ErrorHandler):
    """``Maximum CPU time exceeded``: restart from the saved SCF state (pw.x wrote it to outdir), with 1.5x the
    configured time (when one is set) so each restart gains ground on its start-up cost.

    With ``stop_by`` (epoch seconds) and under ``MIN_RUN_S`` left before it to launch pw.x again, it raises
    OracleInterrupted instead: the run directory stays as pw.x left it, and the oracle's next run in a new
    allocation applies this same correction (:meth:`correct`) before continuing."""

    def __init__(self, stop_by: float | None = None):
        self.stop_by = stop_by

    def check(self, directory: str = "./") -> bool:
        return "walltime" in pw.detect_errors(Path(directory))

    def correct(self, directory: str = "./") -> dict[str, Any]:
        budget = budget_until(self.stop_by)
        if too_late(budget):
            raise interrupted(directory, budget, "pw.x stopped at max_seconds with its state saved")
        limit = _current(directory, "control", "max_seconds", _settings(directory).get("max_seconds"))
        changes: dict[str, Any] = {"restart_mode": "restart"}
        if limit:
            changes["max_seconds"] = round(float(limit) * 1.5, 1)
        return _correct(directory, ["walltime"], {"control": changes})


class BandsHandler(ErrorHandler):
    """``too few bands``: more Kohn-Sham states (a numerical parameter: occupied states are unchanged)."""

    def check(self, directory: str = "./") -> bool:
        return "too_few_bands" in pw.detect_errors(Path(directory))

    def correct(self, directory: str = "./") -> dict[str, Any]:
        m = re.findall(r"number of Kohn-Sham states=\s+(\d+)", pw.read_text(Path(directory) / pw.PW_OUT))
        nbnd = int(_current(directory, "system", "nbnd", int(m[-1]) if m else 20))
        return _correct(directory, ["too_few_bands"], {"system": {"nbnd": int(nbnd * 1.3) + 4}})


class MemoryHandler(ErrorHandler):
    """Out of memory: the conjugate-gradient diagonaliser needs less work space than Davidson; then give up."""

    def check(self, directory: str = "./") -> bool:
        return "out_of_memory" in pw.detect_errors(Path(directory))

    def correct(self, directory: str = "./") -> dict[str, Any]:
        if _current(directory, "electrons", "diagonalization", "david") != "cg":
            return _correct(directory, ["out_of_memory"], {"electrons": {"diagonalization": "cg"}})
        return {"errors": ["out_of_memory"], "actions": None}


class TimeoutHandler(ErrorHandler):
    """pw.x ran past its hard time limit (``oracle.timeout_s``) and its process group was stopped: a hang (stuck
    MPI, file system) or a run far beyond its budget. No correction: the structure is rejected with the message."""

    def check(self, directory: str = "./") -> bool:
        return (Path(directory) / pw.TIMEOUT_MARK).is_file()

    def correct(self, directory: str = "./") -> dict[str, Any]:
        return {"errors": [pw.read_text(Path(directory) / pw.TIMEOUT_MARK).strip()], "actions": None}


class UnhealableHandler(ErrorHandler):
    """Errors that only a physics or settings change could fix: no action, so the structure is rejected."""

    CLASSES = {
        "charge_wrong": "settings error: this system needs smearing (occupations='smearing')",
        "missing_pseudo": "a pseudopotential file is missing or unreadable",
    }

    def check(self, directory: str = "./") -> bool:
        return any(e in self.CLASSES for e in pw.detect_errors(Path(directory)))

    def correct(self, directory: str = "./") -> dict[str, Any]:
        errs = [e for e in pw.detect_errors(Path(directory)) if e in self.CLASSES]
        return {"errors": [self.CLASSES[e] for e in errs], "actions": None}


class DivergenceMonitor(ErrorHandler):
    """Watches a running SCF: when the estimated accuracy grows far above its best value, stop early and mix
    more gently instead of wasting the remaining iterations."""

    is_monitor = True

    def __init__(self, growth: float = 1e3, min_iterations: int = 8, floor: float = 1e-2):
        self.growth, self.min_iterations, self.floor = growth, min_iterations, floor

    def check(self, directory: str = "./") -> bool:
        acc = pw.scf_accuracies(Path(directory))
        if len(acc) < self.min_iterations:
            return False
        return acc[-1] > self.floor and acc[-1] > self.growth * min(acc)

    def correct(self, directory: str = "./") -> dict[str, Any]:
        s = _settings(directory)
        beta = float(_current(directory, "electrons", "mixing_beta", s["mixing_beta"]))
        if beta <= 0.05:
            return {"errors": ["scf_diverging"], "actions": None}
        return _correct(directory, ["scf_diverging"],
                        {"electrons": {"mixing_beta": round(max(0.05, beta * 0.4), 4), "mixing_mode": "local-TF"}})  # fmt: skip


class PwValidator(Validator):
    """A run counts only with a converged SCF and a final total energy (exit code alone is not enough)."""

    def check(self, directory: str = "./") -> bool:
        return not pw.succeeded(Path(directory))


def handlers(stop_by: float | None = None) -> list[ErrorHandler]:
    return [TimeoutHandler(), UnhealableHandler(), WalltimeHandler(stop_by), DivergenceMonitor(),
            ScfConvergenceHandler(), DiagonalizationHandler(), BandsHandler(), MemoryHandler()]  # fmt: skip
