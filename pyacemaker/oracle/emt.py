"""ASE's EMT as an oracle: real (if simple) physics in milliseconds, for demos, tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT

from pyacemaker.config.schema import OracleSettings
from pyacemaker.elements import EMT_ELEMENTS
from pyacemaker.oracle.base import Oracle, OracleFailure
from pyacemaker.plugins import ORACLES


class EMTSettings(OracleSettings):
    """ASE's effective-medium theory: a cheap, real ground truth for Al Cu Ag Au Ni Pd Pt H C N O."""

    type: Literal["emt"] = "emt"
    supported_elements: ClassVar[tuple[str, ...] | None] = EMT_ELEMENTS
    cost: ClassVar[Literal["cheap", "dft"]] = "cheap"
    title: ClassVar[str | None] = "EMT"


@ORACLES.register("emt")
class EMTOracle(Oracle):
    name = "emt"
    settings_model = EMTSettings

    def calculator_factory(self, workdir: Path) -> Callable[[], EMT]:
        """ASE's own EMT calculator: in-process, nothing written."""
        return EMT

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
