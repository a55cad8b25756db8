"""Exploration drivers are plugins by name; a condition's driver and the MD engine pick one."""

import pytest

from pyacemaker.explore.drivers import DRIVERS, run_condition


def test_every_driver_is_registered():
    assert {"md-ase", "md-lammps", "kmc", "eon"} <= set(DRIVERS)


def test_unknown_driver_names_the_known_ones(tmp_path):
    from pyacemaker.config import parse_config, resolve

    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    with pytest.raises(KeyError, match="known: eon, kmc, md-ase, md-lammps"):
        run_condition(None, None, {"driver": "teleport"}, cfg, 0, tmp_path)
