"""ASE's EMT as an oracle: real (if simple) physics in milliseconds, for demos, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT

from pyacemaker.oracle.base import Oracle, OracleFailure
from pyacemaker.plugins import ORACLES


@ORACLES.register("emt")
class EMTOracle(Oracle):
    name = "emt"

    def compute(self, atoms: Atoms, workdir: Path) -> tuple[float, np.ndarray, np.ndarray | None, list[dict]]:
        atoms = atoms.copy()
        atoms.calc = EMT()
        try:
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
            stress = atoms.get_stress(voigt=True) if atoms.cell.rank == 3 and all(atoms.pbc) else None
        except (NotImplementedError, KeyError) as exc:
            raise OracleFailure(f"EMT cannot evaluate this structure: {exc}") from None
        return float(energy), forces, stress, []

    def reference_energy(self, element: str, workdir: Path) -> float:
        atom = Atoms(element, positions=[[0, 0, 0]], cell=[12, 12, 12], pbc=False)
        atom.calc = EMT()
        return float(atom.get_potential_energy())
