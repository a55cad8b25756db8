"""Helpers shared by the tests: real parts that are absent fail the run in CI and skip elsewhere."""

import os

import pytest

CI = bool(os.environ.get("CI"))


def missing(why: str) -> None:
    """A part the test needs is absent: a failure in CI (the set-up installs every part), a skip elsewhere."""
    if CI:
        pytest.fail(why)
    pytest.skip(why)


def needs(absent: bool, why: str) -> pytest.MarkDecorator:
    """``skipif`` that never skips in CI: there the test runs, and fails on the missing part."""
    return pytest.mark.skipif(absent and not CI, reason=why)


def md_engine() -> str:
    """The driver MD runs with under ``explore.engine: auto``: LAMMPS with pyacemaker's plugin (the set-up builds
    it, so always in CI), ASE where it was not built."""
    from pyacemaker.lammps_plugin import plugin_dir

    return "lammps" if CI or plugin_dir() else "ase"
