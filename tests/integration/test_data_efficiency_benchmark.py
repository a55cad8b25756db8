"""The data-efficiency benchmark, shrunk to one budget and one seed (``--quick``: 1 snapshot per test family,
15-frame pools, 8-function fits): the methods run for real (the loop through ``pyacemaker run`` on its embedded
database, the drawn baselines through EMT and pacemaker) and every column the full benchmark reports is there.
``gamma`` is the loop with ``select.method: gamma`` (one more whole campaign): its selector is tested in
test_selectors.py. ``distill`` runs (a tiny surrogate pool), as benchmarks/distillation.py runs it; ``cold`` stops
after iteration 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = {"bulk 0.2 Tm", "bulk 0.5 Tm", "bulk 0.8 Tm", "bulk 1 Tm", "liquid", "vacancy", "surface (111)",
            "volume strain", "shear"}  # fmt: skip
COLUMNS = ("method", "budget", "calls", "seeds", "E meV/atom", "F meV/A", "S GPa", "a0 %", "B0 %", "Cij max %",
           "phonon THz", "Go", "wall s")  # fmt: skip


def test_quick_benchmark_runs_every_method_and_reports_every_column(tmp_path):
    work = tmp_path / "de"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "data_efficiency.py"), "--quick", "--systems", "cu",
                        "--budgets", "12", "--seeds", "1", "--workdir", str(work),
                        "--methods", "loop,random,random_conditions,seeds,cold,distill"],
                       capture_output=True, text=True, timeout=1500, env={**os.environ, "COLUMNS": "250"})  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = json.loads((work / "results.json").read_text())
    assert sorted(row["method"] for row in rows) == [
        "cold",
        "distill",
        "loop",
        "random",
        "random_conditions",
        "seeds",
    ]
    for row in rows:
        assert 0 < row["calls"] <= 12, row["calls"]  # the budget holds for every method
        assert row["all"]["n_structures"] == len(json.loads((work / "testset_cu.json").read_text()))
        for key in ("energy_rmse_meV_atom", "forces_rmse_meV_A", "stress_rmse_GPa"):
            assert row["all"][key] > 0
        assert set(row["families"]) == FAMILIES
        cu = row["properties"]["Cu"]
        assert {"a0_error", "b0_error", "cij_error", "phonon_rmse", "imaginary_modes", "go"} <= set(cu)
    assert next(row for row in rows if row["method"] == "cold")["iterations"] == 1  # iteration 0 alone
    for title in ("test-set errors", "oracle calls needed", "per test family"):
        assert title in r.stdout
    for col in COLUMNS:
        assert col in r.stdout, col
    assert "random / method" in r.stdout and "random_conditions / method" in r.stdout
    # benchmarks/distillation.py is the same benchmark with loop and distill: its report of these results
    d = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "distillation.py"), "--workdir", str(work),
                        "--report-only"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "COLUMNS": "250"})  # fmt: skip
    assert d.returncode == 0 and "distill" in d.stdout and "oracle calls needed" in d.stdout, (
        d.stdout + d.stderr
    )
    png = work / "learning_curves.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
