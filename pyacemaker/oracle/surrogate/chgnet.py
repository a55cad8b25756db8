"""CHGNet as a surrogate oracle: its pretrained weights ship in its wheel (nothing is downloaded), it labels
batches of structures on the CPU or a GPU, and chgnet's own Trainer fine-tunes it on the campaign's labels.

Install with ``pip install -r requirements/coldstart.txt`` (chgnet and a CPU torch; scripts/setup.sh does it).
torch and chgnet are imported only when a CHGNet oracle is used, so the config can name it without them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from pydantic import Field

from pyacemaker.oracle.base import OracleFailure
from pyacemaker.oracle.surrogate.base import (
    FineTuned,
    Result,
    SurrogateOracle,
    SurrogateSettings,
    sha256_of,
    surrogate_errors,
)
from pyacemaker.plugins import ORACLES

CHGNET_ELEMENTS = tuple(chemical_symbols[1:95])  # its composition model and embeddings cover H..Pu
# structures per forward pass: on a CPU, batching costs more than it saves (measured, 32-atom Cu, one thread: 1 per
# pass 0.21 s/structure and 1.0 GB; 4: 0.25 s and 2.7 GB; 16: 1.1 s and 9.6 GB: the stress graph grows with the batch)
MODEL_BATCH = 1
BOX_A = 20.0  # vacuum box for a structure without a periodic cell (CHGNet's graphs need a lattice)


class CHGNetSettings(SurrogateSettings):
    """CHGNet (a universal graph-network potential fitted to the Materials Project's PBE/PBE+U relaxations)."""

    type: Literal["chgnet"] = "chgnet"
    supported_elements: ClassVar[tuple[str, ...] | None] = CHGNET_ELEMENTS
    title: ClassVar[str | None] = "CHGNet"
    pretrained: Literal["0.3.0", "0.2.0", "r2scan"] = Field(
        "0.3.0", description="the wheel's weights to use when no weights_file is given"
    )


class ChgnetUnavailable(OracleFailure):
    """CHGNet (or torch) is not installed, or the weights do not load."""


@ORACLES.register("chgnet")
class CHGNetOracle(SurrogateOracle):
    name = "chgnet"
    package = "chgnet"
    settings_model = CHGNetSettings
    config: CHGNetSettings

    def __init__(self, config: CHGNetSettings):
        super().__init__(config)
        self._model = None

    def check_ready(self) -> None:
        self.torch_device()
        self.model()

    def model(self):
        """The CHGNet model of these settings, loaded once (ChgnetUnavailable: not installed, or a weights file
        that is missing, is not CHGNet's, or differs from its recorded sha256)."""
        if self._model is not None:
            return self._model
        try:
            from chgnet.model import CHGNet
        except ImportError:
            raise ChgnetUnavailable(
                "CHGNet is not installed: pip install -r requirements/coldstart.txt (chgnet and a CPU torch)"
            ) from None
        c = self.config
        if c.weights_file is None:
            self._model = CHGNet.load(model_name=c.pretrained, use_device=self.torch_device(), verbose=False)
            return self._model
        path = self.weights_path(ChgnetUnavailable, "CHGNet weights file")
        try:
            self._model = CHGNet.from_file(str(path))
        except Exception as exc:  # torch raises many kinds for a file that is not a CHGNet checkpoint
            raise ChgnetUnavailable(
                f"{path} does not load as CHGNet weights ({type(exc).__name__}: {str(exc)[:200]}); give a file "
                "written by CHGNet's Trainer or by pyacemaker's fine-tuning"
            ) from None
        self._model = self._model.to(self.torch_device()).eval()
        return self._model

    def calculator_factory(self, workdir: Path):
        """chgnet's own ASE calculator on this model (MD over the model, no per-step structure conversion)."""
        from chgnet.model.dynamics import CHGNetCalculator

        return lambda: CHGNetCalculator(model=self.model(), use_device=self.torch_device())

    def compute_batch(self, structures: Sequence[Atoms]) -> list[Result | OracleFailure]:
        model = self.model()
        try:
            preds = _predict(model, structures)
        except Exception:  # one bad structure fails the whole batch: find it, label the others
            preds = []
            for atoms in structures:
                try:
                    preds.append(_predict(model, [atoms])[0])
                except Exception as exc:
                    preds.append(OracleFailure(f"CHGNet cannot evaluate this structure: {exc}"))
        return [
            p if isinstance(p, OracleFailure) else _result(a, p)
            for a, p in zip(structures, preds, strict=True)
        ]

    def reference_energy(self, element: str, workdir: Path) -> float:
        (res,) = self.compute_batch([Atoms(element, positions=[[0, 0, 0]], cell=[BOX_A] * 3, pbc=True)])
        if isinstance(res, OracleFailure):
            raise res
        return float(res[0])

    def finetune(self, train: Sequence[Atoms], test: Sequence[Atoms], workdir: Path, epochs: int,
                 learning_rate: float, stress: bool, seed: int,
                 references: dict[str, float] | None = None) -> FineTuned:  # fmt: skip
        """Re-fit the per-element energy reference to the labels (a DFT code's zero of energy differs from the
        Materials Project's; ``references`` are not needed for that), measure, then train every weight for ``epochs`` with chgnet's Trainer (energies
        and forces; stresses when ``stress``) and measure again. Trainer's output goes to ``finetune.log``."""
        import torch
        from chgnet.data.dataset import StructureData, get_train_val_test_loader
        from chgnet.trainer import Trainer

        t0 = time.perf_counter()
        workdir.mkdir(parents=True, exist_ok=True)
        model = self.model()
        _shift_reference(model, train, [p["e"] for p in _predict(model, train)])
        before = surrogate_errors(self, test)
        if epochs > 0 and len(train) >= 2:
            structures = [_structure(a) for a in train]
            data = StructureData(
                structures, [a.get_potential_energy() / len(a) for a in train], [a.get_forces() for a in train],
                # chgnet's datasets take VASP's convention: kBar, compressive positive (it converts by -0.1)
                stresses=[_vasp_kbar(a) for a in train] if stress else None, shuffle=False,
            )  # fmt: skip
            torch.manual_seed(seed)
            batch = max(1, min(16, len(train) // 4))
            with _quiet(workdir / "finetune.log"):
                loaders = get_train_val_test_loader(data, batch_size=batch, train_ratio=0.9, val_ratio=0.1,
                                                    return_test=False)  # fmt: skip
                trainer = Trainer(model=model, targets="efs" if stress else "ef", optimizer="Adam",
                                  criterion="MSE", learning_rate=learning_rate, epochs=epochs,
                                  use_device=self.torch_device(),
                                  print_freq=10**6, torch_seed=seed, data_seed=seed)  # fmt: skip
                trainer.train(*loaders, save_dir=str(workdir / "checkpoints"))
            self._model = model = trainer.model.eval()
        weights = workdir / "chgnet_finetuned.pth.tar"
        torch.save({"model": model.as_dict()}, weights)  # what CHGNet.from_file reads
        after = surrogate_errors(self, test)
        return FineTuned(weights, sha256_of(weights), len(train), len(test), epochs, before, after,
                         time.perf_counter() - t0)  # fmt: skip


def _structure(atoms: Atoms):
    """A pymatgen Structure (CHGNet's input); a cluster or slab without a full cell gets a vacuum box."""
    from pymatgen.io.ase import AseAtomsAdaptor

    a = atoms.copy()
    a.calc = None
    if a.cell.rank < 3:
        a.set_cell([BOX_A] * 3)
        a.center()
    a.pbc = True
    return AseAtomsAdaptor.get_structure(a)


def _predict(model, structures: Sequence[Atoms]) -> list[dict]:
    """CHGNet's predictions for the structures, one batch (a single structure comes back as a dict)."""
    out = model.predict_structure([_structure(a) for a in structures], task="efs", batch_size=MODEL_BATCH)
    return [out] if isinstance(out, dict) else list(out)


def _result(atoms: Atoms, pred: dict) -> Result:
    """CHGNet's eV/atom, eV/A and GPa (ASE's sign) as ASE's totals and Voigt stress in eV/A^3."""
    from ase.units import GPa

    energy = float(pred["e"]) * len(atoms)
    s = np.asarray(pred["s"], dtype=float).reshape(3, 3) * GPa
    periodic = atoms.cell.rank == 3 and all(atoms.pbc)
    stress = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]) if periodic else None
    return energy, np.asarray(pred["f"], dtype=float), stress


def _vasp_kbar(atoms: Atoms) -> np.ndarray:
    from ase.units import GPa

    return -10.0 * atoms.get_stress(voigt=False) / GPa


def _shift_reference(model, labelled: Sequence[Atoms], predicted_per_atom: Sequence[float]) -> None:
    """Move CHGNet's per-element energies (its AtomRef, eV/atom by composition fraction) by the least-squares
    offsets between the labels and its predictions, so fine-tuning starts from the labels' zero of energy."""
    import torch

    zs = sorted({z for a in labelled for z in a.numbers})
    frac = np.array([[np.mean(a.numbers == z) for z in zs] for a in labelled])
    resid = np.array([a.get_potential_energy() / len(a) - float(p) for a, p in zip(labelled, predicted_per_atom,
                                                                                     strict=True)])  # fmt: skip
    delta, *_ = np.linalg.lstsq(frac, resid, rcond=None)
    with torch.no_grad():
        for z, d in zip(zs, delta, strict=True):
            model.composition_model.fc.weight[0, int(z) - 1] += float(d)


@contextlib.contextmanager
def _quiet(log: Path):
    """chgnet's Trainer prints every batch: into a log file, not the worker's output."""
    with log.open("a") as fh, contextlib.redirect_stdout(fh):
        yield
