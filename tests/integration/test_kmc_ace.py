"""The kMC driver with a real fitted ACE potential (+ ZBL baseline): it halts on ACE's own extrapolation grade."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.explore.kmc.akmc import KMCSettings, run_kmc
from pyacemaker.explore.protocol import GammaWatch, KMCProtocol

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def vacancy_cell():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    del atoms[0]
    return atoms


def test_low_threshold_halts_on_real_gamma_and_returns_the_frame(tiny_cu_potential, tmp_path):
    pot = tiny_cu_potential
    protocol = KMCProtocol(temperature_K=600.0, steps=2, searches=2, seed=3,
                           watch=GammaWatch(halt=1.5, collect=1.0, max_frames=3))  # fmt: skip
    out = run_kmc(
        vacancy_cell(), pot["calc"](), protocol, tmp_path, settings=KMCSettings(fmax=0.1, neb_images=0)
    )
    assert out.halted and out.error is None and out.driver == "kmc"
    halt = out.frames[-1]
    assert halt.step == out.halt_step and halt.gamma > 1.5 and out.max_gamma == pytest.approx(halt.gamma)
    # the frame is the configuration ACE graded: a fresh calculator gives the same per-atom gamma
    a = halt.atoms.copy()
    a.calc = pot["calc"]()
    a.get_potential_energy()
    assert np.allclose(a.calc.results["gamma"], halt.per_atom_gamma, rtol=1e-6, atol=1e-8)
    assert float(np.max(halt.per_atom_gamma)) == pytest.approx(halt.gamma)
    assert "HALT" in (tmp_path / "kmc.log").read_text()


def test_huge_threshold_completes_the_steps(tiny_cu_potential):
    protocol = KMCProtocol(temperature_K=600.0, steps=1, searches=2, seed=3,
                           watch=GammaWatch(halt=1e12, collect=1e12, max_frames=3))  # fmt: skip
    out = run_kmc(
        vacancy_cell(), tiny_cu_potential["calc"](), protocol, settings=KMCSettings(fmax=0.1, neb_images=0)
    )
    assert not out.halted and out.error is None, out.summary()
    assert out.steps_done == 1 and out.simulated_time_fs > 0 and out.frames == []
    assert out.max_gamma > 0  # ACE reported gamma on every call; it just never crossed the threshold
    assert out.thermo["saddles_found"] >= 1 and out.thermo["min_barrier_eV"] > 0
