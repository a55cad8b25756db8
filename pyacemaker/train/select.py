"""D-optimal choice of structures to label: MaxVol on top of the current potential's active set (pyace)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from pyacemaker.records import StructureRecord


def select_maxvol(
    candidates: Sequence[StructureRecord],
    potential_yaml: Path,
    active_set: Path | None,
    budget: int,
    gamma_tolerance: float = 1.01,
) -> list[StructureRecord]:
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
