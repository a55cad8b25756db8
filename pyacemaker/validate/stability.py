"""MD stability: a short Langevin run with the potential must stay physical.

Fitted potentials fail in MD where they were never trained: atoms fall into each other (past the baseline's
repulsive core), the energy runs away, or the thermostat cannot hold the temperature. These are cheap to detect
and, unlike errors against the oracle, need no oracle call.

As a validator of the gate (registered as "stability", never run with the oracle): the run's verdict; on failure
the frame where it was stopped is labelled.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from pydantic import BaseModel

from pyacemaker.config.schema import GateSettings, ValidationThresholds
from pyacemaker.schemas.records import AtomsData
from pyacemaker.schemas.stages import Check
from pyacemaker.structures.seeds import supercell_to
from pyacemaker.validate.base import (
    CalculatorFactory,
    GateReport,
    PropertyReport,
    Validator,
    finite,
    fmt,
    fnum,
    missing_check,
    register,
)


class StabilityResult(BaseModel):
    """The run's time series (for plots) and the checks, with why a check failed."""

    formula: str
    natoms: int
    temperature_K: float
    timestep_fs: float
    steps_requested: int
    steps_done: int
    min_distance_threshold: float
    time_ps: list[float]
    epot_eV_atom: list[float | None]
    temperature_series_K: list[float | None]
    min_distance_series: list[float | None]
    min_distance: float | None = None
    mean_temperature_K: float | None = None
    max_temperature_K: float | None = None
    drift_eV_atom: float | None = None  # change of E_pot/atom over the second half, from a linear fit
    max_jump_eV_atom: float | None = None  # largest change of E_pot/atom between two recorded steps
    failure_frame: AtomsData | None = (
        None  # the structure when the run was stopped, a candidate for labelling
    )
    ok: bool = False
    reasons: list[str] = []


def _min_distance(atoms: Atoms, cutoff: float) -> float:
    """Shortest interatomic distance (periodic images included); ``cutoff`` when none is shorter."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, cutoff)
    return float(d.min()) if len(d) else cutoff


def md_stability(
    calc_factory: CalculatorFactory,
    atoms: Atoms,
    temperature_K: float,
    *,
    min_distance: float,
    steps: int = 300,
    timestep_fs: float = 2.0,
    friction_per_fs: float = 0.02,
    min_atoms: int = 32,
    record_every: int = 5,
    max_drift_eV_atom: float = 0.05,
    max_jump_eV_atom: float = 0.1,
    temperature_rtol: float = 0.3,
    seed: int = 0,
) -> StabilityResult:
    """Langevin MD of ``atoms`` (repeated to at least ``min_atoms``) at ``temperature_K`` with the calculator.

    Fails when: an energy or force is not finite; any pair comes closer than ``min_distance`` (the caller's
    threshold, e.g. the ZBL inner cutoff: inside it only the baseline holds atoms apart); E_pot/atom drifts by
    more than ``max_drift_eV_atom`` over the second half or jumps by more than ``max_jump_eV_atom`` between
    recorded steps; or the mean temperature of the second half is off the target by more than
    ``temperature_rtol`` (relative), or the peak exceeds three times the target. The run stops at the first
    non-finite value or core overlap, keeping that structure as ``failure_frame``.
    """
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    a = supercell_to(atoms.copy(), min_atoms)
    a.calc = calc_factory()
    n = len(a)
    rng = np.random.default_rng(seed)
    thermalize_momenta(a, temperature_K, rng=rng)
    Stationary(a)
    dyn = Langevin(a, timestep_fs * units.fs, temperature_K=temperature_K, friction=friction_per_fs / units.fs,
                   fixcm=False, rng=rng)  # fmt: skip
    cutoff = max(2.0 * min_distance, 3.0)
    t, ep, temp, dmin = [], [], [], []
    reasons: list[str] = []
    stop = None

    def record() -> None:
        nonlocal stop
        try:
            e = float(a.get_potential_energy()) / n
            f_ok = finite(a.get_forces())
        except Exception as exc:  # a broken model is reported, not raised
            e, f_ok = float("nan"), False
            stop = f"calculator failed at step {dyn.nsteps}: {exc}"
        d = _min_distance(a, cutoff) if finite(a.positions) else float("nan")
        t.append(dyn.nsteps * timestep_fs / 1000)
        ep.append(e)
        temp.append(float(a.get_temperature()))
        dmin.append(d)
        if stop is None and not (np.isfinite(e) and f_ok):
            stop = f"non-finite energy or forces at step {dyn.nsteps}"
        elif stop is None and not d >= min_distance:
            stop = (
                f"atoms inside the core: pair distance {d:.3f} A < {min_distance:.3f} A at step {dyn.nsteps}"
            )

    record()
    while dyn.nsteps < steps and stop is None:
        try:
            dyn.run(min(record_every, steps - dyn.nsteps))
        except Exception as exc:
            stop = f"MD failed at step {dyn.nsteps}: {exc}"
            break
        record()
    res = StabilityResult(
        formula=a.get_chemical_formula(), natoms=n, temperature_K=temperature_K, timestep_fs=timestep_fs,
        steps_requested=steps, steps_done=dyn.nsteps, min_distance_threshold=min_distance, time_ps=t,
        epot_eV_atom=[fnum(x) for x in ep], temperature_series_K=[fnum(x) for x in temp],
        min_distance_series=[fnum(x) for x in dmin],
    )  # fmt: skip
    dm = np.array(dmin, dtype=float)
    res.min_distance = fnum(np.nanmin(dm)) if np.isfinite(dm).any() else None
    if stop is not None:
        reasons.append(stop)
        res.failure_frame = AtomsData.from_atoms(a) if finite(a.positions) else None
    e_arr, t_arr, temp_arr = np.array(ep), np.array(t), np.array(temp)
    half = len(e_arr) // 2
    if finite(e_arr) and len(e_arr) >= 4:
        res.max_jump_eV_atom = fnum(np.abs(np.diff(e_arr)).max())
        res.drift_eV_atom = fnum(np.polyfit(t_arr[half:], e_arr[half:], 1)[0] * (t_arr[-1] - t_arr[half]))
        if abs(res.drift_eV_atom) > max_drift_eV_atom:
            reasons.append(f"runaway energy: E_pot drifts by {res.drift_eV_atom:+.3f} eV/atom over the second half "
                           f"(> {max_drift_eV_atom} eV/atom)")  # fmt: skip
        if res.max_jump_eV_atom > max_jump_eV_atom:
            k = int(np.abs(np.diff(e_arr)).argmax())
            reasons.append(f"energy outlier: E_pot/atom jumps by {res.max_jump_eV_atom:.3f} eV between "
                           f"{t_arr[k]:.3f} and {t_arr[k + 1]:.3f} ps (> {max_jump_eV_atom} eV/atom)")  # fmt: skip
    if finite(temp_arr) and len(temp_arr) >= 4:
        res.mean_temperature_K = fnum(temp_arr[half:].mean())
        res.max_temperature_K = fnum(temp_arr.max())
        if stop is None and abs(res.mean_temperature_K - temperature_K) > temperature_rtol * temperature_K:
            reasons.append(f"temperature not held: mean {res.mean_temperature_K:.0f} K over the second half vs "
                           f"{temperature_K:.0f} K target (tolerance {temperature_rtol:.0%})")  # fmt: skip
        if res.max_temperature_K > 3 * temperature_K:
            reasons.append(
                f"temperature spike: {res.max_temperature_K:.0f} K > 3x the {temperature_K:.0f} K target"
            )
    res.reasons = reasons
    res.ok = not reasons
    return res


# ----------------------------------------------------------------------------------------------- the validator
def _nearest_neighbour(atoms: Atoms) -> float:
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, 6.0)
    return float(d.min()) if len(d) else 2.0


def compute(
    calc_factory: CalculatorFactory, atoms: Atoms, settings: GateSettings, thresholds: ValidationThresholds
) -> StabilityResult:
    """MD at the gate's temperature; the core threshold defaults to 0.6 x the nearest-neighbour distance."""
    s, th = settings, thresholds
    return md_stability(calc_factory, atoms, s.md_temperature_K,
                        min_distance=s.md_min_distance or 0.6 * _nearest_neighbour(atoms),
                        steps=s.md_steps, timestep_fs=s.md_timestep_fs, min_atoms=s.md_min_atoms,
                        max_drift_eV_atom=th.md_max_drift_eV_atom, max_jump_eV_atom=th.md_max_jump_eV_atom,
                        temperature_rtol=th.md_temperature_rtol)  # fmt: skip


def compare(candidate: PropertyReport, reference: PropertyReport, th: ValidationThresholds) -> list[Check]:
    """The run's own verdict: a check of the potential alone, whatever the reference holds."""
    s = candidate.result("stability")
    if s is None:
        return [missing_check("md_stability", "stability", "", candidate, candidate, "missing")]
    why = (f"{s.steps_done} steps at {s.temperature_K:g} K: stable (min distance {fmt(s.min_distance)} A, "
           f"mean T {fmt(s.mean_temperature_K)} K, drift {fmt(s.drift_eV_atom)} eV/atom)") if s.ok else "; ".join(s.reasons)  # fmt: skip
    return [Check(name="md_stability", property="stability", value=s.min_distance,
                  threshold=s.min_distance_threshold, unit="A", passed=s.ok, reason=why)]  # fmt: skip


def targets(report: GateReport, failed: set[str]) -> list[tuple[Atoms, str]]:
    """The frame at which the run was stopped (none when it ran to the end or its positions broke)."""
    s = report.candidate.result("stability")
    if "md_stability" not in failed or s is None or s.failure_frame is None:
        return []
    return [(s.failure_frame.to_atoms(), f"MD frame where the potential failed: {s.reasons[0]}")]


register(Validator("stability", StabilityResult, compute, compare, targets, oracle_runs=False))
