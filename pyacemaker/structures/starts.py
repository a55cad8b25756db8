"""Start structures of exploration conditions: the campaign's unstrained seed cell, made into the condition's
``start`` (bulk, vacancy, interstitial, surface slab) at the exploration cell size."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from pyacemaker.config import CampaignConfig
from pyacemaker.structures.builders import (
    interstitial,
    supercell_to,
    vacancies,
)
from pyacemaker.structures.seeds import SURFACE_MILLER, reference_slab


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
