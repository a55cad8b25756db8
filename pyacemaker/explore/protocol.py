"""What every exploration driver (ASE MD, LAMMPS, built-in kMC, EON) returns: one outcome record.

``decide``, ``pyacemaker status`` and the candidate builder read only this, so the drivers are interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms


@dataclass
class Frame:
    """A snapshot worth labelling: where it was taken and how extrapolative it was."""

    atoms: Atoms
    step: int
    gamma: float  # max over atoms
    per_atom_gamma: np.ndarray | None = None


@dataclass
class MDOutcome:
    """The summary of one exploration run (what ``decide`` reads); ``simulated_time_fs`` is kMC time for kMC."""

    halted: bool
    steps_done: int
    simulated_time_fs: float
    max_gamma: float
    halt_step: int | None
    frames: list[Frame] = field(default_factory=list)
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
