"""MACE as a surrogate oracle (``mace-torch``): from a model file the user gives, fine-tuned on the campaign's
labels, or, when no file is given, trained from scratch on them (a small model: the campaign's labels are few).

Foundation models (MACE-MP, MACE-OFF...) are files to download; pyacemaker never downloads at run time (compute
nodes often have no internet): download the file where you can and name it in ``surrogate.model_file``. Training
and fine-tuning run MACE's own ``mace_run_train`` (beside this interpreter) through :mod:`pyacemaker.proc`."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from pydantic import Field

from pyacemaker.allocation import ToolNotFound, tool
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
from pyacemaker.proc import run_logged

FOUNDATION_NAMES = ("small", "medium", "large", "medium-mpa-0", "medium-omat-0", "small-0b", "medium-0b",
                    "small-0b2", "medium-0b2", "large-0b2", "medium-0b3", "mp", "off", "omol")  # fmt: skip
TRAIN_TIMEOUT_S = 6 * 3600.0


class MACESettings(SurrogateSettings):
    """MACE: ``weights_file`` a model file (a foundation model you downloaded, or your own); without one, the
    finetune job trains a small model from scratch with the architecture below."""

    type: Literal["mace"] = "mace"
    title: ClassVar[str | None] = "MACE"
    channels: int = Field(16, ge=4, le=512, description="from scratch: channels per irrep")
    max_L: int = Field(0, ge=0, le=3, description="from scratch: highest symmetry of the messages")
    r_max: float = Field(5.0, gt=1, le=12, description="from scratch: cutoff, A")
    interactions: int = Field(2, ge=1, le=4, description="from scratch: message-passing layers")


class MaceUnavailable(OracleFailure):
    """mace-torch is not installed, or the model file is missing, not MACE's, or a name to download."""


@ORACLES.register("mace")
class MACEOracle(SurrogateOracle):
    name = "mace"
    package = "mace-torch"
    settings_model = MACESettings
    config: MACESettings

    def __init__(self, config: MACESettings):
        super().__init__(config)
        self._calc = None

    def check_ready(self) -> None:
        """mace-torch importable; a given model file exists and loads (no file: trained from scratch later)."""
        _import_mace()
        self.torch_device()
        if self.config.weights_file is not None:
            self.calculator()

    def check_covers(self, elements: Sequence[str]) -> None:
        """A model file covers the elements of its training data (its atomic-number table); a model trained from
        scratch on the campaign's labels covers the campaign's elements."""
        if self.config.weights_file is None:
            return
        covered = {chemical_symbols[int(z)] for z in self.calculator().z_table.zs}
        missing = [e for e in elements if e not in covered]
        if missing:
            raise MaceUnavailable(
                f"the MACE model {self.config.weights_file} was not trained on {', '.join(missing)} (it covers "
                f"{' '.join(sorted(covered, key=atomic_numbers.get))}): give a model that covers every element "
                "of the campaign, or no model_file to train one from scratch on the campaign's labels"
            )

    def calculator(self):
        """MACE's own ASE calculator on the model file, loaded once."""
        if self._calc is not None:
            return self._calc
        _import_mace()
        from mace.calculators import MACECalculator

        given = self.config.weights_file
        if given is None:
            raise MaceUnavailable(
                "no MACE model to label with yet: give surrogate.model_file, or let workflow: distill's finetune "
                "job train one from the campaign's labels"
            )
        hint = (f"; {given!r} names a foundation model, which pyacemaker does not download at run time (compute "
                "nodes often have no internet): download the model file where you can and give its path"
                ) if given in FOUNDATION_NAMES else ""  # fmt: skip
        path = self.weights_path(MaceUnavailable, "MACE model file", hint)
        try:
            self._calc = MACECalculator(
                model_paths=str(path), device=self.torch_device(), default_dtype="float64"
            )
        except Exception as exc:  # torch raises many kinds for a file that is not a MACE model
            raise MaceUnavailable(
                f"{path} does not load as a MACE model ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
        return self._calc

    def calculator_factory(self, workdir: Path):
        return self.calculator

    def compute_batch(self, structures: Sequence[Atoms]) -> list[Result | OracleFailure]:
        calc = self.calculator()
        out: list[Result | OracleFailure] = []
        for atoms in structures:  # MACECalculator takes one structure per call
            a = atoms.copy()
            a.calc = calc
            try:
                periodic = a.cell.rank == 3 and all(a.pbc)
                out.append((float(a.get_potential_energy()), a.get_forces().copy(),
                            a.get_stress(voigt=True).copy() if periodic else None))  # fmt: skip
            except Exception as exc:
                out.append(OracleFailure(f"MACE cannot evaluate this structure: {exc}"))
        return out

    def reference_energy(self, element: str, workdir: Path) -> float:
        (res,) = self.compute_batch([Atoms(element, positions=[[0, 0, 0]], cell=[20.0] * 3, pbc=False)])
        if isinstance(res, OracleFailure):
            raise res
        return float(res[0])

    def finetune(self, train: Sequence[Atoms], test: Sequence[Atoms], workdir: Path, epochs: int,
                 learning_rate: float, stress: bool, seed: int,
                 references: dict[str, float] | None = None) -> FineTuned:  # fmt: skip
        """``mace_run_train`` on ``train`` (15 % of it for validation): fine-tuning the given model file, or a
        model of this architecture from scratch. The oracle's isolated-atom energies are the model's E0s."""
        import ase.io

        t0 = time.perf_counter()
        workdir.mkdir(parents=True, exist_ok=True)
        before = surrogate_errors(self, test) if self.config.weights_file else {}
        ase.io.write(workdir / "train.xyz", [_ref_frame(a) for a in train])
        name = "surrogate"
        c = self.config
        args = ["mace_run_train", f"--name={name}", "--train_file=train.xyz", "--valid_fraction=0.15",
                "--energy_key=REF_energy", "--forces_key=REF_forces", "--stress_key=REF_stress",
                f"--device={self.torch_device()}",
                "--default_dtype=float64", f"--seed={seed}", f"--lr={learning_rate}", "--batch_size=4",
                f"--max_num_epochs={max(1, epochs)}", "--energy_weight=10", "--forces_weight=10",
                f"--stress_weight={10 if stress else 0}"]  # fmt: skip
        if references:
            args.append("--E0s=" + str({atomic_numbers[el]: float(e) for el, e in references.items()}))
        else:
            args.append("--E0s=average")
        if c.weights_file:
            args += [f"--foundation_model={Path(c.weights_file).resolve()}", "--multiheads_finetuning=False"]
        else:
            args += ["--model=MACE", f"--num_channels={c.channels}", f"--max_L={c.max_L}", f"--r_max={c.r_max}",
                     "--correlation=2", f"--num_interactions={c.interactions}"]  # fmt: skip
        _train(args, workdir)
        weights = workdir / "mace_surrogate.model"
        shutil.copyfile(workdir / f"{name}.model", weights)
        self.config = c.model_copy(update={"weights_file": str(weights), "weights_sha256": None})
        self._calc = None
        after = surrogate_errors(self, test)
        return FineTuned(weights, sha256_of(weights), len(train), len(test), epochs, before, after,
                         time.perf_counter() - t0)  # fmt: skip


def _import_mace() -> None:
    try:
        import mace  # noqa: F401
    except ImportError:
        raise MaceUnavailable(
            "MACE is not installed: pip install -r requirements/coldstart.txt (mace-torch with chgnet's torch)"
        ) from None


def _ref_frame(atoms: Atoms) -> Atoms:
    """The labels under the keys mace_run_train is told to read (never ASE's calculator keys, which it skips)."""
    a = atoms.copy()
    a.info["REF_energy"] = atoms.get_potential_energy()
    a.arrays["REF_forces"] = atoms.get_forces()
    s = atoms.calc.results.get("stress") if atoms.calc is not None else None
    if s is not None:
        a.info["REF_stress"] = np.asarray(s)
    a.calc = None
    return a


def _train(args: list[str], workdir: Path) -> None:
    log = workdir / "mace_train.log"
    try:
        exe = tool(args[0])
    except ToolNotFound as exc:
        raise MaceUnavailable(f"{exc}: pip install -r requirements/coldstart.txt") from None
    run_logged([exe, *args[1:]], workdir, log, OracleFailure, timeout_s=TRAIN_TIMEOUT_S, tail_chars=1500)
    if not (workdir / "surrogate.model").is_file():
        raise OracleFailure(
            f"mace_run_train wrote no model in {workdir}; log tail:\n{log.read_text()[-1500:]}"
        )
