"""Periodic embedding: label only the interesting part of a large snapshot.

A cluster is cut around the highest-gamma atoms: the *core* (within ``core_radius`` of a centre) keeps full force
weight; around it a shell of ``cutoff + buffer`` gives every core atom its complete ACE neighbourhood plus a
buffer against surface effects of the cut. Shell atoms get force weight 0, so only well-embedded atoms teach
forces. The cluster sits in a box padded with vacuum (at least the cutoff) so no periodic image is within reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import find_mic


class EmbeddingError(ValueError):
    """The snapshot cannot be embedded (e.g. its cell is too small for the requested radius)."""


@dataclass
class Cluster:
    atoms: Atoms  # non-periodic cluster in its vacuum box
    force_weights: np.ndarray  # 1 for core atoms, 0 for the buffer shell
    source_indices: np.ndarray  # index of each cluster atom in the snapshot
    centres: list[int]  # snapshot indices of the highest-gamma atoms
    radius: float  # core_radius + cutoff + buffer


def perpendicular_widths(cell) -> np.ndarray:
    """Distances between opposite faces of a cell (the largest sphere it holds has half the smallest)."""
    cell = np.asarray(cell)
    vol = abs(np.linalg.det(cell))
    return np.array([vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


def cut_cluster(
    atoms: Atoms,
    gamma: np.ndarray,
    cutoff: float,
    buffer: float = 2.0,
    core_radius: float = 0.0,
    n_centres: int = 1,
    vacuum: float | None = None,
) -> Cluster:
    """Cut a cluster around the ``n_centres`` highest-gamma atoms of a periodic snapshot."""
    gamma = np.asarray(gamma, dtype=float)
    if gamma.shape != (len(atoms),):
        raise EmbeddingError(f"gamma has shape {gamma.shape}, expected one value per atom ({len(atoms)})")
    radius = core_radius + cutoff + buffer
    if all(atoms.pbc) and 2 * radius >= perpendicular_widths(atoms.cell).min():
        raise EmbeddingError(
            f"cell too small to embed: a {radius:.1f} A sphere needs a cell wider than {2 * radius:.1f} A "
            f"(smallest width {perpendicular_widths(atoms.cell).min():.1f} A); label the snapshot whole"
        )
    centres = [int(i) for i in np.argsort(-gamma)[:n_centres]]
    origin = atoms.positions[centres[0]]
    # vectors from the first centre, minimum-image: the cluster is contiguous across cell boundaries
    vec, _ = find_mic(atoms.positions - origin, atoms.cell, atoms.pbc)
    centre_vecs = vec[centres]
    dist_to_centres = np.linalg.norm(vec[:, None, :] - centre_vecs[None, :, :], axis=2).min(axis=1)
    inside = np.where(dist_to_centres <= radius)[0]
    core = dist_to_centres[inside] <= core_radius + 1e-9
    pos = vec[inside]
    vac = max(vacuum if vacuum is not None else cutoff + 1.0, cutoff)
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    box = (hi - lo) + 2 * vac
    cluster = Atoms(
        symbols=[atoms[i].symbol for i in inside], positions=pos - lo + vac, cell=np.diag(box), pbc=False
    )
    return Cluster(cluster, core.astype(float), inside, centres, radius)


def min_image_distance(atoms: Atoms) -> float:
    """Smallest distance between an atom and any periodic image of any atom (the box's isolation)."""
    cell = np.asarray(atoms.cell)
    best = np.inf
    for shift in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).T.reshape(-1, 3):
        if not shift.any():
            continue
        t = shift @ cell
        d = np.linalg.norm(atoms.positions[:, None, :] - (atoms.positions[None, :, :] + t), axis=2)
        best = min(best, d.min())
    return float(best)
