"""Periodic-table facts pyacemaker derives its defaults from: melting points, nearest-neighbour distances, which
elements are metals or magnetic, which ones ASE's EMT covers. Imports nothing of pyacemaker's own."""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

import yaml
from ase.data import atomic_numbers, covalent_radii, reference_states

# Not metals as elemental solids (metalloids included: their compounds are covalent). One list for the exploration
# policy (no swaps, lower pressure caps) and for DFT smearing (Gaussian instead of Marzari-Vanderbilt).
NONMETALS = frozenset(
    [
        "H",
        "He",
        "B",
        "C",
        "N",
        "O",
        "F",
        "Ne",
        "Si",
        "P",
        "S",
        "Cl",
        "Ar",
        "Ge",
        "As",
        "Se",
        "Br",
        "Kr",
        "Sb",
        "Te",
        "I",
        "Xe",
        "At",
        "Rn",
    ]
)
# Ferromagnetic or with a magnetic ground state: spin-polarised DFT with this starting moment (fraction of valence).
MAGNETIC: dict[str, float] = {"Cr": 0.5, "Mn": 0.5, "Fe": 0.5, "Co": 0.5, "Ni": 0.4, "Gd": 0.5}
# The elements ASE's effective-medium theory has parameters for.
EMT_ELEMENTS = ("H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")


@cache
def melting_points() -> dict[str, float]:
    """Melting points (K) of the elements (``pyacemaker/data/melting_points.yaml``)."""
    text = resources.files("pyacemaker").joinpath("data/melting_points.yaml").read_text()
    return {k: float(v) for k, v in yaml.safe_load(text).items()}


def solid_melting_points(elements: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Melting points of the elements that are solid at room temperature (gases and liquids such as H, N, O, Ga
    say nothing about the solid a campaign explores)."""
    return {el: melting_points()[el] for el in elements if melting_points().get(el, 0) > 300}


def is_metal(element: str) -> bool:
    return element not in NONMETALS


def nearest_neighbour_distance(symbol: str) -> tuple[float, str]:
    """First-neighbour distance in the element's reference crystal (ASE), else twice its covalent radius."""
    z = atomic_numbers[symbol]
    ref = reference_states[z] or {}
    sym, a = ref.get("symmetry"), ref.get("a")
    factors = {"fcc": 1 / math.sqrt(2), "bcc": math.sqrt(3) / 2, "sc": 1.0, "diamond": math.sqrt(3) / 4}
    if sym in factors and a:
        return a * factors[sym], f"{sym} a={a} A (ASE reference state)"
    if sym == "hcp" and a:
        return float(a), f"hcp a={a} A (ASE reference state)"
    return 2 * float(covalent_radii[z]), "2 x covalent radius (ASE), no crystal reference"
