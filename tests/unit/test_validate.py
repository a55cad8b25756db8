"""The validators of the quality gate on EMT copper (a real, cheap model with known numbers), hand-made elastic
tensors for the Born criteria, deliberately broken calculators that the gate must reject with a reason, and a toy
validator showing that a registered property is computed, checked and targeted like the built-in ones."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from pydantic import BaseModel

from pyacemaker.config.schema import GateSettings, ValidationThresholds
from pyacemaker.plugins import VALIDATORS
from pyacemaker.schemas.stages import Check
from pyacemaker.validate.base import GateReport, PropertyReport, Validator, register, validators
from pyacemaker.validate.elastic import born_stability, elastic_constants
from pyacemaker.validate.eos import equation_of_state
from pyacemaker.validate.gate import compute_properties, run_gate, targeted_structures
from pyacemaker.validate.phonons import phonons
from pyacemaker.validate.stability import md_stability

# EMT Cu as measured with these validators (ASE 3.29): fit results are deterministic, so the tolerances only
# absorb platform round-off and would catch a broken fit, unit or strain convention.
EMT_CU = {"a0": 3.5902, "b0": 133.49, "c11": 172.59, "c12": 115.52, "c44": 89.97, "fmax": 8.14}
SETTINGS = GateSettings(md_steps=100, phonon_npoints=31)
# a potential 3 % off in length is 9.3 % off in B0: limits that let B0 pass, so that a0 alone fails
A0_ONLY = ValidationThresholds(a0_pct=1.0, b0_pct=10.0)


def cu():
    return bulk("Cu", "fcc", a=3.6, cubic=True)


class Flipped(Calculator):
    """EMT with the sign of energy, forces and stress flipped: maximum where EMT has its minimum."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = EMT()
        e = -a.get_potential_energy()
        self.results = {"energy": e, "free_energy": e, "forces": -a.get_forces(), "stress": -a.get_stress()}


class Scaled(Calculator):
    """EMT evaluated on the structure stretched by ``factor``: a smooth, stable model whose lattice parameter is
    ``1/factor`` too small (B0 and C_ij grow by factor^3, frequencies by factor): only a0 should fail."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, factor: float = 1.03):
        super().__init__()
        self.factor = factor

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.set_cell(a.cell * self.factor, scale_atoms=True)
        a.calc = EMT()
        e, f = a.get_potential_energy(), self.factor
        self.results = {
            "energy": e,
            "free_energy": e,
            "forces": a.get_forces() * f,
            "stress": a.get_stress() * f**3,
        }


class Collapsing(Calculator):
    """E = -c / V: no repulsion, the cell shrinks without end (what a fit of thermal snapshots alone can do)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        v = self.atoms.get_volume()
        e = -100.0 / v
        s = 100.0 / v**2  # (1/V) dE/d(eps_ii) = c / V^2: tensile, so relaxation contracts the cell
        self.results = {"energy": e, "free_energy": e, "forces": np.zeros((len(self.atoms), 3)),
                        "stress": np.array([s, s, s, 0.0, 0.0, 0.0])}  # fmt: skip


@pytest.fixture(scope="module")
def emt_reference():
    """The oracle's (EMT's) properties, computed once and reused as a stored report would be."""
    return compute_properties(
        EMT, cu(), label="emt", properties=["eos", "elastic", "phonons"], settings=SETTINGS
    )


def test_eos_emt_cu():
    """BM fit gives EMT's a0 and B0 for conventional and primitive cells; the curve passes the shape checks."""
    r = equation_of_state(EMT, cu())
    assert r.ok and r.reasons == [] and r.recentered
    assert r.a0 == pytest.approx(EMT_CU["a0"], abs=2e-3)
    assert r.b0_GPa == pytest.approx(EMT_CU["b0"], rel=0.01)
    assert 3.5 < r.b0_prime < 4.5
    assert r.fit_rms_meV_atom < 1.0
    assert len(r.volumes) == len(r.energies) == 11
    assert min(r.volume_strains) == pytest.approx(-0.15) and max(r.volume_strains) == pytest.approx(0.15)
    p = equation_of_state(EMT, bulk("Cu", "fcc", a=3.6), npoints=9)  # primitive: same V0, a0 is a/sqrt(2)
    assert p.v0 == pytest.approx(r.v0, rel=1e-4)
    assert p.a0 == pytest.approx(EMT_CU["a0"] / np.sqrt(2), abs=2e-3)


def test_eos_shape_failures_are_explained():
    """A range without a minimum and an inverted curve are rejected, each with its own reason."""
    r = equation_of_state(EMT, bulk("Cu", "fcc", a=3.0, cubic=True))
    assert not r.ok
    assert any("no minimum inside" in x for x in r.reasons)
    f = equation_of_state(Flipped, cu())
    assert not f.ok
    assert any("maximum, not a minimum" in x for x in f.reasons)
    assert any("not positive" in x for x in f.reasons)


def test_elastic_emt_cu():
    """Stress-strain C_ij of EMT Cu: cubic pattern, C11 > C12 > 0, C44 > 0, Born stable, VRH bulk = EOS B0."""
    r = elastic_constants(EMT, cu())
    c = np.array(r.cij_GPa, dtype=float)
    assert r.crystal_system == "cubic" and r.spacegroup == 225
    assert r.relax_converged and not r.relaxed_ions  # one atom per primitive cell
    c11, c12, c44 = c[0, 0], c[0, 1], c[3, 3]
    assert c11 > c12 > 0 and c44 > 0
    assert (c11, c12, c44) == pytest.approx((EMT_CU["c11"], EMT_CU["c12"], EMT_CU["c44"]), abs=1.0)
    np.testing.assert_allclose(np.diag(c)[:3], c11, atol=0.1)
    np.testing.assert_allclose(np.diag(c)[3:], c44, atol=0.1)
    np.testing.assert_allclose([c[0, 2], c[1, 2]], c12, atol=0.1)
    np.testing.assert_allclose(c[:3, 3:], 0, atol=0.1)
    np.testing.assert_allclose(c[3:, 3:] - np.diag(np.diag(c)[3:]), 0, atol=0.1)
    assert r.asymmetry_GPa < 0.1
    assert r.born.stable and r.ok and r.born.failed == []
    assert r.bulk_hill_GPa == pytest.approx(EMT_CU["b0"], rel=0.02)
    assert r.shear_reuss_GPa < r.shear_hill_GPa < r.shear_voigt_GPa


def test_a_collapsing_model_fails_the_relaxation_at_once_and_keeps_the_start_cell():
    """A relaxation that leaves [1/2, 2] x the start volume stops: a collapsing cell makes every later evaluation
    slower (a random-snapshot fit ran the gate for 11 min and on); elastic constants fail instead of hanging."""
    from pyacemaker.validate.base import relax

    start = cu()
    out, converged = relax(start, Collapsing(), cell=True)
    assert not converged and out.get_volume() == pytest.approx(start.get_volume())
    r = elastic_constants(Collapsing, cu())
    assert not r.relax_converged and not r.ok


def test_elastic_hcp_relaxes_ions():
    """Two atoms per primitive cell: ions are relaxed in each strained cell and the hexagonal pattern holds."""
    r = elastic_constants(EMT, bulk("Cu", "hcp", a=2.55), strains=[-0.005, 0.005])
    c = np.array(r.cij_GPa, dtype=float)
    assert r.crystal_system == "hexagonal" and r.relaxed_ions
    assert c[0, 0] == pytest.approx(c[1, 1], rel=0.01)
    assert c[5, 5] == pytest.approx((c[0, 0] - c[0, 1]) / 2, rel=0.02)
    assert r.born.stable


def _cubic(c11, c12, c44):
    c = np.zeros((6, 6))
    c[:3, :3] = c12
    np.fill_diagonal(c[:3, :3], c11)
    c[3, 3] = c[4, 4] = c[5, 5] = c44
    return c


def _hex(c11, c12, c13, c33, c44, c66=None):
    c = np.zeros((6, 6))
    c[0, 0] = c[1, 1] = c11
    c[0, 1] = c[1, 0] = c12
    c[0, 2] = c[2, 0] = c[1, 2] = c[2, 1] = c13
    c[2, 2], c[3, 3], c[4, 4] = c33, c44, c44
    c[5, 5] = (c11 - c12) / 2 if c66 is None else c66
    return c


@pytest.mark.parametrize(
    ("cij", "system", "failed"),
    [
        (_cubic(172.6, 115.5, 90.0), "cubic", []),  # EMT Cu
        (_cubic(100.0, 150.0, 50.0), "cubic", ["C11 > C12", "C positive definite"]),
        (_cubic(170.0, 120.0, -5.0), "cubic", ["C44 > 0", "C positive definite"]),
        (_cubic(100.0, -60.0, 50.0), "cubic", ["C11 + 2 C12 > 0", "C positive definite"]),
        (_hex(59.7, 26.2, 21.7, 61.7, 16.4), "hexagonal", []),  # Mg
        (
            _hex(60.0, 26.0, 60.0, 62.0, 16.0),
            "hexagonal",
            ["2 C13^2 < C33 (C11 + C12)", "C positive definite"],
        ),
        (_hex(268.0, 175.0, 147.0, 484.0, 124.0, 190.0), "tetragonal", []),  # rutile TiO2
        (
            _hex(268.0, 175.0, 147.0, 484.0, 124.0, -10.0),
            "tetragonal",
            ["C66 > 0", "2 C16^2 < C66 (C11 - C12)", "C positive definite"],
        ),
        (
            _hex(268.0, 290.0, 147.0, 484.0, 124.0, 190.0),
            "tetragonal",
            ["C11 > |C12|", "2 C16^2 < C66 (C11 - C12)", "C positive definite"],
        ),
    ],
)
def test_born_criteria(cij, system, failed):
    """Known stable tensors pass; each unstable one fails exactly the conditions it breaks (and definiteness)."""
    r = born_stability(cij, system)
    assert r.failed == failed
    assert r.stable == (not failed)
    assert r.crystal_system == system


def test_born_general_positive_definiteness():
    """A tensor with a negative eigenvalue but positive diagonal fails the general condition for any system."""
    c = np.diag([100.0, 100.0, 100.0, 40.0, 40.0, 40.0])
    c[0, 1] = c[1, 0] = 150.0  # 2x2 block [[100, 150], [150, 100]] has eigenvalue -50
    r = born_stability(c, "triclinic")
    assert not r.stable and r.failed == ["C positive definite"]
    assert r.criteria[-1].value == pytest.approx(-50.0)
    assert born_stability(np.diag([100.0] * 3 + [40.0] * 3), "orthorhombic").stable


def test_phonons_emt_cu():
    """EMT Cu phonons: no imaginary modes, max ~8.1 THz, acoustic zero at Gamma, plottable bands and a DOS
    integrating to 3 modes per atom."""
    r = phonons(EMT, cu(), npoints=31)
    assert r.ok and not r.imaginary and r.imaginary_modes == []
    assert r.natoms_primitive == 1 and r.n_displacements == 1
    assert r.max_frequency_THz == pytest.approx(EMT_CU["fmax"], abs=0.1)
    assert abs(r.min_frequency_THz) < 1e-3 and r.min_frequency_label == "Γ"
    b = r.band
    assert {"Γ", "X", "L", "W", "K", "U"} <= set(b.labels)
    assert len(b.distances) == len(b.frequencies) == len(b.qpoints) == len(b.connections)
    for d, f in zip(b.distances, b.frequencies, strict=True):
        assert len(d) == len(f) and all(len(q) == 3 for q in f)
    assert len(b.tick_positions) == len(b.tick_labels)
    assert "U|K" in b.tick_labels  # seekpath's fcc path jumps from U to K
    x = b.labels.index("X")  # Gamma-X ends at X: there the LA branch of EMT Cu is highest
    assert 6.5 < b.frequencies[0][-1][2] < 8.2 and x == 1
    modes = np.trapezoid(r.dos.total_dos, r.dos.frequency_points)
    assert modes == pytest.approx(3.0, rel=0.02)


def test_phonons_detect_imaginary_bcc_cu():
    """bcc Cu is dynamically unstable (also in DFT): imaginary modes are found, located at N, and explained."""
    r = phonons(EMT, bulk("Cu", "bcc", a=2.87), npoints=21)
    assert r.imaginary and not r.ok
    assert r.min_frequency_THz < -0.5
    assert r.min_frequency_label == "N"
    assert "imaginary modes" in r.reasons[0]
    qs = [tuple(m["qpoint"]) + (m["branch"],) for m in r.imaginary_modes]
    assert len(qs) == len(set(qs))


def test_md_stability_emt_cu():
    """EMT Cu at 600 K: no core overlap, temperature held, no drift."""
    r = md_stability(EMT, cu(), 600.0, min_distance=1.5, steps=150)
    assert r.ok, r.reasons
    assert r.natoms >= 32 and r.steps_done == 150
    assert r.min_distance > 1.8
    assert 400 < r.mean_temperature_K < 800
    assert abs(r.drift_eV_atom) < 0.05
    assert len(r.time_ps) == len(r.epot_eV_atom) == len(r.temperature_series_K) == len(r.min_distance_series)


def test_md_stability_flags_collapse():
    """The sign-flipped model pulls atoms together: stopped at the core threshold with the frame kept."""
    r = md_stability(Flipped, cu(), 300.0, min_distance=1.5, steps=300)
    assert not r.ok
    assert r.steps_done < 300
    assert "inside the core" in r.reasons[0]
    assert r.failure_frame is not None and len(r.failure_frame.symbols) == r.natoms


def test_gate_emt_vs_emt_is_go(emt_reference):
    """The oracle against itself: every error ~0, every check passes, Go; the report survives JSON."""
    rep = run_gate(EMT, emt_reference, cu(), settings=SETTINGS)
    v = rep.verdict
    assert v.go, v.summary
    names = {c.name for c in v.checks}
    assert names == {"eos_shape", "a0_error", "b0_error", "cij_error", "born_stability", "phonon_rmse",
                     "imaginary_modes", "md_stability"}  # fmt: skip
    vals = {c.name: c.value for c in v.checks}
    assert vals["a0_error"] < 1e-6 and vals["b0_error"] < 1e-6 and vals["cij_error"] < 1e-6
    assert vals["phonon_rmse"] < 1e-6
    assert targeted_structures(rep) == []
    back = GateReport.model_validate_json(rep.model_dump_json())
    assert back.verdict == v
    assert back.reference.phonons.band.frequencies == rep.reference.phonons.band.frequencies


def test_gate_scaled_potential_fails_on_a0_only(emt_reference):
    """A potential 3 % off in lattice parameter but otherwise sound: No-Go for a0 alone, with a clear reason, and
    the EOS cells as targeted structures."""
    rep = run_gate(
        lambda: Scaled(1.03), emt_reference, cu(), thresholds=A0_ONLY, settings=SETTINGS,
        properties=["eos", "elastic", "phonons"],
    )  # fmt: skip
    v = rep.verdict
    assert not v.go
    assert v.failed == ["a0_error"]
    a0 = next(c for c in v.checks if c.name == "a0_error")
    assert a0.value == pytest.approx(100 * (1 - 1 / 1.03), abs=0.05)
    assert "a0 3.486 vs oracle 3.59 A" in a0.reason and "> 1 %" in a0.reason
    b0 = next(c for c in v.checks if c.name == "b0_error")
    assert b0.passed and b0.value == pytest.approx(100 * (1.03**3 - 1), abs=0.3)
    ts = targeted_structures(rep)
    assert len(ts) == SETTINGS.eos_points
    assert all(d.startswith("EOS cell") for _, d in ts)
    vols = [a.get_volume() / len(a) for a, _ in ts]
    assert max(vols) / min(vols) == pytest.approx(1.15 / 0.85)


def test_gate_flipped_potential_is_no_go(emt_reference):
    """The sign-flipped model fails the EOS shape, B0, C_ij, phonons and MD, each with its reason; tighter
    thresholds are honoured; targeted structures cover every failing property."""
    th = ValidationThresholds(a0_pct=0.5)
    rep = run_gate(Flipped, emt_reference, cu(), settings=SETTINGS, thresholds=th)
    v = rep.verdict
    assert not v.go
    assert {"eos_shape", "b0_error", "cij_error", "md_stability"} <= set(v.failed)
    assert {"phonons", "phonon_rmse", "imaginary_modes"} & set(v.failed)
    shape = next(c for c in v.checks if c.name == "eos_shape")
    assert "maximum, not a minimum" in shape.reason
    md = next(c for c in v.checks if c.name == "md_stability")
    assert "inside the core" in md.reason
    assert v.summary.startswith("No-Go: eos_shape")
    kinds = {d.split()[0] for _, d in targeted_structures(rep)}
    assert kinds == {"EOS", "elastic", "phonon", "MD"}


def test_gate_report_json_shape(emt_reference):
    """A report's JSON has one key per registered property (null when not computed) between structure and errors,
    whichever validator module was imported first; stored reports load back into the typed results."""
    assert [v.name for v in validators()] == ["eos", "elastic", "phonons", "stability"]
    d = emt_reference.model_dump(mode="json")
    assert list(d) == ["label", "structure", "eos", "elastic", "phonons", "stability", "errors", "timings_s"]
    assert d["stability"] is None and d["eos"]["a0"] == pytest.approx(EMT_CU["a0"], abs=2e-3)
    back = PropertyReport.model_validate({**d, "unknown": {"x": 1}})
    assert back == emt_reference and back.result("unknown") is None
    assert back.phonons.band == emt_reference.phonons.band


# ----------------------------------------------------------------------------------------------- a toy property
class ToyResult(BaseModel):
    energy: float


def toy_compute(calc_factory, atoms, settings, thresholds) -> ToyResult:
    a = atoms.copy()
    a.calc = calc_factory()
    return ToyResult(energy=a.get_potential_energy() / len(a))


def toy_compare(candidate, reference, thresholds) -> list[Check]:
    c, r = candidate.result("toy"), reference.result("toy")
    d = abs(c.energy - r.energy)
    return [Check(name="toy_energy", property="toy", value=d, threshold=0.01, unit="eV/atom", passed=d <= 0.01,
                  reason=f"toy energy off by {d:.3f} eV/atom")]  # fmt: skip


def toy_targets(report, failed) -> list:
    return [(report.reference.structure.to_atoms(), "toy cell")]


@pytest.fixture
def toy():
    """The toy validator, registered for one test (one line), then removed."""
    register(Validator("toy", ToyResult, toy_compute, toy_compare, toy_targets))
    yield
    del VALIDATORS["toy"]


def test_registered_validator_runs_in_the_gate(toy):
    """A registered property is computed on both sides, checked after the built-ins, and a failing check makes the
    verdict No-Go with its reason and its targeted structures; an agreeing model passes it."""
    props = ["eos", "toy"]
    go = run_gate(EMT, EMT, cu(), settings=SETTINGS, properties=props)
    assert go.verdict.go, go.verdict.summary
    assert [c.name for c in go.verdict.checks] == ["eos_shape", "a0_error", "b0_error", "toy_energy"]
    assert go.candidate.toy.energy == go.reference.toy.energy
    assert GateReport.model_validate_json(go.model_dump_json()).candidate.toy == go.candidate.toy

    rep = run_gate(lambda: Scaled(1.03), EMT, cu(), thresholds=A0_ONLY, settings=SETTINGS, properties=props)
    v = rep.verdict
    assert not v.go and v.failed == ["a0_error", "toy_energy"]
    toy_check = v.checks[-1]
    assert toy_check.property == "toy" and toy_check.value > 0.01
    assert v.summary.endswith(f"toy_energy ({toy_check.reason})")
    descriptions = [d for _, d in targeted_structures(rep)]
    assert descriptions[-1] == "toy cell" and len(descriptions) == SETTINGS.eos_points + 1
    assert all(d.startswith("EOS cell") for d in descriptions[:-1])
