"""EON's file formats as pyacemaker writes and reads them (.con, config.ini, the ext_pot exchange files,
dynamics.txt, results.dat) and run_eon's answer when EON is absent. EON itself is not installed here."""

from __future__ import annotations

import configparser
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.constraints import FixAtoms

import pyacemaker
from pyacemaker.explore.kmc.eon import EonNotInstalledError, prepare_eon_run, run_eon
from pyacemaker.explore.kmc.eon_files import (
    parse_dynamics,
    parse_results_dat,
    read_con,
    read_extpot_input,
    read_extpot_output,
    write_con,
    write_config_ini,
    write_extpot_input,
    write_extpot_output,
)
from pyacemaker.explore.protocol import GammaWatch, KMCProtocol
from pyacemaker.train.potential import Potential


def _alloy() -> Atoms:
    """32-atom fcc cell with three elements interleaved, so grouping by element really reorders atoms."""
    a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    a.symbols[[1, 5, 9, 30]] = "Ni"
    a.symbols[[3, 12]] = "Al"
    a.rattle(0.05, seed=3)
    return a


def test_con_round_trip_restores_order_elements_and_fixed_atoms(tmp_path):
    a = _alloy()
    a.set_constraint(FixAtoms(indices=[0, 5, 12]))
    write_con(tmp_path / "pos.con", a)
    b = read_con(tmp_path / "pos.con")
    assert b.get_chemical_symbols() == a.get_chemical_symbols()
    np.testing.assert_allclose(b.positions, a.positions, atol=1e-12)
    np.testing.assert_allclose(np.array(b.cell), np.array(a.cell), atol=1e-12)
    np.testing.assert_allclose(b.get_masses(), a.get_masses(), atol=1e-6)
    assert b.pbc.all()  # EON is always periodic
    assert sorted(b.constraints[0].get_indices().tolist()) == [0, 5, 12]


def test_con_layout_is_eons_grouped_by_element_with_original_ids(tmp_path):
    a = _alloy()
    write_con(tmp_path / "pos.con", a, fixed=[1])
    lines = (tmp_path / "pos.con").read_text().splitlines()
    assert [float(x) for x in lines[2].split()] == pytest.approx([7.2, 7.2, 7.2])
    assert [float(x) for x in lines[3].split()] == [90.0, 90.0, 90.0]  # EON tests exactly 90 for orthogonal
    assert lines[6].strip() == "3"
    assert lines[7].split() == ["26", "4", "2"]  # Cu first (first appearance), then Ni, then Al
    assert [float(m) for m in lines[8].split()] == pytest.approx([63.546, 58.6934, 26.9815], abs=1e-3)
    assert lines[9].strip() == "Cu" and lines[10] == "Coordinates of Component 1"
    ni_block = lines[9 + 2 + 26 :][:6]
    assert ni_block[0].strip() == "Ni" and ni_block[1] == "Coordinates of Component 2"
    rows = [r.split() for r in ni_block[2:]]
    assert [int(r[4]) for r in rows] == [1, 5, 9, 30]  # atom id = original index
    assert [int(r[3]) for r in rows] == [1, 0, 0, 0]  # the fixed flag of atom 1
    np.testing.assert_allclose([float(x) for x in rows[0][:3]], a.positions[1], atol=1e-12)


def test_con_reads_a_file_in_eons_layout_with_blank_headers_and_one_based_ids(tmp_path):
    # written the way EON's Python side does: empty comment lines, 1-based ids, surface atoms fixed
    text = "\n".join([
        "EON-like", "", "10.0 11.0 12.0", "90.0 90.0 90.0", "", "", "2", "1 2", "26.981538 63.546",
        "Al", "Coordinates of Component 1", "1.0 1.0 1.0 1 3",
        "Cu", "Coordinates of Component 2", "2.0 2.0 2.0 0 1", "3.0 3.0 3.0 0 2",
    ]) + "\n"  # fmt: skip
    (tmp_path / "r.con").write_text(text)
    a = read_con(tmp_path / "r.con")
    assert a.get_chemical_symbols() == ["Cu", "Cu", "Al"]  # ids 1, 2, 3
    np.testing.assert_allclose(a.positions[:, 0], [2.0, 3.0, 1.0])
    np.testing.assert_allclose(a.cell.lengths(), [10, 11, 12])
    assert a.constraints[0].get_indices().tolist() == [2]


def test_con_without_usable_ids_keeps_file_order(tmp_path):
    text = "\n".join([
        "x", "x", "5 5 5", "90 90 90", "x", "x", "1", "2", "63.546",
        "Cu", "Coordinates of Component 1", "0 0 0 0 7", "1 1 1 0 7",
    ]) + "\n"  # fmt: skip
    (tmp_path / "d.con").write_text(text)
    a = read_con(tmp_path / "d.con")
    np.testing.assert_allclose(a.positions[:, 0], [0.0, 1.0])


def test_con_triclinic_cell_uses_eons_angle_order_and_keeps_the_geometry(tmp_path):
    """EON supports general cells: lengths + angles (a^b, a^c, b^c), rebuilt lower-triangular (a along x)."""
    cell = np.array([[5.0, 0.3, 0.1], [0.8, 5.5, 0.2], [0.4, 1.1, 6.0]])  # not in EON's orientation
    rng = np.random.default_rng(0)
    a = Atoms("Cu3Ni2", scaled_positions=rng.random((5, 3)), cell=cell, pbc=True)
    write_con(tmp_path / "t.con", a)
    lines = (tmp_path / "t.con").read_text().splitlines()
    ab = np.degrees(np.arccos(cell[0] @ cell[1] / np.linalg.norm(cell[0]) / np.linalg.norm(cell[1])))
    bc = np.degrees(np.arccos(cell[1] @ cell[2] / np.linalg.norm(cell[1]) / np.linalg.norm(cell[2])))
    angles = [float(x) for x in lines[3].split()]
    assert angles[0] == pytest.approx(ab) and angles[2] == pytest.approx(bc)  # (gamma, beta, alpha)
    b = read_con(tmp_path / "t.con")
    np.testing.assert_allclose(b.cell.cellpar(), a.cell.cellpar(), atol=1e-9)
    np.testing.assert_allclose(np.triu(np.array(b.cell), 1), 0.0, atol=1e-12)  # EON's lower-triangular form
    np.testing.assert_allclose(
        b.get_scaled_positions(wrap=False), a.get_scaled_positions(wrap=False), atol=1e-9
    )
    np.testing.assert_allclose(b.get_all_distances(mic=True), a.get_all_distances(mic=True), atol=1e-9)


def test_write_con_needs_a_box(tmp_path):
    with pytest.raises(ValueError, match="periodic box"):
        write_con(tmp_path / "x.con", Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]]))


def test_config_ini_parses_with_configparser_and_has_the_eon_keys(tmp_path):
    path = write_config_ini(tmp_path, temperature_K=500.0, steps=7, random_seed=11, prefactor=1e12)
    p = configparser.ConfigParser(interpolation=None)
    p.optionxform = str
    p.read(path)
    assert p["Main"]["job"] == "akmc"
    assert float(p["Main"]["temperature"]) == 500.0
    assert int(p["Main"]["random_seed"]) == 11
    assert p["Potential"]["potential"] == "ext_pot"
    assert p["Potential"]["ext_pot_path"] == str((tmp_path / "pyacemaker_extpot").absolute())
    assert int(p["AKMC"]["max_kmc_steps"]) == 7
    assert 0 < float(p["AKMC"]["confidence"]) < 1
    assert p["Communicator"]["type"] == "local" and int(p["Communicator"]["number_of_CPUs"]) == 1
    assert p["Process Search"]["minimize_first"] == "true"
    assert p["Saddle Search"]["method"] == "min_mode" and p["Saddle Search"]["min_mode_method"] == "dimer"
    assert float(p["Prefactor"]["default_value"]) == 1e12
    assert p["Optimizer"]["opt_method"] == "lbfgs"


def test_config_ini_extra_keys_and_job_check(tmp_path):
    path = write_config_ini(tmp_path, temperature_K=300, steps=1, job="minimization",
                            extra={"Optimizer": {"converged_force": 0.001}, "Debug": {"write_movies": True}})  # fmt: skip
    p = configparser.ConfigParser(interpolation=None)
    p.read(path)
    assert p["Main"]["job"] == "minimization"
    assert float(p["Optimizer"]["converged_force"]) == 0.001 and p["Debug"]["write_movies"] == "true"
    with pytest.raises(ValueError, match="unknown EON job"):
        write_config_ini(tmp_path, temperature_K=300, steps=1, job="kmc_magic")


def test_extpot_exchange_files_round_trip(tmp_path):
    a = _alloy()
    write_extpot_input(tmp_path / "from_eon_to_extpot", a)
    lines = (tmp_path / "from_eon_to_extpot").read_text().splitlines()
    assert len(lines) == 3 + len(a) and lines[3].split("\t")[0] == "29"
    b = read_extpot_input(tmp_path / "from_eon_to_extpot")
    assert (b.numbers == a.numbers).all() and b.pbc.all()
    np.testing.assert_allclose(b.positions, a.positions, atol=1e-15)
    np.testing.assert_allclose(np.array(b.cell), np.array(a.cell))
    forces = np.random.default_rng(1).normal(size=(len(a), 3))
    write_extpot_output(tmp_path / "from_extpot_to_eon", -123.456789012345, forces)
    e, f = read_extpot_output(tmp_path / "from_extpot_to_eon")
    assert e == pytest.approx(-123.456789012345, abs=1e-12)
    np.testing.assert_allclose(f, forces, atol=1e-14)


def test_extpot_input_zero_box_is_free_boundaries_and_column_major_box_is_transposed(tmp_path):
    (tmp_path / "z").write_text("0\t0\t0\n0\t0\t0\n0\t0\t0\n29\t0\t0\t0\n29\t2.5\t0\t0\n")
    a = read_extpot_input(tmp_path / "z")
    assert not a.pbc.any() and a.cell.rank == 0 and len(a) == 2
    # EON's cells are lower-triangular; an upper-triangular box can only be its transpose
    (tmp_path / "t").write_text("5\t1\t0.5\n0\t5\t0.2\n0\t0\t6\n29\t0\t0\t0\n")
    b = read_extpot_input(tmp_path / "t")
    np.testing.assert_allclose(np.array(b.cell), [[5, 0, 0], [1, 5, 0], [0.5, 0.2, 6]])


def test_parse_dynamics_and_results_in_eons_layout(tmp_path):
    # dynamics.txt as EON's server writes it (header, dashes, '%12d ... %12e' columns; times in s)
    names = ("step-number", "reactant-id", "process-id", "product-id", "step-time", "total-time", "barrier",
             "rate", "energy")  # fmt: skip
    head = "".join(f"{n:>12s}  " for n in names)
    rows = [
        (0, 0, 2, 1, 1.5e-9, 1.5e-9, 0.60106, 9.86e8, -1775.79),
        (1, 1, 0, 0, 2.5e-9, 4.0e-9, 0.5, 1e9, -1775.8),
    ]
    body = "".join(
        f"{s:12d}  {r:12d}  {p:12d}  {q:12d}  {st:12e}  {tt:12e}  {b:12f}  {k:12e}  {e:12f}\n"
        for s, r, p, q, st, tt, b, k, e in rows
    )
    (tmp_path / "dynamics.txt").write_text(head + "\n" + "-" * len(head) + "\n" + body)
    steps = parse_dynamics(tmp_path / "dynamics.txt")
    assert len(steps) == 2 and steps[-1]["total_time_s"] == pytest.approx(4.0e-9)
    assert steps[0]["barrier_eV"] == pytest.approx(0.60106) and steps[0]["process"] == 2
    assert parse_dynamics(tmp_path / "missing.txt") == []
    (tmp_path / "results.dat").write_text(
        "0 termination_reason\n-1775.8 potential_energy\n412 total_force_calls\n"
    )
    res = parse_results_dat(tmp_path / "results.dat")
    assert res == {"termination_reason": 0.0, "potential_energy": -1775.8, "total_force_calls": 412.0}


def test_run_eon_without_eonclient_says_eon_is_not_installed_eon_not_installed_here(tmp_path):
    write_config_ini(tmp_path, temperature_K=300, steps=1)
    with pytest.raises(EonNotInstalledError, match="not installed") as info:
        run_eon(tmp_path, eonclient="eonclient-that-does-not-exist")
    assert "conda-forge" in str(info.value) and "eon-akmc" in str(info.value)
    out = run_eon(tmp_path, eonclient="eonclient-that-does-not-exist", missing_ok=True)
    assert out.driver == "eon" and not out.halted and "not installed" in (out.error or "")


STAND_IN_SERVER = """\
# A stand-in for EON's server (NOT EON): each invocation is one round that adds one kMC step to dynamics.txt;
# at round {halt_round} it leaves a halt file as pyacemaker's ext_pot driver would.
import os
path = "dynamics.txt"
if not os.path.exists(path):
    with open(path, "w") as fh:
        fh.write("step-number reactant-id process-id product-id step-time total-time barrier rate energy\\n---\\n")
n = sum(1 for _ in open(path)) - 2
with open(path, "a") as fh:
    fh.write(f"{{n:12d}} {{n:12d}} 0 {{n + 1:12d}} {{1e-9:12e}} {{(n + 1) * 1e-9:12e}} 0.5 1e9 -10.0\\n")
if n + 1 == {halt_round}:
    import numpy as np
    from ase.build import bulk
    from ase.io import write
    a = bulk("Cu", cubic=True)
    a.arrays["gamma"] = np.array([0.1, 7.0, 0.2, 0.3])
    a.info["max_gamma"] = 7.0
    write("eon_halts/halt_00000000000000000001_1.extxyz", a, format="extxyz")
"""


def _stand_ins(tmp_path, halt_round):
    client = (
        tmp_path / "bin" / "eonclient"
    )  # run_eon only needs it to exist: the stand-in server runs no jobs
    client.parent.mkdir()
    client.write_text("#!/bin/sh\nexit 0\n")
    client.chmod(0o755)
    server = tmp_path / "server.py"
    server.write_text(STAND_IN_SERVER.format(halt_round=halt_round))
    return client, [sys.executable, str(server)]


def test_run_eon_akmc_rounds_stop_at_the_step_count_with_a_stand_in_server_eon_not_installed_here(tmp_path):
    client, server = _stand_ins(tmp_path, halt_round=0)
    work = tmp_path / "run"
    write_config_ini(work, temperature_K=300, steps=3)
    (work / "eon_halts").mkdir()
    out = run_eon(work, eonclient=str(client), server=server, max_rounds=10)
    assert out.error is None and not out.halted and out.driver == "eon"
    assert out.steps_done == 3 and out.thermo["eon_rounds"] == 3.0
    assert out.simulated_time_fs == pytest.approx(3e-9 * 1e15)
    p = configparser.ConfigParser(interpolation=None)
    p.read(work / "config.ini")
    assert p["Communicator"]["client_path"] == str(client)  # the server must find the same eonclient


def test_run_eon_akmc_rounds_stop_at_a_halt_with_a_stand_in_server_eon_not_installed_here(tmp_path):
    client, server = _stand_ins(tmp_path, halt_round=2)
    work = tmp_path / "run"
    write_config_ini(work, temperature_K=300, steps=50)
    (work / "eon_halts").mkdir()
    out = run_eon(work, eonclient=str(client), server=server, max_rounds=10)
    assert out.halted and out.error is None and out.steps_done == 2 and out.halt_step == 2
    assert len(out.frames) == 1 and out.frames[0].gamma == 7.0 and out.max_gamma == 7.0
    np.testing.assert_allclose(out.frames[0].per_atom_gamma, [0.1, 7.0, 0.2, 0.3])


def test_prepared_run_follows_the_protocol_and_its_wrapper_imports_this_pyacemaker_eon_not_installed_here(
    tmp_path,
):
    yaml = tmp_path / "pot.yaml"
    yaml.write_text("not read here")
    pot = Potential(id="p", yaml=yaml, asi=None, yace=None, elements=("Cu",), reference_energies={"Cu": -1.5})
    protocol = KMCProtocol(temperature_K=700.0, steps=6, seed=9, watch=GammaWatch(halt=math.inf))
    run = prepare_eon_run(bulk("Cu", cubic=True), pot, protocol, tmp_path / "run")
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(run.config_ini)
    assert ini["Main"]["temperature"] == "700.0" and ini["Main"]["random_seed"] == "9"
    assert ini["AKMC"]["max_kmc_steps"] == "6"
    data = json.loads(run.driver_json.read_text())
    assert data["gamma_halt"] is None and data["active_set"] is None  # an infinite halt never halts
    assert data["reference_energies"] == {} and data["potential_yaml"] == str(yaml)
    # the wrapper puts the folder above the package on PYTHONPATH, never the package (whose select/ would
    # shadow the standard library's select)
    root = Path(pyacemaker.__file__).resolve().parent.parent
    assert f"export PYTHONPATH={root}" in run.wrapper.read_text()
    assert "-m pyacemaker.explore.kmc.eon_driver --config" in run.wrapper.read_text()
    with pytest.raises(ValueError, match="active set"):
        prepare_eon_run(
            bulk("Cu", cubic=True), pot, KMCProtocol(temperature_K=700.0, steps=1), tmp_path / "b"
        )
