"""Equation of state: a Birch-Murnaghan fit of E(V) over +-15 % volume, with checks that the curve is usable.

A potential that has not learnt compression or expansion shows it here first: a second minimum, a kink, or a
minimum outside the sampled range. The checks say which, so that the gate can explain a No-Go.

As a validator of the gate (registered as "eos"): the curve's shape, a0 and B0 against the oracle's; on failure
the EOS cells are labelled.
"""

from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms, units
from pydantic import BaseModel

from pyacemaker.config.schema import GateSettings, ValidationThresholds
from pyacemaker.schemas.stages import Check
from pyacemaker.validate.base import (
    CalculatorFactory,
    GateReport,
    PropertyReport,
    Validator,
    finite,
    fmt,
    fnum,
    limit_check,
    missing_check,
    pct,
    register,
)


class EOSResult(BaseModel):
    """Birch-Murnaghan fit of one structure (energies per atom) and why it is or is not trustworthy.

    ``a0`` is the length of the reference cell's first vector scaled isotropically to ``v0`` (the lattice
    parameter for a conventional cubic cell).
    """

    formula: str
    natoms: int
    volume_strains: list[float]
    volumes: list[float]  # A^3/atom
    energies: list[float | None]  # eV/atom
    a0: float | None = None  # A
    v0: float | None = None  # A^3/atom
    e0: float | None = None  # eV/atom
    b0_GPa: float | None = None
    b0_prime: float | None = None
    fit_rms_meV_atom: float | None = None
    recentered: bool = False  # sampled again around the first fit's V0 (volume_strains are relative to it)
    ok: bool = False
    reasons: list[str] = []


def volume_strains(max_strain: float = 0.15, npoints: int = 11) -> np.ndarray:
    """Relative volume changes sampled by :func:`equation_of_state` (used again for targeted structures)."""
    return np.linspace(-max_strain, max_strain, npoints)


def cells_at_volumes(atoms: Atoms, volumes_per_atom: list[float]) -> list[Atoms]:
    """Copies of ``atoms`` scaled isotropically to each volume (A^3/atom): the cells of a stored EOS."""
    out = []
    for v in volumes_per_atom:
        a = atoms.copy()
        a.calc = None
        a.set_cell(
            np.asarray(atoms.cell) * (v * len(atoms) / atoms.get_volume()) ** (1.0 / 3.0), scale_atoms=True
        )
        out.append(a)
    return out


def scaled_cells(atoms: Atoms, max_strain: float = 0.15, npoints: int = 11) -> list[tuple[Atoms, float]]:
    """Copies of ``atoms`` scaled isotropically to each volume strain, with the strain."""
    out = []
    for s in volume_strains(max_strain, npoints):
        a = atoms.copy()
        a.calc = None
        a.set_cell(np.asarray(atoms.cell) * (1.0 + s) ** (1.0 / 3.0), scale_atoms=True)
        out.append((a, float(s)))
    return out


def equation_of_state(
    calc_factory: CalculatorFactory,
    atoms: Atoms,
    *,
    max_strain: float = 0.15,
    npoints: int = 11,
    smooth_tol_meV_atom: float = 5.0,
    recenter: bool = True,
) -> EOSResult:
    """E(V) of ``atoms`` scaled over ``+-max_strain`` in volume and its Birch-Murnaghan fit.

    With ``recenter`` (default) the range is sampled a second time around the first fit's V0, so that every model
    is fitted over the same range about its *own* minimum: a BM fit of a window off-centre biases B0 by a few
    percent, which would show as a false B0 error against the oracle. Ions are not relaxed: the reference cells
    of the gate are elemental or high-symmetry, where isotropic scaling keeps forces zero. ``ok`` needs finite
    energies, exactly one minimum strictly inside the range, a fit whose RMS residual is below
    ``smooth_tol_meV_atom`` (a kink or wiggle does not fit a BM curve) and ``B0 > 0``.
    """
    calc = calc_factory()
    res = _eos_pass(calc, atoms, max_strain, npoints, smooth_tol_meV_atom)
    vin = atoms.get_volume() / len(atoms)
    if (
        recenter
        and res.v0 is not None
        and res.volumes[0] < res.v0 < res.volumes[-1]
        and abs(res.v0 / vin - 1) > 1e-3
    ):
        centred = atoms.copy()
        centred.set_cell(np.asarray(atoms.cell) * (res.v0 / vin) ** (1.0 / 3.0), scale_atoms=True)
        res = _eos_pass(calc, centred, max_strain, npoints, smooth_tol_meV_atom)
        res.recentered = True
    return res


def _eos_pass(calc, atoms: Atoms, max_strain: float, npoints: int, smooth_tol_meV_atom: float) -> EOSResult:
    from ase.eos import EquationOfState

    n = len(atoms)
    vols, ens, strains = [], [], []
    for a, s in scaled_cells(atoms, max_strain, npoints):
        a.calc = calc
        try:
            e = float(a.get_potential_energy()) / n
        except Exception:  # a broken model is reported, not raised
            e = float("nan")
        vols.append(a.get_volume() / n)
        ens.append(e)
        strains.append(s)
    res = EOSResult(formula=atoms.get_chemical_formula(), natoms=n, volume_strains=strains, volumes=vols,
                    energies=[fnum(e) for e in ens])  # fmt: skip
    v, e = np.array(vols), np.array(ens)
    reasons: list[str] = []
    if not finite(e):
        res.reasons = [
            f"non-finite energy at volume strains {[s for s, x in zip(strains, e, strict=True) if not np.isfinite(x)]}"
        ]
        return res
    # shape of the sampled curve: count the sign changes of the slope (noise-free at these spacings)
    slope_sign = np.sign(np.diff(e))
    slope_sign = slope_sign[slope_sign != 0]
    changes = np.flatnonzero(np.diff(slope_sign) != 0)
    imin = int(np.argmin(e))
    if imin in (0, len(e) - 1):
        side = "compressed" if imin == 0 else "expanded"
        reasons.append(
            f"lowest energy at the {side} end of the +-{max_strain:.0%} range: no minimum inside it"
        )
    if len(changes) > 1:
        reasons.append(
            f"E(V) has {len(changes)} slope changes (more than one extremum): not a single minimum"
        )
    elif len(changes) == 1 and slope_sign[changes[0]] > 0:
        reasons.append("E(V) has a maximum, not a minimum, inside the range")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eos = EquationOfState(v, e, eos="birchmurnaghan")
            v0, e0, b0 = eos.fit(warn=False)
            bp = float(eos.eos_parameters[2])
            resid = e - eos.func(v, *eos.eos_parameters)
    except Exception as exc:  # scipy's curve_fit fails on curves that are not EOS-like
        reasons.append(f"Birch-Murnaghan fit failed: {exc}")
        res.reasons = reasons
        return res
    rms = float(np.sqrt(np.mean(resid**2))) * 1000
    res.v0, res.e0, res.b0_GPa, res.b0_prime = fnum(v0), fnum(e0), fnum(b0 / units.GPa), fnum(bp)
    res.fit_rms_meV_atom = fnum(rms)
    if np.isfinite(v0) and v0 > 0:
        res.a0 = fnum(np.linalg.norm(atoms.cell[0]) * (v0 * n / atoms.get_volume()) ** (1.0 / 3.0))
    if not rms < smooth_tol_meV_atom:
        reasons.append(
            f"E(V) is not smooth: BM fit RMS residual {rms:.2f} meV/atom > {smooth_tol_meV_atom} meV/atom"
        )
    if not (np.isfinite(b0) and b0 > 0):
        reasons.append(f"bulk modulus {b0 / units.GPa:.3g} GPa is not positive")
    if not (np.isfinite(v0) and v.min() < v0 < v.max()):
        reasons.append(
            f"fitted V0 {v0:.3g} A^3/atom outside the sampled range [{v.min():.3g}, {v.max():.3g}]"
        )
    res.reasons = reasons
    res.ok = not reasons
    return res


# ----------------------------------------------------------------------------------------------- the validator
def compute(
    calc_factory: CalculatorFactory, atoms: Atoms, settings: GateSettings, thresholds: ValidationThresholds
) -> EOSResult:
    return equation_of_state(calc_factory, atoms, max_strain=settings.eos_max_strain, npoints=settings.eos_points,
                             smooth_tol_meV_atom=thresholds.eos_smooth_rms_meV_atom)  # fmt: skip


def compare(candidate: PropertyReport, reference: PropertyReport, th: ValidationThresholds) -> list[Check]:
    """The curve's shape (the candidate's own checks), then a0 and B0 against the oracle."""
    c, r = candidate.result("eos"), reference.result("eos")
    if c is None or r is None:
        return [missing_check("eos", "eos", "", candidate, reference, "missing")]
    return [
        Check(name="eos_shape", property="eos", value=c.fit_rms_meV_atom, threshold=th.eos_smooth_rms_meV_atom,
              unit="meV/atom", passed=c.ok,
              reason="E(V) smooth with one minimum inside the range" if c.ok else "; ".join(c.reasons)),
        limit_check("a0_error", "eos", pct(c.a0, r.a0), th.a0_pct, "%", f"a0 {fmt(c.a0)} vs oracle {fmt(r.a0)} A"),
        limit_check("b0_error", "eos", pct(c.b0_GPa, r.b0_GPa), th.b0_pct, "%",
                    f"B0 {fmt(c.b0_GPa)} vs oracle {fmt(r.b0_GPa)} GPa"),
    ]  # fmt: skip


def targets(report: GateReport, failed: set[str]) -> list[tuple[Atoms, str]]:
    """The oracle's own EOS cells (centred on its V0), or the configured volume strains when it has none."""
    s, ref = report.settings, report.reference
    base, r = ref.structure.to_atoms(), ref.result("eos")
    if r is not None:
        return [(a, f"EOS cell at {v:.3f} A^3/atom")
                for a, v in zip(cells_at_volumes(base, r.volumes), r.volumes, strict=True)]  # fmt: skip
    return [
        (a, f"EOS cell at volume strain {vs:+.3f}")
        for a, vs in scaled_cells(base, s.eos_max_strain, s.eos_points)
    ]


register(Validator("eos", EOSResult, compute, compare, targets))
