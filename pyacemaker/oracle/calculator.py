"""Any oracle as an ASE calculator, so the validators run the same functions on the oracle as on the potential."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes


class Computes(Protocol):
    """What the calculator needs of an oracle (:meth:`pyacemaker.oracle.base.Oracle.compute`)."""

    def compute(self, atoms: Atoms, workdir: Path) -> tuple[float, Any, Any, list[dict]]: ...


class OracleCalculator(Calculator):
    """An oracle as an ASE calculator, each call in a fresh directory under ``workdir``. Energies include nothing
    but what the oracle reports.

    ``counter`` numbers the call directories; calculators that share a workdir must share it, or a later
    calculator's ``call_00001`` would be an earlier one's finished run (which a DFT oracle reuses)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, oracle: Computes, workdir: Path, counter: Iterator[int] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.oracle, self.workdir, self.calls = oracle, Path(workdir), 0
        self.counter = counter

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        n = self.calls if self.counter is None else next(self.counter)
        wd = self.workdir / f"call_{n:05d}"
        wd.mkdir(parents=True, exist_ok=True)
        e, f, s, _ = self.oracle.compute(self.atoms.copy(), wd)
        self.results = {"energy": e, "free_energy": e, "forces": np.asarray(f)}
        if s is not None:
            self.results["stress"] = np.asarray(s)
