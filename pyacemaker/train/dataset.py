"""The training set: families of related structures, a leak-free train/test split, and a summary.

Structures derived from one another (a strained seed and its rattled copies, the frames and perturbations of one
MD run) are strongly correlated: if some went to training and others to testing, test errors would flatter the
potential. Each record therefore belongs to a *family* (named by whoever creates it: ``Provenance.family``), and
whole families go to one side of the split. The split is a hash of the family name, so a family stays on its side
as the dataset grows from iteration to iteration.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pyacemaker.schemas.records import StructureRecord
from pyacemaker.schemas.stages import DatasetSummary
from pyacemaker.train.baseline import baseline_arrays


def family(record: StructureRecord) -> str:
    """The family a record belongs to: the one its creator set (a strained seed and its rattled copies share
    one), else its exploration run, else the record alone."""
    p = record.provenance
    if p.family:
        return p.family
    if p.run_id:
        return f"run:{p.run_id}"
    return f"record:{record.id}"


def _in_test(name: str, fraction: float, salt: str) -> bool:
    h = int(hashlib.sha256(f"{salt}:{name}".encode()).hexdigest()[:8], 16)
    return (h % 10_000) < fraction * 10_000


def split(
    records: Sequence[StructureRecord], test_fraction: float, salt: str = "pyacemaker"
) -> tuple[list[StructureRecord], list[StructureRecord]]:
    """(train, test) with whole families on one side; at least one family trains, whatever the fraction."""
    if test_fraction <= 0:
        return list(records), []
    fams = sorted({family(r) for r in records})
    test_fams = {f for f in fams if _in_test(f, test_fraction, salt)}
    if len(test_fams) == len(fams):
        test_fams.discard(fams[0])
    train = [r for r in records if family(r) not in test_fams]
    test = [r for r in records if family(r) in test_fams]
    return train, test


def summary(records: Sequence[StructureRecord]) -> DatasetSummary:
    """Size and composition of a dataset: structures, atoms, atoms per element, origins, iterations, families."""
    atoms = Counter()
    for r in records:
        atoms.update(r.atoms.symbols)
    return DatasetSummary(
        structures=len(records),
        atoms=sum(r.natoms for r in records),
        atoms_per_element=dict(sorted(atoms.items())),
        by_origin=dict(Counter(r.provenance.origin for r in records)),
        by_iteration={str(k): v for k, v in sorted(Counter(r.provenance.iteration for r in records).items())},
        families=len({family(r) for r in records}),
    )


def within_energy_window(
    records: Sequence[StructureRecord], reference_energies: dict[str, float], window_eV_atom: float | None
) -> tuple[list[StructureRecord], list[StructureRecord]]:
    """(kept, dropped): structures whose cohesive energy per atom lies more than ``window_eV_atom`` above the
    dataset's lowest are left out of the fit. A saddle search or MD run with an immature potential can hand the
    oracle a configuration several eV/atom up; fitted with the rest, it costs accuracy where it matters and buys
    nothing (the baseline, not ACE, is what keeps MD out of such places)."""
    if not window_eV_atom or not records:
        return list(records), []

    def e_coh(r: StructureRecord) -> float:
        symbols = r.atoms.symbols
        return (r.labels.energy - sum(reference_energies.get(s, 0.0) for s in symbols)) / len(symbols)

    energies = [e_coh(r) for r in records]
    cut = min(energies) + window_eV_atom
    return [r for r, e in zip(records, energies, strict=True) if e <= cut], [
        r for r, e in zip(records, energies, strict=True) if e > cut
    ]


def within_force_window(
    records: Sequence[StructureRecord], fmax_eV_A: float | None
) -> tuple[list[StructureRecord], list[StructureRecord]]:
    """(kept, dropped): structures with an atom (of nonzero force weight: an embedded cluster's buffer does not
    count) under a force above ``fmax_eV_A`` are left out of the fit. A kMC saddle search of an immature potential
    pushed Cu-Au atoms to 1.48-1.63 A (forces 23-41 eV/A, thermal ones stay under ~5): four such cells in a final
    fit of 75 held it at 4.2 meV/atom and 39 meV/A with Au's Cij 15 % off; without them 2.7, 26 and 1.6 %."""
    if not fmax_eV_A:
        return list(records), []
    kept, dropped = [], []
    for r in records:
        f = np.linalg.norm(np.asarray(r.labels.forces, dtype=float), axis=1) if r.labels is not None else None
        if f is not None and r.force_weights is not None:
            f = f[np.asarray(r.force_weights) > 0]
        (dropped if f is not None and f.size and float(f.max()) > fmax_eV_A else kept).append(r)
    return kept, dropped


def within_windows(
    records: Sequence[StructureRecord], reference_energies: dict[str, float], train
) -> tuple[list[StructureRecord], list[StructureRecord], list[StructureRecord]]:
    """(kept, dropped for energy, dropped for force) under ``train.energy_window`` and ``train.force_window``."""
    kept, high_e = within_energy_window(records, reference_energies, train.energy_window)
    kept, high_f = within_force_window(kept, train.force_window)
    return kept, high_e, high_f


# ----------------------------------------------------------------------------------------------- pacemaker's input
FORCE_FREE_EV_A = 1e-3
"""Largest force (eV/A) of a structure counted as force-free: a perfect crystal, strained or not (DFT leaves
1e-5-1e-4 eV/A of numerical noise on atoms that symmetry holds in place)."""


def is_force_free(r: StructureRecord) -> bool:
    """Whether ``r``'s labelled forces all vanish: it teaches a fit through its energy alone."""
    if r.labels is None or not r.labels.forces:
        return False
    return float(np.abs(np.asarray(r.labels.forces, dtype=float)).max()) < FORCE_FREE_EV_A


def to_dataframe(
    records: Sequence[StructureRecord],
    reference_energies: dict[str, float],
    baseline=None,
    force_free_weight: float = 1.0,
):
    """Pacemaker's training DataFrame: ase_atoms, energy, forces, energy_corrected (minus isolated atoms).

    With a ``baseline`` (delta learning) its energy and forces are subtracted: ACE learns the remainder. The energy
    weight of a force-free structure (:func:`is_force_free`) is multiplied by ``force_free_weight``.
    """
    import pandas as pd

    rows = []
    for r in records:
        if r.labels is None:
            raise ValueError(f"record {r.id} has no labels and cannot enter a training set")
        e_ref = sum(reference_energies[s] for s in r.atoms.symbols)
        atoms = r.to_atoms(with_labels=False)
        e_base, f_base, _ = baseline_arrays(atoms, baseline)
        rows.append(
            {
                "name": r.id,
                "ase_atoms": atoms,
                "energy": r.labels.energy - e_base,
                "forces": np.array(r.labels.forces) - f_base,
                "energy_corrected": r.labels.energy - e_ref - e_base,
                # explicit weights: pacemaker uses them as given (normalised) instead of its own policy
                "w_energy": r.weight * (force_free_weight if is_force_free(r) else 1.0),
                "w_forces": np.array(r.force_weights if r.force_weights is not None else [1.0] * r.natoms),
                "origin": r.provenance.origin,
                "iteration": r.provenance.iteration,
            }
        )
    return pd.DataFrame(rows)


def write_pacemaker_pickle(
    records: Sequence[StructureRecord],
    reference_energies: dict[str, float],
    path: str | Path,
    baseline=None,
    force_free_weight: float = 1.0,
) -> Path:
    """The ``.pckl.gzip`` pacemaker reads (pandas pickle, protocol 4)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = to_dataframe(records, reference_energies, baseline, force_free_weight)
    df.to_pickle(path, compression="gzip", protocol=4)
    return path
