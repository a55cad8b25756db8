"""Langevin NVT molecular dynamics with an ACE potential that stops when the extrapolation grade is too high."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from pyacemaker.dynamics.outcome import Frame, MDOutcome


def run_md(
    atoms: Atoms,
    calc,
    temperature_K: float,
    steps: int,
    timestep_fs: float,
    friction: float,
    gamma_check_interval: int,
    gamma_collect: float,
    gamma_halt: float,
    max_frames: int,
    seed: int,
    workdir: Path | None = None,
) -> MDOutcome:
    """Run Langevin NVT until ``steps`` or until max gamma exceeds ``gamma_halt``.

    ``calc`` must report per-atom ``gamma`` in its results (PyACECalculator with an active set). Frames over
    ``gamma_collect`` are kept (the latest ``max_frames``, the halted one always among them).
    """
    atoms = atoms.copy()
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    dyn = Langevin(
        atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=friction / units.fs, rng=rng,
        logfile=str(workdir / "md.log") if workdir else None, loginterval=max(1, gamma_check_interval),
    )  # fmt: skip
    frames: list[Frame] = []
    temps: list[float] = []
    epots: list[float] = []
    state = {"max_gamma": 0.0, "halt_step": None}

    class Halt(Exception):
        pass

    def check() -> None:
        per_atom = np.asarray(calc.results.get("gamma", [0.0]), dtype=float)
        gamma = float(per_atom.max())
        step = dyn.nsteps
        state["max_gamma"] = max(state["max_gamma"], gamma)
        temps.append(atoms.get_temperature())
        epots.append(atoms.get_potential_energy() / len(atoms))
        if gamma > gamma_collect:
            frames.append(Frame(atoms.copy(), step, gamma, per_atom.copy()))
            del frames[:-max_frames]
        if gamma > gamma_halt:
            state["halt_step"] = step
            raise Halt

    dyn.attach(check, interval=gamma_check_interval)
    halted, error = False, None
    try:
        dyn.run(steps)
    except Halt:
        halted = True
    except (RuntimeError, ValueError, FloatingPointError) as exc:  # the potential blew up: an expected state
        halted, error = True, f"{type(exc).__name__}: {exc}"
    done = dyn.nsteps
    for f in frames:
        f.atoms.calc = None
    thermo = {
        "temperature_mean_K": float(np.mean(temps)) if temps else float("nan"),
        "epot_mean_eV_atom": float(np.mean(epots)) if epots else float("nan"),
        "epot_std_eV_atom": float(np.std(epots)) if epots else float("nan"),
    }
    return MDOutcome(
        halted, done, done * timestep_fs, state["max_gamma"], state["halt_step"], frames, thermo, error
    )
