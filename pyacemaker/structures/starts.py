"""Start structures of exploration conditions: the campaign's unstrained seed cell (:func:`pick_md_start`), made
into the condition's ``start`` (bulk, vacancy, interstitial, surface slab) at the exploration cell size."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from pyacemaker.config import CampaignConfig
from pyacemaker.schemas.records import StructureRecord, Variant
from pyacemaker.structures.builders import (
    interstitial,
    supercell_to,
    vacancies,
)
from pyacemaker.structures.seeds import SURFACE_MILLER, reference_slab


def _unstrained(variant: Variant | None) -> bool:
    """The base cell at its own volume: volume strain 0, not rattled, sheared, defective or cut."""
    return variant is not None and variant.model_dump(exclude_none=True) == {"volume_strain": 0.0}


def pick_md_start(
    records: Sequence[StructureRecord], n_elements: int, element: str | None = None
) -> StructureRecord:
    """The seed an MD run starts from (its record is the run's parent): the unstrained, unrattled seed of the
    user's structure file first; else of the random alloy for several elements; else of the element's crystal.
    With ``element`` (an end-member run), that element's own crystal.

    Seeds of campaigns older than structured provenance have no variant: the first seed is taken.
    """
    seeds = [r for r in records if r.provenance.origin == "seed"]
    if not seeds:
        raise ValueError("no seed records to start MD from: the seed stage stores them first")
    plain = [s for s in seeds if _unstrained(s.provenance.variant)]
    if element is not None:
        own = [s for s in plain if s.provenance.base_kind == "element" and s.provenance.base == element]
        if not own:
            raise ValueError(
                f"no unstrained seed of {element}'s own crystal to start its end-member run from"
            )
        return own[0]
    for kind in ("file", "alloy" if n_elements > 1 else "element"):
        found = [s for s in plain if s.provenance.base_kind == kind]
        if found:
            return found[0]
    return (plain or seeds)[0]


def start_structure(
    base: Atoms, start: str, cfg: CampaignConfig, rng: np.random.Generator
) -> tuple[Atoms, str]:
    """The structure a run of kind ``start`` begins from, and how it was made (for provenance).

    ``base`` is the unstrained bulk seed (an alloy for several elements); it is repeated to
    ``explore.supercell_atoms`` first, so defects are dilute and slabs are as wide as the bulk cells.
    """
    n = cfg.explore.supercell_atoms or 64
    if start == "surface":
        alloy = len(cfg.elements) > 1
        el = cfg.elements[0] if alloy else base.get_chemical_symbols()[0]
        slab = reference_slab(el, cfg.elements if alloy else None, 4, 8.0, n, rng)
        return slab, f"({''.join(map(str, SURFACE_MILLER))}) slab, 4 layers, 8 A vacuum"
    cell = supercell_to(base, n)
    if start == "vacancy":
        return vacancies(cell, rng), "bulk with one vacancy"
    if start == "interstitial":
        el = cfg.elements[-1]
        return interstitial(cell, el, rng), f"bulk with one {el} interstitial"
    return cell, "bulk"
