"""Iteration-0 structures from the elements alone: reference crystals, strained and rattled."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk

from pyacemaker.config import CampaignConfig


def reference_cell(element: str) -> Atoms:
    """The element's ASE reference crystal (cubic cell where ASE offers one)."""
    try:
        return bulk(element, cubic=True)
    except (ValueError, RuntimeError):
        return bulk(element)


def supercell_to(atoms: Atoms, target_atoms: int) -> Atoms:
    """Repeat ``atoms`` isotropically (in lattice-vector counts) until it has at least ``target_atoms``."""
    n = len(atoms)
    reps = [1, 1, 1]
    lengths = atoms.cell.lengths()
    while n * int(np.prod(reps)) < target_atoms:
        # grow the shortest repeated axis: keeps the cell as isotropic as the lattice allows
        axis = int(np.argmin([lengths[i] * reps[i] for i in range(3)]))
        reps[axis] += 1
    return atoms.repeat(reps)


def alloy_cell(elements: list[str], target_atoms: int, rng: np.random.Generator) -> Atoms:
    """A random substitutional alloy on the first element's lattice."""
    cell = supercell_to(reference_cell(elements[0]), target_atoms)
    symbols = [elements[i % len(elements)] for i in range(len(cell))]
    rng.shuffle(symbols)
    cell.set_chemical_symbols(symbols)
    return cell


def build_seeds(cfg: CampaignConfig) -> list[tuple[Atoms, str]]:
    """Seed structures and a description of how each was built (stored as provenance)."""
    s = cfg.seeds
    rng = np.random.default_rng(s.seed)
    bases: list[tuple[Atoms, str]] = []
    for el in cfg.elements:
        ref = reference_cell(el)
        bases.append(
            (supercell_to(ref, s.supercell_atoms), f"bulk {el} {ref.cell.get_bravais_lattice().name}")
        )
    if len(cfg.elements) > 1:
        bases.append(
            (alloy_cell(cfg.elements, s.supercell_atoms, rng), "random alloy " + "-".join(cfg.elements))
        )
    out: list[tuple[Atoms, str]] = []
    for base, desc in bases:
        for strain in s.volume_strains:
            cell = base.copy()
            cell.set_cell(cell.cell * (1.0 + strain) ** (1 / 3), scale_atoms=True)
            label = f"{desc}, volume {strain:+.0%}"
            out.append((cell, label))
            for k in range(s.rattled_per_strain):
                r = cell.copy()
                r.positions += rng.normal(0.0, s.rattle_amplitude, r.positions.shape)
                out.append((r, f"{label}, rattle {s.rattle_amplitude:.3f} A #{k + 1}"))
    return out
