"""EON's ``ext_pot`` program: ACE (+ baseline) energy and forces for EON, and a stop when ACE extrapolates.

EON writes ``from_eon_to_extpot`` in a directory and runs the wrapper :func:`pyacemaker.explore.kmc.eon.prepare_eon_run`
wrote there (``python -m pyacemaker.explore.kmc.eon_driver --config eon_driver.json``); this reads the structure,
evaluates the fitted potential, writes ``from_extpot_to_eon`` and appends the call's max gamma to a log.
When max gamma > gamma_halt it also writes the structure (extxyz, per-atom ``gamma``) into the halt directory
and exits with 100, which newer EON treats as a failed force call (the search stops); the answer file is
written first so that older EON, which ignores the exit code, still reads valid numbers.

Exit codes: 0 answered, 100 halted (answered too), 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from pyacemaker.explore.kmc.eon import HALT_EXIT_CODE, baseline_from_dict
from pyacemaker.explore.kmc.eon_files import FROM_EXTPOT, TO_EXTPOT, read_extpot_input, write_extpot_output
from pyacemaker.train.pacemaker import calculator


def load_settings(path: str | Path) -> dict[str, Any]:
    """The JSON prepare_eon_run wrote next to the wrapper."""
    data = json.loads(Path(path).read_text())
    for key in ("potential_yaml", "elements", "halt_dir"):
        if key not in data:
            raise KeyError(f"{path} lacks {key!r}")
    return data


def _write_halt(
    atoms, per_atom: np.ndarray, energy: float, forces: np.ndarray, settings: dict[str, Any]
) -> Path:
    """Keep the extrapolating structure where run_eon looks; atomic rename so a reader never sees half a file."""
    halt_dir = Path(settings["halt_dir"])
    halt_dir.mkdir(parents=True, exist_ok=True)
    a = atoms.copy()
    a.arrays["gamma"] = per_atom.astype(float)
    a.info.update(max_gamma=float(per_atom.max()), gamma_halt=float(settings["gamma_halt"]),
                  source="eon ext_pot", exchange_dir=str(Path.cwd()))  # fmt: skip
    a.calc = SinglePointCalculator(a, energy=energy, forces=forces)
    name = f"halt_{time.time_ns():020d}_{os.getpid()}.extxyz"
    tmp = halt_dir / f".{name}.tmp"
    write(tmp, a, format="extxyz")
    final = halt_dir / name
    os.replace(tmp, final)
    return final


def evaluate(workdir: Path, settings: dict[str, Any]) -> int:
    """Answer one EON force call in ``workdir``; returns the exit code."""

    atoms = read_extpot_input(workdir / TO_EXTPOT)
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(settings["elements"]))
    if unknown:
        print(f"pyacemaker eon_driver: elements {unknown} are not in the potential {settings['elements']}",
              file=sys.stderr)  # fmt: skip
        return 2
    calc = calculator(
        Path(settings["potential_yaml"]),
        Path(settings["active_set"]) if settings.get("active_set") else None,
        baseline_from_dict(settings.get("baseline")),
        settings.get("reference_energies") or {},
    )
    atoms.calc = calc
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces(), dtype=float)
    write_extpot_output(workdir / FROM_EXTPOT, energy, forces)
    gamma = calc.results.get("gamma")
    per_atom = np.asarray(gamma, dtype=float).reshape(-1) if gamma is not None else np.zeros(0)
    max_gamma = float(per_atom.max()) if per_atom.size else 0.0
    if settings.get("gamma_log"):
        with open(settings["gamma_log"], "a") as fh:  # one short line per call: appends stay whole
            fh.write(f"{max_gamma:.6g} {len(atoms)}\n")
    halt = settings.get("gamma_halt")
    if halt is not None and per_atom.size and max_gamma > float(halt):
        path = _write_halt(atoms, per_atom, energy, forces, settings)
        print(f"pyacemaker eon_driver: max gamma {max_gamma:.3g} > {halt}: kept {path}, stopping EON",
              file=sys.stderr)  # fmt: skip
        return HALT_EXIT_CODE
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m pyacemaker.explore.kmc.eon_driver --config eon_driver.json [--workdir DIR]``."""
    parser = argparse.ArgumentParser(description="EON ext_pot program evaluating a pyacemaker ACE potential")
    parser.add_argument("--config", required=True, help="the JSON written by prepare_eon_run")
    parser.add_argument(
        "--workdir", default=".", help="where from_eon_to_extpot is (EON's exchange directory)"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        return evaluate(Path(args.workdir), settings)
    except (OSError, KeyError, ValueError) as exc:
        print(f"pyacemaker eon_driver: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
