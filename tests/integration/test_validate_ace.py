"""The quality gate on a real fitted ACE potential (tiny, Cu, ZBL baseline) against its oracle, EMT.

The tiny potential may pass or fail; what must hold is that the report is complete, its numbers finite, and the
verdict follows from those numbers and the thresholds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from pyacemaker.config.schema import GateSettings, ValidationThresholds
from pyacemaker.validate.base import GateReport
from pyacemaker.validate.elastic import cij_errors
from pyacemaker.validate.gate import run_gate, targeted_structures
from pyacemaker.validate.phonons import phonon_rmse

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_gate_tiny_ace_against_emt(tiny_cu_potential):
    base = tiny_cu_potential["baseline"]
    settings = GateSettings(
        md_steps=100, md_min_distance=base.inner if base is not None else 1.5, phonon_npoints=31
    )
    th = ValidationThresholds()
    rep = run_gate(tiny_cu_potential["calc"], EMT, bulk("Cu", "fcc", a=3.6, cubic=True), thresholds=th,
                   settings=settings, candidate_label="tiny ACE", reference_label="EMT")  # fmt: skip
    cand, ref, v = rep.candidate, rep.reference, rep.verdict

    # complete: every property computed on both sides (MD on the potential only), no validator raised
    assert cand.errors == {} and ref.errors == {}
    for p in ("eos", "elastic", "phonons", "stability"):
        assert getattr(cand, p) is not None, p
    assert ref.eos and ref.elastic and ref.phonons and ref.stability is None
    assert {c.name for c in v.checks} == {"eos_shape", "a0_error", "b0_error", "cij_error", "born_stability",
                                          "phonon_rmse", "imaginary_modes", "md_stability"}  # fmt: skip

    # finite numbers
    for x in (cand.eos.a0, cand.eos.b0_GPa, cand.eos.v0, ref.eos.a0, ref.eos.b0_GPa):
        assert x is not None and math.isfinite(x)
    assert np.isfinite(np.array(cand.elastic.cij_GPa, dtype=float)).all()
    freqs = np.array([q for seg in cand.phonons.band.frequencies for q in seg], dtype=float)
    assert freqs.shape[1] == 3 and np.isfinite(freqs).all()
    assert cand.phonons.dos is not None and np.isfinite(cand.phonons.dos.total_dos).all()
    s = cand.stability
    assert s.steps_done > 0 and len(s.time_ps) == len(s.epot_eV_atom) == len(s.temperature_series_K)

    # the verdict follows from the numbers
    checks = {c.name: c for c in v.checks}
    assert checks["a0_error"].value == pytest.approx(abs(cand.eos.a0 - ref.eos.a0) / ref.eos.a0 * 100)
    assert checks["b0_error"].value == pytest.approx(
        abs(cand.eos.b0_GPa - ref.eos.b0_GPa) / ref.eos.b0_GPa * 100
    )
    assert checks["cij_error"].value == pytest.approx(max(cij_errors(cand.elastic, ref.elastic).values()))
    assert checks["phonon_rmse"].value == pytest.approx(phonon_rmse(cand.phonons, ref.phonons))
    limits = {"a0_error": th.a0_pct, "b0_error": th.b0_pct, "cij_error": th.cij_pct,
              "phonon_rmse": th.phonon_rmse_THz}  # fmt: skip
    for name, thr in limits.items():
        c = checks[name]
        assert c.threshold == thr and math.isfinite(c.value)
        assert c.passed == (c.value <= thr), c.reason
    assert checks["eos_shape"].passed == cand.eos.ok
    assert checks["md_stability"].passed == s.ok
    assert checks["imaginary_modes"].passed == (not cand.phonons.imaginary or ref.phonons.imaginary)
    assert v.failed == [c.name for c in v.checks if not c.passed]
    assert v.go == (not v.failed)
    assert all(c.reason for c in v.checks)

    targeted = targeted_structures(rep)
    if v.go:
        assert targeted == []
    else:
        assert targeted and all(
            set(a.get_chemical_symbols()) == {"Cu"} and a.cell.rank == 3 for a, _ in targeted
        )
    assert GateReport.model_validate_json(rep.model_dump_json()).verdict == v
    print(v.summary)
    for c in v.checks:
        print(f"{c.name:16s} {c.passed!s:5s} {c.reason}")
    print("timings", cand.timings_s, ref.timings_s)
