"""Exploration drivers by name: each runs one condition from a start structure with the current potential and
returns an :class:`~pyacemaker.explore.protocol.MDOutcome`. A new driver registers here and is then selectable as
``driver:`` of a condition (MD engines by ``explore.engine``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ase import Atoms

from pyacemaker.config import CampaignConfig
from pyacemaker.explore.kmc.akmc import run_kmc
from pyacemaker.explore.kmc.eon import prepare_eon_run, run_eon
from pyacemaker.explore.md.ase_md import run_md
from pyacemaker.explore.md.lammps_md import run_lammps_md
from pyacemaker.explore.protocol import MDOutcome
from pyacemaker.plugins import DRIVERS
from pyacemaker.train.pacemaker import calculator

log = logging.getLogger(__name__)


@dataclass
class Potential:
    """What a driver needs of the current potential: its files, and how to build its ASE calculator."""

    yaml: Path
    asi: Path
    yace: Path | None
    baseline: Any  # pyacemaker.train.baseline.Baseline or None
    elements: list[str]

    def calculator(self):

        return calculator(self.yaml, self.asi, self.baseline)


def run_condition(
    atoms: Atoms, pot: Potential, cond: dict[str, Any], cfg: CampaignConfig, seed: int, workdir: Path
) -> MDOutcome:
    """Run ``cond`` (an effective condition: driver, ensemble, temperature_K, pressure_GPa, swap, steps)."""
    name = cond.get("driver", "md")
    if name == "md":
        name = "md-lammps" if cfg.explore.engine == "lammps" else "md-ase"
    return DRIVERS.get_plugin(name)(atoms, pot, cond, cfg, seed, workdir)


@DRIVERS.register("md-ase")
def ase_md(atoms: Atoms, pot: Potential, cond: dict[str, Any], cfg: CampaignConfig, seed: int, workdir: Path):

    e = cfg.explore
    return run_md(
        atoms, pot.calculator(), cond["temperature_K"], cond["steps"], e.timestep_fs, e.friction,
        e.gamma_check_interval, e.gamma_collect, e.gamma_halt, e.max_frames, seed, workdir,
        ensemble=cond.get("ensemble", "nvt"), pressure_GPa=cond.get("pressure_GPa", 0.0),
        swap_interval=e.swap_interval if cond.get("swap") else 0,
    )  # fmt: skip


@DRIVERS.register("kmc")
def builtin_kmc(
    atoms: Atoms, pot: Potential, cond: dict[str, Any], cfg: CampaignConfig, seed: int, workdir: Path
):
    """Adaptive kMC (dimer saddle searches, NEB, harmonic TST): gamma is checked at every force call."""

    e = cfg.explore
    return run_kmc(
        atoms, pot.calculator(), cond["temperature_K"], cond["steps"], e.kmc_searches, e.gamma_halt, e.gamma_collect,
        e.max_frames, seed, workdir,
    )  # fmt: skip


@DRIVERS.register("eon")
def eon_kmc(
    atoms: Atoms, pot: Potential, cond: dict[str, Any], cfg: CampaignConfig, seed: int, workdir: Path
):
    """EON's adaptive kMC with ACE + baseline through its ``ext_pot`` protocol; the driver exits 100 on a halt."""

    e = cfg.explore
    prepare_eon_run(
        atoms, workdir, potential_yaml=pot.yaml, active_set=pot.asi, baseline=pot.baseline, elements=pot.elements,
        reference_energies=None, gamma_halt=e.gamma_halt, temperature_K=cond["temperature_K"], steps=cond["steps"],
        random_seed=seed,
    )  # fmt: skip
    return run_eon(workdir, e.eon_command, steps=cond["steps"])


@DRIVERS.register("md-lammps")
def lammps_md(
    atoms: Atoms, pot: Potential, cond: dict[str, Any], cfg: CampaignConfig, seed: int, workdir: Path
):
    """LAMMPS with ML-PACE (``pace/extrapolation`` + baseline, ``fix halt`` on gamma); falls back to ASE with a
    one-line notice when the configured LAMMPS has no ML-PACE."""

    e = cfg.explore
    return run_lammps_md(
        atoms, pot.elements, pot.yaml, pot.asi, pot.baseline, workdir, lmp_command=e.lammps_command,
        temperature_K=cond["temperature_K"], steps=cond["steps"], timestep_fs=e.timestep_fs,
        ensemble=cond.get("ensemble", "nvt"), pressure_bar=1e4 * cond.get("pressure_GPa", 0.0),
        gamma_check_interval=e.gamma_check_interval, gamma_collect=e.gamma_collect, gamma_halt=e.gamma_halt,
        max_frames=e.max_frames, seed=seed, swap=bool(cond.get("swap")), swap_interval=e.swap_interval,
        friction=e.friction,
    )  # fmt: skip
