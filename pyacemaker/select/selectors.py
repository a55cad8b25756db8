"""Choosing structures to label. D-optimal (MaxVol on top of the current active set, ``pyace.aceselect``) is the
default; random and highest-gamma selectors share the interface so the three can be compared on one pool.

Every selector gets candidates already deduplicated by content hash and against the training set
(:func:`dedupe`), a budget, and returns at most that many.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pyacemaker.plugins import SELECTORS
from pyacemaker.schemas.records import StructureRecord, unique

Selector = Callable[..., list[StructureRecord]]


def dedupe(candidates: Sequence[StructureRecord], known_hashes: set[str]) -> list[StructureRecord]:
    """Candidates with duplicate hashes removed, and without anything already in the training set."""
    return [c for c in unique(candidates) if c.hash not in known_hashes]


def extrapolation_grades(
    candidates: Sequence[StructureRecord], potential_yaml: Path, active_set: Path
) -> np.ndarray:
    """Max per-atom gamma of each candidate under the current potential and active set (PyACECalculator)."""
    from pyace import PyACECalculator

    calc = PyACECalculator(str(potential_yaml))
    calc.set_active_set(str(active_set))
    out = []
    for c in candidates:
        atoms = c.to_atoms(with_labels=False)
        atoms.calc = calc
        atoms.get_potential_energy()
        out.append(float(np.max(calc.results["gamma"])))
    return np.array(out)


@SELECTORS.register("maxvol")
def select_maxvol(
    candidates: Sequence[StructureRecord], potential_yaml: Path, active_set: Path | None, budget: int,
    gamma_tolerance: float = 1.01, seed: int = 0,
) -> list[StructureRecord]:  # fmt: skip
    """Up to ``budget`` candidates that most enlarge the active set (the most informative ones).

    ``pyace.aceselect.select_structures_maxvol`` orders by the number of atoms that entered the active set;
    candidates that add nothing are dropped, so the result can be shorter than ``budget`` (or empty).
    """
    if not candidates:
        return []
    from pyace import BBasisConfiguration
    from pyace.aceselect import select_structures_maxvol
    from pyace.activelearning import compute_A_active_inverse, load_active_inverse_set

    bconf = BBasisConfiguration(str(potential_yaml))
    extra = None
    if active_set is not None and Path(active_set).exists():
        extra = compute_A_active_inverse(load_active_inverse_set(str(active_set)))
    df = pd.DataFrame({"ase_atoms": [c.to_atoms(with_labels=False) for c in candidates],
                       "rid": [c.id for c in candidates]})  # fmt: skip
    chosen = select_structures_maxvol(
        df, bconf, extra_A0_projections_dict=extra, gamma_tolerance=gamma_tolerance, max_structures=budget
    )
    by_id = {c.id: c for c in candidates}
    return [by_id[rid] for rid in chosen["rid"]][:budget]


@SELECTORS.register("random")
def select_random(
    candidates: Sequence[StructureRecord], potential_yaml: Path, active_set: Path | None, budget: int,
    gamma_tolerance: float = 1.01, seed: int = 0,
) -> list[StructureRecord]:  # fmt: skip
    """A uniform random subset (the baseline any informed selector must beat)."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(candidates))[:budget]
    return [candidates[i] for i in sorted(idx)]


@SELECTORS.register("gamma")
def select_gamma(
    candidates: Sequence[StructureRecord], potential_yaml: Path, active_set: Path | None, budget: int,
    gamma_tolerance: float = 1.01, seed: int = 0,
) -> list[StructureRecord]:  # fmt: skip
    """The ``budget`` candidates with the highest extrapolation grade (ignores redundancy between them)."""
    if not candidates or active_set is None:
        return list(candidates)[:budget]
    g = extrapolation_grades(candidates, potential_yaml, Path(active_set))
    order = np.argsort(-g)
    return [candidates[i] for i in order[:budget] if g[i] > gamma_tolerance]


def select(method: str, candidates, potential_yaml, active_set, budget, gamma_tolerance=1.01, seed=0):
    return SELECTORS.get_plugin(method)(candidates, potential_yaml, active_set, budget, gamma_tolerance, seed)
