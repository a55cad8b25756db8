"""VASP oracle. VASP is licensed and cannot run here: these tests check the generated inputs, the handler set,
and the parsing of recorded VASP outputs (ASE's own test data, read from the installed ase package)."""

from pathlib import Path

import ase
import numpy as np
import pytest
from ase.build import bulk
from pymatgen.io.vasp import Incar, Poscar

from pyacemaker.config import parse_config, resolve
from pyacemaker.oracle import make_oracle
from pyacemaker.oracle.base import OracleFailure
from pyacemaker.oracle.vasp import NUMERIC_VASP_ERRORS, handlers, parse, write_inputs

RECORDED = Path(ase.__file__).parent / "test" / "testdata" / "vasp"


def _cfg(**kw):
    cfg, notes = resolve(parse_config({"elements": ["Fe", "O"], "oracle": {"type": "vasp", **kw}}))
    return cfg.oracle, notes


def test_generated_incar_and_poscar_vasp_cannot_run_here(tmp_path, monkeypatch):
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    o, notes = _cfg(incar={"ENCUT": 600})
    assert o.potcars == {"Fe": "Fe_pv", "O": "O"} and "PBE_64" in notes["oracle.potcars"]
    atoms = bulk("Fe", cubic=True).repeat(2)
    atoms[0].symbol = "O"
    with pytest.raises(OracleFailure, match="POTCARs not found.*PMG_VASP_PSP_DIR"):
        write_inputs(tmp_path, atoms, o)
    incar = Incar.from_file(tmp_path / "INCAR")
    assert incar["ENCUT"] == 600  # the user's value wins
    assert (
        incar["NSW"] == 0 and incar["ISMEAR"] == 0 and incar["PREC"] == "Accurate" and incar["LREAL"] is False
    )
    assert incar["KSPACING"] == 0.22 and incar["ISPIN"] == 2
    poscar = Poscar.from_file(tmp_path / "POSCAR")
    assert sorted(poscar.site_symbols) == ["Fe", "O"] and len(poscar.structure) == 16


def test_potcar_concatenated_in_poscar_order_vasp_cannot_run_here(tmp_path):
    lib = tmp_path / "paw" / "potpaw_PBE_64"
    for label in ("Fe_pv", "O"):
        (lib / label).mkdir(parents=True)
        (lib / label / "POTCAR").write_text(f"PAW_PBE {label}\n")  # a stand-in: real POTCARs are licensed
    o, _ = _cfg(potcar_dir=str(tmp_path / "paw"))
    atoms = bulk("Fe", cubic=True).repeat(2)
    atoms[0].symbol = "O"
    write_inputs(tmp_path / "run", atoms, o)
    order = Poscar.from_file(tmp_path / "run" / "POSCAR").site_symbols
    titles = [ln.split()[1] for ln in (tmp_path / "run" / "POTCAR").read_text().splitlines()]
    assert [t.split("_")[0] for t in titles] == order


def test_only_numeric_handlers_vasp_cannot_run_here():
    names = {type(h).__name__ for h in handlers()}
    assert "IncorrectSmearingHandler" not in names and "LargeSigmaHandler" not in names
    assert "KspacingMetalHandler" not in names
    for physics in ("tet", "dentet", "algo_tet", "brmix", "ksymm", "pricel"):
        assert physics not in NUMERIC_VASP_ERRORS


def test_parse_recorded_vasprun_vasp_cannot_run_here(tmp_path):
    import shutil

    shutil.copy(RECORDED / "vasprun_pstress.xml", tmp_path / "vasprun.xml")
    energy, forces, stress = parse(tmp_path)
    assert energy == pytest.approx(-20.24696, abs=1e-4)  # force-consistent free energy of the recorded C2 run
    assert forces.shape == (2, 3) and np.allclose(forces.sum(axis=0), 0)
    assert stress.shape == (6,)


def test_missing_vasp_executable_is_a_clear_failure(tmp_path):
    o, _ = _cfg(command="vasp_std_not_installed")
    with pytest.raises(OracleFailure, match="not found on PATH"):
        make_oracle(o).compute(bulk("Fe", cubic=True), tmp_path)
