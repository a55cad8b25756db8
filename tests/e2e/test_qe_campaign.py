"""workflows/si_qe.yaml end to end with real DFT: pw.x labels, two iterations through FireWorks."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.support import missing

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_si_qe_campaign_runs_two_iterations_with_real_dft(tmp_path):
    if shutil.which("pw.x") is None:
        msg = "pw.x not installed (scripts/setup.sh installs quantum-espresso when run as root)"
        missing(msg)
    from pyacemaker.db import Database, resolve_target

    env = {"PYACEMAKER_DATA_DIR": str(tmp_path / "data")}
    try:
        r = run_cli("run", str(ROOT / "workflows" / "si_qe.yaml"), "--workdir", str(tmp_path / "w"), env=env)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        db = Database.connect(resolve_target(data_dir=tmp_path / "data", start_embedded=False))
        doc = db.campaign("si_qe")
        assert set(doc["iterations"]) >= {"0", "1"} and doc["iterations"]["0"]["decision"] == "continue"
        recs = db.find_records({"campaign": "si_qe", "status": "labelled"})
        assert recs and all(r.labels.oracle == "espresso" for r in recs)
        assert {r.labels.settings_hash for r in recs} == {recs[0].labels.settings_hash}  # one settings set
        assert any(r.provenance.origin != "seed" for r in recs)  # learned from MD halts with DFT labels
        assert list((tmp_path / "w").glob("iter_000/label/*/pw.out"))
        assert db.potentials.find_one({"_id": "si_qe:pot001"}) is not None
        pot = db.latest_potential("si_qe")  # the final fit of all DFT labels at the full basis
        assert pot.id == "si_qe:final" and Path(pot.files["yace"].path).exists()
        assert doc["test_metrics"]["test_n_structures"] == 2
        # the quality gate compared the potential's equation of state with pw.x's own
        eos = doc["validation"]["reports"]["Si"]["reference"]["eos"]
        assert doc["validation"]["verdict"] in ("go", "no-go") and 5.0 < eos["a0"] < 5.8  # Si: 5.43 A
    finally:
        run_cli("db", "stop", env=env, timeout=120)
