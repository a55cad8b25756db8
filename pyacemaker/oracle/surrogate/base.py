"""The surrogate interface (batch labelling, fine-tuning) and the chunked labelling every surrogate shares."""

from __future__ import annotations

import hashlib
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from ase import Atoms
from pydantic import Field

from pyacemaker.config.schema import OracleSettings
from pyacemaker.oracle.base import Oracle, OracleFailure, new_labels
from pyacemaker.schemas.records import StructureRecord

Result = tuple[float, np.ndarray, np.ndarray | None]
"""Energy (eV), forces (eV/A), Voigt stress (eV/A^3, None for a structure that is not a periodic crystal)."""


@dataclass
class FineTuned:
    """What a fine-tuning produced: the weights file and the surrogate's errors on the held-out labels before
    (pretrained weights, energy reference re-fitted) and after."""

    weights: Path
    sha256: str
    n_train: int
    n_test: int
    epochs: int
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    wall_time_s: float = 0.0


class SurrogateSettings(OracleSettings):
    """Base of a surrogate's settings: the weights it labels with (a fine-tuning names its output here)."""

    surrogate: ClassVar[bool] = True
    cost: ClassVar[Literal["cheap", "dft"]] = "cheap"
    weights_file: str | None = Field(
        None, description="weights to use (default: the model's own pretrained ones)"
    )
    weights_sha256: str | None = Field(
        None, description="the weights file's sha256 (checked before it is used)"
    )
    finetuned_on: str | None = Field(
        None, description="the labels the weights were fine-tuned on (provenance)"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where the model runs (auto: a CUDA GPU when torch sees one, else the CPU)"
    )

    def check_elements(self, elements: list[str]) -> None:
        bad = [
            e for e in elements if self.supported_elements is not None and e not in self.supported_elements
        ]
        if bad:
            raise ValueError(
                f"{self.title or self.type} was not trained on {', '.join(bad)} (it covers "
                f"{self.supported_elements[0]}..{self.supported_elements[-1]}): use workflow: loop, or a surrogate "
                "that covers them"
            )


class SurrogateOracle(Oracle):
    """An oracle that is a model: ``compute_batch`` labels many structures in one call; ``finetune`` adapts its
    weights to another oracle's labels and returns a file the settings then name (with its sha256)."""

    @property
    def settings(self) -> dict[str, Any]:
        """The settings identity: without the weights' path (it differs between machines; the sha256 names
        the weights) and the device (the same model on a CPU or a GPU), with the model package's version."""
        out = {k: v for k, v in super().settings.items() if k not in ("weights_file", "device")}
        out["version"] = self.version()
        return out

    package: ClassVar[str] = ""
    """The model's Python distribution (its version is part of the labels' identity)."""

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(self.package)
        except PackageNotFoundError:
            return "not installed"

    @abstractmethod
    def compute_batch(self, structures: Sequence[Atoms]) -> list[Result | OracleFailure]:
        """One result per structure, in order: its labels, or the OracleFailure saying why it has none."""

    @abstractmethod
    def finetune(self, train: Sequence[Atoms], test: Sequence[Atoms], workdir: Path, epochs: int,
                 learning_rate: float, stress: bool, seed: int,
                 references: dict[str, float] | None = None) -> FineTuned:  # fmt: skip
        """Fine-tune on ``train`` (atoms carrying the oracle's labels in a SinglePointCalculator), measure on
        ``test``, and write the new weights under ``workdir``; ``references`` are the oracle's isolated-atom
        energies (a model that takes them as its energy zero may)."""

    def torch_device(self) -> str:
        """``cpu`` or ``cuda``, as ``device`` asks (OracleFailure: cuda asked for, none seen by torch)."""
        import torch

        seen = torch.cuda.is_available()
        if self.config.device == "cuda" and not seen:
            raise OracleFailure(
                f"surrogate device cuda, but torch {torch.__version__} sees no CUDA GPU here (a CPU-only torch, "
                "or no driver): set surrogate.device: auto or cpu, or run where a GPU is"
            )
        return "cuda" if self.config.device != "cpu" and seen else "cpu"

    def check_covers(self, elements: Sequence[str]) -> None:
        """Raise OracleFailure naming the elements the configured model cannot label (the settings' own list;
        a model read from a file may answer from the file)."""
        try:
            self.config.check_elements(list(elements))
        except ValueError as exc:
            raise OracleFailure(str(exc)) from None

    def weights_path(self, unavailable: type[OracleFailure], what: str, missing_hint: str = "") -> Path:
        """The configured weights file, checked: it exists and, when a sha256 is recorded, is that very file
        (``unavailable`` raised otherwise, naming it as ``what``)."""
        path = Path(str(self.config.weights_file))
        if not path.is_file():
            raise unavailable(f"{what} {path} does not exist{missing_hint}")
        if self.config.weights_sha256 and sha256_of(path) != self.config.weights_sha256:
            raise unavailable(f"{what} {path} is not the recorded one (sha256 differs)")
        return path

    def compute(self, atoms: Atoms, workdir: Path) -> tuple[float, np.ndarray, np.ndarray | None, list[dict]]:
        (result,) = self.compute_batch([atoms])
        if isinstance(result, OracleFailure):
            raise result
        return (*result, [])


def label_in_chunks(
    records: Sequence[StructureRecord],
    oracle: SurrogateOracle,
    chunk_size: int,
    on_chunk: Callable[[list[StructureRecord]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[StructureRecord]:
    """Label ``records`` ``chunk_size`` at a time (memory stays bounded however large the pool); each finished
    chunk goes to ``on_chunk`` at once (stored as it completes). Failures come back ``rejected``."""
    out: list[StructureRecord] = []
    for start in range(0, len(records), chunk_size):
        chunk = list(records[start : start + chunk_size])
        t0 = time.perf_counter()
        results = oracle.compute_batch([r.to_atoms(with_labels=False) for r in chunk])
        each = (time.perf_counter() - t0) / max(1, len(chunk))
        done = []
        for rec, res in zip(chunk, results, strict=True):
            new = rec.model_copy(deep=True)
            try:
                if isinstance(res, OracleFailure):
                    raise res
                new.labels = new_labels(oracle, *res, [], each)
                new.status, new.reject_reason = "labelled", None
            except OracleFailure as exc:
                new.status, new.labels, new.reject_reason = "rejected", None, str(exc)
            done.append(new)
        out += done
        if on_chunk is not None:
            on_chunk(done)
        if progress is not None:
            progress(len(out), len(records))
    return out


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def surrogate_errors(oracle: SurrogateOracle, labelled: Sequence[Atoms]) -> dict[str, float]:
    """Mean absolute errors of the surrogate against labelled structures (atoms with a SinglePointCalculator):
    energy meV/atom, forces meV/A, stress GPa (over the periodic ones)."""
    if not labelled:
        return {}
    from ase.units import GPa

    e, f, s = [], [], []
    for atoms, res in zip(labelled, oracle.compute_batch(labelled), strict=True):
        if isinstance(res, OracleFailure):
            continue
        energy, forces, stress = res
        e.append(abs(energy - atoms.get_potential_energy()) / len(atoms))
        f.append(np.abs(forces - atoms.get_forces()).mean())
        ref = atoms.calc.results.get("stress")
        if stress is not None and ref is not None:
            s.append(np.abs(np.asarray(stress) - np.asarray(ref)).mean() / GPa)
    out = {"energy_mae_meV_atom": 1000 * float(np.mean(e)), "forces_mae_meV_A": 1000 * float(np.mean(f))}
    if s:
        out["stress_mae_GPa"] = float(np.mean(s))
    out["n"] = float(len(e))
    return out
