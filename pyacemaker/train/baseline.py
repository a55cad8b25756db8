"""Pair baselines for delta learning: ZBL exactly as LAMMPS ``pair_style zbl inner outer`` defines it, and LJ as
``pair_style lj/cut``, as numpy functions and one ASE calculator.

The fitted ACE potential learns labels minus the baseline; at inference ACE + baseline is used in ASE
(``SumCalculator``) and in LAMMPS (``pair_style hybrid/overlay pace ... zbl ...``). The two must agree, so the
formulas, constants and switching polynomial are LAMMPS's (its documentation of pair_style zbl).
ASE has no ZBL, and LAMMPS is not required at run time, hence this small implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list

# Universal screening function of Ziegler, Biersack and Littmark, as in LAMMPS' pair_zbl_const.h
ZBL_A0 = 0.46850
ZBL_P = 0.23
ZBL_C = (0.02817, 0.28022, 0.50986, 0.18175)
ZBL_D = (0.20162, 0.40290, 0.94229, 3.19980)
QQR2E_METAL = 14.399645  # e^2/(4 pi eps0) in eV*A, LAMMPS metal units


def _zbl_raw(r: np.ndarray, zi: float, zj: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unswitched ZBL energy and its first two derivatives."""
    ainv = (zi**ZBL_P + zj**ZBL_P) / ZBL_A0
    zze = zi * zj * QQR2E_METAL
    e = d1 = d2 = 0.0
    for c, d in zip(ZBL_C, ZBL_D, strict=True):
        k = d * ainv
        ex = c * np.exp(-k * r)
        e = e + ex
        d1 = d1 + (-k) * ex
        d2 = d2 + k * k * ex
    # E = zze * phi / r
    energy = zze * e / r
    de = zze * (d1 / r - e / r**2)
    dde = zze * (d2 / r - 2 * d1 / r**2 + 2 * e / r**3)
    return energy, de, dde


def zbl(r, zi: float, zj: float, inner: float, outer: float) -> tuple[np.ndarray, np.ndarray]:
    """ZBL pair energy (eV) and dE/dr (eV/A) with LAMMPS' switching between ``inner`` and ``outer``; 0 beyond."""
    r = np.asarray(r, dtype=float)
    tc = outer - inner
    fc, fcp, fcpp = (float(x) for x in _zbl_raw(np.array(outer), zi, zj))
    swa = (-3.0 * fcp + tc * fcpp) / tc**2
    swb = (2.0 * fcp - tc * fcpp) / tc**3
    swc = -fc + (tc / 2.0) * fcp - (tc**2 / 12.0) * fcpp
    e, de, _ = _zbl_raw(r, zi, zj)
    t = np.clip(r - inner, 0.0, None)
    e = e + swc + t**3 * (swa / 3.0 + swb / 4.0 * t)
    de = de + t**2 * (swa + swb * t)
    inside = r < outer
    return np.where(inside, e, 0.0), np.where(inside, de, 0.0)


def lj(r, epsilon: float, sigma: float, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """LAMMPS ``lj/cut`` (no energy shift): 4 eps [(s/r)^12 - (s/r)^6] below the cutoff."""
    r = np.asarray(r, dtype=float)
    sr6 = (sigma / r) ** 6
    e = 4 * epsilon * (sr6 * sr6 - sr6)
    de = 4 * epsilon * (-12 * sr6 * sr6 + 6 * sr6) / r
    inside = r < cutoff
    return np.where(inside, e, 0.0), np.where(inside, de, 0.0)


@dataclass(frozen=True)
class Baseline:
    """A pair baseline: ``kind`` zbl (inner, outer) or lj (epsilon, sigma per element pair, cutoff)."""

    kind: str
    inner: float = 0.0
    outer: float = 0.0
    lj_params: tuple[tuple[str, str, float, float], ...] = ()  # (el_i, el_j, epsilon, sigma)

    @property
    def cutoff(self) -> float:
        return self.outer

    def pair(self, r: np.ndarray, si: str, sj: str) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "zbl":
            return zbl(r, atomic_numbers[si], atomic_numbers[sj], self.inner, self.outer)
        for a, b, eps, sig in self.lj_params:
            if {a, b} == {si, sj}:
                return lj(r, eps, sig, self.outer)
        raise KeyError(f"no LJ parameters for the pair {si}-{sj}")


class BaselineCalculator(Calculator):
    """ASE calculator of a pair baseline: energy, forces and stress (free boundaries or periodic)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, baseline: Baseline, **kwargs):
        super().__init__(**kwargs)
        self.baseline = baseline

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        i, j, d, vec = neighbor_list("ijdD", a, self.baseline.cutoff)
        symbols = np.array(a.get_chemical_symbols())
        e_pair = np.zeros(len(i))
        de_pair = np.zeros(len(i))
        for si in set(symbols):
            for sj in set(symbols):
                m = (symbols[i] == si) & (symbols[j] == sj)
                if m.any():
                    e_pair[m], de_pair[m] = self.baseline.pair(d[m], si, sj)
        energy = 0.5 * e_pair.sum()  # each pair appears twice in the neighbour list
        fvec = (de_pair / d)[:, None] * vec  # dE/dr * r_ij/|r_ij|: force on i is +, on j is -, halved twice
        forces = np.zeros((len(a), 3))
        np.add.at(forces, i, 0.5 * fvec)
        np.add.at(forces, j, -0.5 * fvec)
        self.results["energy"] = self.results["free_energy"] = float(energy)
        self.results["forces"] = forces
        if a.cell.rank == 3 and all(a.pbc):
            virial = 0.5 * np.einsum("p,pa,pb->ab", de_pair / d, vec, vec)
            stress = virial / a.get_volume()
            self.results["stress"] = stress.flat[[0, 4, 8, 5, 2, 1]]


def make_baseline(cfg, elements: list[str]) -> Baseline | None:
    """The Baseline of a resolved ``baseline:`` config section (None for ``type: none``)."""
    if cfg.type == "none":
        return None
    if cfg.type == "zbl":
        return Baseline("zbl", cfg.inner, cfg.outer)
    params = []
    for k, a in enumerate(elements):
        for b in elements[k:]:
            params.append((a, b, float(cfg.epsilon), 0.5 * (cfg.sigma[a] + cfg.sigma[b])))
    return Baseline("lj", 0.0, cfg.cutoff, tuple(params))


def baseline_arrays(atoms, baseline: Baseline | None) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Baseline energy, forces and (for periodic cells) stress of a structure; zeros without a baseline."""
    if baseline is None:
        return 0.0, np.zeros((len(atoms), 3)), None
    a = atoms.copy()
    a.calc = BaselineCalculator(baseline)
    stress = a.get_stress() if a.cell.rank == 3 and all(a.pbc) else None
    return float(a.get_potential_energy()), a.get_forces(), stress


class AcePlusBaseline(Calculator):
    """ACE + pair baseline (what delta learning fitted), passing ACE's per-atom ``gamma`` through for MD halts."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "gamma"]

    def __init__(
        self, ace, baseline: Baseline | None, energy_offset: dict[str, float] | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.ace, self.baseline = ace, baseline
        self.energy_offset = energy_offset or {}

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = self.ace
        e = a.get_potential_energy() + sum(self.energy_offset.get(s, 0.0) for s in a.get_chemical_symbols())
        f = a.get_forces()
        periodic = a.cell.rank == 3 and all(a.pbc)
        s = a.get_stress() if periodic else None
        gamma = self.ace.results.get("gamma")
        eb, fb, sb = baseline_arrays(a, self.baseline)
        self.results = {"energy": e + eb, "free_energy": e + eb, "forces": f + fb}
        if periodic:
            self.results["stress"] = s + (sb if sb is not None else 0.0)
        if gamma is not None:
            self.results["gamma"] = np.asarray(gamma)


def lammps_pair_lines(elements: list[str], potential_file: str, baseline: Baseline | None,
                      ace_style: str = "pace") -> list[str]:  # fmt: skip
    """``pair_style``/``pair_coeff`` lines for ACE (+ baseline) with atom types numbered in ``elements`` order.

    ``ace_style`` is ``pace`` for a .yace file, or ``pace/extrapolation`` (needs the .yaml and .asi).
    """
    species = " ".join(elements)
    ace_coeff = f"pair_coeff * * {ace_style} {potential_file} {species}"
    if baseline is None:
        return [f"pair_style {ace_style}", ace_coeff.replace(f" {ace_style} ", " ", 1)]
    lines = []
    if baseline.kind == "zbl":
        lines.append(f"pair_style hybrid/overlay {ace_style} zbl {baseline.inner} {baseline.outer}")
        lines.append(ace_coeff)
        for i, a in enumerate(elements, 1):
            for j, b in enumerate(elements, 1):
                if j >= i:
                    lines.append(f"pair_coeff {i} {j} zbl {atomic_numbers[a]} {atomic_numbers[b]}")
    else:
        lines.append(f"pair_style hybrid/overlay {ace_style} lj/cut {baseline.outer}")
        lines.append(ace_coeff)
        for i, a in enumerate(elements, 1):
            for j, b in enumerate(elements, 1):
                if j >= i:
                    eps, sig = next((e, s) for x, y, e, s in baseline.lj_params if {x, y} == {a, b})
                    lines.append(f"pair_coeff {i} {j} lj/cut {eps} {sig}")
    return lines
