"""Shared pieces of the validators: the validator plugin, the reports it fills, the check helpers, the
calculator-factory type and a symmetric relaxation.

A validated property is one module with three functions (compute, compare, targets) registered as a
:class:`Validator` in :data:`pyacemaker.plugins.VALIDATORS`; the gate (:mod:`pyacemaker.validate.gate`) loops over
the registered ones, so adding a property touches no other module.

Validators take a *factory* (a callable returning a fresh ASE calculator) rather than a calculator, so that each
property starts from a clean calculator state and the same function runs unchanged with the potential or the oracle.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer, model_validator

from pyacemaker.config.schema import GateSettings, ValidationThresholds
from pyacemaker.plugins import VALIDATORS
from pyacemaker.schemas.records import AtomsData
from pyacemaker.schemas.stages import Check

CalculatorFactory = Callable[[], Calculator]
log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- the plugin
@dataclass(frozen=True)
class Validator:
    """One property of the quality gate: how to compute it, check it against the oracle, and what to label when
    a check fails.

    ``compute`` runs with the potential and, when ``oracle_runs``, with the oracle (MD stability is a check of
    the potential alone). ``compare`` runs when the candidate computed the property or failed to (its exception
    is in ``candidate.errors``) and returns the property's checks, each with ``property=name``. ``targets`` runs
    when one of those checks failed; ``failed`` holds the names of every failed check of the verdict.
    """

    name: str
    result_model: type[BaseModel]
    compute: Callable[[CalculatorFactory, Atoms, GateSettings, ValidationThresholds], BaseModel]
    compare: Callable[[PropertyReport, PropertyReport, ValidationThresholds], list[Check]]
    targets: Callable[[GateReport, set[str]], list[tuple[Atoms, str]]]
    oracle_runs: bool = True


def register(validator: Validator) -> Validator:
    """Add ``validator`` to :data:`VALIDATORS` under its name."""
    return VALIDATORS.register(validator.name)(validator)


def validators() -> list[Validator]:
    """The registered validators in a fixed order: the built-ins in the order :data:`VALIDATORS` lists their
    modules, then the others as registered, so that checks and targeted structures come in the same order
    whichever validator module happened to be imported first."""
    return [VALIDATORS[name] for name in VALIDATORS.names()]


# ----------------------------------------------------------------------------------------------- the reports
class PropertyReport(BaseModel):
    """All properties of one model (potential or oracle) for one reference structure.

    Each registered validator's result is an attribute named after it (``report.eos``, None when not computed),
    kept as an extra field so that a new property needs no field here. The JSON reads label, structure, one key
    per property, errors, timings_s; keys of properties no validator is registered for are dropped, as unknown
    keys always were.
    """

    model_config = ConfigDict(extra="allow")

    label: str
    structure: AtomsData
    errors: dict[str, str] = {}  # property -> exception raised while computing it
    timings_s: dict[str, float] = {}

    @model_validator(mode="after")
    def _typed_results(self) -> PropertyReport:
        given = self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}
        results = {}
        for v in validators():
            r = given.get(v.name)
            results[v.name] = None if r is None else v.result_model.model_validate(r)
        given.clear()
        given.update(results)
        return self

    @model_serializer(mode="wrap")
    def _ordered(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        d = handler(self)
        tail = {k: d.pop(k) for k in ("errors", "timings_s") if k in d}
        return {**d, **tail}

    def result(self, name: str) -> Any:
        """The result of property ``name`` (None when not computed)."""
        return (self.__pydantic_extra__ or {}).get(name)


class GateVerdict(BaseModel):
    """Go when every check passed; ``failed`` names the checks that did not."""

    go: bool
    checks: list[Check]
    failed: list[str]
    summary: str


class GateReport(BaseModel):
    """What the gate stores: both property sets, the limits used and the verdict."""

    candidate: PropertyReport
    reference: PropertyReport
    thresholds: ValidationThresholds
    settings: GateSettings
    verdict: GateVerdict


# ----------------------------------------------------------------------------------------------- checks
def fmt(x: float | None) -> str:
    """A number for a check's sentence."""
    return "n/a" if x is None else f"{x:.4g}"


def pct(c: float | None, r: float | None) -> float | None:
    """Relative error (%) of ``c`` against ``r``; None when either is missing or ``r`` is zero."""
    if c is None or r is None or r == 0:
        return None
    return abs(c - r) / abs(r) * 100


def missing_check(
    name: str, prop: str, unit: str, cand: PropertyReport, ref: PropertyReport, what: str
) -> Check:
    """A failed check for a property that could not be evaluated, with the exception that stopped it if any."""
    why = cand.errors.get(prop) or ref.errors.get(prop) or what
    return Check(name=name, property=prop, value=None, threshold=None, unit=unit, passed=False,
                 reason=f"{name} could not be evaluated: {why}")  # fmt: skip


def limit_check(name: str, prop: str, value: float | None, thr: float, unit: str, text: str) -> Check:
    """A 'value <= threshold' check with its sentence."""
    passed = value is not None and np.isfinite(value) and value <= thr
    v = "n/a" if value is None else f"{value:.3g} {unit}"
    reason = (
        f"{text}: {v} {'<=' if passed else '>'} {thr:g} {unit}"
        if value is not None
        else f"{text}: not computable"
    )
    return Check(
        name=name, property=prop, value=value, threshold=thr, unit=unit, passed=bool(passed), reason=reason
    )


# ----------------------------------------------------------------------------------------------- numerics
def finite(x: Any) -> bool:
    """True when every number in ``x`` is finite (a NaN anywhere means the calculator broke)."""
    return bool(np.all(np.isfinite(np.asarray(x, dtype=float))))


def fnum(x: float | None) -> float | None:
    """A float for a JSON field: ``None`` instead of NaN/inf, which JSON cannot carry."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


VOLUME_BOUNDS = (0.5, 2.0)  # a relaxation that leaves them (x the start volume) has collapsed or exploded


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
    v_start = a.get_volume()
    converged = False
    try:
        with warnings.catch_warnings():  # FixSymmetry warns on large cell steps, which a broken model makes
            warnings.simplefilter("ignore", UserWarning)
            for converged in opt.irun(fmax=fmax, steps=steps):
                # a model without repulsion collapses the cell (energy to -inf, ever more neighbours: each step
                # slower than the last, minutes, then hours); leaving [1/2, 2] x the start volume is a failure
                ratio = a.get_volume() / v_start
                if cell and not VOLUME_BOUNDS[0] <= ratio <= VOLUME_BOUNDS[1]:
                    log.warning(
                        "relaxation left %.3g x the start volume: the model collapses or explodes; "
                        "properties are taken at the start cell",
                        ratio,
                    )
                    a = atoms.copy()  # the collapsed cell would make every later evaluation slower
                    converged = False
                    break
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
