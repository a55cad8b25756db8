"""Iteration-0 structures from the elements alone: reference crystals (and the user's own files), strained,
sheared and rattled; vacancy cells and surface slabs when the exploration policy turns defects and surfaces on."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from pyacemaker.config import CampaignConfig
from pyacemaker.structures.builders import (
    from_file,
    rattle,
    reference_cell,
    shear_strain,
    substitute,
    supercell_to,
    surface_slab,
    vacancies,
    volume_strain,
)

__all__ = ["alloy_cell", "base_cells", "build_seeds", "reference_cell", "reference_slab", "supercell_to"]

SURFACE_MILLER = (1, 1, 1)


def alloy_cell(elements: list[str], target_atoms: int, rng: np.random.Generator) -> Atoms:
    """A random substitutional alloy on the first element's lattice."""
    return substitute(supercell_to(reference_cell(elements[0]), target_atoms), elements, rng)


def reference_slab(
    element: str,
    mix: list[str] | None,
    layers: int,
    vacuum: float,
    target_atoms: int,
    rng: np.random.Generator,
) -> Atoms:
    """A (111)-type slab of ``element``'s reference crystal, a random alloy of ``mix`` when given."""
    slab = surface_slab(reference_cell(element), SURFACE_MILLER, layers, vacuum, target_atoms)
    return substitute(slab, mix, rng) if mix else slab


def base_cells(cfg: CampaignConfig, rng: np.random.Generator) -> list[tuple[Atoms, str]]:
    """The unstrained bulk cells every seed derives from: one per element, a random alloy, the user's files."""
    s = cfg.seeds
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
    for path in s.structures:
        bases.append((supercell_to(from_file(path, cfg.elements), s.supercell_atoms), f"file {path}"))
    return bases


def build_seeds(cfg: CampaignConfig) -> list[tuple[Atoms, str]]:
    """Seed structures and a description of how each was built (stored as provenance)."""
    s, e = cfg.seeds, cfg.explore
    rng = np.random.default_rng(s.seed)
    out: list[tuple[Atoms, str]] = []
    bases = base_cells(cfg, rng)
    for base, desc in bases:
        for strain in s.volume_strains:
            cell = volume_strain(base, strain)
            label = f"{desc}, volume {strain:+.0%}"
            out.append((cell, label))
            for k in range(s.rattled_per_strain):
                out.append(
                    (
                        rattle(cell, s.rattle_amplitude, rng),
                        f"{label}, rattle {s.rattle_amplitude:.3f} A #{k + 1}",
                    )
                )
        for shear in s.shear_strains or []:
            out.append(
                (
                    rattle(shear_strain(base, shear), s.rattle_amplitude, rng),
                    f"{desc}, shear xy {shear:+.0%}, rattled",
                )
            )
    for base, desc in bases[: len(cfg.elements) + (len(cfg.elements) > 1)]:
        if e.defects:
            out.append(
                (rattle(vacancies(base, rng), s.rattle_amplitude, rng), f"{desc}, one vacancy, rattled")
            )
        if e.surfaces:
            alloy = not desc.startswith("bulk")
            el = cfg.elements[0] if alloy else base.get_chemical_symbols()[0]
            slab = reference_slab(el, cfg.elements if alloy else None, 3, 6.0, s.supercell_atoms, rng)
            out.append(
                (rattle(slab, s.rattle_amplitude, rng), f"{desc}, ({''.join(map(str, SURFACE_MILLER))}) slab")
            )
    return out
