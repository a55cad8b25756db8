"""Iteration-0 structures from the elements alone: reference crystals (and the user's own files), strained,
sheared and rattled; vacancy cells and surface slabs when the exploration policy turns defects and surfaces on.

Each comes as a :class:`Seed`: the structure, the base cell it derives from, how it differs from it (a
:class:`~pyacemaker.schemas.records.Variant`) and its train/test family, as data; the description is for
humans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from pyacemaker.config import CampaignConfig
from pyacemaker.plugins import BUILDERS
from pyacemaker.schemas.records import BaseKind, Origin, Provenance, Variant
from pyacemaker.structures.builders import (
    from_file,
    rattle,
    reference_cell,
    shear_strain,
    substitute,
    supercell_to,
    surface_slab,
    tetragonal_strain,
    vacancies,
    volume_strain,
)

__all__ = [
    "Seed",
    "alloy_cell",
    "alloy_lattice",
    "base_cells",
    "build_seeds",
    "reference_cell",
    "reference_slab",
    "seed_family",
    "supercell_to",
]

SURFACE_MILLER = (1, 1, 1)


def seed_family(label: str) -> str:
    """The train/test family of the seeds described by ``label`` (a strained cell's label covers its rattled
    copies). These are the names earlier versions derived from the description, so a campaign's split stays
    where it was."""
    return f"seed:{label}"


@dataclass
class Seed:
    """A seed structure and what it is: its base cell, its variant of that cell, its family. ``description``
    is stored as ``Provenance.builder`` and read by no code; ``family`` defaults to :func:`seed_family` of it."""

    atoms: Atoms
    base: str  # "Cu", "Cu-Au" or a file path
    base_kind: BaseKind
    description: str
    variant: Variant = field(default_factory=Variant)
    family: str = ""

    def __post_init__(self) -> None:
        self.family = self.family or seed_family(self.description)

    def derive(self, atoms: Atoms, description: str, family: str = "", **variant) -> Seed:
        """A structure made from this one: same base, this variant updated with ``variant`` (checked)."""
        updated = Variant(**{**self.variant.model_dump(exclude_none=True), **variant})
        return Seed(atoms, self.base, self.base_kind, description, updated, family)

    def provenance(self, origin: Origin = "seed", iteration: int = 0) -> Provenance:
        """The provenance of a record of this structure."""
        return Provenance(origin=origin, iteration=iteration, builder=self.description, base=self.base,
                          base_kind=self.base_kind, family=self.family, variant=self.variant)  # fmt: skip


def alloy_lattice(elements: list[str]) -> Atoms:
    """The first element's reference crystal scaled to the equal mix's volume per atom: the mean of the elements'
    (Zen's law, Vegard's law in volume). On the first element's own lattice Cu-Au was squeezed by 20 % in volume,
    its seeds and vacancy runs 1.1-1.4 eV/atom above the alloy's minimum; the fit spent itself on them (train
    4.8 meV/atom, 60 meV/A; the elements' strained crystals 5-8 meV/atom off, Au's Cij 13 %)."""
    cell = reference_cell(elements[0])
    refs = [reference_cell(e) for e in elements]
    v_mix = float(np.mean([r.get_volume() / len(r) for r in refs]))
    scale = (v_mix * len(cell) / cell.get_volume()) ** (1.0 / 3.0)
    cell.set_cell(np.asarray(cell.cell) * scale, scale_atoms=True)
    return cell


def alloy_cell(elements: list[str], target_atoms: int, rng: np.random.Generator) -> Atoms:
    """A random substitutional alloy of equal shares on :func:`alloy_lattice`."""
    return substitute(supercell_to(alloy_lattice(elements), target_atoms), elements, rng)


def reference_slab(
    element: str,
    mix: list[str] | None,
    layers: int,
    vacuum: float,
    target_atoms: int,
    rng: np.random.Generator,
) -> Atoms:
    """A (111)-type slab of ``element``'s reference crystal; when ``mix`` is given, a random alloy of it on
    :func:`alloy_lattice`."""
    lattice = alloy_lattice(mix) if mix else reference_cell(element)
    slab = surface_slab(lattice, SURFACE_MILLER, layers, vacuum, target_atoms)
    return substitute(slab, mix, rng) if mix else slab


def base_cells(cfg: CampaignConfig, rng: np.random.Generator) -> list[Seed]:
    """The unstrained bulk cells every seed derives from: one per element, a random alloy, the user's files,
    and one per builder named in ``seeds.builders``."""
    s = cfg.seeds
    bases: list[Seed] = []
    for el in cfg.elements:
        ref = reference_cell(el)
        lattice = ref.cell.get_bravais_lattice().name
        bases.append(Seed(supercell_to(ref, s.supercell_atoms), el, "element", f"bulk {el} {lattice}"))
    if len(cfg.elements) > 1:
        name = "-".join(cfg.elements)
        bases.append(
            Seed(alloy_cell(cfg.elements, s.supercell_atoms, rng), name, "alloy", f"random alloy {name}")
        )
    for path in s.structures:
        cell = supercell_to(from_file(path, cfg.elements), s.supercell_atoms)
        bases.append(Seed(cell, str(path), "file", f"file {path}"))
    for name in s.builders:  # registered builders: called with the elements, they return a periodic cell
        cell = supercell_to(BUILDERS.get_plugin(name)(list(cfg.elements)), s.supercell_atoms)
        bases.append(Seed(cell, name, "builder", f"builder {name}"))
    return bases


def build_seeds(cfg: CampaignConfig) -> list[Seed]:
    """Seed structures: strained cells and their rattled copies, sheared cells, vacancy cells and slabs."""
    s, e = cfg.seeds, cfg.explore
    amp = s.rattle_amplitude
    rng = np.random.default_rng(s.seed)
    out: list[Seed] = []
    bases = base_cells(cfg, rng)
    for base in bases:
        for strain in s.volume_strains:
            cell = volume_strain(base.atoms, strain)
            label = f"{base.description}, volume {strain:+.0%}"
            strained = base.derive(cell, label, volume_strain=strain)
            out.append(strained)
            for k in range(s.rattled_per_strain):
                out.append(strained.derive(rattle(cell, amp, rng), f"{label}, rattle {amp:.3f} A #{k + 1}",
                                           strained.family, rattle=k + 1))  # fmt: skip
        for shear in s.shear_strains or []:
            sheared = rattle(shear_strain(base.atoms, shear), amp, rng)
            desc = f"{base.description}, shear xy {shear:+.0%}, rattled"
            out.append(base.derive(sheared, desc, shear_xy=shear, rattle=1))
        for stretch in s.tetragonal_strains or []:
            cell = rattle(tetragonal_strain(base.atoms, stretch), amp, rng)
            desc = f"{base.description}, tetragonal z {stretch:+.0%} at constant volume, rattled"
            out.append(base.derive(cell, desc, tetragonal=stretch, rattle=1))
    miller = "".join(map(str, SURFACE_MILLER))
    for base in [b for b in bases if b.base_kind in ("element", "alloy")]:
        if e.defects:
            cell = rattle(vacancies(base.atoms, rng), amp, rng)
            out.append(
                base.derive(cell, f"{base.description}, one vacancy, rattled", defect="vacancy", rattle=1)
            )
        if e.surfaces:
            alloy = base.base_kind == "alloy"
            el = cfg.elements[0] if alloy else base.base
            slab = reference_slab(el, cfg.elements if alloy else None, 3, 6.0, s.supercell_atoms, rng)
            out.append(base.derive(rattle(slab, amp, rng), f"{base.description}, ({miller}) slab",
                                   surface=miller, rattle=1))  # fmt: skip
    return out
