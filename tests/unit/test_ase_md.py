"""ASE MD engine: NPT follows the target pressure, swap Monte Carlo obeys Metropolis (real EMT, seconds)."""

import numpy as np
from ase.calculators.emt import EMT

from pyacemaker.explore.md.ase_md import run_md, swap_sweep
from pyacemaker.explore.protocol import GammaWatch, MDProtocol
from pyacemaker.structures.seeds import alloy_cell, reference_cell, supercell_to


def _md(atoms, **kw):
    watch = GammaWatch(check_interval=10, collect=1.0, halt=2.0, max_frames=2)
    protocol = MDProtocol(
        temperature_K=500.0, steps=150, timestep_fs=2.0, friction=0.02, seed=3, watch=watch, **kw
    )
    return run_md(atoms, EMT(), protocol)


def test_npt_compresses_under_pressure_and_nvt_keeps_the_cell():
    cu = supercell_to(reference_cell("Cu"), 32)
    v0 = cu.get_volume() / len(cu)
    squeezed = _md(cu, ensemble="npt", pressure_GPa=30.0).thermo["volume_A3_atom"]
    free = _md(cu, ensemble="npt", pressure_GPa=0.0).thermo["volume_A3_atom"]
    nvt = _md(cu).thermo["volume_A3_atom"]
    assert squeezed < free and squeezed < 0.95 * v0 and abs(nvt - v0) < 1e-9


def test_swap_monte_carlo_is_downhill_when_cold_and_keeps_composition():
    rng = np.random.default_rng(4)
    alloy = alloy_cell(["Cu", "Au"], 32, rng)
    alloy.calc = EMT()
    e0 = alloy.get_potential_energy()
    symbols = alloy.get_chemical_symbols()
    count = {"tried": 0, "accepted": 0}
    for _ in range(5):
        swap_sweep(alloy, 1.0, rng, count)
    assert count["tried"] == 15 and alloy.get_potential_energy() <= e0 + 1e-9
    assert alloy.get_chemical_symbols() == symbols  # atoms keep their species; positions were exchanged
    hot = {"tried": 0, "accepted": 0}
    swap_sweep(alloy, 1e7, rng, hot)
    assert hot["accepted"] == hot["tried"]  # at a huge temperature Metropolis accepts everything


def test_md_with_swaps_reports_them():
    out = _md(
        alloy_cell(["Cu", "Au"], 32, np.random.default_rng(0)), ensemble="npt", swap=True, swap_interval=25
    )
    assert out.thermo["swaps_tried"] > 0 and not out.halted and out.steps_done == 150
    off = _md(alloy_cell(["Cu", "Au"], 32, np.random.default_rng(0)), swap=False, swap_interval=25)
    assert "swaps_tried" not in off.thermo  # the interval alone does not swap: the protocol's swap does


class SlowEMT(EMT):
    """EMT that takes 20 ms per force call: an MD that crawls (a huge cell, a slow potential)."""

    def calculate(self, *args, **kwargs):
        import time

        time.sleep(0.02)
        super().calculate(*args, **kwargs)


def test_an_md_past_explore_timeout_ends_with_an_error_not_a_halt():
    watch = GammaWatch(check_interval=5, collect=1.0, halt=2.0, max_frames=2)
    protocol = MDProtocol(
        temperature_K=500.0, steps=100_000, timestep_fs=2.0, seed=3, watch=watch, timeout_s=0.5
    )
    out = run_md(supercell_to(reference_cell("Cu"), 32), SlowEMT(), protocol)
    assert out.error.startswith("ASE MD timeout: not finished within 0.5 s (explore.timeout_s)"), out.error
    assert not out.halted and 0 < out.steps_done < 100 and out.halt_step is None
