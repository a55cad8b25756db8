"""Sanity checks run before an expensive oracle call."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii


def close_contact(atoms: Atoms, factor: float) -> str | None:
    """Why a structure is unphysical (two atoms closer than ``factor`` x the sum of covalent radii), or None."""
    if len(atoms) < 2 or factor <= 0:
        return None
    d = atoms.get_all_distances(mic=any(atoms.pbc))
    np.fill_diagonal(d, np.inf)
    radii = np.array([covalent_radii[atomic_numbers[s]] for s in atoms.get_chemical_symbols()])
    limit = factor * (radii[:, None] + radii[None, :])
    bad = np.argwhere(d < limit)
    if bad.size == 0:
        return None
    i, j = min(bad.tolist(), key=lambda ij: d[ij[0], ij[1]] / limit[ij[0], ij[1]])
    return (f"atoms {i} ({atoms[i].symbol}) and {j} ({atoms[j].symbol}) are {d[i, j]:.2f} A apart, below "
            f"{factor} x covalent radii sum = {limit[i, j]:.2f} A: unphysical, rejected before any DFT")  # fmt: skip
