"""ASE molecular dynamics with an ACE potential that stops when the extrapolation grade is too high.

Langevin NVT, or Langevin NPT (``LangevinBAOAB``, hydrostatic cell) at a target pressure; optionally atom-swap
Monte Carlo between unlike atoms every ``swap_interval`` steps (alloys: samples chemical order that MD alone
reaches only over diffusion time scales). ASE has no swap move of its own; LAMMPS' ``fix atom/swap`` is the model.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.langevinbaoab import LangevinBAOAB
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from pyacemaker.config.schema import ExploreConfig
from pyacemaker.explore.protocol import MDProtocol, Outcome, Snapshot
from pyacemaker.plugins import DRIVERS
from pyacemaker.schemas.stages import RunCondition
from pyacemaker.train.potential import Potential


@DRIVERS.register("md-ase")
def ase_driver(
    atoms: Atoms, potential: Potential, run: RunCondition, explore: ExploreConfig, seed: int, workdir: Path
) -> Outcome:
    """ASE Langevin MD with ACE (+ baseline) and its per-atom gamma (``explore.engine: ase``)."""
    return run_md(atoms, potential.calculator(), MDProtocol.from_condition(run, explore, seed), workdir)


def run_md(atoms: Atoms, calc, protocol: MDProtocol, workdir: Path | None = None) -> Outcome:
    """Run Langevin NVT (or NPT) until ``protocol.steps`` or until max gamma exceeds the watch's ``halt``.

    ``calc`` must report per-atom ``gamma`` in its results (PyACECalculator with an active set). Frames over
    ``collect`` are kept (the latest ``max_frames``, the halted one always among them). Swaps run every
    ``swap_interval`` steps when ``protocol.swap``.
    """
    p, w = protocol, protocol.watch
    temperature_K, timestep_fs, friction = p.temperature_K, p.timestep_fs, p.friction
    swap_interval = p.swap_interval if p.swap else 0
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    atoms = atoms.copy()
    atoms.calc = calc
    rng = np.random.default_rng(p.seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    log = {
        "logfile": str(Path(workdir) / "md.log") if workdir else None,
        "loginterval": max(1, w.check_interval),
    }
    if p.ensemble == "npt":
        with warnings.catch_warnings():  # ASE notes its barostat-mass heuristic; the default is what we want
            warnings.simplefilter("ignore", UserWarning)
            dyn = LangevinBAOAB(
                atoms, timestep_fs * units.fs, temperature_K=temperature_K, T_tau=1 / friction * units.fs,
                P_tau=20 / friction * units.fs, externalstress=-p.pressure_GPa * units.GPa, hydrostatic=True,
                rng=rng, **log,
            )  # fmt: skip
    else:
        dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=friction / units.fs,
                       rng=rng, **log)  # fmt: skip
    swaps = {"tried": 0, "accepted": 0}
    frames: list[Snapshot] = []
    temps: list[float] = []
    epots: list[float] = []
    state = {"max_gamma": 0.0, "halt_step": None}

    class Halt(Exception):
        pass

    class TimedOut(Exception):
        pass

    # the same limit as a LAMMPS or EON run's (``explore.timeout_s``), checked at every gamma check: an MD that
    # crawls (a huge cell, a slow potential) ends with an error instead of holding its worker for days
    deadline = None if p.timeout_s is None else time.monotonic() + p.timeout_s

    def check() -> None:
        per_atom = np.asarray(calc.results.get("gamma", [0.0]), dtype=float)
        gamma = float(per_atom.max())
        step = dyn.nsteps
        state["max_gamma"] = max(state["max_gamma"], gamma)
        temps.append(atoms.get_temperature())
        epots.append(atoms.get_potential_energy() / len(atoms))
        if gamma > w.collect:
            frames.append(Snapshot(atoms.copy(), step, gamma, per_atom.copy()))
            del frames[: -w.max_frames]
        if gamma > w.halt:
            state["halt_step"] = step
            raise Halt
        if deadline is not None and time.monotonic() > deadline:
            raise TimedOut

    dyn.attach(check, interval=w.check_interval)
    if swap_interval and len(set(atoms.get_chemical_symbols())) > 1:

        def sweep() -> None:
            before = swaps["accepted"]
            swap_sweep(atoms, temperature_K, rng, swaps)
            if swaps["accepted"] > before and hasattr(dyn, "_update_accel"):
                # LangevinBAOAB keeps the last step's forces (and cell force) for its next half-kick: refresh them
                dyn._update_accel()
                if getattr(dyn, "externalstress", None) is not None:
                    dyn._update_force_eps()

        dyn.attach(sweep, interval=swap_interval)
    halted, error = False, None
    try:
        dyn.run(p.steps)
    except Halt:
        halted = True
    except TimedOut:  # not a gamma halt: the run ends with an error, as a LAMMPS run past its limit does
        error = (
            f"ASE MD timeout: not finished within {p.timeout_s:g} s (explore.timeout_s), stopped at step "
            + (f"{dyn.nsteps} of {p.steps}")
        )
    except (RuntimeError, ValueError, FloatingPointError) as exc:  # the potential blew up: an expected state
        halted, error = True, f"{type(exc).__name__}: {exc}"
    done = dyn.nsteps
    for f in frames:
        f.atoms.calc = None
    thermo = {
        "temperature_mean_K": float(np.mean(temps)) if temps else float("nan"),
        "epot_mean_eV_atom": float(np.mean(epots)) if epots else float("nan"),
        "epot_std_eV_atom": float(np.std(epots)) if epots else float("nan"),
        "volume_A3_atom": float(atoms.get_volume() / len(atoms)),
    }
    if swap_interval:
        thermo.update({"swaps_tried": swaps["tried"], "swaps_accepted": swaps["accepted"]})
    return Outcome(
        halted, done, done * timestep_fs, state["max_gamma"], state["halt_step"], frames, thermo, error
    )


def swap_sweep(atoms: Atoms, temperature_K: float, rng: np.random.Generator, count: dict[str, int]) -> None:
    """Metropolis atom swaps: ``len(atoms) // 10`` (at least one) attempts to exchange the positions of two unlike
    atoms, each accepted with probability min(1, exp(-dE/kT)). Positions swap, so masses and momenta stay with
    their atoms and the thermostat sees no velocity jump."""
    symbols = np.array(atoms.get_chemical_symbols())
    if len(set(symbols)) < 2:
        return
    e_old = atoms.get_potential_energy()
    for _ in range(max(1, len(atoms) // 10)):
        i = int(rng.integers(len(atoms)))
        others = np.flatnonzero(symbols != symbols[i])
        j = int(rng.choice(others))
        pos = atoms.get_positions()
        pos[[i, j]] = pos[[j, i]]
        atoms.set_positions(pos)
        e_new = atoms.get_potential_energy()
        count["tried"] += 1
        if e_new <= e_old or rng.random() < np.exp(-(e_new - e_old) / (units.kB * temperature_K)):
            e_old = e_new
            count["accepted"] += 1
        else:
            pos[[i, j]] = pos[[j, i]]
            atoms.set_positions(pos)
