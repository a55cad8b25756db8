"""What an exploration engine is told to do (a protocol) and what every engine returns (one outcome record).

Engines (ASE MD, LAMMPS, built-in kMC, EON) take ``(atoms, potential or calculator, protocol, workdir)``: the
protocol gathers the run's physics (temperature, steps, ensemble...) and its gamma watch (when to check, keep and
stop), so the parameter lists are not repeated engine by engine. ``decide``, ``pyacemaker status`` and the
candidate builder read only the :class:`Outcome`, so the engines are interchangeable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from ase import Atoms

from pyacemaker.config.schema import ExploreConfig
from pyacemaker.schemas.stages import ExploreOut, RunCondition


# ------------------------------------------------------------------------------------------- protocols
@dataclass(frozen=True, kw_only=True)
class GammaWatch:
    """How a run watches the extrapolation grade: every ``check_interval`` steps (kMC: every force call), keep
    configurations above ``collect`` (the latest ``max_frames``, the halting one among them), stop above ``halt``."""

    check_interval: int = 10
    collect: float = 2.0
    halt: float = 5.0
    max_frames: int = 5

    @classmethod
    def from_explore(cls, explore: ExploreConfig) -> GammaWatch:
        return cls(check_interval=explore.gamma_check_interval, collect=explore.gamma_collect,
                   halt=explore.gamma_halt, max_frames=explore.max_frames)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class MDProtocol:
    """One MD run: thermostat (Langevin friction for ASE), NVT or NPT at ``pressure_GPa``, optional atom-swap
    Monte Carlo every ``swap_interval`` steps, and the gamma watch."""

    temperature_K: float
    steps: int
    timestep_fs: float
    friction: float = 0.02  # 1/fs
    ensemble: Literal["nvt", "npt"] = "nvt"
    pressure_GPa: float = 0.0
    swap: bool = False
    swap_interval: int = 20
    seed: int = 0
    watch: GammaWatch = GammaWatch()
    timeout_s: float | None = (
        None  # wall-clock limit of the run (``explore.timeout_s``): it then ends with an error
    )

    def __post_init__(self) -> None:
        if self.ensemble not in ("nvt", "npt"):
            raise ValueError(f"ensemble must be nvt or npt, not {self.ensemble!r}")

    @property
    def pressure_bar(self) -> float:
        """The target pressure in LAMMPS' metal units."""
        return 1e4 * self.pressure_GPa

    @classmethod
    def from_condition(cls, run: RunCondition, explore: ExploreConfig, seed: int) -> MDProtocol:
        """The condition's physics at its escalation level, the numerics and gamma watch of ``explore``."""
        if explore.timestep_fs is None:
            raise ValueError("explore.timestep_fs is unset: resolve the configuration first")
        return cls(
            temperature_K=run.temperature_K, steps=run.steps, timestep_fs=explore.timestep_fs,
            friction=explore.friction, ensemble=run.ensemble, pressure_GPa=run.pressure_GPa, swap=run.swap,
            swap_interval=explore.swap_interval, seed=seed, watch=GammaWatch.from_explore(explore),
            timeout_s=explore.timeout_s,
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class KMCProtocol:
    """One kinetic Monte Carlo run: ``steps`` kMC steps at ``temperature_K``, ``searches`` saddle searches per
    new state, and the gamma watch (checked at every force call)."""

    temperature_K: float
    steps: int
    searches: int = 4
    seed: int = 0
    watch: GammaWatch = GammaWatch()

    @classmethod
    def from_condition(cls, run: RunCondition, explore: ExploreConfig, seed: int) -> KMCProtocol:
        return cls(temperature_K=run.temperature_K, steps=run.steps, searches=explore.kmc_searches, seed=seed,
                   watch=GammaWatch.from_explore(explore))  # fmt: skip


# ------------------------------------------------------------------------------------------- outcome
@dataclass
class Snapshot:
    """A configuration worth labelling: where it was taken and how extrapolative it was."""

    atoms: Atoms
    step: int
    gamma: float  # max over atoms
    per_atom_gamma: np.ndarray | None = None


@dataclass
class Outcome:
    """The summary of one exploration run (what ``decide`` reads); ``simulated_time_fs`` is kMC time for kMC."""

    halted: bool
    steps_done: int
    simulated_time_fs: float
    max_gamma: float
    halt_step: int | None
    frames: list[Snapshot] = field(default_factory=list)
    thermo: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    driver: str = "ase"  # ase | lammps | kmc | eon
    notice: str | None = None  # e.g. why a requested engine fell back to another

    def summary(self) -> dict[str, Any]:
        return {
            "halted": self.halted,
            "steps_done": self.steps_done,
            "simulated_time_fs": self.simulated_time_fs,
            "max_gamma": self.max_gamma,
            "halt_step": self.halt_step,
            "n_frames": len(self.frames),
            "thermo": self.thermo,
            "error": self.error,
            "driver": self.driver,
            "notice": self.notice,
        }

    def to_explore_out(
        self, run_id: str, condition: RunCondition, start: str | None, candidate_ids: Sequence[str]
    ) -> ExploreOut:
        """The explore stage's typed record of this run."""
        return ExploreOut(run_id=run_id, condition=condition, start=start, skipped=False, **self.summary(),
                          candidate_ids=list(candidate_ids))  # fmt: skip
