"""Elastic constants from finite strain-stress fits, the crystal system from spglib, and Born stability.

Stress-strain is used (not energy-strain) because one strained cell gives a whole column of C_ij; a linear fit
over several +-strains cancels the residual stress and the leading nonlinearity.

As a validator of the gate (registered as "elastic"): the worst C_ij error against the oracle and Born stability;
on failure the strained cells behind the failing components are labelled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
from ase import Atoms, units
from pydantic import BaseModel

from pyacemaker.config.schema import GateSettings, ValidationThresholds
from pyacemaker.schemas.records import AtomsData
from pyacemaker.schemas.stages import Check
from pyacemaker.validate.base import (
    CalculatorFactory,
    GateReport,
    PropertyReport,
    Validator,
    crystal_system,
    finite,
    fmt,
    fnum,
    limit_check,
    missing_check,
    quiet_spglib,
    register,
    relax,
    spacegroup,
    strained,
)

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")
DEFAULT_STRAINS = (-0.01, -0.005, 0.005, 0.01)


class Criterion(BaseModel):
    """One Born stability condition: ``value > 0`` means it holds."""

    name: str
    expression: str
    value: float | None
    passed: bool


class BornResult(BaseModel):
    """Born (mechanical) stability of a tensor: the crystal-system conditions plus positive definiteness."""

    crystal_system: str
    stable: bool
    criteria: list[Criterion]
    failed: list[str]


class ElasticResult(BaseModel):
    """The 6x6 elastic tensor (GPa, Voigt order xx yy zz yz xz xy) of the relaxed structure, and its checks."""

    formula: str
    spacegroup: int
    spacegroup_symbol: str
    crystal_system: str
    cij_GPa: list[list[float | None]]
    asymmetry_GPa: (
        float | None
    )  # max |C_ij - C_ji| before symmetrisation: large means a noisy or broken model
    strains: list[float]
    relaxed_ions: bool
    relaxed_cell: bool
    relax_converged: bool
    structure: AtomsData  # the (relaxed) cell the strains were applied to
    born: BornResult | None = None
    bulk_voigt_GPa: float | None = None
    bulk_reuss_GPa: float | None = None
    bulk_hill_GPa: float | None = None
    shear_voigt_GPa: float | None = None
    shear_reuss_GPa: float | None = None
    shear_hill_GPa: float | None = None
    ok: bool = False
    reasons: list[str] = []


def _crit(name: str, expr: str, value: float, tol: float) -> Criterion:
    return Criterion(
        name=name, expression=expr, value=fnum(value), passed=bool(np.isfinite(value) and value > tol)
    )


def born_stability(cij: Sequence[Sequence[float]], system: str, tol: float = 1e-6) -> BornResult:
    """Born stability conditions (Mouhat & Coudert, PRB 90, 224104 (2014)) for ``system`` plus, always, positive
    definiteness of C (the general necessary and sufficient condition).

    The system-specific conditions assume the standard orientation (cubic axes, hexagonal/tetragonal c along z),
    which :func:`elastic_constants` ensures by working on the spglib-standardised cell.
    """
    c = np.asarray(cij, dtype=float)
    C = lambda i, j: c[i - 1, j - 1]  # noqa: E731 - 1-based Voigt indices read like the textbook conditions
    crits: list[Criterion] = []
    if system == "cubic":
        crits += [
            _crit("C11 > C12", "C11 - C12", C(1, 1) - C(1, 2), tol),
            _crit("C11 + 2 C12 > 0", "C11 + 2 C12", C(1, 1) + 2 * C(1, 2), tol),
            _crit("C44 > 0", "C44", C(4, 4), tol),
        ]
    elif system in ("hexagonal", "tetragonal"):
        crits += [
            _crit("C11 > |C12|", "C11 - |C12|", C(1, 1) - abs(C(1, 2)), tol),
            _crit(
                "2 C13^2 < C33 (C11 + C12)",
                "C33 (C11 + C12) - 2 C13^2",
                C(3, 3) * (C(1, 1) + C(1, 2)) - 2 * C(1, 3) ** 2,
                tol,
            ),  # fmt: skip
            _crit("C44 > 0", "C44", C(4, 4), tol),
        ]
        if system == "hexagonal":
            crits.append(_crit("C66 = (C11 - C12)/2 > 0", "(C11 - C12)/2", (C(1, 1) - C(1, 2)) / 2, tol))
        else:
            crits.append(_crit("C66 > 0", "C66", C(6, 6), tol))
            # tetragonal II (classes 4, -4, 4/m) may have C16; the condition reduces to C66 > 0 when C16 = 0
            crits.append(_crit("2 C16^2 < C66 (C11 - C12)", "C66 (C11 - C12) - 2 C16^2",
                               C(6, 6) * (C(1, 1) - C(1, 2)) - 2 * C(1, 6) ** 2, tol))  # fmt: skip
    elif system == "trigonal":
        crits += [
            _crit("C11 > |C12|", "C11 - |C12|", C(1, 1) - abs(C(1, 2)), tol),
            _crit("C44 > 0", "C44", C(4, 4), tol),
            _crit(
                "C13^2 < C33 (C11 + C12)/2",
                "C33 (C11 + C12)/2 - C13^2",
                0.5 * C(3, 3) * (C(1, 1) + C(1, 2)) - C(1, 3) ** 2,
                tol,
            ),  # fmt: skip
            _crit(
                "C14^2 + C15^2 < C44 (C11 - C12)/2",
                "C44 (C11 - C12)/2 - C14^2 - C15^2",
                0.5 * C(4, 4) * (C(1, 1) - C(1, 2)) - C(1, 4) ** 2 - C(1, 5) ** 2,
                tol,
            ),  # fmt: skip
        ]
    eig = float(np.linalg.eigvalsh((c + c.T) / 2).min()) if finite(c) else float("nan")
    crits.append(_crit("C positive definite", "smallest eigenvalue of C", eig, tol))
    failed = [k.name for k in crits if not k.passed]
    return BornResult(crystal_system=system, stable=not failed, criteria=crits, failed=failed)


def vrh_moduli(cij: Sequence[Sequence[float]]) -> dict[str, float | None]:
    """Voigt, Reuss and Hill bulk and shear moduli (same unit as ``cij``)."""
    c = np.asarray(cij, dtype=float)
    out: dict[str, float | None] = {}
    d, o, s = np.trace(c[:3, :3]), c[0, 1] + c[1, 2] + c[0, 2], np.trace(c[3:, 3:])
    out["bulk_voigt_GPa"] = fnum((d + 2 * o) / 9)
    out["shear_voigt_GPa"] = fnum((d - o + 3 * s) / 15)
    try:
        sm = np.linalg.inv(c)
        ds, os_, ss = np.trace(sm[:3, :3]), sm[0, 1] + sm[1, 2] + sm[0, 2], np.trace(sm[3:, 3:])
        out["bulk_reuss_GPa"] = fnum(1 / (ds + 2 * os_))
        out["shear_reuss_GPa"] = fnum(15 / (4 * ds - 4 * os_ + 3 * ss))
    except (np.linalg.LinAlgError, ZeroDivisionError, ValueError):
        out["bulk_reuss_GPa"] = out["shear_reuss_GPa"] = None
    for k in ("bulk", "shear"):
        v, r = out[f"{k}_voigt_GPa"], out[f"{k}_reuss_GPa"]
        out[f"{k}_hill_GPa"] = fnum((v + r) / 2) if v is not None and r is not None else None
    return out


def standard_cell(atoms: Atoms, symprec: float = 1e-3, to_primitive: bool = True) -> Atoms:
    """spglib's standardised (idealised, standard orientation) cell: fixes which axis is c for the Born
    conditions and, primitive, keeps the strained cells small."""
    import spglib

    cell = (np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers)
    with quiet_spglib():
        try:
            std = spglib.standardize_cell(cell, to_primitive=to_primitive, no_idealize=False, symprec=symprec)
        except Exception:  # spglib's new error handling raises where the old one returned None
            std = None
    if std is None:
        return atoms.copy()
    lat, pos, nums = std
    return Atoms(numbers=nums, scaled_positions=pos, cell=lat, pbc=True)


def strain_set(strains: Sequence[float] = DEFAULT_STRAINS, components: Sequence[int] = range(6)):
    """(Voigt component, strain, 6-vector) of every strained cell :func:`elastic_constants` evaluates."""
    for j in components:
        for s in strains:
            e = np.zeros(6)
            e[j] = s
            yield j, float(s), e


def elastic_constants(
    calc_factory: CalculatorFactory,
    atoms: Atoms,
    *,
    strains: Sequence[float] = DEFAULT_STRAINS,
    relax_cell: bool = True,
    relax_ions: bool | None = None,
    standardize: bool = True,
    symprec: float = 1e-3,
    fmax: float = 1e-3,
) -> ElasticResult:
    """C_ij (GPa) from linear fits of stress against each Voigt strain (shears as engineering strains).

    ``relax_cell`` first relaxes the structure at zero pressure (keeping its symmetry) so that the constants are
    the model's own at equilibrium. ``relax_ions`` (default: when the primitive cell has more than one atom)
    relaxes internal coordinates in every strained cell, giving relaxed-ion constants.
    """
    spg, symbol = spacegroup(atoms, symprec)
    system = crystal_system(spg)
    base = standard_cell(atoms, symprec) if standardize else atoms.copy()
    if relax_ions is None:
        relax_ions = len(standard_cell(atoms, symprec)) > 1
    calc = calc_factory()
    converged = True
    if relax_cell:
        base, converged = relax(base, calc, cell=True, fmax=fmax)
    reasons: list[str] = []
    if not converged:
        reasons.append("zero-pressure relaxation of the reference cell did not converge")
    stress = np.full((6, len(strains), 6), np.nan)  # [component, strain, stress]
    for idx, (j, _s, e) in enumerate(strain_set(strains)):
        a = strained(base, e)
        if relax_ions:
            a, ok = relax(a, calc, cell=False, fmax=fmax, symprec=None)
            converged &= ok
        a.calc = calc
        with contextlib.suppress(Exception):  # a broken model leaves NaN, reported below, rather than raising
            stress[j, idx % len(strains)] = a.get_stress(voigt=True)
    eps = np.asarray(strains, dtype=float)
    cmat = np.full((6, 6), np.nan)
    for j in range(6):
        if finite(stress[j]):
            # column j: d sigma_i / d eps_j for every i (slope of a least-squares line, intercept = residual stress)
            cmat[:, j] = np.polyfit(eps, stress[j], 1)[0] / units.GPa
    res = ElasticResult(
        formula=atoms.get_chemical_formula(), spacegroup=spg, spacegroup_symbol=symbol, crystal_system=system,
        cij_GPa=[[None] * 6 for _ in range(6)], asymmetry_GPa=None, strains=[float(s) for s in strains],
        relaxed_ions=bool(relax_ions), relaxed_cell=relax_cell, relax_converged=converged,
        structure=AtomsData.from_atoms(base),
    )  # fmt: skip
    if not finite(cmat):
        bad = [VOIGT[j] for j in range(6) if not finite(cmat[:, j])]
        res.reasons = [*reasons, f"non-finite stress under strain {', '.join(bad)}"]
        return res
    res.asymmetry_GPa = fnum(np.abs(cmat - cmat.T).max())
    c = (cmat + cmat.T) / 2
    res.cij_GPa = [[fnum(x) for x in row] for row in c]
    res.born = born_stability(c, system)
    if not res.born.stable:
        reasons.append(f"Born-unstable ({system}): fails {', '.join(res.born.failed)}")
    for k, v in vrh_moduli(c).items():
        setattr(res, k, v)
    res.reasons = reasons
    res.ok = res.born.stable and converged
    return res


# ----------------------------------------------------------------------------------------------- the validator
# C_ij (1-based Voigt) that are independent and may be nonzero, per crystal system (standard orientation)
INDEPENDENT: dict[str, list[tuple[int, int]]] = {
    "cubic": [(1, 1), (1, 2), (4, 4)],
    "hexagonal": [(1, 1), (1, 2), (1, 3), (3, 3), (4, 4)],
    "tetragonal": [(1, 1), (1, 2), (1, 3), (1, 6), (3, 3), (4, 4), (6, 6)],
    "trigonal": [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (3, 3), (4, 4)],
    "orthorhombic": [(1, 1), (2, 2), (3, 3), (1, 2), (1, 3), (2, 3), (4, 4), (5, 5), (6, 6)],
}


def cij_errors(candidate: ElasticResult, reference: ElasticResult) -> dict[str, float]:
    """Relative errors (%) of the independent C_ij that are nonzero in the reference, keyed "C11", "C12", ...

    Zero-by-symmetry or near-zero components (below 1 GPa or 1 % of the largest) are left out: a percentage of
    nothing is noise.
    """
    cr = np.array(reference.cij_GPa, dtype=float)
    cc = np.array(candidate.cij_GPa, dtype=float)
    pairs = INDEPENDENT.get(reference.crystal_system, [(i, j) for i in range(1, 7) for j in range(i, 7)])
    floor = max(1.0, 0.01 * np.nanmax(np.abs(cr)))
    out = {}
    for i, j in pairs:
        r, c = cr[i - 1, j - 1], cc[i - 1, j - 1]
        if abs(r) > floor:
            out[f"C{i}{j}"] = float(abs(c - r) / abs(r) * 100) if np.isfinite(c) else float("inf")
    return out


def _cij(e: ElasticResult, key: str | None) -> float | None:
    if not key:
        return None
    return e.cij_GPa[int(key[1]) - 1][int(key[2]) - 1]


def compute(
    calc_factory: CalculatorFactory, atoms: Atoms, settings: GateSettings, thresholds: ValidationThresholds
) -> ElasticResult:
    return elastic_constants(calc_factory, atoms, strains=settings.elastic_strains,
                             relax_ions=settings.elastic_relax_ions)  # fmt: skip


def compare(candidate: PropertyReport, reference: PropertyReport, th: ValidationThresholds) -> list[Check]:
    """The worst C_ij error against the oracle, then Born stability (unstable passes only where the oracle is)."""
    c, r = candidate.result("elastic"), reference.result("elastic")
    if c is None or r is None or c.born is None or r.born is None:
        why = (c and c.reasons) or (r and r.reasons) or ["missing"]
        return [missing_check("elastic", "elastic", "", candidate, reference, "; ".join(why))]
    errs = cij_errors(c, r)
    worst = max(errs, key=errs.get) if errs else None
    mx = errs[worst] if worst else None
    mean = float(np.mean(list(errs.values()))) if errs else float("nan")
    text = (f"C_ij error over {', '.join(errs)} (mean {mean:.3g} %, worst {worst}: "
            f"{fmt(_cij(c, worst))} vs oracle {fmt(_cij(r, worst))} GPa)") if worst else "C_ij error"  # fmt: skip
    cb, rb = c.born, r.born
    ok = cb.stable or not rb.stable
    why = ("Born-stable" if cb.stable else
           f"Born-unstable like the oracle ({', '.join(cb.failed)})" if ok else
           f"Born-unstable ({cb.crystal_system}): fails {', '.join(cb.failed)}; the oracle is stable")  # fmt: skip
    return [
        limit_check("cij_error", "elastic", mx, th.cij_pct, "%", text),
        Check(
            name="born_stability",
            property="elastic",
            value=None,
            threshold=None,
            unit="",
            passed=ok,
            reason=why,
        ),
    ]


def targets(report: GateReport, failed: set[str]) -> list[tuple[Atoms, str]]:
    """The strained cells of the Voigt strains involved in the failing C_ij (all six when Born stability failed or
    the tensor is missing), built on the oracle's relaxed cell."""
    s, ref, cand = report.settings, report.reference, report.candidate
    r, c = ref.result("elastic"), cand.result("elastic")
    src = r or c
    base = src.structure.to_atoms() if src else ref.structure.to_atoms()
    comps = set(range(6))
    if "born_stability" not in failed and "elastic" not in failed and r and c:
        bad = [k for k, e in cij_errors(c, r).items() if e > report.thresholds.cij_pct]
        comps = {int(k[1]) - 1 for k in bad} | {int(k[2]) - 1 for k in bad}
    return [(strained(base, e), f"elastic strain {VOIGT[j]} {eps:+.4f}")
            for j, eps, e in strain_set(s.elastic_strains, sorted(comps))]  # fmt: skip


register(Validator("elastic", ElasticResult, compute, compare, targets))
