"""pw.x inputs and outputs: one run directory holds the structure, the settings, the numeric overrides that
healing applied, the input file and the output. Handlers change only ``overrides.json`` and re-render the input."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read, write

from pyacemaker.oracle.espresso.settings import EspressoSettings

PW_IN, PW_OUT, PW_ERR = "pw.in", "pw.out", "pw.err"
STRUCTURE, SETTINGS, OVERRIDES = "structure.extxyz", "settings.json", "overrides.json"
OUTDIR = "tmp"

# What pw.x prints for each failure class (docs/toolchain.md lists how each was reproduced here).
SIGNATURES: dict[str, str] = {
    "scf_not_converged": r"convergence NOT achieved after\s+\d+\s+iterations: stopping",
    "walltime": r"Maximum CPU time exceeded",
    "diagonalization": r"Error in routine (c|r)diaghg|S matrix not positive definite|problems computing cholesky|"
    r"Error in routine (cdiagh|rdiagh|cegterg|regterg|h_psi|ppcg|cg_)",
    "charge_wrong": r"charge is wrong",
    "too_few_bands": r"too few bands",
    "missing_pseudo": r"Error in routine readpp|file .* not found",
    "out_of_memory": r"Cannot allocate memory|Error allocating|insufficient virtual memory|std::bad_alloc",
    "crash": r"%%%%%%%%%%%%%%%%%%%%",
}
CONVERGED = "convergence has been achieved in"
TOTAL_ENERGY = re.compile(r"^!\s+total energy", re.M)
JOB_DONE = "JOB DONE."
FORCES_HEADER = "Forces acting on atoms"
FORCE_LINE = re.compile(r"^\s*atom\s+\d+\s+type\s+\d+\s+force\s+=(\s+\S+){3}\s*$", re.M)
STRESS_BLOCK = re.compile(r"total\s+stress\s+\(Ry/bohr\*\*3\).*\n(?:[ \t]*(?:\S+[ \t]+){5}\S+[ \t]*\n){3}")
NAT = re.compile(r"number of atoms/cell\s*=\s*(\d+)")
# written by healing.PwJob when pw.x ran past its hard time limit and its process group was stopped
TIMEOUT_MARK = "pw.timeout"


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def detect_errors(directory: Path) -> list[str]:
    """Failure classes whose signatures appear in pw.x's output or error stream (empty: none seen)."""
    text = (
        read_text(directory / PW_OUT) + "\n" + read_text(directory / PW_ERR) + read_text(directory / "CRASH")
    )
    found = [name for name, pat in SIGNATURES.items() if re.search(pat, text)]
    if (directory / TIMEOUT_MARK).is_file():
        found.insert(0, "timeout")
    if len(found) > 1 and "crash" in found:
        found.remove("crash")  # the banner is generic: keep the specific cause
    return found


def restartable(directory: Path) -> bool:
    """pw.x stopped cleanly at ``max_seconds`` and wrote its state to the outdir (the data file and the charge
    density): ``restart_mode='restart'`` continues the SCF from there (``Calculation restarted from scf
    iteration #``)."""
    save = directory / OUTDIR / "pwscf.save"
    density = any(save.glob("charge-density.*"))
    return "walltime" in detect_errors(directory) and (save / "data-file-schema.xml").is_file() and density


def same_structure(directory: Path, atoms: Atoms) -> bool:
    """The run directory was prepared for ``atoms`` (same species, cell and positions, to the precision the
    extxyz file keeps): its saved state belongs to this structure."""
    try:
        old = read(directory / STRUCTURE, format="extxyz")
    except Exception:  # noqa: BLE001  (missing or unreadable: not this structure's state)
        return False
    return (
        len(old) == len(atoms)
        and list(old.numbers) == list(atoms.numbers)
        and np.allclose(old.cell.array, atoms.cell.array, atol=1e-6)
        and np.allclose(old.positions, atoms.positions, atol=1e-6)
    )


def _flag(pw_in: str, key: str) -> bool:
    """A logical of pw.in's namelists (True when pw.in is missing or does not set it: base_input sets both)."""
    m = re.search(rf"^\s*{key}\s*=\s*\.?(\w+)\.?", pw_in, re.M | re.I)
    return m is None or m.group(1).lower() in ("true", "t")


def missing_parts(directory: Path) -> list[str]:
    """What a finished pw.x output lacks: the final total energy, the forces block (every atom, then ``Total
    force``; when pw.in asks for forces), the stress tensor (when it asks for stress) and ``JOB DONE.``. A pw.x
    killed while writing its forces leaves an output with a converged SCF and an energy: without this check it
    would be reused (and fail to parse) forever."""
    out = read_text(directory / PW_OUT)
    pw_in = read_text(directory / PW_IN)
    missing = []
    if not TOTAL_ENERGY.search(out):
        missing.append("final total energy")
    if _flag(pw_in, "tprnfor"):
        start = out.rfind(FORCES_HEADER)
        end = out.find("Total force", start) if start >= 0 else -1
        nat = NAT.search(out)
        if start < 0 or end < 0 or (nat and len(FORCE_LINE.findall(out, start, end)) < int(nat.group(1))):
            missing.append("forces")
    if _flag(pw_in, "tstress") and not STRESS_BLOCK.search(out):
        missing.append("stress")
    if JOB_DONE not in out:
        missing.append(JOB_DONE)
    return missing


def succeeded(directory: Path) -> bool:
    """pw.x success: converged SCF and a complete output (final total energy, forces and stress blocks when asked
    for, ``JOB DONE.``), no failure signature (``JOB DONE.`` alone is printed even after a failure)."""
    out = read_text(directory / PW_OUT)
    return CONVERGED in out and not missing_parts(directory) and not detect_errors(directory)


def scf_accuracies(directory: Path) -> list[float]:
    """The 'estimated scf accuracy' of each SCF iteration so far (Ry), for the divergence monitor."""
    return [
        float(x)
        for x in re.findall(r"estimated scf accuracy\s+<\s+([0-9.Ee+-]+)", read_text(directory / PW_OUT))
    ]


# ----------------------------------------------------------------------------------------------- input
def base_input(oracle: EspressoSettings, atoms: Atoms) -> dict[str, Any]:
    """pw.x namelists from the resolved oracle settings (physics) for one structure."""
    system: dict[str, Any] = {
        "ecutwfc": oracle.ecutwfc,
        "ecutrho": oracle.ecutrho,
        "occupations": oracle.occupations,
        "input_dft": oracle.functional.upper() if oracle.functional != "PBEsol" else "PBESOL",
    }
    if oracle.occupations == "smearing":
        system.update(smearing=oracle.smearing, degauss=oracle.degauss)
    if oracle.spin_polarized:
        system["nspin"] = 2
    return {
        "control": {
            "calculation": "scf", "prefix": "pwscf", "outdir": OUTDIR, "pseudo_dir": oracle.pseudo_dir,
            "tprnfor": True, "tstress": True, "disk_io": "low",
            **({"max_seconds": oracle.max_seconds} if oracle.max_seconds else {}),
        },
        "system": system,
        "electrons": {
            "conv_thr": oracle.conv_thr_per_atom * max(1, len(atoms)),
            "electron_maxstep": oracle.electron_maxstep,
            "mixing_beta": oracle.mixing_beta,
        },
    }  # fmt: skip


def prepare(directory: Path, atoms: Atoms, oracle: EspressoSettings) -> None:
    """Write the structure, settings and an empty overrides file, then render pw.in."""
    directory.mkdir(parents=True, exist_ok=True)
    write(directory / STRUCTURE, atoms, format="extxyz")
    (directory / SETTINGS).write_text(json.dumps(oracle.model_dump(mode="json"), indent=1))
    if not (directory / OVERRIDES).exists():
        (directory / OVERRIDES).write_text("{}")
    render(directory)


def load_overrides(directory: Path) -> dict[str, dict[str, Any]]:
    return json.loads(read_text(directory / OVERRIDES) or "{}")


def apply_overrides(directory: Path, changes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge numeric changes (namelist -> key -> value) into the run's overrides and re-render pw.in."""
    ov = load_overrides(directory)
    for section, kv in changes.items():
        ov.setdefault(section, {}).update(kv)
    (directory / OVERRIDES).write_text(json.dumps(ov, indent=1))
    render(directory)
    return ov


def render(directory: Path, max_seconds_cap: float | None = None) -> None:
    """pw.in from structure + settings + overrides (kept separate so the physics can be audited unchanged).

    ``max_seconds_cap`` lowers ``max_seconds`` for this run only (the time left in the batch allocation): it is
    written to pw.in, never to the overrides, so a later run in a new allocation gets its own."""
    from ase.io.espresso import write_espresso_in

    atoms = read(directory / STRUCTURE, format="extxyz")
    oracle = EspressoSettings.model_validate(json.loads(read_text(directory / SETTINGS)))
    data = base_input(oracle, atoms)
    for section, kv in load_overrides(directory).items():
        data.setdefault(section, {}).update(kv)
    if max_seconds_cap is not None:
        limit = data["control"].get("max_seconds")
        data["control"]["max_seconds"] = round(
            max_seconds_cap if limit is None else min(limit, max_seconds_cap), 2
        )
    if oracle.spin_polarized:
        mags = oracle.starting_magnetization or {}
        atoms.set_initial_magnetic_moments([mags.get(s, 0.0) for s in atoms.get_chemical_symbols()])
    kpts = kpoint_grid(atoms, oracle.kspacing)
    with open(directory / PW_IN, "w") as fh:
        write_espresso_in(fh, atoms, input_data=data, pseudopotentials=oracle.pseudopotentials,
                          kpts=kpts, koffset=(0, 0, 0))  # fmt: skip


def kpoint_grid(atoms: Atoms, kspacing: float) -> tuple[int, int, int] | None:
    """Monkhorst-Pack grid with spacing ``kspacing`` (2pi/A) along periodic axes; None (Gamma) when all are 1."""
    rec = atoms.cell.reciprocal()
    grid = []
    for i in range(3):
        n = 1
        if atoms.pbc[i]:
            n = max(1, int(np.ceil(2 * np.pi * np.linalg.norm(rec[i]) / kspacing - 1e-9)))
        grid.append(n)
    return None if grid == [1, 1, 1] else (grid[0], grid[1], grid[2])


# ----------------------------------------------------------------------------------------------- output
@dataclass
class PwResult:
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    scf_iterations: int
    extra: dict[str, Any] = field(default_factory=dict)


def parse(directory: Path) -> PwResult:
    """Energy (eV), forces (eV/A) and Voigt stress (eV/A^3) of a successful run (ASE's espresso-out reader)."""
    if not succeeded(directory):
        why = detect_errors(directory) or [
            f"incomplete output, missing: {', '.join(missing_parts(directory))}"
        ]
        raise ValueError(f"pw.x did not finish successfully in {directory}: {why}")
    atoms = read(directory / PW_OUT, format="espresso-out", index=-1)
    out = read_text(directory / PW_OUT)
    m = re.findall(r"convergence has been achieved in\s+(\d+)\s+iterations", out)
    stress = None
    try:
        stress = atoms.get_stress(voigt=True)
    except Exception:  # noqa: BLE001  (no stress printed, e.g. a molecule)
        stress = None
    return PwResult(atoms.get_potential_energy(), atoms.get_forces(), stress, int(m[-1]) if m else 0)
