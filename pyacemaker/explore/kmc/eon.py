"""A bridge to EON (eOn, the adaptive kinetic Monte Carlo code of the Henkelman/Jónsson groups) with ACE as
its potential: ``.con`` files, ``config.ini``, the ``ext_pot`` wrapper and reading the run back.

EON runs saddle searches and kMC itself; the ACE potential (+ baseline) enters through EON's ``ext_pot``
potential, which writes ``from_eon_to_extpot`` in an exchange directory and runs a program there that must
answer with ``from_extpot_to_eon``. That program is :mod:`pyacemaker.explore.kmc.eon_driver`; it also stops EON (exit
code 100) and keeps the configuration when the extrapolation grade gamma is too high, so EON explores with ACE
the way MD does and :func:`run_eon` returns the same :class:`~pyacemaker.explore.protocol.Outcome` as the other
drivers.

The file formats (and what is known and guessed about them) are in :mod:`pyacemaker.explore.kmc.eon_files`.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read

import pyacemaker
from pyacemaker.config.schema import ExploreConfig
from pyacemaker.explore.kmc.eon_files import (
    WRAPPER_NAME,
    parse_dynamics,
    parse_results_dat,
    read_config_ini,
    write_con,
    write_config_ini,
)
from pyacemaker.explore.protocol import KMCProtocol, Outcome, Snapshot
from pyacemaker.plugins import DRIVERS
from pyacemaker.proc import GRACE_S, ProcTimeout
from pyacemaker.proc import run as run_proc
from pyacemaker.schemas.stages import RunCondition
from pyacemaker.train.baseline import Baseline, make_baseline
from pyacemaker.train.potential import Potential

HALT_EXIT_CODE = 100  # the driver's exit status when gamma exceeded gamma_halt
KILL_GRACE_S = GRACE_S  # past timeout_s: SIGTERM to EON's process group, SIGKILL this much later
DRIVER_JSON = "eon_driver.json"
HALT_DIR = "eon_halts"
GAMMA_LOG = "eon_gamma.log"
SECONDS_TO_FS = 1e15

SERVER_JOBS = frozenset(
    {"akmc", "parallel_replica", "unbiased_parallel_replica", "basin_hopping", "escape_rate"}
)

INSTALL_HINT = (
    "EON (eOn, https://github.com/TheochemUI/eOn) is not installed: no '{exe}' executable was found. "
    "Install it from conda-forge (`conda install -c conda-forge eon`, which provides `eonclient` and the Python "
    "server `python -m eon.server`) or build it from source with meson (see the eOn documentation). "
    "Note that the PyPI package named 'eon' is unrelated; EON's own PyPI name is 'eon-akmc'. "
    "Without EON, use the built-in kMC or MD exploration instead."
)


class EonNotInstalledError(RuntimeError):
    """EON's executables are missing: raised instead of a bare FileNotFoundError so the user knows what to do."""


# ---------------------------------------------------------------------------------------- preparing a run
@dataclass(frozen=True)
class EonRun:
    """The files of a prepared EON run directory."""

    workdir: Path
    pos_con: Path
    config_ini: Path
    wrapper: Path
    driver_json: Path
    halt_dir: Path
    gamma_log: Path


def baseline_to_dict(baseline) -> dict[str, Any] | None:
    """A Baseline as JSON-able data (the driver rebuilds the dataclass from it)."""
    if baseline is None:
        return None
    return {"kind": baseline.kind, "inner": baseline.inner, "outer": baseline.outer,
            "lj_params": [list(p) for p in baseline.lj_params]}  # fmt: skip


def baseline_from_dict(data: Mapping[str, Any] | None):
    """The Baseline dataclass from :func:`baseline_to_dict` data (None for no baseline)."""

    if data is None:
        return None
    params = tuple((str(a), str(b), float(e), float(s)) for a, b, e, s in data.get("lj_params", ()))
    return Baseline(str(data["kind"]), float(data.get("inner", 0.0)), float(data.get("outer", 0.0)), params)


def _resolve_baseline(baseline, elements: Sequence[str]):
    """Accept a Baseline, None, or the ``baseline:`` config section (which make_baseline turns into one)."""
    if baseline is None or hasattr(baseline, "kind"):
        return baseline
    if hasattr(baseline, "type"):
        return make_baseline(baseline, list(elements))
    raise TypeError(f"baseline must be a Baseline, a baseline config section or None, not {type(baseline)!r}")


def _wrapper_text(python: str, driver_json: Path) -> str:
    # PYTHONPATH: the driver imports this very pyacemaker, installed or not; the folder above the package, never
    # the package itself (its subpackages would shadow standard modules, e.g. select)
    root = Path(pyacemaker.__file__).resolve().parent.parent
    return (
        "#!/bin/sh\n"
        "# EON ext_pot program written by pyacemaker: EON runs it where it wrote from_eon_to_extpot;\n"
        "# it answers in from_extpot_to_eon and exits with 100 when ACE extrapolates (gamma > gamma_halt).\n"
        'export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"\n'
        'export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"\n'
        f'export PYTHONPATH={shlex.quote(str(root))}"${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        f"exec {shlex.quote(python)} -m pyacemaker.explore.kmc.eon_driver --config {shlex.quote(str(driver_json))}\n"
    )


@DRIVERS.register("eon")
def eon_kmc(
    atoms: Atoms, potential: Potential, run: RunCondition, explore: ExploreConfig, seed: int, workdir: Path
) -> Outcome:
    """EON's adaptive kMC with ACE + baseline through its ``ext_pot`` protocol; the driver exits 100 on a halt."""
    protocol = KMCProtocol.from_condition(run, explore, seed)
    prepare_eon_run(atoms, potential, protocol, workdir)
    return run_eon(workdir, explore.eon_command, steps=protocol.steps, timeout_s=explore.timeout_s)


def prepare_eon_run(
    atoms: Atoms,
    potential: Potential,
    protocol: KMCProtocol,
    workdir: str | Path,
    *,
    job: str = "akmc",
    absolute: bool = False,
    fixed: Sequence[int] | Sequence[bool] | np.ndarray | None = None,
    python: str | None = None,
    **ini_options: Any,
) -> EonRun:
    """Write an EON run directory: ``pos.con``, ``config.ini``, the ext_pot wrapper and the driver's JSON.

    The protocol gives EON's temperature, kMC steps and random seed, and the driver's halt threshold (an
    infinite ``watch.halt`` never halts, and then needs no active set). ``absolute`` makes the driver add the
    potential's isolated-atom energies (as its calculator's ``absolute``). ``potential.baseline`` may also be the
    ``baseline:`` config section. ``python`` is the interpreter the wrapper runs (default: this one).
    ``ini_options`` go to :func:`write_config_ini`. Paths are absolute because EON runs the wrapper in its own
    scratch directories.
    """
    elements = list(potential.elements)
    active_set = potential.asi
    gamma_halt = protocol.watch.halt if math.isfinite(protocol.watch.halt) else None
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(elements))
    if unknown:
        raise ValueError(f"the structure has elements {unknown} that the potential ({list(elements)}) lacks")
    if gamma_halt is not None and active_set is None:
        raise ValueError("gamma_halt needs the active set (.asi) to compute gamma")
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    halt_dir = workdir / HALT_DIR
    halt_dir.mkdir(exist_ok=True)
    for old in halt_dir.glob("*.extxyz"):
        old.unlink()
    gamma_log = workdir / GAMMA_LOG
    gamma_log.write_text("")
    pos = write_con(workdir / "pos.con", atoms, fixed)
    driver_json = workdir / DRIVER_JSON
    data = {
        "format": 1,
        "potential_yaml": str(Path(potential.yaml).absolute()),
        "active_set": str(Path(active_set).absolute()) if active_set is not None else None,
        "elements": list(elements),
        "reference_energies": dict(potential.reference_energies) if absolute else {},
        "baseline": baseline_to_dict(_resolve_baseline(potential.baseline, elements)),
        "gamma_halt": None if gamma_halt is None else float(gamma_halt),
        "halt_dir": str(halt_dir),
        "gamma_log": str(gamma_log),
    }
    driver_json.write_text(json.dumps(data, indent=2) + "\n")
    wrapper = workdir / WRAPPER_NAME
    wrapper.write_text(_wrapper_text(python or sys.executable, driver_json))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    ini = write_config_ini(
        workdir, temperature_K=protocol.temperature_K, job=job, steps=protocol.steps, ext_pot_path=wrapper,
        random_seed=protocol.seed, **ini_options,
    )  # fmt: skip
    return EonRun(workdir, pos, ini, wrapper, driver_json, halt_dir, gamma_log)


def read_halt_files(files: Sequence[Path], step: int = 0) -> list[Snapshot]:
    """Snapshots from the driver's halt files (extxyz with per-atom ``gamma`` and ``max_gamma`` in the info)."""
    frames = []
    for f in files:
        atoms = read(f, format="extxyz")
        per_atom = np.asarray(atoms.arrays.get("gamma", []), dtype=float)
        gamma = float(atoms.info.get("max_gamma", per_atom.max() if per_atom.size else float("nan")))
        atoms.calc = None
        frames.append(Snapshot(atoms, step, gamma, per_atom if per_atom.size else None))
    return frames


def read_halts(halt_dir: str | Path, step: int = 0) -> list[Snapshot]:
    """The configurations the driver kept when gamma exceeded gamma_halt, oldest first (names sort by time)."""
    return read_halt_files(sorted(Path(halt_dir).glob("*.extxyz")), step)


def read_gamma_log(path: str | Path, skip: int = 0) -> tuple[int, float]:
    """Number of force calls the driver answered (after the first ``skip``) and their largest max gamma."""
    path = Path(path)
    if not path.exists():
        return 0, 0.0
    vals = []
    for ln in path.read_text().splitlines()[skip:]:
        try:
            vals.append(float(ln.split()[0]))
        except (ValueError, IndexError):
            continue
    return len(vals), (max(vals) if vals else 0.0)


def _find_executable(name: str) -> str | None:
    if os.sep in name or (os.altsep and os.altsep in name):
        p = Path(name)
        return str(p.absolute()) if p.is_file() and os.access(p, os.X_OK) else None
    return shutil.which(name)


def _server_command(server: str | Sequence[str] | None, client: str) -> list[str]:
    """How to start EON's server: given, ``eon-server`` (newer EON), or ``python -m eon.server`` with the
    Python installed beside eonclient (conda environments), else this Python."""
    if server is not None:
        return shlex.split(server) if isinstance(server, str) else list(server)
    exe = shutil.which("eon-server")
    if exe:
        return [exe]
    py = Path(client).with_name("python")
    return [str(py) if py.is_file() else sys.executable, "-m", "eon.server"]


def _tail(text: str, n: int = 2000) -> str:
    return text[-n:].strip()


def run_eon(
    workdir: str | Path,
    eonclient: str = "eonclient",
    *,
    server: str | Sequence[str] | None = None,
    steps: int | None = None,
    max_rounds: int = 200,
    timeout_s: float | None = None,
    missing_ok: bool = False,
) -> Outcome:
    """Run EON in a directory from :func:`prepare_eon_run` and summarise it as an :class:`Outcome`.

    aKMC (and the other server jobs) run the EON server round by round (each round registers results and
    starts ``num_jobs`` eonclient jobs) until a halt file appears (the driver saw gamma > gamma_halt), the
    kMC step count reaches ``steps`` (default: [AKMC] max_kmc_steps), ``max_rounds`` or ``timeout_s``.
    Client jobs (minimization, process_search, ...) run ``eonclient`` once. Without ``eonclient`` this raises
    :class:`EonNotInstalledError`, or with ``missing_ok`` returns an outcome whose ``error`` says so.
    """
    workdir = Path(workdir).absolute()
    client = _find_executable(eonclient)
    if client is None:
        msg = INSTALL_HINT.format(exe=eonclient)
        if missing_ok:
            return Outcome(False, 0, 0.0, 0.0, None, error=msg, driver="eon")
        raise EonNotInstalledError(msg)
    ini_path = workdir / "config.ini"
    if not ini_path.exists():
        raise FileNotFoundError(f"{ini_path} is missing; prepare the run with prepare_eon_run")
    ini = read_config_ini(ini_path)
    job = ini.get("Main", "job", fallback="akmc")
    target = steps if steps is not None else ini.getint("AKMC", "max_kmc_steps", fallback=0)
    halt_dir, gamma_log = workdir / HALT_DIR, workdir / GAMMA_LOG
    before = set(halt_dir.glob("*.extxyz")) if halt_dir.exists() else set()
    calls_before = len(gamma_log.read_text().splitlines()) if gamma_log.exists() else 0
    env = {**os.environ, "PATH": str(Path(client).parent) + os.pathsep + os.environ.get("PATH", "")}
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    error: str | None = None
    rounds = 0

    def new_halts() -> bool:
        return halt_dir.exists() and bool(set(halt_dir.glob("*.extxyz")) - before)

    def run_once(cmd: list[str], log_name: str) -> subprocess.CompletedProcess | None:
        """One EON run, its output appended to ``log_name`` (returned as ``stdout``)."""
        nonlocal error
        remaining = None if deadline is None else max(1.0, deadline - time.monotonic())
        log = workdir / log_name
        with log.open("a") as fh:
            fh.write(f"$ {shlex.join(cmd)}\n")
        start = log.stat().st_size
        try:  # its own process group: the server's eonclient jobs and their ext_pot calls stop with it
            rc = run_proc(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, append=True,
                          timeout_s=remaining, grace_s=KILL_GRACE_S).returncode  # fmt: skip
        except ProcTimeout as exc:
            error = f"EON timed out after {timeout_s} s: {exc}"
            return None
        with log.open("rb") as fh:
            fh.seek(start)
            text = fh.read().decode(errors="replace")
        with log.open("a") as fh:
            fh.write(f"{text and not text.endswith(chr(10)) and chr(10) or ''}[exit {rc}]\n")
        return subprocess.CompletedProcess(cmd, rc, text, "")

    if job in SERVER_JOBS:
        if ini.get("Communicator", "client_path", fallback="eonclient") != client:
            ini.set("Communicator", "client_path", client)
            with ini_path.open("w") as fh:
                fh.write("# EON configuration written by pyacemaker (client_path set by run_eon)\n\n")
                ini.write(fh)
        cmd = _server_command(server, client)
        while rounds < max_rounds:
            rounds += 1
            proc = run_once(cmd, "eon_server.log")
            if proc is None or new_halts():
                break
            if proc.returncode != 0:
                error = f"EON server exited with {proc.returncode}: {_tail(proc.stdout + proc.stderr)}"
                break
            if target and len(parse_dynamics(workdir / "dynamics.txt")) >= target:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
    else:
        rounds = 1
        proc = run_once([client], "eonclient.log")
        if proc is not None and proc.returncode != 0 and not new_halts():
            error = f"eonclient exited with {proc.returncode}: {_tail(proc.stdout + proc.stderr)}"

    kmc = parse_dynamics(workdir / "dynamics.txt")
    steps_done = len(kmc)
    sim_s = kmc[-1]["total_time_s"] if kmc else 0.0
    fresh = sorted(set(halt_dir.glob("*.extxyz")) - before) if halt_dir.exists() else []
    halts = read_halt_files(fresh, steps_done)  # only this run's halts
    n_calls, max_gamma = read_gamma_log(gamma_log, skip=calls_before)
    if halts:
        max_gamma = max(max_gamma, max(f.gamma for f in halts))
    thermo: dict[str, float] = {"force_calls": float(n_calls), "eon_rounds": float(rounds),
                                "simulated_time_s": float(sim_s)}  # fmt: skip
    if kmc:
        thermo["barrier_mean_eV"] = float(np.mean([r.get("barrier_eV", np.nan) for r in kmc]))
    for k, v in parse_results_dat(workdir / "results.dat").items():
        if isinstance(v, float):
            thermo[f"results_{k}"] = v
    return Outcome(
        halted=bool(halts), steps_done=steps_done, simulated_time_fs=sim_s * SECONDS_TO_FS, max_gamma=max_gamma,
        halt_step=steps_done if halts else None, frames=halts, thermo=thermo, error=error, driver="eon",
    )  # fmt: skip
