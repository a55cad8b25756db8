"""The database layer and provenance against a real wire-protocol server (SecantusDB daemon)."""

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.app import provenance as pv
from pyacemaker.schemas.records import Correction, Labels, Provenance, StructureRecord, settings_hash
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def _rec(atoms, **prov):
    return StructureRecord.new(atoms, "camp", Provenance(**prov))


def test_known_hash_is_not_duplicated(db):
    a = bulk("Cu", cubic=True)
    r = _rec(a, origin="seed")
    assert db.insert_records([r]) == [r.id]
    again = _rec(a.copy(), origin="md_halt", iteration=3)
    assert db.insert_records([again, r]) == []
    assert db.records.count_documents({"campaign": "camp"}) == 1
    assert db.get_records([r.id])[0].provenance.origin == "seed"  # the first record is kept as it was
    other_campaign = StructureRecord.new(a, "other", Provenance(origin="seed"))
    assert db.insert_records([other_campaign]) == [other_campaign.id]


def test_labels_round_trip_and_training_set_filter(db):
    r = _rec(bulk("Cu", cubic=True), origin="seed")
    db.insert_records([r])
    r.labels = Labels(
        energy=-14.0,
        forces=np.zeros((4, 3)).tolist(),
        oracle="emt",
        settings_hash="abc",
        corrections=[Correction(handler="MixingHandler", error="scf", action={"mixing_beta": 0.3})],
    )
    r.status = "labelled"
    db.set_labels(r)
    back = db.get_records([r.id])[0]
    assert back.labels.energy == -14.0 and back.labels.corrections[0].handler == "MixingHandler"
    assert [x.id for x in db.training_records("camp", "abc")] == [r.id]
    assert db.training_records("camp", "other-settings") == []


def test_potential_files_in_gridfs(db, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("elements: [Cu]\n" + "x" * 100000)
    db.save_potential(
        {"_id": "camp:pot000", "campaign": "camp", "iteration": 0, "n_structures": 1, "dataset_ids": []},
        {"yaml": f},
    )
    out = db.fetch_potential_files("camp:pot000", tmp_path / "fetched")
    assert out["yaml"].read_text() == f.read_text()
    assert db.latest_potential("camp")["_id"] == "camp:pot000"


def test_provenance_answers_the_three_questions(db, tmp_path):
    seed = _rec(bulk("Cu", cubic=True).repeat(2), origin="seed", builder="bulk Cu fcc, volume +0%")
    halted_atoms = bulk("Cu", cubic=True).repeat(2)
    halted_atoms.rattle(0.2, seed=1)
    halt = _rec(
        halted_atoms,
        origin="md_halt",
        iteration=1,
        parent=seed.id,
        run_id="camp:it000:md1",
        condition={"temperature_K": 1000.0, "ensemble": "nvt"},
        step=290,
        gamma=7.5,
    )
    pert_atoms = halted_atoms.copy()
    pert_atoms.rattle(0.05, seed=2)
    pert = _rec(
        pert_atoms,
        origin="perturbation",
        iteration=1,
        parent=halt.id,
        run_id="camp:it000:md1",
        condition={"temperature_K": 1000.0, "ensemble": "nvt"},
        step=290,
    )
    db.insert_records([seed, halt, pert])
    for r in (seed, halt, pert):
        r.labels = Labels(
            energy=-1.0,
            forces=np.zeros((32, 3)).tolist(),
            oracle="emt",
            settings={"type": "emt"},
            settings_hash=settings_hash("emt", {"type": "emt"}),
        )
        r.status = "labelled"
        db.set_labels(r)
    f = tmp_path / "p.yaml"
    f.write_text("x")
    db.save_potential(
        {
            "_id": "camp:pot000",
            "campaign": "camp",
            "iteration": 0,
            "n_structures": 1,
            "dataset_ids": [seed.id],
        },
        {"yaml": f},
    )
    db.save_potential(
        {
            "_id": "camp:pot001",
            "campaign": "camp",
            "iteration": 1,
            "n_structures": 3,
            "dataset_ids": [seed.id, halt.id, pert.id],
        },
        {"yaml": f},
    )

    # which records trained potential 1
    rows = pv.training_set(db, pv.potential_id(db, "camp", 1))
    assert {(r["origin"], r["iteration"]) for r in rows} == {("seed", 0), ("md_halt", 1), ("perturbation", 1)}
    # where a record came from: perturbation <- MD halt at 1000 K step 290 <- seed
    chain = pv.lineage(db, pert.id)
    assert [c["origin"] for c in chain] == ["perturbation", "md_halt", "seed"]
    assert (
        chain[1]["condition"]["temperature_K"] == 1000.0
        and chain[1]["step"] == 290
        and chain[1]["gamma"] == 7.5
    )
    # which oracle settings produced its labels
    info = pv.label_info(db, halt.id)
    assert info["oracle"] == "emt" and info["settings"] == {"type": "emt"}
    assert pv.potentials_trained_on(db, halt.id) == ["camp:pot001"]


def test_unreachable_database_is_a_clear_error(tmp_path):
    r = run_cli("status", env={"PYACEMAKER_DB_URI": "mongodb://user:secret@127.0.0.1:9/"}, timeout=60)
    assert r.returncode == 3
    assert "cannot reach the database" in r.stderr
    assert "secret" not in r.stderr + r.stdout  # credentials are never printed


def test_db_commands_start_reuse_and_stop(tmp_path):
    env = {"PYACEMAKER_DATA_DIR": str(tmp_path / "data")}
    r = run_cli("db", "start", env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    try:
        first = run_cli("db", "status", "--json", env=env)
        assert first.returncode == 0 and '"responding": true' in first.stdout
        again = run_cli("db", "start", env=env)  # reused, not a second server
        assert again.returncode == 0
        assert run_cli("db", "status", "--json", env=env).stdout == first.stdout
        assert (tmp_path / "data" / "my_launchpad.yaml").exists()
        assert "127.0.0.1" in first.stdout  # loopback only
    finally:
        stop = run_cli("db", "stop", env=env, timeout=120)
    assert stop.returncode == 0
    assert run_cli("db", "status", env=env).returncode == 1


def _store_db_name(spec):
    from jobflow import JobStore

    store = JobStore.from_dict_spec(spec)
    store.connect()
    from pyacemaker.db import Database

    return Database.from_job_store(store).db.name


def test_launchpad_file_target_gives_workers_the_same_database(db_server, tmp_path):
    """A credential-free launchpad file: workers' launchpad and jobflow store point at the file's database."""
    import yaml

    from pyacemaker.campaign.workers import worker_files
    from pyacemaker.db import resolve_target

    host, port = db_server["uri"].removeprefix("mongodb://").strip("/").split(":")
    lp_file = tmp_path / "my_launchpad.yaml"
    lp_file.write_text(yaml.safe_dump({"host": host, "port": int(port), "name": "lp_target_db"}))
    target = resolve_target(str(lp_file))
    assert not target.has_credentials and "lp_target_db" in target.describe
    files = worker_files(target, tmp_path / "fw", "camp", None)
    assert files["launchpad"] == lp_file.resolve()
    spec = yaml.safe_load(files["jobflow"].read_text())["JOB_STORE"]
    assert _store_db_name(spec) == "lp_target_db"
    assert target.launchpad().db.name == "lp_target_db"


def test_uri_from_environment_replaces_the_embedded_server(db_server, tmp_path, monkeypatch):
    from pyacemaker.db import resolve_target

    monkeypatch.setenv("PYACEMAKER_DB_URI", db_server["uri"])
    monkeypatch.setenv("PYACEMAKER_DB_NAME", "env_target_db")
    target = resolve_target(data_dir=tmp_path / "never-used")
    assert target.embedded_root is None and not (tmp_path / "never-used").exists()
    assert _store_db_name(target.jobflow_store_spec()) == "env_target_db"
    r = run_cli(
        "status",
        "--json",
        env={
            "PYACEMAKER_DB_URI": db_server["uri"],
            "PYACEMAKER_DB_NAME": "env_target_db",
            "PYACEMAKER_DATA_DIR": str(tmp_path / "never-used"),
        },
    )
    assert r.returncode == 0, r.stderr
    assert '"campaigns": []' in r.stdout and not (tmp_path / "never-used").exists()


def test_credentials_are_masked_and_never_written(tmp_path, monkeypatch):
    from pyacemaker.db import DatabaseError, redact, resolve_target

    monkeypatch.setenv("PYACEMAKER_DB_URI", "mongodb://alice:s3cret@db.example.org:27017/")
    target = resolve_target()
    assert target.has_credentials and "s3cret" not in target.describe
    assert redact("mongodb+srv://alice:s3cret@host/") == "mongodb+srv://***@host/"
    with pytest.raises(DatabaseError):
        target.jobflow_store_spec()
    with pytest.raises(DatabaseError):
        target.launchpad_spec()
