"""The quality gate: the potential's properties against the oracle's own (same functions, oracle calculator).

Comparing with the oracle rather than with experiment isolates what active learning can fix: the fitting error.
Each check carries its value, threshold and a sentence saying why it passed or failed; a No-Go also yields
"targeted structures" (the strained cells, displaced supercells or MD frame behind the failure) for the next
iteration to label.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Literal

import numpy as np
from ase import Atoms
from pydantic import BaseModel

from pyacemaker.config.schema import GateSettings, ValidationThresholds
from pyacemaker.validate.base import CalculatorFactory, Frame, strained
from pyacemaker.validate.elastic import VOIGT, ElasticResult, elastic_constants, strain_set
from pyacemaker.validate.eos import EOSResult, cells_at_volumes, equation_of_state, scaled_cells
from pyacemaker.validate.phonons import PhononResult, band_frequencies, displacement_supercells, phonons
from pyacemaker.validate.stability import StabilityResult, md_stability

Property = Literal["eos", "elastic", "phonons", "stability"]
ALL_PROPERTIES: tuple[Property, ...] = ("eos", "elastic", "phonons", "stability")


class PropertyReport(BaseModel):
    """All properties of one model (potential or oracle) for one reference structure."""

    label: str
    structure: Frame
    eos: EOSResult | None = None
    elastic: ElasticResult | None = None
    phonons: PhononResult | None = None
    stability: StabilityResult | None = None
    errors: dict[str, str] = {}  # property -> exception raised while computing it
    timings_s: dict[str, float] = {}


class Check(BaseModel):
    """One line of the verdict."""

    name: str
    property: str
    value: float | None
    threshold: float | None
    unit: str
    passed: bool
    reason: str


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


def compute_properties(
    calc_factory: CalculatorFactory,
    atoms: Atoms,
    *,
    label: str = "",
    properties: Iterable[Property] = ALL_PROPERTIES,
    settings: GateSettings | None = None,
    thresholds: ValidationThresholds | None = None,
) -> PropertyReport:
    """Run the selected validators; an exception in one is recorded in ``errors`` and does not stop the others."""
    s, th = settings or GateSettings(), thresholds or ValidationThresholds()
    rep = PropertyReport(label=label, structure=Frame.from_atoms(atoms))
    jobs = {
        "eos": lambda: equation_of_state(calc_factory, atoms, max_strain=s.eos_max_strain, npoints=s.eos_points,
                                         smooth_tol_meV_atom=th.eos_smooth_rms_meV_atom),
        "elastic": lambda: elastic_constants(calc_factory, atoms, strains=s.elastic_strains,
                                             relax_ions=s.elastic_relax_ions),
        "phonons": lambda: phonons(calc_factory, atoms, supercell_min_length=s.phonon_supercell_min_length,
                                   displacement=s.phonon_displacement, npoints=s.phonon_npoints, mesh=s.phonon_mesh,
                                   imaginary_tol_THz=th.imaginary_tol_THz, acoustic_tol_THz=th.acoustic_tol_THz),
        "stability": lambda: md_stability(calc_factory, atoms, s.md_temperature_K,
                                          min_distance=s.md_min_distance or 0.6 * _nearest_neighbour(atoms),
                                          steps=s.md_steps, timestep_fs=s.md_timestep_fs, min_atoms=s.md_min_atoms,
                                          max_drift_eV_atom=th.md_max_drift_eV_atom,
                                          max_jump_eV_atom=th.md_max_jump_eV_atom,
                                          temperature_rtol=th.md_temperature_rtol),
    }  # fmt: skip
    for name in properties:
        t0 = time.perf_counter()
        try:
            setattr(rep, name, jobs[name]())
        except Exception as exc:  # one broken property must not hide the others
            rep.errors[name] = f"{type(exc).__name__}: {exc}"
        rep.timings_s[name] = round(time.perf_counter() - t0, 3)
    return rep


def _nearest_neighbour(atoms: Atoms) -> float:
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, 6.0)
    return float(d.min()) if len(d) else 2.0


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


def phonon_rmse(candidate: PhononResult, reference: PhononResult) -> float | None:
    """RMSE (THz) of band-path frequencies, q-point by q-point and branch by branch; None if the paths differ."""
    fc, fr = band_frequencies(candidate), band_frequencies(reference)
    if fc.size == 0 or fc.shape != fr.shape:
        return None
    return float(np.sqrt(np.mean((fc - fr) ** 2)))


def _pct(c: float | None, r: float | None) -> float | None:
    if c is None or r is None or r == 0:
        return None
    return abs(c - r) / abs(r) * 100


def _missing(name: str, prop: str, unit: str, cand: PropertyReport, ref: PropertyReport, what: str) -> Check:
    why = cand.errors.get(prop) or ref.errors.get(prop) or what
    return Check(name=name, property=prop, value=None, threshold=None, unit=unit, passed=False,
                 reason=f"{name} could not be evaluated: {why}")  # fmt: skip


def _limit(name: str, prop: str, value: float | None, thr: float, unit: str, text: str) -> Check:
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


def compare(
    candidate: PropertyReport, reference: PropertyReport, thresholds: ValidationThresholds | None = None
) -> GateVerdict:
    """Checks of every property the candidate computed (or failed to); a property missing from the reference
    fails its check with the reason, since nothing can vouch for it."""
    th = thresholds or ValidationThresholds()
    checks: list[Check] = []
    c, r = candidate, reference

    def present(p: str) -> bool:
        return getattr(c, p) is not None or p in c.errors

    if present("eos"):
        if c.eos is None or r.eos is None:
            checks.append(_missing("eos", "eos", "", c, r, "missing"))
        else:
            checks.append(Check(name="eos_shape", property="eos", value=c.eos.fit_rms_meV_atom,
                                threshold=th.eos_smooth_rms_meV_atom, unit="meV/atom", passed=c.eos.ok,
                                reason="E(V) smooth with one minimum inside the range" if c.eos.ok
                                else "; ".join(c.eos.reasons)))  # fmt: skip
            checks.append(_limit("a0_error", "eos", _pct(c.eos.a0, r.eos.a0), th.a0_pct, "%",
                                 f"a0 {_f(c.eos.a0)} vs oracle {_f(r.eos.a0)} A"))  # fmt: skip
            checks.append(_limit("b0_error", "eos", _pct(c.eos.b0_GPa, r.eos.b0_GPa), th.b0_pct, "%",
                                 f"B0 {_f(c.eos.b0_GPa)} vs oracle {_f(r.eos.b0_GPa)} GPa"))  # fmt: skip

    if present("elastic"):
        if c.elastic is None or r.elastic is None or c.elastic.born is None or r.elastic.born is None:
            why = (c.elastic and c.elastic.reasons) or (r.elastic and r.elastic.reasons) or ["missing"]
            checks.append(_missing("elastic", "elastic", "", c, r, "; ".join(why)))
        else:
            errs = cij_errors(c.elastic, r.elastic)
            worst = max(errs, key=errs.get) if errs else None
            mx = errs[worst] if worst else None
            mean = float(np.mean(list(errs.values()))) if errs else float("nan")
            text = (f"C_ij error over {', '.join(errs)} (mean {mean:.3g} %, worst {worst}: "
                    f"{_f(_cij(c.elastic, worst))} vs oracle {_f(_cij(r.elastic, worst))} GPa)") if worst else "C_ij error"  # fmt: skip
            chk = _limit("cij_error", "elastic", mx, th.cij_pct, "%", text)
            checks.append(chk)
            cb, rb = c.elastic.born, r.elastic.born
            ok = cb.stable or not rb.stable
            why = ("Born-stable" if cb.stable else
                   f"Born-unstable like the oracle ({', '.join(cb.failed)})" if ok else
                   f"Born-unstable ({cb.crystal_system}): fails {', '.join(cb.failed)}; the oracle is stable")  # fmt: skip
            checks.append(Check(name="born_stability", property="elastic", value=None, threshold=None, unit="",
                                passed=ok, reason=why))  # fmt: skip

    if present("phonons"):
        if c.phonons is None or r.phonons is None or c.phonons.band is None or r.phonons.band is None:
            why = (c.phonons and c.phonons.reasons) or (r.phonons and r.phonons.reasons) or ["missing"]
            checks.append(_missing("phonons", "phonons", "", c, r, "; ".join(why)))
        else:
            rmse = phonon_rmse(c.phonons, r.phonons)
            text = "phonon band RMSE" if rmse is not None else "phonon band RMSE (band paths differ in shape)"
            checks.append(_limit("phonon_rmse", "phonons", rmse, th.phonon_rmse_THz, "THz", text))
            cp, rp = c.phonons, r.phonons
            ok = not cp.imaginary or rp.imaginary
            where = f"{_f(cp.min_frequency_THz)} THz at {cp.min_frequency_label} {np.round(cp.min_frequency_qpoint or [], 3).tolist()}"
            why = ("no imaginary modes (lowest " + where + ")" if not cp.imaginary else
                   "imaginary modes, as in the oracle (lowest " + where + ")" if ok else
                   "imaginary modes the oracle does not have: lowest " + where)  # fmt: skip
            checks.append(Check(name="imaginary_modes", property="phonons", value=cp.min_frequency_THz,
                                threshold=-th.imaginary_tol_THz, unit="THz", passed=ok, reason=why))  # fmt: skip

    if present("stability"):
        if c.stability is None:
            checks.append(_missing("md_stability", "stability", "", c, c, "missing"))
        else:
            s = c.stability
            why = (f"{s.steps_done} steps at {s.temperature_K:g} K: stable (min distance {_f(s.min_distance)} A, "
                   f"mean T {_f(s.mean_temperature_K)} K, drift {_f(s.drift_eV_atom)} eV/atom)") if s.ok else "; ".join(s.reasons)  # fmt: skip
            checks.append(Check(name="md_stability", property="stability", value=s.min_distance,
                                threshold=s.min_distance_threshold, unit="A", passed=s.ok, reason=why))  # fmt: skip

    failed = [k.name for k in checks if not k.passed]
    go = bool(checks) and not failed
    summary = ("Go: all checks passed" if go else "No-Go: no checks ran" if not checks else
               "No-Go: " + "; ".join(f"{k.name} ({k.reason})" for k in checks if not k.passed))  # fmt: skip
    return GateVerdict(go=go, checks=checks, failed=failed, summary=summary)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _cij(e: ElasticResult, key: str | None) -> float | None:
    if not key:
        return None
    return e.cij_GPa[int(key[1]) - 1][int(key[2]) - 1]


def run_gate(
    candidate: CalculatorFactory,
    reference: CalculatorFactory | PropertyReport,
    atoms: Atoms,
    *,
    thresholds: ValidationThresholds | None = None,
    settings: GateSettings | None = None,
    properties: Iterable[Property] = ALL_PROPERTIES,
    candidate_label: str = "potential",
    reference_label: str = "oracle",
) -> GateReport:
    """Validate ``candidate`` against ``reference`` on ``atoms`` and return the full report with the verdict.

    ``reference`` may be an oracle calculator factory or a stored :class:`PropertyReport` (the oracle's
    properties do not change between iterations, so they are computed once). The oracle never runs MD: MD
    stability is a check of the potential alone.
    """
    th, s = thresholds or ValidationThresholds(), settings or GateSettings()
    props = list(properties)
    cand = compute_properties(
        candidate, atoms, label=candidate_label, properties=props, settings=s, thresholds=th
    )
    if isinstance(reference, PropertyReport):
        ref = reference
    else:
        ref = compute_properties(reference, atoms, label=reference_label, settings=s, thresholds=th,
                                 properties=[p for p in props if p != "stability"])  # fmt: skip
    return GateReport(
        candidate=cand, reference=ref, thresholds=th, settings=s, verdict=compare(cand, ref, th)
    )


def targeted_structures(report: GateReport, max_structures: int | None = None) -> list[tuple[Atoms, str]]:
    """Structures behind each failed check, for the oracle to label in the next iteration.

    EOS checks: the scaled cells of the EOS; C_ij: the strained cells of the Voigt strains involved in the failing
    components (all six when Born stability failed); phonons: the displaced supercells (built on the oracle's
    relaxed cell); MD: the frame at which the run was stopped.
    """
    s, v = report.settings, report.verdict
    failed = set(v.failed)
    ref, cand = report.reference, report.candidate
    out: list[tuple[Atoms, str]] = []
    if failed & {"eos", "eos_shape", "a0_error", "b0_error"}:
        base = ref.structure.to_atoms()
        if ref.eos is not None:  # the oracle's own EOS cells, centred on its V0
            out += [
                (a, f"EOS cell at {v:.3f} A^3/atom")
                for a, v in zip(cells_at_volumes(base, ref.eos.volumes), ref.eos.volumes, strict=True)
            ]
        else:
            out += [
                (a, f"EOS cell at volume strain {vs:+.3f}")
                for a, vs in scaled_cells(base, s.eos_max_strain, s.eos_points)
            ]
    if failed & {"elastic", "cij_error", "born_stability"}:
        src = ref.elastic or cand.elastic
        base = src.structure.to_atoms() if src else ref.structure.to_atoms()
        comps = set(range(6))
        if "born_stability" not in failed and "elastic" not in failed and ref.elastic and cand.elastic:
            bad = [
                k for k, e in cij_errors(cand.elastic, ref.elastic).items() if e > report.thresholds.cij_pct
            ]
            comps = {int(k[1]) - 1 for k in bad} | {int(k[2]) - 1 for k in bad}
        for j, eps, e in strain_set(s.elastic_strains, sorted(comps)):
            out.append((strained(base, e), f"elastic strain {VOIGT[j]} {eps:+.4f}"))
    if failed & {"phonons", "phonon_rmse", "imaginary_modes"}:
        src = ref.phonons or cand.phonons
        base = src.structure.to_atoms() if src else ref.structure.to_atoms()
        out += displacement_supercells(base, supercell_min_length=s.phonon_supercell_min_length,
                                       displacement=s.phonon_displacement)  # fmt: skip
    if "md_stability" in failed and cand.stability is not None and cand.stability.failure_frame is not None:
        out.append((cand.stability.failure_frame.to_atoms(),
                    f"MD frame where the potential failed: {cand.stability.reasons[0]}"))  # fmt: skip
    return out[:max_structures] if max_structures else out
