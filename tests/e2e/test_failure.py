"""A job that fails is reported with its reason, loses nothing, and the campaign continues once the cause is fixed."""

import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.e2e.test_campaign import tiny_variant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_broken_pacemaker_fails_clearly_then_the_campaign_continues(tmp_path):
    from pyacemaker.db import Database, resolve_target

    cfg = tmp_path / "fail.yaml"
    cfg.write_text(tiny_variant("fail_cu"))
    data = {"PYACEMAKER_DATA_DIR": str(tmp_path / "data")}
    exe = str(Path(sys.executable).with_name("pyacemaker"))
    # pacemaker (its own process) cannot import TensorFlow; labelling (EMT) and the workers are unaffected
    shadow = tmp_path / "shadow" / "tensorflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        'raise ImportError("tensorflow is deliberately broken for this test")'
    )
    broken = {**data, "PYTHONPATH": str(shadow.parent)}
    try:
        r = run_cli("run", str(cfg), "--workdir", str(tmp_path / "work"), env=broken, exe=exe)
        assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
        assert "train (it 0)" in r.stderr and "tensorflow is deliberately broken" in r.stderr, r.stderr[
            -3000:
        ]
        assert "run the same command again" in r.stderr
        db = Database.connect(resolve_target(data_dir=tmp_path / "data", start_embedded=False))
        labelled = db.records.count_documents({"campaign": "fail_cu", "status": "labelled"})
        assert labelled == 6  # the labels made before the failure are kept
        calls = db.campaign("fail_cu")["oracle_calls"]

        fixed = run_cli("run", str(cfg), "--workdir", str(tmp_path / "work"), env={**data, "PYTHONPATH": ""})
        assert fixed.returncode == 0, fixed.stdout[-2000:] + fixed.stderr[-2000:]
        assert "re-queued 1 failed" in fixed.stdout
        doc = db.campaign("fail_cu")
        assert doc["stage"] == "done" and db.latest_potential("fail_cu") is not None
        assert doc["oracle_calls"] - calls == doc.get("test_oracle_calls", 0) + sum(
            int(it.get("oracle_calls", 0)) for k, it in doc["iterations"].items() if k != "0"
        )  # the seeds were not labelled again
    finally:
        run_cli("db", "stop", env=data, timeout=120)
