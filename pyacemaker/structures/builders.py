"""Structure builders and transforms, registered by name so a config (or a plugin) can name new ones.

A *builder* makes a structure from nothing but an element list or a file; a *transform* turns one structure into
another (supercell, strain, rattle, defect, slab, substitution). Every function takes an explicit random generator
so seed sets are reproducible, and returns plain ASE ``Atoms``: the campaign stores them as records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, surface
from ase.data import atomic_numbers, covalent_radii
from ase.neighborlist import neighbor_list

from pyacemaker.plugins import BUILDERS, TRANSFORMS


class StructureFileError(ValueError):
    """A user structure file that cannot be used (missing, unreadable, with elements outside the campaign, or
    unphysical: no 3D cell, a zero-volume cell, overlapping atoms)."""


# ----------------------------------------------------------------------------------------------- builders
@BUILDERS.register("reference")
def reference_cell(element: str) -> Atoms:
    """The element's ASE reference crystal (cubic cell where ASE offers one)."""
    try:
        return bulk(element, cubic=True)
    except (ValueError, RuntimeError):
        return bulk(element)


@BUILDERS.register("file")
def from_file(path: str | Path, elements: list[str] | None = None) -> Atoms:
    """A periodic structure from a CIF, POSCAR, extxyz... file (``ase.io.read`` guesses the format)."""
    from ase.io import read

    p = Path(path).expanduser()
    if p.is_dir():
        raise StructureFileError(f"structure file {p} is a directory: name a file in seeds.structures")
    if not p.is_file():
        raise StructureFileError(f"structure file {p} not found: check seeds.structures")
    try:
        atoms = read(p, index=-1)
    except Exception as exc:  # ase.io raises many types for unreadable files
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise StructureFileError(
            f"cannot read structure file {p}: ASE cannot parse it ({why}); give a CIF, POSCAR or extxyz file"
        ) from None
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise StructureFileError(f"structure file {p} holds no atoms")
    extra = sorted(set(atoms.get_chemical_symbols()) - set(elements or atoms.get_chemical_symbols()))
    if extra:
        raise StructureFileError(
            f"structure file {p} contains {', '.join(extra)}, not among the campaign's elements {elements}"
        )
    if atoms.cell.rank < 3:
        raise StructureFileError(f"structure file {p} has no 3D periodic cell: seeds must be periodic")
    lengths = atoms.cell.lengths()
    if abs(atoms.cell.volume) < 1e-6 * float(np.prod(lengths)):
        raise StructureFileError(
            f"structure file {p} has a zero-volume cell (its lattice vectors lie in one plane): fix the cell"
        )
    atoms.pbc = True
    atoms.calc = None
    close = overlapping_atoms(atoms)
    if close:
        raise StructureFileError(f"structure file {p} has overlapping atoms: {close}; fix the positions "
                                 "(duplicated sites?)")  # fmt: skip
    return atoms


OVERLAP_FACTOR = 0.5
"""Atoms closer than this x the sum of their covalent radii overlap (no structure of interest has them)."""


def overlapping_atoms(atoms: Atoms, factor: float = OVERLAP_FACTOR) -> str | None:
    """The closest pair of atoms nearer than ``factor`` x their covalent radii sum, described; None if there is
    none (periodic images included)."""
    radii = factor * covalent_radii[atoms.numbers]
    i, j, d = neighbor_list("ijd", atoms, radii.tolist(), self_interaction=False)
    if len(d) == 0:
        return None
    k = int(np.argmin(d))
    a, b = int(i[k]), int(j[k])
    return (f"atoms {a} ({atoms[a].symbol}) and {b} ({atoms[b].symbol}) are {d[k]:.2f} A apart, below "
            f"{factor} x the sum of their covalent radii ({radii[a] + radii[b]:.2f} A)")  # fmt: skip


# ----------------------------------------------------------------------------------------------- transforms
@TRANSFORMS.register("supercell")
def supercell_to(atoms: Atoms, target_atoms: int) -> Atoms:
    """Repeat ``atoms`` (in lattice-vector counts) until it has at least ``target_atoms``, keeping it isotropic."""
    n = len(atoms)
    reps = [1, 1, 1]
    lengths = atoms.cell.lengths()
    periodic = [bool(p) for p in atoms.pbc]
    while n * int(np.prod(reps)) < target_atoms:
        # grow the shortest periodic axis: keeps the cell as isotropic as the lattice allows
        axis = min((i for i in range(3) if periodic[i]), key=lambda i: lengths[i] * reps[i])
        reps[axis] += 1
    return atoms.repeat(reps)


@TRANSFORMS.register("volume_strain")
def volume_strain(atoms: Atoms, strain: float) -> Atoms:
    """Isotropic scaling to a fractional volume change ``strain`` (atoms move with the cell)."""
    out = atoms.copy()
    out.set_cell(out.cell * (1.0 + strain) ** (1 / 3), scale_atoms=True)
    return out


@TRANSFORMS.register("shear_strain")
def shear_strain(atoms: Atoms, strain: float, plane: str = "xy") -> Atoms:
    """Engineering shear ``strain`` in ``plane`` (xy, xz or yz): volume-conserving, probes C44-like moduli."""
    i, j = ("xyz".index(plane[0]), "xyz".index(plane[1]))
    deform = np.eye(3)
    deform[i, j] = deform[j, i] = strain / 2
    out = atoms.copy()
    out.set_cell(out.cell @ deform, scale_atoms=True)
    return out


def tetragonal_strain(atoms: Atoms, strain: float) -> Atoms:
    """Stretch by ``1 + strain`` along z, x and y contracting so that the volume stays: probes C11 - C12, which
    volume strains (the bulk modulus) and shears (C44) leave undetermined."""
    lateral = (1.0 + strain) ** -0.5
    out = atoms.copy()
    out.set_cell(out.cell @ np.diag([lateral, lateral, 1.0 + strain]), scale_atoms=True)
    return out


@TRANSFORMS.register("rattle")
def rattle(atoms: Atoms, amplitude: float, rng: np.random.Generator) -> Atoms:
    """Gaussian displacements of every atom (thermal-like disorder)."""
    out = atoms.copy()
    out.positions += rng.normal(0.0, amplitude, out.positions.shape)
    return out


def local_rattle(
    atoms: Atoms, centre: int, radius: float, amplitude: float, rng: np.random.Generator
) -> Atoms:
    """Gaussian displacements of the atoms within ``radius`` of atom ``centre`` only: variations of one local
    environment (the one that made a run halt), leaving the rest of the cell as it was."""
    out = atoms.copy()
    d = out.get_distances(centre, range(len(out)), mic=bool(out.pbc.any()))
    near = d <= radius
    out.positions[near] += rng.normal(0.0, amplitude, (int(near.sum()), 3))
    return out


@TRANSFORMS.register("vacancy")
def vacancies(atoms: Atoms, rng: np.random.Generator, count: int = 1) -> Atoms:
    """``count`` atoms removed at random (a vacancy concentration of count/len)."""
    if count >= len(atoms):
        raise ValueError(f"cannot remove {count} of {len(atoms)} atoms")
    out = atoms.copy()
    del out[sorted(rng.choice(len(out), count, replace=False).tolist(), reverse=True)]
    return out


@TRANSFORMS.register("interstitial")
def interstitial(atoms: Atoms, element: str, rng: np.random.Generator, trials: int = 400) -> Atoms:
    """One ``element`` atom added at the emptiest of ``trials`` random points (largest distance to any atom)."""
    from ase.geometry import get_distances

    points = rng.random((trials, 3)) @ atoms.cell.array
    _, d = get_distances(points, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out = atoms.copy()
    out += Atoms(element, positions=[points[int(np.argmax(d.min(axis=1)))]])
    return out


@TRANSFORMS.register("surface")
def surface_slab(
    atoms: Atoms, miller: tuple[int, int, int], layers: int, vacuum: float, target_atoms: int | None = None
) -> Atoms:
    """A low-index slab of the crystal ``atoms`` (``ase.build.surface``), vacuum along z, widened in-plane
    towards ``target_atoms``. Periodic in all three directions so every engine and oracle treats it alike."""
    slab = surface(atoms, miller, layers, vacuum=vacuum, periodic=True)
    if target_atoms:
        a, b = slab.cell.lengths()[:2]
        reps = [1, 1, 1]
        while len(slab) * reps[0] * reps[1] < target_atoms:
            if a * reps[0] <= b * reps[1]:
                reps[0] += 1
            else:
                reps[1] += 1
        slab = slab.repeat(reps)
    slab.pbc = True
    return slab


@TRANSFORMS.register("substitute")
def substitute(atoms: Atoms, elements: list[str], rng: np.random.Generator) -> Atoms:
    """Random substitutional alloy: sites shared out equally among ``elements``, then shuffled."""
    out = atoms.copy()
    symbols = [elements[i % len(elements)] for i in range(len(out))]
    rng.shuffle(symbols)
    out.set_chemical_symbols(symbols)
    return out


def min_distance_ok(atoms: Atoms, factor: float = 0.5) -> bool:
    """No pair closer than ``factor`` x the sum of covalent radii (a builder must not make fused atoms)."""
    if len(atoms) < 2:
        return True
    i, j, d = neighbor_list("ijd", atoms, 3.0)
    z = np.array([atomic_numbers[s] for s in atoms.get_chemical_symbols()])
    return bool(np.all(d >= factor * (covalent_radii[z[i]] + covalent_radii[z[j]])))
