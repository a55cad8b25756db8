"""Adaptive kinetic Monte Carlo (dimer saddle searches + harmonic TST) that halts on the extrapolation grade.

A second exploration driver next to MD: where MD only sees what happens in nanoseconds, kMC hops between minima
over barriers and so visits transition states and the states beyond them, exactly the configurations a potential
trained on near-equilibrium data extrapolates on. Every force call (relaxation, dimer, NEB) goes through a
:class:`GammaWatchdog`, so the run stops on the first configuration whose max gamma exceeds ``gamma_halt`` and
returns it as a halt frame, the same :class:`~pyacemaker.explore.protocol.Outcome` MD returns.

Saddle searches use ASE's dimer method (``ase.mep``) from random local displacements, barriers are optionally
refined by a short climbing-image NEB, rates come from harmonic transition state theory with a fixed prefactor.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import find_mic
from ase.mep import NEB, DimerControl, MinModeAtoms, MinModeTranslate
from ase.optimize import FIRE

from pyacemaker.config.schema import ExploreConfig
from pyacemaker.explore.protocol import GammaWatch, KMCProtocol, Outcome, Snapshot
from pyacemaker.plugins import DRIVERS
from pyacemaker.schemas.stages import RunCondition
from pyacemaker.train.potential import Potential

S_TO_FS = 1e15
# What a broken potential or a diverging optimiser raises: an expected end of a run, not a bug.
NUMERIC_ERRORS = (RuntimeError, ValueError, FloatingPointError, np.linalg.LinAlgError)


class GammaHalt(Exception):  # a signal, deliberately not a RuntimeError: searches swallow numeric errors
    """Raised by :class:`GammaWatchdog` on the first configuration above ``gamma_halt``; carries its frame."""

    def __init__(self, frame: Snapshot):
        super().__init__(f"max gamma {frame.gamma:.3g} at kMC step {frame.step}")
        self.frame = frame


class GammaWatchdog(Calculator):
    """Wraps a calculator so that every force call checks the extrapolation grade.

    Why a calculator wrapper and not an observer: the dimer method and NEB evaluate many configurations that no
    optimiser step ever "visits" (dimer images, trial steps); each of them could be the extrapolative one. The
    wrapped calculator reports per-atom ``gamma`` in ``results`` (ACE with an active set); without it gamma is 0.
    Frames above ``watch.collect`` are kept (the latest ``watch.max_frames``; a frame closer than
    ``min_separation`` A to the last kept one is skipped, since dimer images 1e-4 A apart are one configuration
    for labelling); the halting one (above ``watch.halt``) is always kept, last. ``step`` is set by the driver to
    the current kMC step.
    """

    implemented_properties = ["energy", "free_energy", "forces", "gamma"]

    def __init__(self, calc: Calculator, watch: GammaWatch, min_separation: float = 0.1):
        super().__init__()
        self.calc = calc
        self.gamma_halt, self.gamma_collect = watch.halt, watch.collect
        self.max_frames, self.min_separation = max(1, watch.max_frames), min_separation
        self.step = 0
        self.frames: list[Snapshot] = []
        self.max_gamma = 0.0
        self.force_calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = self.calc
        energy = a.get_potential_energy()
        forces = a.get_forces()
        self.force_calls += 1
        raw = (self.calc.results or {}).get("gamma")
        per_atom = np.zeros(len(a)) if raw is None else np.asarray(raw, dtype=float).reshape(-1)
        gamma = float(per_atom.max()) if per_atom.size else 0.0
        self.results = {"energy": energy, "free_energy": energy, "forces": forces, "gamma": per_atom}
        self.max_gamma = max(self.max_gamma, gamma)
        if not np.isfinite(gamma):
            raise FloatingPointError(f"non-finite gamma at kMC step {self.step}")
        halt = gamma > self.gamma_halt
        if halt or gamma > self.gamma_collect:
            frame = Snapshot(self.atoms.copy(), self.step, gamma, per_atom.copy())
            if (
                halt
                or not self.frames
                or max_displacement(self.frames[-1].atoms, frame.atoms) > self.min_separation
            ):
                self.frames.append(frame)
                del self.frames[: -self.max_frames]
            if halt:
                raise GammaHalt(frame)


@dataclass
class KMCSettings:
    """Numerical knobs of the saddle searches (defaults suit metals with ~0.5-1 eV barriers)."""

    displacement: float = 0.3  # A, std of the Gaussian displacement that starts a dimer search
    displacement_radius: float = 3.0  # A, the random atom and its neighbours within this are displaced
    fmax: float = 0.05  # eV/A, for relaxations and the dimer
    dimer_steps: int = 300
    relax_steps: int = 500
    saddle_push: float = 0.2  # A, step off the saddle along its negative mode before relaxing both ways
    neb_images: int = 3  # interior images of the refining NEB; 0 turns the refinement off
    neb_fmax: float = 0.1
    neb_steps: int = 150
    prefactor: float = 1e13  # 1/s, harmonic TST attempt frequency
    max_barrier: float = 5.0  # eV, saddles higher than this are dropped (their rates are nil anyway)
    state_tol: float = 0.2  # A, max atomic displacement under which two minima are the same state
    barrier_tol: float = 0.02  # eV, processes to the same final state closer than this are duplicates
    search_rounds: int = 2  # rounds of n_searches tried before a state counts as having no escape


@dataclass
class Process:
    """One escape route from a state: barrier, saddle and relaxed final state."""

    barrier: float  # eV
    saddle_energy: float
    final: Atoms
    final_energy: float
    moved_atom: int  # the atom that moved most between initial and final state
    hop_distance: float  # A, how far it moved
    refined: bool = False  # barrier from a converged NEB rather than the dimer saddle


@dataclass
class State:
    """A minimum and its (growing) catalogue of escape processes."""

    atoms: Atoms
    energy: float
    processes: list[Process] = field(default_factory=list)
    searches: int = 0


@dataclass
class SearchStats:
    """Why searches did or did not give a new process (for the log and thermo)."""

    attempted: int = 0
    not_converged: int = 0
    errors: int = 0  # the dimer raised (diverged)
    returned: int = 0  # both sides of the saddle relaxed back to the initial state
    disconnected: int = 0  # neither side is the initial state
    too_high: int = 0
    duplicates: int = 0
    new: int = 0
    neb_refined: int = 0


def displacements(a: Atoms, b: Atoms) -> np.ndarray:
    """Per-atom displacement vectors from ``a`` to ``b`` (minimum image, rigid translation removed).

    A rigid shift of all atoms is the same state (the dimer can drift along that zero mode), so it is removed.
    """
    d, _ = find_mic(b.positions - a.positions, a.cell, a.pbc)
    return d - d.mean(axis=0) if len(d) else d


def max_displacement(a: Atoms, b: Atoms) -> float:
    """Largest atomic displacement between two configurations of the same atoms: the state distance."""
    return float(np.linalg.norm(displacements(a, b), axis=1).max()) if len(a) else 0.0


def relax(atoms: Atoms, calc: Calculator, fmax: float, steps: int) -> tuple[Atoms, float, bool]:
    """Relax a copy of ``atoms`` (fixed cell) and return it, its energy and whether it converged."""
    a = atoms.copy()
    a.calc = calc
    opt = FIRE(a, logfile=None, maxstep=0.2)  # not LBFGS: quasi-Newton steps climb back to a nearby saddle
    ok = bool(opt.run(fmax=fmax, steps=steps))
    energy = a.get_potential_energy()
    a.calc = None
    return a, float(energy), ok


def local_displacement(atoms: Atoms, rng: np.random.Generator, std: float, radius: float) -> np.ndarray:
    """A Gaussian displacement of a random atom and its neighbours within ``radius``: a local event's seed."""
    center = int(rng.integers(len(atoms)))
    dist = atoms.get_distances(center, np.arange(len(atoms)), mic=True)
    mask = dist < radius
    disp = np.zeros((len(atoms), 3))
    disp[mask] = rng.normal(0.0, std, (int(mask.sum()), 3))
    return disp


def dimer_saddle(
    state: State, calc: Calculator, disp: np.ndarray, s: KMCSettings, seed: int
) -> tuple[Atoms, float, np.ndarray] | None:
    """Follow the lowest curvature mode uphill from ``state`` + ``disp`` (ASE dimer); None if not converged."""
    a = state.atoms.copy()
    a.calc = calc
    control = DimerControl(
        logfile=None,
        eigenmode_logfile=None,
        initial_eigenmode_method="displacement",
        displacement_method="vector",
    )
    dimer = MinModeAtoms(a, control, random_seed=seed)
    dimer.displace(displacement_vector=disp, mask=[True] * len(a), method="vector", log=False)
    opt = MinModeTranslate(dimer, logfile=None)
    if not opt.run(fmax=s.fmax, steps=s.dimer_steps):
        return None
    mode = np.asarray(dimer.get_eigenmode(), dtype=float).reshape(-1, 3)
    energy = float(a.get_potential_energy())
    a.calc = None
    return a, energy, mode


def neb_barrier(
    state: State, saddle: Atoms, final: Atoms, final_energy: float, calc: Calculator, s: KMCSettings
) -> float | None:
    """Barrier from a short climbing-image NEB started on initial -> saddle -> final; None if not converged.

    The dimer saddle may be a poor or a higher-order one; a NEB between the two minima checks that the path
    really goes through a barrier of that height. The path starts through the dimer saddle, so few images do.
    """
    n = s.neb_images
    half = (n + 1) // 2
    path = []
    for k in range(1, n + 1):
        if k <= half:  # initial -> saddle (the middle image sits on the saddle for odd n)
            t = k / half
            pos = (1 - t) * state.atoms.positions + t * saddle.positions
        else:
            t = (k - half) / (n + 1 - half)
            pos = (1 - t) * saddle.positions + t * final.positions
        img = state.atoms.copy()
        img.positions = pos
        img.calc = calc
        path.append(img)
    ends = []
    for end, energy in ((state.atoms, state.energy), (final, final_energy)):
        e = end.copy()
        e.calc = SinglePointCalculator(e, energy=energy, forces=np.zeros((len(e), 3)))
        ends.append(e)
    neb = NEB([ends[0], *path, ends[1]], climb=True, method="improvedtangent", allow_shared_calculator=True)
    if not FIRE(neb, logfile=None).run(fmax=s.neb_fmax, steps=s.neb_steps):
        return None
    return float(np.max(neb.energies[1:-1]) - state.energy)


def search_once(
    state: State, calc: Calculator, rng: np.random.Generator, s: KMCSettings, stats: SearchStats
) -> Process | None:
    """One saddle search from ``state``: dimer, relax both ways, keep it only if it leaves the state."""
    stats.attempted += 1
    disp = local_displacement(state.atoms, rng, s.displacement, s.displacement_radius)
    try:
        found = dimer_saddle(state, calc, disp, s, int(rng.integers(2**31)))
    except NUMERIC_ERRORS:  # a diverging dimer is a failed search
        stats.errors += 1
        return None
    if found is None:
        stats.not_converged += 1
        return None
    saddle, e_saddle, mode = found
    barrier = e_saddle - state.energy
    if barrier > s.max_barrier:
        stats.too_high += 1
        return None
    mode = mode / max(float(np.linalg.norm(mode)), 1e-12)
    minima = []
    for sign in (1.0, -1.0):
        start = saddle.copy()
        start.positions = saddle.positions + sign * s.saddle_push * mode
        minima.append(relax(start, calc, s.fmax, s.relax_steps))
    back = [max_displacement(state.atoms, m[0]) < s.state_tol for m in minima]
    if all(back) or barrier <= 0.0:
        stats.returned += 1
        return None
    if not any(back):
        stats.disconnected += 1
        return None
    final, e_final, ok = minima[back.index(True) ^ 1]
    if not ok:
        stats.not_converged += 1
        return None
    norms = np.linalg.norm(displacements(state.atoms, final), axis=1)
    proc = Process(barrier, e_saddle, final, e_final, int(norms.argmax()), float(norms.max()))
    if s.neb_images > 0:
        try:
            refined = neb_barrier(state, saddle, final, e_final, calc, s)
        except NUMERIC_ERRORS:
            refined = None
        if refined is not None and 0.0 < refined <= s.max_barrier:
            proc.barrier, proc.saddle_energy, proc.refined = refined, state.energy + refined, True
            stats.neb_refined += 1
    return proc


def add_unique(processes: list[Process], proc: Process, s: KMCSettings) -> bool:
    """Append ``proc`` unless a known process has the same final state and barrier."""
    for p in processes:
        same_final = max_displacement(p.final, proc.final) < s.state_tol
        if same_final and abs(p.barrier - proc.barrier) < s.barrier_tol:
            return False
    processes.append(proc)
    return True


def find_processes(
    state: State,
    calc: Calculator,
    n_searches: int,
    rng: np.random.Generator,
    s: KMCSettings,
    stats: SearchStats,
) -> int:
    """Run ``n_searches`` saddle searches from ``state`` and add the new processes; returns how many were new."""
    new = 0
    for _ in range(n_searches):
        proc = search_once(state, calc, rng, s, stats)
        state.searches += 1
        if proc is None:
            continue
        if add_unique(state.processes, proc, s):
            new += 1
            stats.new += 1
        else:
            stats.duplicates += 1
    return new


def tst_rates(
    barriers: np.ndarray | list[float], temperature_K: float, prefactor: float = 1e13
) -> np.ndarray:
    """Harmonic transition state theory rates (1/s): ``prefactor * exp(-Ea / kT)``."""
    ea = np.asarray(barriers, dtype=float)
    return prefactor * np.exp(-ea / (units.kB * temperature_K))


def select_process(rates: np.ndarray, rng: np.random.Generator) -> tuple[int, float]:
    """Residence-time step: a process with probability proportional to its rate, and the time (s) it took."""
    rates = np.asarray(rates, dtype=float)
    total = float(rates.sum())
    if not total > 0.0:
        raise ValueError("no process with a positive rate")
    index = int(np.searchsorted(np.cumsum(rates), rng.random() * total, side="right"))
    index = min(index, len(rates) - 1)
    dt = -math.log(1.0 - rng.random()) / total  # 1 - u lies in (0, 1]: never log(0)
    return index, dt


def _log(workdir: Path | None, line: str) -> None:
    if workdir is not None:
        with open(workdir / "kmc.log", "a") as fh:
            fh.write(line + "\n")


@DRIVERS.register("kmc")
def kmc_driver(
    atoms: Atoms, potential: Potential, run: RunCondition, explore: ExploreConfig, seed: int, workdir: Path
) -> Outcome:
    """Adaptive kMC (dimer saddle searches, NEB, harmonic TST): gamma is checked at every force call."""
    return run_kmc(atoms, potential.calculator(), KMCProtocol.from_condition(run, explore, seed), workdir)


def run_kmc(
    atoms: Atoms,
    calc: Calculator,
    protocol: KMCProtocol,
    workdir: Path | None = None,
    *,
    settings: KMCSettings | None = None,
) -> Outcome:
    """Adaptive kMC from ``atoms`` for ``protocol.steps`` steps, or until max gamma exceeds the watch's ``halt``.

    Each new state gets ``protocol.searches`` dimer searches (another round if none escapes); a state visited
    before reuses its catalogue. ``calc`` should report per-atom ``gamma`` (ACE + active set); a halt anywhere
    (relaxation, dimer, NEB) returns ``halted=True`` with the halting configuration as the last frame and
    ``halt_step`` the kMC step it happened in. ``settings`` are the searches' numerical knobs (default
    :class:`KMCSettings`).
    """
    s = settings or KMCSettings()
    temperature_K, kmc_steps = protocol.temperature_K, protocol.steps
    n_searches, seed = protocol.searches, protocol.seed
    wd = Path(workdir) if workdir is not None else None
    if wd is not None:
        wd.mkdir(parents=True, exist_ok=True)
        (wd / "kmc.log").write_text("")
    rng = np.random.default_rng(seed)
    watch = GammaWatchdog(calc, protocol.watch)
    stats = SearchStats()
    visited: list[State] = []
    executed: list[float] = []
    reuses = 0
    time_s = 0.0
    step = 0
    halted, halt_step, error, notice = False, None, None, None
    _log(
        wd,
        f"# aKMC T={temperature_K} K steps={kmc_steps} searches={n_searches} seed={seed} natoms={len(atoms)}",
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # ase.mep chatter about defaults
            start, e0, ok = relax(atoms, watch, s.fmax, s.relax_steps)
            state = State(start, e0)
            visited.append(state)
            _log(wd, f"step 0 relaxed start E={e0:.4f} eV" + ("" if ok else " (not converged)"))
            while step < kmc_steps:
                watch.step = step
                for _ in range(s.search_rounds if state.searches == 0 else 0):  # a new state: search it
                    new = find_processes(state, watch, n_searches, rng, s, stats)
                    _log(wd, f"step {step} searches {n_searches}: {new} new, {len(state.processes)} known "
                             f"(barriers {[round(p.barrier, 3) for p in state.processes]} eV)")  # fmt: skip
                    if state.processes:
                        break
                if not state.processes:
                    notice = f"no escape process found from the state at kMC step {step} after {state.searches} searches"
                    _log(wd, notice)
                    break
                rates = tst_rates([p.barrier for p in state.processes], temperature_K, s.prefactor)
                k, dt = select_process(rates, rng)
                proc = state.processes[k]
                time_s += dt
                executed.append(proc.barrier)
                step += 1
                _log(wd, f"step {step} process {k} atom {proc.moved_atom} hop {proc.hop_distance:.2f} A "
                         f"Ea={proc.barrier:.4f} eV rate={rates[k]:.4g}/s dt={dt:.4g} s t={time_s:.4g} s")  # fmt: skip
                known = next(
                    (v for v in visited if max_displacement(v.atoms, proc.final) < s.state_tol), None
                )
                if known is not None:
                    state = known
                    reuses += 1
                else:
                    state = State(proc.final.copy(), proc.final_energy)
                    visited.append(state)
    except GammaHalt as halt:
        halted, halt_step = True, halt.frame.step
        _log(wd, f"HALT at kMC step {halt_step}: max gamma {halt.frame.gamma:.4g} > {protocol.watch.halt}")
    except NUMERIC_ERRORS as exc:  # the potential blew up: an expected state, as for MD
        halted, error = True, f"{type(exc).__name__}: {exc}"  # no halt frame: halt_step stays None, as for MD
        _log(wd, f"ERROR at kMC step {step}: {error}")
    barriers = [p.barrier for v in visited for p in v.processes]
    thermo = {
        "kmc_steps": float(step),
        "temperature_K": float(temperature_K),
        "prefactor_per_s": float(s.prefactor),
        "saddles_found": float(len(barriers)),
        "searches": float(stats.attempted),
        "searches_not_converged": float(stats.not_converged + stats.errors),
        "searches_returned": float(stats.returned),
        "searches_disconnected": float(stats.disconnected),
        "searches_too_high": float(stats.too_high),
        "neb_refined": float(stats.neb_refined),
        "mean_barrier_eV": float(np.mean(barriers)) if barriers else float("nan"),
        "min_barrier_eV": float(np.min(barriers)) if barriers else float("nan"),
        "mean_executed_barrier_eV": float(np.mean(executed)) if executed else float("nan"),
        "states_visited": float(len(visited)),
        "catalogue_reuses": float(reuses),
        "force_calls": float(watch.force_calls),
        "simulated_time_s": time_s,
    }
    _log(wd, "summary " + " ".join(f"{k}={v:.6g}" for k, v in thermo.items()))
    return Outcome(
        halted=halted,
        steps_done=step,
        simulated_time_fs=time_s * S_TO_FS,
        max_gamma=watch.max_gamma,
        halt_step=halt_step,
        frames=list(watch.frames),
        thermo=thermo,
        error=error,
        driver="kmc",
        notice=notice,
    )
