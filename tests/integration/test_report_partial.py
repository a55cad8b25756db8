"""report.html and release on a campaign that has only just started (real database): every section is there and
says what is missing; a release is refused with a clear reason."""

import re

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.app.release import ReleaseError, calculator_from_release, make_release
from pyacemaker.app.report import SECTIONS, build_report
from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.records import Correction
from tests.conftest import emt_records

pytestmark = pytest.mark.integration


def test_partial_campaign_report_and_release(db, tmp_path):
    cfg, _ = resolve(parse_config({"name": "fresh", "elements": ["Cu"], "oracle": {"type": "emt"}}))
    db.update_campaign(
        "fresh", {"config": cfg.model_dump(mode="json"), "workdir": str(tmp_path), "state": "running"}
    )
    healed = emt_records(cfg, "fresh")[0]
    healed.labels.corrections = [
        Correction(handler="MixingHandler", error="scf", action={"mixing_beta": 0.3})
    ]
    db.insert_records([healed])
    page = build_report(db, "fresh")
    for sid, title in SECTIONS:
        assert f'<section id="{sid}"><h2>{title}</h2>' in page
    assert "MixingHandler" in page  # a correction's action (a dict) is counted as its text
    assert (
        "could not be drawn" not in page
        and "no potential trained yet" in page
        and "not validated yet" in page
    )
    with pytest.raises(ReleaseError, match="no trained potential"):
        make_release(db, "fresh", "1.0.0", tmp_path)
    with pytest.raises(ReleaseError, match="X.Y.Z"):
        make_release(db, "fresh", "one", tmp_path)
    with pytest.raises(ReleaseError, match="no campaign"):
        make_release(db, "nothing", "1.0.0", tmp_path)


def test_no_go_potential_is_refused_unless_forced(db, tmp_path, tiny_cu_potential):
    import hashlib
    import json
    import zipfile

    p = tiny_cu_potential
    cfg = p["cfg"].model_copy(update={"name": "nogo"})
    db.update_campaign("nogo", {"config": cfg.model_dump(mode="json"), "workdir": str(tmp_path),
                                "current_potential": "nogo:final",
                                "validation": {"potential_id": "nogo:final", "verdict": "no-go",
                                               "reasons": ["Cu: B0 error 13.5 % > 10 %"]}})  # fmt: skip
    db.save_potential({"_id": "nogo:final", "campaign": "nogo", "iteration": 1, "n_structures": 9,
                       "reference_energies": p["refs"], "metrics": {}}, {"yaml": p["yaml"], "yace": p["yace"], "asi": p["asi"]})  # fmt: skip
    with pytest.raises(ReleaseError, match=r"No-Go: Cu: B0 error .*--force"):
        make_release(db, "nogo", "0.1.0", tmp_path)
    assert not list(tmp_path.glob("*.zip"))
    z = make_release(db, "nogo", "0.1.0", tmp_path, force=True, author="a")
    with zipfile.ZipFile(z) as zf:
        m = json.loads(zf.read("nogo_v0.1.0/manifest.json"))
        assert m["forced"] is True and m["validation"]["verdict"] == "no-go"
        for name, digest in m["files"].items():
            assert hashlib.sha256(zf.read(f"nogo_v0.1.0/{name}")).hexdigest() == digest
        assert "pair_style hybrid/overlay pace zbl" in zf.read("nogo_v0.1.0/lammps_potential.in").decode()
        assert m["validation"] == {
            "verdict": "no-go",
            "potential_id": "nogo:final",
            "reasons": ["Cu: B0 error 13.5 % > 10 %"],
        }  # the stored keys, nothing added
        zf.extractall(tmp_path / "unzipped")
    assert db.campaign_doc("nogo").releases["0_1_0"].forced is True
    calc = calculator_from_release(tmp_path / "unzipped" / "nogo_v0.1.0")
    atoms = bulk("Cu", cubic=True)
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy()) and "gamma" in calc.results
    with pytest.raises(ReleaseError, match="exists"):
        make_release(db, "nogo", "0.1.0", tmp_path, force=True)


def test_gate_of_an_iteration_is_recorded_and_asks_for_nothing(db, tmp_path, tiny_cu_potential):
    from pyacemaker.campaign.context import Context
    from pyacemaker.campaign.stages.validation import validation_stage

    p = tiny_cu_potential
    cfg = p["cfg"].model_copy(update={"name": "perit"})
    cfg.validation.properties = ["eos", "elastic"]
    db.update_campaign("perit", {"config": cfg.model_dump(mode="json"), "workdir": str(tmp_path),
                                 "reference_energies": {}})  # fmt: skip
    db.save_potential({"_id": "perit:pot000", "campaign": "perit", "iteration": 0, "n_structures": 9,
                       "reference_energies": p["refs"], "metrics": {}}, {"yaml": p["yaml"], "yace": p["yace"], "asi": p["asi"]})  # fmt: skip
    out = validation_stage(db, Context("perit", cfg, tmp_path), "perit:pot000", 0, record_only=True)
    doc = db.campaign_doc("perit")
    assert doc.iterations["0"].validation.verdict == out.verdict and doc.validation is None
    assert doc.iterations["0"].validation.reports is None  # the full reports go with the final verdict only
    assert {c.name for c in out.checks["Cu"]} >= {"a0_error", "b0_error", "cij_error"}
    assert out.targeted_ids == [] and db.count_records("perit") == 0
    # the oracle's properties are kept for the next gate
    assert "Cu" in next(iter(doc.validation_reference.values()))
    assert "Each iteration" in build_report(db, "perit")

    # the final verdict with its property reports, and held-out structures: every section draws from typed documents
    final = validation_stage(db, Context("perit", cfg, tmp_path), "perit:pot000", 1)
    test = [r.model_copy(update={"status": "test"}) for r in emt_records(cfg, "perit")[:2]]
    db.insert_records(test)
    db.update_campaign("perit", {"current_potential": "perit:pot000"})
    page = build_report(db, "perit")
    assert "could not be drawn" not in page and f"<b>{final.verdict.upper()}</b>" in page
    assert re.search(r'data-figure="eos" data-points="[1-9]', page) and "Born-" in page
    assert re.search(r'data-figure="parity" data-points="[1-9]', page) and "held-out MD snapshots" in page
