"""Shared pieces of the validators: the calculator-factory type, a JSON-safe structure and a symmetric relaxation.

Validators take a *factory* (a callable returning a fresh ASE calculator) rather than a calculator, so that each
property starts from a clean calculator state and the same function runs unchanged with the potential or the oracle.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pydantic import BaseModel, ConfigDict

CalculatorFactory = Callable[[], Calculator]


class Frame(BaseModel):
    """A structure as plain lists, so that results holding one serialise to JSON and MongoDB unchanged."""

    model_config = ConfigDict(extra="forbid")

    symbols: list[str]
    positions: list[list[float]]
    cell: list[list[float]]
    pbc: list[bool] = [True, True, True]

    @classmethod
    def from_atoms(cls, atoms: Atoms) -> Frame:
        """Copy the geometry (not the calculator) of ``atoms``."""
        return cls(symbols=atoms.get_chemical_symbols(), positions=atoms.positions.tolist(),
                   cell=np.asarray(atoms.cell).tolist(), pbc=[bool(p) for p in atoms.pbc])  # fmt: skip

    def to_atoms(self) -> Atoms:
        """A fresh ``Atoms`` without calculator."""
        return Atoms(self.symbols, positions=self.positions, cell=self.cell, pbc=self.pbc)


def finite(x: Any) -> bool:
    """True when every number in ``x`` is finite (a NaN anywhere means the calculator broke)."""
    return bool(np.all(np.isfinite(np.asarray(x, dtype=float))))


def fnum(x: float | None) -> float | None:
    """A float for a JSON field: ``None`` instead of NaN/inf, which JSON cannot carry."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def relax(
    atoms: Atoms,
    calc: Calculator,
    *,
    cell: bool = True,
    fmax: float = 1e-3,
    steps: int = 300,
    symprec: float | None = 1e-4,
) -> tuple[Atoms, bool]:
    """Relax ions (and the cell, at zero pressure) keeping the space group, returning (relaxed copy, converged).

    Properties are taken at each model's own equilibrium, as is usual when comparing a potential with its oracle;
    ``FixSymmetry`` keeps the high-symmetry structure so that band paths and elastic tensors stay comparable.
    """
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    a = atoms.copy()
    a.calc = calc
    if symprec is not None:
        a.set_constraint(FixSymmetry(a, symprec=symprec))
    target = FrechetCellFilter(a) if cell else a
    opt = BFGS(target, logfile=None)
    try:
        with warnings.catch_warnings():  # FixSymmetry warns on large cell steps, which a broken model makes
            warnings.simplefilter("ignore", UserWarning)
            converged = bool(opt.run(fmax=fmax, steps=steps))
    except Exception:  # a broken model may raise anywhere; the caller reports it as unconverged
        converged = False
    a.set_constraint()
    a.calc = None
    return a, converged and finite(a.positions) and finite(a.cell)


def strained(atoms: Atoms, strain_voigt: Sequence[float]) -> Atoms:
    """A copy of ``atoms`` under a homogeneous strain given in Voigt form (xx, yy, zz, yz, xz, xy; shears as
    engineering strains, i.e. 2*eps_ij), atoms moving with the cell."""
    e = np.asarray(strain_voigt, dtype=float)
    eps = np.array([[e[0], e[5] / 2, e[4] / 2], [e[5] / 2, e[1], e[3] / 2], [e[4] / 2, e[3] / 2, e[2]]])
    a = atoms.copy()
    a.calc = None
    a.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + eps), scale_atoms=True)
    return a


@contextlib.contextmanager
def quiet_spglib():
    """Silence spglib's DeprecationWarning about its error-handling switch (we handle both behaviours)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OLD_ERROR_HANDLING.*", category=DeprecationWarning)
        yield


def spacegroup(atoms: Atoms, symprec: float = 1e-3) -> tuple[int, str]:
    """(number, international symbol) from spglib."""
    import spglib

    with quiet_spglib():
        try:
            ds = spglib.get_symmetry_dataset((np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers),
                                             symprec=symprec)  # fmt: skip
        except Exception:  # spglib's new error handling raises where the old one returned None
            ds = None
    if ds is None:
        return 1, "P1"
    return int(ds.number), str(ds.international)


def crystal_system(number: int) -> str:
    """Crystal system of a space-group number (International Tables ranges)."""
    for top, name in ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"),
                      (167, "trigonal"), (194, "hexagonal"), (230, "cubic")):  # fmt: skip
        if number <= top:
            return name
    raise ValueError(f"space group number {number} out of range")
