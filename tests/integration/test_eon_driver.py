"""The EON bridge with a real fitted ACE potential: the ext_pot wrapper run as EON's ``system()`` runs it.

EON itself is not installed here (it cannot be built in this environment), so EON's side of the protocol is
played by the test: it writes ``from_eon_to_extpot`` in a fresh exchange directory, runs the wrapper there with
``/bin/sh -c`` and reads ``from_extpot_to_eon``, as EON's ExtPot does. The run_eon tests use a stand-in
``eonclient`` script doing the same for a few force calls; it checks pyacemaker's plumbing, not EON.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

from pyacemaker.explore.kmc.eon import HALT_EXIT_CODE, prepare_eon_run, run_eon
from pyacemaker.explore.kmc.eon_files import (
    FROM_EXTPOT,
    TO_EXTPOT,
    read_con,
    read_extpot_output,
    write_extpot_input,
)
from pyacemaker.explore.protocol import GammaWatch, KMCProtocol
from pyacemaker.train.potential import Potential

pytestmark = pytest.mark.integration


def _cu_cell():
    a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 1))  # 16 atoms, orthogonal periodic box
    a.rattle(0.04, seed=7)
    return a


def _prepare(pot, workdir, gamma_halt, baseline=None, **kw):
    potential = Potential(id="tiny", yaml=pot["yaml"], asi=pot["asi"], yace=pot["yace"], elements=("Cu",),
                          baseline=pot["baseline"] if baseline is None else baseline,
                          reference_energies=pot["refs"])  # fmt: skip
    protocol = KMCProtocol(temperature_K=600.0, steps=3, watch=GammaWatch(halt=gamma_halt))
    return prepare_eon_run(_cu_cell(), potential, protocol, workdir, absolute=True, **kw)


def _call_like_eon(run, atoms, name="extpot_4242_0"):
    """What EON's ExtPot does for one force call: exchange dir, input file, system(ext_pot_path)."""
    xdir = run.workdir / name
    xdir.mkdir()
    write_extpot_input(xdir / TO_EXTPOT, atoms)
    env = {**os.environ, "EON_EXTPOT_RUN_DIR": str(run.workdir)}
    proc = subprocess.run(str(run.wrapper), shell=True, cwd=xdir, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    return proc, xdir


def test_driver_answers_like_the_ase_calculator_eon_not_installed_here(tiny_cu_potential, tmp_path):
    pot = tiny_cu_potential
    run = _prepare(pot, tmp_path / "eon", gamma_halt=1e9)
    assert os.access(run.wrapper, os.X_OK)
    atoms = read_con(run.pos_con)  # the structure as EON would read pos.con
    proc, xdir = _call_like_eon(run, atoms)
    assert proc.returncode == 0, proc.stderr
    energy, forces = read_extpot_output(xdir / FROM_EXTPOT)
    ref = atoms.copy()
    ref.calc = pot["calc"]()
    assert energy == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(forces, ref.get_forces(), atol=1e-8)
    assert np.abs(forces).max() > 1e-3  # a rattled cell: the comparison is not between zeros
    calls = run.gamma_log.read_text().splitlines()
    assert len(calls) == 1 and float(calls[0].split()[0]) > 0
    assert not list(run.halt_dir.glob("*.extxyz"))


def test_driver_halts_with_exit_100_and_keeps_the_structure_eon_not_installed_here(
    tiny_cu_potential, tmp_path
):
    pot = tiny_cu_potential
    # the baseline given as the config section, as a campaign has it
    run = _prepare(pot, tmp_path / "eon", gamma_halt=1e-6, baseline=pot["cfg"].baseline)
    atoms = read_con(run.pos_con)
    proc, xdir = _call_like_eon(run, atoms)
    assert proc.returncode == HALT_EXIT_CODE, proc.stderr
    assert "stopping EON" in proc.stderr
    assert (xdir / FROM_EXTPOT).exists()  # answered anyway, for EON versions that ignore the exit code
    halts = list(run.halt_dir.glob("*.extxyz"))
    assert len(halts) == 1
    h = read(halts[0], format="extxyz")
    gamma = h.arrays["gamma"]
    assert gamma.shape == (len(atoms),) and gamma.max() > 1e-6
    assert h.info["max_gamma"] == pytest.approx(gamma.max())
    np.testing.assert_allclose(h.positions, atoms.positions, atol=1e-7)  # extxyz keeps 8 decimals
    np.testing.assert_allclose(np.array(h.cell), np.array(atoms.cell), atol=1e-9)
    ref = atoms.copy()
    ref.calc = pot["calc"]()
    assert h.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-6)


STAND_IN_EONCLIENT = textwrap.dedent(
    """\
    #!{python}
    # A stand-in for eonclient (NOT EON): reads config.ini and pos.con, and for {calls} force calls does what
    # EON's ExtPot does (exchange dir, from_eon_to_extpot, system(ext_pot_path), from_extpot_to_eon), moving the
    # atoms a little along the forces; a failed call ends the job with status 1 as newer EON does.
    import configparser, os, subprocess, sys
    from pyacemaker.explore.kmc.eon_files import read_con, read_extpot_output, write_extpot_input
    ini = configparser.ConfigParser(interpolation=None)
    ini.read("config.ini")
    prog = ini["Potential"]["ext_pot_path"]
    atoms = read_con("pos.con")
    xdir = "extpot_%d_0" % os.getpid()
    os.makedirs(xdir)
    for call in range({calls}):
        write_extpot_input(os.path.join(xdir, "from_eon_to_extpot"), atoms)
        if subprocess.run(prog, shell=True, cwd=xdir).returncode != 0:
            sys.exit(1)
        energy, forces = read_extpot_output(os.path.join(xdir, "from_extpot_to_eon"))
        atoms.positions += 0.01 * forces
    with open("results.dat", "w") as fh:
        fh.write("0 termination_reason\\n%.6f potential_energy\\n{calls} total_force_calls\\n" % energy)
    """
)


def _stand_in_client(tmp_path, calls):
    exe = tmp_path / "bin" / "eonclient"
    exe.parent.mkdir()
    exe.write_text(STAND_IN_EONCLIENT.format(python=sys.executable, calls=calls))
    exe.chmod(0o755)
    return exe


def test_run_eon_reads_a_halt_into_mdoutcome_with_a_stand_in_client_eon_not_installed_here(
    tiny_cu_potential, tmp_path
):
    run = _prepare(tiny_cu_potential, tmp_path / "eon", gamma_halt=1e-6, job="minimization")
    out = run_eon(run.workdir, eonclient=str(_stand_in_client(tmp_path, calls=2)), timeout_s=300)
    assert out.driver == "eon" and out.halted and out.error is None
    assert len(out.frames) == 1 and out.halt_step == 0 and out.steps_done == 0
    frame = out.frames[0]
    assert frame.gamma > 1e-6 and frame.per_atom_gamma is not None and len(frame.atoms) == 16
    assert out.max_gamma == pytest.approx(frame.gamma)
    assert out.thermo["force_calls"] == 1.0  # the halt stopped the job at the first call


def test_run_eon_without_halt_reports_calls_and_results_with_a_stand_in_client_eon_not_installed_here(
    tiny_cu_potential, tmp_path
):
    run = _prepare(tiny_cu_potential, tmp_path / "eon", gamma_halt=1e9, job="minimization")
    out = run_eon(run.workdir, eonclient=str(_stand_in_client(tmp_path, calls=2)), timeout_s=300)
    assert not out.halted and out.error is None and out.frames == []
    assert out.thermo["force_calls"] == 2.0 and out.thermo["results_total_force_calls"] == 2.0
    assert out.max_gamma > 0 and out.simulated_time_fs == 0.0


def test_run_refuses_an_eon_condition_without_eonclient_eon_not_installed_here(tmp_path):
    from tests.conftest import run_cli

    cfg = tmp_path / "cu.yaml"
    cfg.write_text("elements: [Cu]\noracle: {type: emt}\n"
                   "explore: {conditions: [{driver: eon, start: vacancy, temperature_K: 600}]}\n")  # fmt: skip
    r = run_cli("run", str(cfg), cwd=tmp_path, env={"PYACEMAKER_DATA_DIR": str(tmp_path / "data")})
    assert r.returncode == 2 and "driver: eon" in r.stderr and "eonclient" in r.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "campaigns").exists()
