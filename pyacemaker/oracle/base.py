"""The oracle interface and the labelling function every campaign calls.

An oracle turns structures into labels (energy, forces, stress). Failures are expected states: a structure that
cannot be labelled comes back ``rejected`` with its reason, and never reaches a training set.
"""

from __future__ import annotations

import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from pyacemaker.config.schema import OracleSettings
from pyacemaker.oracle.calculator import OracleCalculator
from pyacemaker.plugins import ORACLES
from pyacemaker.schemas.records import Labels, StructureRecord, settings_hash


class OracleFailure(RuntimeError):
    """The oracle could not label a structure; ``reason`` is recorded with the structure."""


class OracleInterrupted(RuntimeError):
    """The oracle stopped before finishing a structure because the batch allocation's time ran out, with its state
    saved in the structure's run directory. Not a failure of the structure: it is neither rejected nor counted as
    an oracle call; a re-run of the job continues it from the saved state. ``done`` holds the records
    :func:`label` finished (labelled or rejected) before the interruption, for the caller to keep."""

    def __init__(self, message: str, done: Sequence[StructureRecord] = ()):
        super().__init__(message)
        self.done = list(done)


class Oracle(ABC):
    """One labelling method with fixed settings (one settings set per campaign keeps labels consistent).

    A plugin subclasses it, names its settings model (the ``oracle:`` section of the config) and registers the
    class: ``@ORACLES.register("name")``."""

    name: str = "oracle"
    settings_model: ClassVar[type[OracleSettings]] = OracleSettings

    def __init__(self, config: OracleSettings):
        self.config = config

    @property
    def settings(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.name, self.settings)

    def check_ready(self) -> None:
        """Raise OracleFailure when this machine cannot run the oracle (missing executable, missing data)."""
        return None  # in-process oracles (EMT) are always ready

    @abstractmethod
    def compute(self, atoms: Atoms, workdir: Path) -> tuple[float, np.ndarray, np.ndarray | None, list[dict]]:
        """Energy (eV), forces (eV/A), Voigt stress (eV/A^3) or None, and corrections applied."""

    @abstractmethod
    def reference_energy(self, element: str, workdir: Path) -> float:
        """Energy of the isolated atom with the same settings (for pacemaker's energy_corrected)."""

    def calculator_factory(self, workdir: Path) -> Callable[[], Calculator]:
        """A factory of fresh ASE calculators that label with this oracle (for the quality gate's validators),
        each call in its own directory under ``workdir``."""
        counter = itertools.count(1)  # shared: every calculator of this factory writes to new directories
        return lambda: OracleCalculator(self, workdir, counter)


def make_oracle(config: OracleSettings) -> Oracle:
    """The oracle the settings' ``type`` names (the registry imports the plugin module on first use)."""
    return ORACLES.get_plugin(config.type)(config)


def new_labels(
    oracle: Oracle, energy: float, forces, stress, corrections: list[dict], wall_time_s: float
) -> Labels:
    """One result of ``oracle`` as Labels with its settings identity; OracleFailure when the energy or a force is
    not finite (such a structure is rejected, never trained on)."""
    if not np.all(np.isfinite(forces)) or not np.isfinite(energy):
        raise OracleFailure("non-finite energy or forces")
    return Labels(
        energy=float(energy),
        forces=np.asarray(forces, dtype=float).tolist(),
        stress=None if stress is None else np.asarray(stress, dtype=float).tolist(),
        oracle=oracle.name,
        settings=oracle.settings,
        settings_hash=oracle.settings_hash,
        corrections=corrections,
        wall_time_s=wall_time_s,
    )


def label(
    records: Sequence[StructureRecord],
    oracle: Oracle,
    workdir: Path,
    may_start: Callable[[StructureRecord], bool] | None = None,
    on_done: Callable[[StructureRecord], None] | None = None,
) -> list[StructureRecord]:
    """Label each record with ``oracle`` in ``workdir/<record hash>``; failures become ``rejected`` records.

    ``may_start`` is asked before each record (False: skip it, e.g. over budget); ``on_done`` gets each finished
    record at once (so it is stored as it completes, not when the whole batch ends).
    OracleInterrupted (the allocation's time ran out) stops the batch: it is raised with the records finished so
    far in its ``done``; the interrupted record and the ones after it are left as they were."""
    out = []
    for rec in records:
        if may_start is not None and not may_start(rec):
            continue
        rundir = workdir / rec.hash[:16]
        rundir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        new = rec.model_copy(deep=True)
        try:
            energy, forces, stress, corrections = oracle.compute(rec.to_atoms(with_labels=False), rundir)
            new.labels = new_labels(oracle, energy, forces, stress, corrections, time.perf_counter() - t0)
            new.status = rec.labelled_status
            new.reject_reason = None
        except OracleFailure as exc:
            new.status, new.reject_reason, new.labels = "rejected", str(exc), None
        except OracleInterrupted as exc:
            exc.done = out
            raise
        out.append(new)
        if on_done is not None:
            on_done(new)
    return out
