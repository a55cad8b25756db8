"""A fitted potential's files and what it was fitted over, with the one way to build its ASE calculator.

Every user of a potential (exploration drivers, validation, the test set, the report, releases) goes through
:meth:`Potential.calculator`, so ACE, its baseline and the isolated-atom energies are combined in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyacemaker.train.baseline import Baseline
from pyacemaker.train.pacemaker import calculator


@dataclass(frozen=True)
class Potential:
    """The files of one potential (B-basis ``.yaml``, active set ``.asi``, LAMMPS ``.yace``) and its context."""

    id: str
    yaml: Path
    asi: Path | None
    yace: Path | None
    elements: tuple[str, ...]
    baseline: Baseline | None = None
    reference_energies: dict[str, float] = field(default_factory=dict)

    def calculator(self, with_gamma: bool = True, absolute: bool = False):
        """ACE + baseline; per-atom ``gamma`` in ``results`` when ``with_gamma`` (needs the active set);
        ``absolute`` adds the isolated-atom energies (energies on the oracle's scale)."""
        return calculator(self.yaml, self.asi if with_gamma else None, self.baseline,
                          self.reference_energies if absolute else None)  # fmt: skip

    @property
    def files(self) -> dict[str, Path]:
        out = {"yaml": self.yaml}
        if self.asi is not None:
            out["asi"] = self.asi
        if self.yace is not None:
            out["yace"] = self.yace
        return out
