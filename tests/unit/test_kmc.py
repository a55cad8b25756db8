"""The built-in adaptive kMC driver on a real (cheap) potential: EMT Cu with a vacancy (31 atoms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from pyacemaker.explore.kmc.akmc import (
    GammaHalt,
    GammaWatchdog,
    KMCSettings,
    SearchStats,
    State,
    find_processes,
    max_displacement,
    relax,
    run_kmc,
    select_process,
    tst_rates,
)
from pyacemaker.explore.protocol import GammaWatch, KMCProtocol


def protocol(temperature_K, steps, searches, halt, collect, max_frames, seed=7) -> KMCProtocol:
    watch = GammaWatch(halt=halt, collect=collect, max_frames=max_frames)
    return KMCProtocol(temperature_K=temperature_K, steps=steps, searches=searches, seed=seed, watch=watch)


def vacancy_cell() -> Atoms:
    """2x2x2 cubic fcc Cu minus one atom: the smallest cell with a clean vacancy hop."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    del atoms[0]
    return atoms


class DisplacementGammaEMT(Calculator):
    """TEST STAND-IN for the extrapolation grade only: EMT energies and forces (real), plus a synthetic
    per-atom ``gamma = 1 + slope * |displacement from the reference positions|``.

    It mimics what ACE does (gamma grows as the configuration leaves the training domain) without a fit.
    """

    implemented_properties = ["energy", "free_energy", "forces", "gamma"]

    def __init__(self, reference: Atoms, slope: float = 10.0):
        super().__init__()
        self.reference, self.slope, self.emt = reference.copy(), slope, EMT()

    def gamma_of(self, atoms: Atoms) -> np.ndarray:
        from pyacemaker.explore.kmc.akmc import displacements

        return 1.0 + self.slope * np.linalg.norm(displacements(self.reference, atoms), axis=1)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = self.emt
        e = a.get_potential_energy()
        self.results = {"energy": e, "free_energy": e, "forces": a.get_forces(), "gamma": self.gamma_of(a)}


@pytest.fixture(scope="module")
def emt_run(tmp_path_factory):
    """One short kMC run with EMT (2 steps, 1 search a state, NEB refinement on), shared by the checks."""
    wd = tmp_path_factory.mktemp("kmc")
    out = run_kmc(vacancy_cell(), EMT(), protocol(600.0, 2, 1, halt=1e9, collect=1e9, max_frames=5), wd,
                  settings=KMCSettings(fmax=0.1, neb_images=3))  # fmt: skip
    return out, wd


def test_watchdog_checks_every_force_call_and_keeps_the_halting_frame():
    ref = vacancy_cell()
    watch = GammaWatchdog(DisplacementGammaEMT(ref), GammaWatch(halt=8.0, collect=2.0, max_frames=2))
    a = ref.copy()
    a.calc = watch
    a.get_forces()
    assert watch.frames == [] and watch.max_gamma == pytest.approx(1.0)

    def expected(shift: float) -> float:  # one atom moved; the rigid-translation part (1/31) is not a move
        return 1.0 + 10.0 * shift * 30 / 31

    watch.step = 3
    for shift in (0.15, 0.3, 0.45):  # collected, not halting; only the latest 2 kept
        a.positions[5, 0] = ref.positions[5, 0] + shift
        a.get_forces()
    assert [f.gamma for f in watch.frames] == pytest.approx([expected(0.3), expected(0.45)])
    a.positions[5, 0] = ref.positions[5, 0] + 0.8  # gamma 8.7 > 8
    with pytest.raises(GammaHalt) as exc:
        a.get_forces()
    frame = exc.value.frame
    assert watch.frames[-1] is frame and len(watch.frames) == 2
    assert frame.step == 3 and frame.gamma == pytest.approx(expected(0.8))
    assert np.allclose(frame.atoms.positions, a.positions) and frame.atoms.calc is None
    assert frame.per_atom_gamma.shape == (len(a),) and int(frame.per_atom_gamma.argmax()) == 5
    assert watch.force_calls == 5


def test_process_choice_and_time_follow_the_rates():
    rng = np.random.default_rng(0)
    rates = np.array([1.0, 3.0])
    draws = [select_process(rates, rng) for _ in range(20000)]
    picks = np.array([k for k, _ in draws])
    times = np.array([dt for _, dt in draws])
    assert np.mean(picks == 1) == pytest.approx(0.75, abs=0.015)
    assert times.min() > 0 and times.mean() == pytest.approx(1 / rates.sum(), rel=0.03)
    # harmonic TST: nu * exp(-Ea/kT), faster when hotter
    r300, r600 = tst_rates([0.75], 300.0)[0], tst_rates([0.75], 600.0)[0]
    assert r300 == pytest.approx(1e13 * math.exp(-0.75 / (units.kB * 300.0)))
    assert r600 > 1e4 * r300


def test_saddle_searches_find_a_vacancy_hop_with_a_physical_barrier():
    s = KMCSettings(fmax=0.1, neb_images=0)
    start, e0, ok = relax(vacancy_cell(), EMT(), s.fmax, s.relax_steps)
    assert ok
    state, stats = State(start, e0), SearchStats()
    find_processes(state, EMT(), 3, np.random.default_rng(7), s, stats)
    assert stats.attempted == 3 and state.processes
    hops = [p for p in state.processes if 0.3 < p.barrier < 1.2]
    assert hops, [p.barrier for p in state.processes]
    # a nearest-neighbour jump into the vacancy: one atom moves ~a/sqrt(2) = 2.55 A, to a new state
    assert all(2.2 < p.hop_distance < 2.8 for p in hops)
    # deduplicated: no two processes share both final state and barrier
    for i, p in enumerate(state.processes):
        for q in state.processes[:i]:
            assert (
                max_displacement(p.final, q.final) > s.state_tol or abs(p.barrier - q.barrier) > s.barrier_tol
            )


def test_kmc_run_takes_steps_and_advances_time(emt_run):
    out, wd = emt_run
    assert out.driver == "kmc" and not out.halted and out.error is None
    assert out.steps_done == 2 and out.halt_step is None
    assert out.simulated_time_fs > 0
    t = out.thermo
    assert t["kmc_steps"] == 2 and t["saddles_found"] >= 1 and t["temperature_K"] == 600.0
    assert 0.3 < t["min_barrier_eV"] < 1.2 and 0.3 < t["mean_executed_barrier_eV"] < 1.2
    assert t["neb_refined"] >= 1
    assert out.simulated_time_fs == pytest.approx(t["simulated_time_s"] * 1e15)
    log = (wd / "kmc.log").read_text()
    assert "step 2 process" in log and "summary" in log


def test_hotter_runs_make_shorter_steps_by_arrhenius():
    # Same seed: the same searches and the same random numbers, so only the rates differ between the runs.
    s = KMCSettings(fmax=0.1, neb_images=0)
    cold = run_kmc(
        vacancy_cell(), EMT(), protocol(400.0, 1, 1, halt=1e9, collect=1e9, max_frames=1), settings=s
    )
    hot = run_kmc(
        vacancy_cell(), EMT(), protocol(800.0, 1, 1, halt=1e9, collect=1e9, max_frames=1), settings=s
    )
    assert cold.steps_done == hot.steps_done == 1
    assert cold.simulated_time_fs > hot.simulated_time_fs > 0
    # ln(t_cold / t_hot) = Ea (1/kT_cold - 1/kT_hot) when the lowest barriers dominate the total rate
    ea = math.log(cold.simulated_time_fs / hot.simulated_time_fs) / (
        1 / (units.kB * 400) - 1 / (units.kB * 800)
    )
    assert ea == pytest.approx(cold.thermo["min_barrier_eV"], abs=0.05)


def test_gamma_halt_during_saddle_search_returns_the_configuration(tmp_path):
    atoms = vacancy_cell()
    calc = DisplacementGammaEMT(atoms)
    out = run_kmc(atoms, calc, protocol(600.0, 3, 2, halt=6.0, collect=3.0, max_frames=4), tmp_path,
                  settings=KMCSettings(fmax=0.1))  # fmt: skip
    assert out.halted and out.error is None and out.driver == "kmc"
    assert out.halt_step == 0 and out.steps_done == 0
    halt = out.frames[-1]
    assert halt.step == out.halt_step and halt.gamma > 6.0 and out.max_gamma == pytest.approx(halt.gamma)
    assert 1 <= len(out.frames) <= 4 and all(f.gamma > 3.0 for f in out.frames)
    # the frame is exactly the configuration that was evaluated: recomputing its gamma gives the same value
    assert np.allclose(calc.gamma_of(halt.atoms), halt.per_atom_gamma)
    assert len(halt.atoms) == 31 and halt.atoms.calc is None
    assert "HALT at kMC step 0" in (tmp_path / "kmc.log").read_text()
