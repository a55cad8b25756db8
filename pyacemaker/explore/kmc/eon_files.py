"""EON's file formats, written and read without EON: ``.con`` structures, the ``ext_pot`` exchange files,
``config.ini``, and the run's ``dynamics.txt``/``results.dat``.

What is known and what is guessed (EON is not installed where this was written; facts are from EON's own
sources and documentation, github.com/TheochemUI/eOn):
- ``.con``: client ``con2matter``/``matter2con``: 2 comment lines, box lengths, angles, 2 comment lines,
  component count, counts, masses, then per component a symbol line, ``Coordinates of Component k`` and
  ``x y z fixed atom_id``. The angles are (a^b, a^c, b^c), i.e. crystallographic (gamma, beta, alpha); EON
  rebuilds a lower-triangular cell (a along x, b in the xy plane) and treats exactly 90/90/90 as orthogonal.
  Positions are Cartesian. Atoms of one element must be contiguous. EON always uses periodic boundaries.
- ``ext_pot``: box as 3 rows (lattice vectors, per EON's documentation), then ``Z x y z`` per atom; the answer is
  the energy then ``fx fy fz`` per atom (eV, eV/A). Newer EON runs the program in a private ``extpot_<pid>_<n>``
  directory and treats a non-zero exit code as an error; older EON ignored the exit code.
- ``config.ini``: the keys written below all appear in EON's server option table (``eon/config.yaml``, which
  rejects unknown options) and in the client's ``Parameters::load``. Newer EON also reads ``config.toml``;
  INI is still accepted there (its ext_pot documentation uses ``config.ini``).
- aKMC is driven by the Python server (``python -m eon.server``, newer: ``eon-server``), one round per
  invocation, which starts ``eonclient`` jobs; single jobs (minimization, process_search...) are ``eonclient``.
- ``dynamics.txt`` (server ``fileio.Dynamics``): 2 header lines, then step, reactant, process, product,
  step-time, total-time, barrier, rate[, energy]; times in seconds (rates are in 1/s, prefactors ~1e12-1e13).
- ``results.dat``: ``value key`` per line (server ``parse_results``).
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.data import atomic_numbers

TO_EXTPOT = "from_eon_to_extpot"
FROM_EXTPOT = "from_extpot_to_eon"
WRAPPER_NAME = "pyacemaker_extpot"  # the executable EON's ext_pot_path names

# Jobs EON's server option table accepts for [Main] job; ``point`` is client-only (eonclient accepts it).
EON_JOBS = frozenset({
    "akmc", "process_search", "saddle_search", "minimization", "basin_hopping", "parallel_replica",
    "unbiased_parallel_replica", "escape_rate", "finite_difference", "hessian", "molecular_dynamics", "point",
})  # fmt: skip


# --------------------------------------------------------------------------------------------------- .con files
def _eon_angles(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box lengths and EON's angles (a^b, a^c, b^c) in degrees, as EON's matter2con computes them."""
    lengths = np.linalg.norm(cell, axis=1)

    def angle(i: int, j: int) -> float:
        c = float(np.dot(cell[i], cell[j]) / (lengths[i] * lengths[j]))
        return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))

    return lengths, np.array([angle(0, 1), angle(0, 2), angle(1, 2)])


def _eon_cell(lengths: Sequence[float], angles: Sequence[float]) -> np.ndarray:
    """The cell EON builds from a .con header: diagonal for exactly 90/90/90, else lower-triangular."""
    la, lb, lc = (float(x) for x in lengths)
    if all(float(a) == 90.0 for a in angles):
        return np.diag([la, lb, lc])
    ab, ac, bc = np.radians([float(a) for a in angles])
    cell = np.zeros((3, 3))
    cell[0, 0] = 1.0
    cell[1, 0], cell[1, 1] = np.cos(ab), np.sin(ab)
    cell[2, 0] = np.cos(ac)
    cell[2, 1] = (np.cos(bc) - cell[1, 0] * cell[2, 0]) / cell[1, 1]
    cell[2, 2] = np.sqrt(max(0.0, 1.0 - cell[2, 0] ** 2 - cell[2, 1] ** 2))
    return cell * np.array([la, lb, lc])[:, None]


def _fixed_mask(atoms: Atoms, fixed: Sequence[int] | Sequence[bool] | np.ndarray | None) -> np.ndarray:
    n = len(atoms)
    if fixed is None:
        mask = np.zeros(n, dtype=bool)
        for c in atoms.constraints:
            if isinstance(c, FixAtoms):
                mask[c.get_indices()] = True
        return mask
    arr = np.asarray(fixed)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"fixed mask has shape {arr.shape}, expected ({n},)")
        return arr.copy()
    mask = np.zeros(n, dtype=bool)
    mask[arr.astype(int)] = True
    return mask


def write_con(
    path: str | Path, atoms: Atoms, fixed: Sequence[int] | Sequence[bool] | np.ndarray | None = None
) -> Path:
    """Write ``atoms`` as an EON ``.con`` file (EON's reactant/pos.con).

    Atoms are grouped by element (EON needs each element contiguous), elements in order of first appearance,
    atoms of one element in their original order; each line carries the original index as its atom id so
    :func:`read_con` restores the order. ``fixed`` (mask or indices) defaults to the atoms' FixAtoms.
    A cell not in EON's orientation (a along x, b in the xy plane) is rotated rigidly into it, as EON
    would rebuild it from lengths and angles anyway.

    Not ``ase.io``'s ``eon`` format: ASE (3.29) writes a running counter as the atom id (the order is lost
    on reading), reads the angle line as (alpha, beta, gamma) whereas EON writes (a^b, a^c, b^c) (so
    triclinic cells with alpha != gamma come back wrong), writes Cartesian positions without rotating them
    into the cell EON rebuilds, and reads the structure back without periodic boundaries.
    """
    path = Path(path)
    if atoms.cell.rank < 3:
        raise ValueError("EON needs a periodic box: the .con header has box lengths; give the atoms a cell")
    cell = np.array(atoms.cell)
    lengths, angles = _eon_angles(cell)
    orthogonal = bool(np.allclose(angles, 90.0, atol=1e-9))
    if orthogonal:
        angles = np.array([90.0, 90.0, 90.0])
    target = _eon_cell(lengths, angles)
    positions = atoms.get_positions()
    if not np.allclose(cell, target, atol=1e-10 * max(1.0, float(lengths.max()))):
        positions = (
            atoms.cell.scaled_positions(positions) @ target
        )  # the same fractional coordinates in EON's cell
    mask = _fixed_mask(atoms, fixed)
    symbols = atoms.get_chemical_symbols()
    masses = atoms.get_masses()
    order: list[str] = list(dict.fromkeys(symbols))
    groups = {s: [i for i, x in enumerate(symbols) if x == s] for s in order}
    comp_masses = []
    for s in order:
        m = masses[groups[s]]
        if np.ptp(m) > 1e-8:
            raise ValueError(f"EON takes one mass per element; the {s} atoms have different masses")
        comp_masses.append(float(m[0]))
    angle_text = "\t".join("90.0" if orthogonal else f"{a:.12f}" for a in angles)
    lines = [
        "Generated by pyacemaker (EON .con)",
        "atom ids are the 0-based indices of the original structure",
        "\t".join(f"{x:.12f}" for x in lengths),
        angle_text,
        "0 0",
        "0 0 0",
        str(len(order)),
        " ".join(str(len(groups[s])) for s in order),
        " ".join(f"{m:.6f}" for m in comp_masses),
    ]
    for k, s in enumerate(order, 1):
        lines.append(s)
        lines.append(f"Coordinates of Component {k}")
        for i in groups[s]:
            x, y, z = positions[i]
            lines.append(f"{x:22.17f} {y:22.17f} {z:22.17f} {int(mask[i])} {i:4d}")
    path.write_text("\n".join(lines) + "\n")
    return path


def read_con(path: str | Path) -> Atoms:
    """Read the first structure of an EON ``.con`` file (periodic, with FixAtoms for fixed atoms).

    When the atom ids are a permutation of 0..N-1 (or 1..N, as EON's Python side writes them) the atoms come
    back in id order, which undoes the grouping by element of :func:`write_con`; otherwise in file order.
    """
    lines = Path(path).read_text().splitlines()
    if len(lines) < 9:
        raise ValueError(f"{path}: too short for an EON .con file")
    lengths = [float(x) for x in lines[2].split()[:3]]
    angles = [float(x) for x in lines[3].split()[:3]]
    ncomp = int(lines[6].split()[0])
    counts = [int(x) for x in lines[7].split()[:ncomp]]
    masses = [float(x) for x in lines[8].split()[:ncomp]]
    if len(counts) != ncomp or len(masses) != ncomp:
        raise ValueError(f"{path}: {ncomp} components but {len(counts)} counts and {len(masses)} masses")
    symbols: list[str] = []
    pos: list[list[float]] = []
    fixed: list[bool] = []
    ids: list[int | None] = []
    atom_masses: list[float] = []
    row = 9
    for k in range(ncomp):
        symbol = lines[row].split()[0]
        row += 2  # the symbol and "Coordinates of Component k"
        if symbol not in atomic_numbers:
            raise ValueError(f"{path}: unknown element {symbol!r} in component {k + 1}")
        for _ in range(counts[k]):
            tok = lines[row].split()
            row += 1
            pos.append([float(t) for t in tok[:3]])
            fixed.append(len(tok) > 3 and int(tok[3]) != 0)
            ids.append(int(tok[4]) if len(tok) > 4 else None)
            symbols.append(symbol)
            atom_masses.append(masses[k])
    n = len(symbols)
    order = np.arange(n)
    if n and None not in ids:
        id_arr = np.array(ids)
        for base in (0, 1):
            if sorted(id_arr.tolist()) == list(range(base, n + base)):
                order = np.argsort(id_arr, kind="stable")
                break
    atoms = Atoms(
        symbols=[symbols[i] for i in order],
        positions=np.array(pos).reshape(-1, 3)[order],
        cell=_eon_cell(lengths, angles),
        pbc=True,
        masses=[atom_masses[i] for i in order],
    )
    fixed_arr = np.array(fixed, dtype=bool)[order]
    if fixed_arr.any():
        atoms.set_constraint(FixAtoms(mask=fixed_arr))
    return atoms


# ----------------------------------------------------------------------------------------- ext_pot exchange files
def write_extpot_input(path: str | Path, atoms: Atoms) -> Path:
    """Write ``from_eon_to_extpot`` as EON's ExtPot does (tab-separated box rows, then ``Z x y z``).

    EON writes this file itself; pyacemaker needs it only to call the driver the way EON would (tests, checks).
    """
    path = Path(path)
    box = np.array(atoms.cell) if atoms.cell.rank == 3 else np.zeros((3, 3))
    out = ["\t".join(f"{v:.19f}" for v in r) for r in box]
    for z, (x, y, w) in zip(atoms.numbers, atoms.positions, strict=True):
        out.append(f"{int(z)}\t{x:.19f}\t{y:.19f}\t{w:.19f}")
    path.write_text("\n".join(out) + "\n")
    return path


def read_extpot_input(path: str | Path) -> Atoms:
    """The structure EON sent: periodic in the 3-row box, or free boundaries when EON sends a zero box.

    The rows are read as lattice vectors (EON's documentation). EON's cells are lower-triangular, so an
    upper-triangular box can only be the transposed (column-major) layout and is transposed back.
    """
    rows = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if len(rows) < 3:
        raise ValueError(f"{path}: expected 3 box lines, found {len(rows)} lines")
    box = np.array([[float(v) for v in r[:3]] for r in rows[:3]])
    numbers = [int(float(r[0])) for r in rows[3:]]
    positions = np.array([[float(v) for v in r[1:4]] for r in rows[3:]]).reshape(-1, 3)
    if not np.any(box):
        return Atoms(numbers=numbers, positions=positions, pbc=False)
    if not np.allclose(box, np.tril(box)) and np.allclose(box, np.triu(box)):
        box = box.T
    return Atoms(numbers=numbers, positions=positions, cell=box, pbc=True)


def write_extpot_output(path: str | Path, energy: float, forces: np.ndarray) -> Path:
    """Write ``from_extpot_to_eon``: the energy, then ``fx fy fz`` per atom in EON's atom order."""
    path = Path(path)
    lines = [f"{float(energy):.16e}"] + [
        f"{fx:.16e} {fy:.16e} {fz:.16e}" for fx, fy, fz in np.asarray(forces)
    ]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def read_extpot_output(path: str | Path) -> tuple[float, np.ndarray]:
    """Energy and forces from ``from_extpot_to_eon`` (what EON would read back)."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    return float(lines[0]), np.array([[float(v) for v in ln.split()[:3]] for ln in lines[1:]]).reshape(-1, 3)


# ------------------------------------------------------------------------------------------------- config.ini
def _ini_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def write_config_ini(
    workdir: str | Path,
    *,
    temperature_K: float,
    job: str = "akmc",
    potential: str = "ext_pot",
    steps: int,
    ext_pot_path: str | Path | None = None,
    random_seed: int = 0,
    confidence: float = 0.95,
    thermally_accessible_window: float = 20.0,
    client_path: str = "eonclient",
    n_cpus: int = 1,
    searches_per_round: int = 2,
    saddle_max_energy: float = 10.0,
    displace_magnitude: float = 0.1,
    displace_radius: float = 3.3,
    converged_force: float = 0.01,
    max_iterations: int = 1000,
    prefactor: float | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write EON's ``config.ini`` for an ACE-driven run; returns its path.

    ``steps`` is the number of kMC steps ([AKMC] max_kmc_steps; EON itself stops there only in MPI or
    continuous mode, :func:`run_eon` stops the local rounds there). ``searches_per_round`` process searches
    are started per server round ([Communicator] num_jobs), ``n_cpus`` of them at once. ``prefactor`` fixes
    the hTST prefactor (1/s) instead of computing it from finite-difference Hessians, which costs many force
    calls (each one a new driver process). ``extra`` adds or overrides keys per section; EON's server rejects
    unknown options, so keep to the documented ones. Defaults follow EON's own examples; the displacement
    radius (3.3 A, about the first neighbour shell of a metal) is a choice, EON's default is 5 A.
    """
    if job not in EON_JOBS:
        raise ValueError(f"unknown EON job {job!r}; one of {sorted(EON_JOBS)}")
    if steps < 0:
        raise ValueError("steps must be >= 0")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sections: dict[str, dict[str, Any]] = {
        "Main": {"job": job, "temperature": float(temperature_K), "random_seed": int(random_seed)},
        "Potential": {"potential": potential},
        "Communicator": {
            "type": "local", "client_path": client_path, "number_of_CPUs": int(n_cpus),
            "num_jobs": int(searches_per_round),
        },
        "AKMC": {
            "confidence": float(confidence), "thermally_accessible_window": float(thermally_accessible_window),
            "max_kmc_steps": int(steps),
        },
        "Process Search": {"minimize_first": True},
        "Saddle Search": {
            "method": "min_mode", "min_mode_method": "dimer", "displace_magnitude": float(displace_magnitude),
            "displace_radius": float(displace_radius), "max_energy": float(saddle_max_energy),
        },
        "Optimizer": {"opt_method": "lbfgs", "converged_force": float(converged_force),
                      "max_iterations": int(max_iterations)},
    }  # fmt: skip
    if potential == "ext_pot":
        # absolute: EON copies the configuration into per-job scratch directories and runs the program there
        sections["Potential"]["ext_pot_path"] = str(Path(ext_pot_path or workdir / WRAPPER_NAME).absolute())
    if prefactor is not None:
        sections["Prefactor"] = {"default_value": float(prefactor)}
    for sec, kv in (extra or {}).items():
        sections.setdefault(sec, {}).update(kv)
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep EON's spelling (number_of_CPUs)
    for sec, kv in sections.items():
        parser[sec] = {k: _ini_value(v) for k, v in kv.items()}
    path = workdir / "config.ini"
    with path.open("w") as fh:
        fh.write(
            "# EON configuration written by pyacemaker; the potential is ACE (+ baseline) via ext_pot\n\n"
        )
        parser.write(fh)
    return path


def read_config_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path)
    return parser


# ------------------------------------------------------------------------------------------ reading results
def parse_dynamics(path: str | Path) -> list[dict[str, float]]:
    """The kMC steps of EON's ``dynamics.txt`` (times in seconds); [] when the file is missing."""
    path = Path(path)
    if not path.exists():
        return []
    names = ("step", "reactant", "process", "product", "step_time_s", "total_time_s", "barrier_eV",
             "rate_per_s")  # fmt: skip
    rows = []
    for ln in path.read_text().splitlines():
        tok = ln.split()
        if len(tok) < 6 or not tok[0].lstrip("-").isdigit():
            continue  # the header and the dashed line
        try:
            rows.append({k: float(v) for k, v in zip(names, tok, strict=False)})
        except ValueError:
            continue
    return rows


def parse_results_dat(path: str | Path) -> dict[str, float | str]:
    """EON's ``results.dat`` (``value key`` per line) as a dict; numbers as float."""
    path = Path(path)
    out: dict[str, float | str] = {}
    if not path.exists():
        return out
    for ln in path.read_text().splitlines():
        tok = ln.split()
        if len(tok) < 2:
            continue
        try:
            out[tok[1]] = float(tok[0])
        except ValueError:
            out[tok[1]] = tok[0]
    return out
