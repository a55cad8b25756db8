"""Cold start: a physical, diverse first pool from a universal potential before any ACE potential exists.

The seed cells are relaxed (positions and cell) and run through short Langevin MD with CHGNet (its wheel ships its
pretrained weights; install the optional extra ``pip install pyacemaker[coldstart]``); snapshots go into a pool
from which D-optimal selection (:func:`select_first_labels`, MaxVol on the B-projections of an untrained ACE basis
of the campaign's shape) picks the most diverse ones to label. Without CHGNet the builders' seeds alone are used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.filters import FrechetCellFilter
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.optimize import FIRE

from pyacemaker.plugins import Registry
from pyacemaker.select.selectors import select_maxvol
from pyacemaker.structures.seeds import Seed
from pyacemaker.train.pacemaker import pacemaker_input

log = logging.getLogger(__name__)

UNIVERSAL = Registry("universal potential")


class ColdStartUnavailable(RuntimeError):
    """The requested universal potential is not installed."""


@UNIVERSAL.register("chgnet")
def chgnet_calculator():
    """CHGNet on the CPU (weights from the wheel: nothing is downloaded)."""
    try:
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError:
        raise ColdStartUnavailable(
            "CHGNet is not installed: pip install 'pyacemaker[coldstart]' (chgnet and a CPU torch), "
            "or set seeds.cold_start: none"
        ) from None
    return CHGNetCalculator(use_device="cpu")


def universal_calculator(kind: str):
    """The calculator for ``seeds.cold_start`` (``auto``: CHGNet when installed, else None; ``none``: None)."""
    if kind == "none":
        return None
    if kind == "auto":
        try:
            return UNIVERSAL.get_plugin("chgnet")()
        except ColdStartUnavailable as exc:
            log.info("cold start skipped: %s", exc)
            return None
    return UNIVERSAL.get_plugin(kind)()


def cold_start_pool(
    bases: Sequence[Seed],
    calc_factory: Callable[[], object],
    temperature_K: float,
    steps: int,
    snapshots: int,
    rng: np.random.Generator,
    relax_steps: int = 30,
    timestep_fs: float = 2.0,
) -> list[Seed]:
    """Relax each base cell with the universal potential (``relax_steps`` 0: MD from the cell as given), run
    ``steps`` of Langevin MD at ``temperature_K`` and keep ``snapshots`` evenly spaced frames, each derived from its base (variant ``relaxed``, ``md_step``; the
    description for humans). Cells whose relaxation or MD fails (a universal potential can misbehave far from
    its data) are skipped with a log line."""
    out: list[Seed] = []
    every = max(1, steps // max(1, snapshots))
    for base in bases:
        desc = base.description
        atoms = base.atoms.copy()
        atoms.calc = calc_factory()
        try:
            if relax_steps > 0:
                FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=0.05, steps=relax_steps)
                out.append(base.derive(_plain(atoms), f"cold start: {desc}, relaxed", relaxed=True))
            MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
            dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=0.02 / units.fs,
                           rng=rng)  # fmt: skip
            for k in range(snapshots):
                dyn.run(every)
                step = (k + 1) * every
                text = f"cold start: {desc}, MD {temperature_K:.0f} K step {step}"
                out.append(base.derive(_plain(atoms), text, relaxed=relax_steps > 0, md_step=step))
        except (RuntimeError, ValueError, FloatingPointError) as exc:
            log.warning("cold start of %s failed, skipped: %s", desc, exc)
    return out


def _plain(atoms: Atoms) -> Atoms:
    a = atoms.copy()
    a.calc = None
    return a


def initial_basis(elements: Sequence[str], train, workdir: Path, n_functions: int) -> Path:
    """An untrained ACE basis of the campaign's shape (pyace), written as YAML: D-optimality needs only the basis
    functions' projections, not fitted coefficients, so it can rank structures before the first fit."""
    from pyace.multispecies_basisextension import create_multispecies_basis_config

    spec = pacemaker_input(elements, train, n_functions, "none")["potential"]
    path = workdir / "initial_basis.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    create_multispecies_basis_config(spec).save(str(path))
    return path


def select_first_labels(candidates, elements: Sequence[str], train, budget: int, workdir: Path) -> list:
    """The ``budget`` most informative candidates (MaxVol over the untrained basis' projections)."""

    if not candidates or budget <= 0:
        return []
    # MaxVol needs at least as many atomic environments per element as basis functions: a small pool gets a
    # small basis (the ranking only needs a basis, not the final one)
    envs = min(
        sum(c.to_atoms(with_labels=False).get_chemical_symbols().count(el) for c in candidates)
        for el in elements
    )
    n_functions = max(2, min(train.min_functions, envs // 2))
    return select_maxvol(candidates, initial_basis(elements, train, workdir, n_functions), None, budget)
