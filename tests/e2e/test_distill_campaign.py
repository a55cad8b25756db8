"""workflow: distill end to end through FireWorks on the embedded database: EMT is the expensive oracle, CHGNet
(weights from its wheel) the surrogate. A few dozen EMT labels fine-tune CHGNet, CHGNet's MD explores a pool of 240
snapshots, it labels 200 of them (the D-optimal ones first), a base ACE is fitted on those labels and corrected with the EMT labels alone, and the final
potential is checked against EMT (held-out set and the gate's equation of state). A surrogate file that does not
load is refused before anything is created."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = """
name: distil_cu
elements: [Cu]
oracle: {type: emt}
workflow: distill
surrogate: {finetune_epochs: 3, labels: 200, pool_size: 240, md_steps: 160}
seeds: {volume_strains: [-0.04, 0.0, 0.04], rattled_per_strain: 2, shear_strains: [0.03], tetragonal_strains: [],
        cold_start: none}
train: {max_fit_iterations: 40, final_iterations: 40}
explore: {temperatures: [900], steps: 200, npt: false, defects: false, surfaces: false}
budget: {max_iterations: 1}
workers: {label_batches: 1}
validation: {test_structures: 3, test_md_steps: 30, properties: [eos]}
"""


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    base = tmp_path_factory.mktemp("distill")
    cfg = base / "distil_cu.yaml"
    cfg.write_text(CONFIG)
    env = {"PYACEMAKER_DATA_DIR": str(base / "data")}
    run = run_cli("run", str(cfg), "--workdir", str(base / "work"), "--workers", "2", env=env, timeout=1500)
    from pyacemaker.db import Database, resolve_target

    db = Database.connect(resolve_target(data_dir=base / "data", start_embedded=False))
    try:
        yield {"base": base, "env": env, "run": run, "db": db, "doc": db.campaign_doc("distil_cu")}
    finally:
        run_cli("db", "stop", env=env, timeout=120)


def test_the_campaign_ends_with_a_potential_checked_against_the_oracle(campaign):
    r = campaign["run"]
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = campaign["doc"]
    assert Path(doc.summary.potential_path).exists()
    assert doc.test_metrics["test_n_structures"] == 3  # held-out EMT-labelled MD snapshots
    assert doc.validation is not None and doc.validation.verdict in ("go", "no-go")
    assert (
        0 < doc.oracle_calls < doc.surrogate.labelled / 4
    )  # a few dozen expensive labels, hundreds of cheap ones


def test_the_surrogate_was_fine_tuned_and_its_weights_are_stored(campaign):
    s = campaign["doc"].surrogate
    assert s.model == "chgnet" and s.epochs == 3 and s.n_train > 0 and s.n_test > 0
    assert s.after["forces_mae_meV_A"] < s.before["forces_mae_meV_A"]  # fine-tuning moved it towards EMT
    assert (
        s.test_set["n"] >= 3 and s.test_set["forces_mae_meV_A"] > 0
    )  # every held-out structure (a No-Go round adds some)
    import gridfs
    from bson import ObjectId

    data = gridfs.GridFS(campaign["db"].db, collection="surrogate_files").get(
        ObjectId(s.weights["gridfs_id"])
    )
    assert hashlib.sha256(data.read()).hexdigest() == s.weights["sha256"]


def test_the_surrogate_labelled_its_pool_and_the_labels_never_mix(campaign):
    db, doc = campaign["db"], campaign["doc"]
    s = doc.surrogate
    assert s.pool == 240 and s.chosen == 200 and s.labelled + s.rejected == 200 and s.labelled >= 190
    cheap = db.find_records({"campaign": "distil_cu", "labels.oracle": "chgnet"})
    assert len(cheap) == s.labelled and {r.provenance.origin for r in cheap} == {"surrogate_md"}
    assert {r.labels.settings_hash for r in cheap} == {s.settings_hash}
    cheap_ids = {r.id for r in cheap}
    base = db.potential(s.base_potential)
    assert (
        set(base.dataset_ids) <= cheap_ids and len(base.dataset_ids) >= 12
    )  # the base: surrogate labels only
    first = db.potential("distil_cu:pot000")
    assert first.warm_start_from == s.base_potential  # the oracle's labels correct the base
    spec = yaml.safe_load((campaign["base"] / "work" / "iter_000" / "train" / "input.yaml").read_text())
    assert spec["fit"]["maxiter"] == 40  # in a whole fit (train.max_fit_iterations), not a refit
    final = db.potential(doc.summary.potential_id)
    for pot in (first, final):
        assert pot.dataset_ids and not set(pot.dataset_ids) & cheap_ids  # oracle labels only


def test_the_report_shows_the_sources_and_the_surrogates_errors(campaign):
    r = run_cli("report", "distil_cu", "-o", str(campaign["base"] / "report.html"), env=campaign["env"])
    assert r.returncode == 0, r.stderr
    page = (campaign["base"] / "report.html").read_text()
    section = page[page.index('<section id="surrogate">') :]
    section = section[: section.index("</section>")]
    assert (
        'data-figure="surrogate" data-points="9"' in section
    )  # energy, forces, stress x before/after/test set
    assert "Labels by source" in section and "chgnet" in section and "emt" in section


def test_the_release_manifest_names_the_surrogate(campaign):
    import json
    import zipfile

    out = campaign["base"] / "releases"
    r = run_cli("release", "distil_cu", "--force", "-o", str(out), env=campaign["env"])
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(out / "release_v1.0.0.zip") as zf:
        manifest = json.loads(zf.read("distil_cu_v1.0.0/manifest.json"))
    s = campaign["doc"].surrogate
    assert (
        manifest["surrogate"]["model"] == "chgnet"
        and manifest["surrogate"]["settings_hash"] == s.settings_hash
    )
    assert manifest["surrogate"]["weights_sha256"] == s.weights["sha256"]
    assert manifest["surrogate"]["correction"] == "warm_start"


def test_a_surrogate_file_that_does_not_load_is_refused_and_nothing_is_created(campaign, tmp_path):
    bad = tmp_path / "weights.pth.tar"
    bad.write_text("not weights")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(CONFIG.replace("name: distil_cu", "name: bad_surrogate").replace(
        "surrogate: {", f"surrogate: {{model_file: {bad}, "))  # fmt: skip
    r = run_cli("run", str(cfg), "--workdir", str(tmp_path / "work"), env=campaign["env"], timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "surrogate.model chgnet:" in r.stderr and "does not load as CHGNet weights" in r.stderr
    assert campaign["db"].campaign_doc("bad_surrogate") is None and bad.read_text() == "not weights"
