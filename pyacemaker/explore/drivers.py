"""Running one exploration condition: the condition's ``driver`` (``md`` by ``explore.engine``) picks a plugin of
:data:`~pyacemaker.plugins.DRIVERS`, which returns an :class:`~pyacemaker.explore.protocol.Outcome`.

Every driver has one signature, ``driver(atoms, potential, run, explore, seed, workdir) -> Outcome``, and
registers itself in its engine's module (``@DRIVERS.register("md-ase")`` in :mod:`.md.ase_md`, ``md-lammps``
in :mod:`.md.lammps_md`, ``kmc`` in :mod:`.kmc.akmc`, ``eon`` in :mod:`.kmc.eon`); a new driver is one module
and its registration.
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from pyacemaker.config.schema import ExploreConfig
from pyacemaker.explore.protocol import Outcome
from pyacemaker.plugins import DRIVERS
from pyacemaker.schemas.stages import RunCondition
from pyacemaker.train.potential import Potential

__all__ = ["DRIVERS", "driver_name", "run_condition"]


def driver_name(run: RunCondition, explore: ExploreConfig) -> str:
    """The registered driver of a condition: ``md`` is ``md-lammps`` or ``md-ase`` by ``explore.engine``
    (``auto``: LAMMPS when the configured command has ML-PACE, natively or by pyacemaker's plugin, here)."""
    if run.driver != "md":
        return run.driver
    if explore.engine == "auto":
        from pyacemaker.explore.md.lammps_md import has_ml_pace, lammps_launch

        return "md-lammps" if has_ml_pace(lammps_launch(explore.lammps_command)[0]) else "md-ase"
    return "md-lammps" if explore.engine == "lammps" else "md-ase"


def run_condition(
    atoms: Atoms, potential: Potential, run: RunCondition, explore: ExploreConfig, seed: int, workdir: Path
) -> Outcome:
    """Run condition ``run`` (at its escalation level) from ``atoms`` with ``potential``."""
    return DRIVERS.get_plugin(driver_name(run, explore))(atoms, potential, run, explore, seed, workdir)
