"""The database layer and provenance against a real wire-protocol server (SecantusDB daemon)."""

import hashlib
import json

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.app import provenance as pv
from pyacemaker.campaign.status import CampaignStatus, campaign_status
from pyacemaker.schemas.campaign import CampaignDoc
from pyacemaker.schemas.potential import PotentialDoc
from pyacemaker.schemas.records import Correction, Labels, Provenance, StructureRecord, settings_hash
from pyacemaker.schemas.stages import DatasetSummary, ExploreOut, FinalFit, GateOut, RunCondition, TrainOut
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
    pot = db.latest_potential("camp")
    assert pot.id == "camp:pot000" and db.potential("camp:pot000") == pot
    meta = pot.files["yaml"]
    assert meta.size == f.stat().st_size and meta.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    assert db.final_potentials("camp") == 0


def test_a_truncated_potential_file_on_disk_is_fetched_again(db, tmp_path):
    f = tmp_path / "fit" / "p.yaml"
    f.parent.mkdir()
    f.write_text("elements: [Cu]\n" + "y" * 5000)
    doc = PotentialDoc(id="camp:final", campaign="camp", iteration=2, final=True, n_structures=3)
    assert db.save_potential(doc, {"yaml": f}) == "camp:final"
    stored = db.potentials.find_one({"_id": "camp:final"})
    assert "n_labelled" not in stored and stored["final"] is True  # no None fields written
    assert db.final_potentials("camp") == 1
    where = tmp_path / "fetched"
    first = db.fetch_potential_files("camp:final", where)["yaml"]
    first.write_bytes(first.read_bytes()[:100])  # an interrupted copy
    again = db.fetch_potential_files("camp:final", where)["yaml"]
    assert again == first and again.read_bytes() == f.read_bytes()
    same_size = f.read_text().replace("y", "z", 1)  # same size, other content: the sha256 tells
    again.write_text(same_size)
    assert db.fetch_potential_files("camp:final", where)["yaml"].read_bytes() == f.read_bytes()
    assert not list(where.glob("*.part*"))


def _stored_campaign(db, name: str) -> None:
    """A campaign document as the stages write it: two iterations, a final fit, a verdict, a release."""
    run = {"run_id": f"{name}:it000:md0", "start": "bulk", "skipped": False, "halted": True, "steps_done": 230,
           "simulated_time_fs": 460.0, "max_gamma": 2.07, "halt_step": 230, "n_frames": 3,
           "thermo": {"temperature_mean_K": 990.0}, "error": None, "driver": "ase", "notice": None,
           "condition": {"name": "vacancy 1000K", "driver": "md", "start": "vacancy", "ensemble": "nvt",
                         "temperature_K": 1000.0, "pressure_GPa": 0.0, "swap": False, "steps": 300, "level": 0,
                         "quiet_fs": 0.0}}  # fmt: skip
    quiet = {**run, "run_id": f"{name}:it000:md1", "halted": False, "max_gamma": 0.8, "halt_step": None,
             "steps_done": 300, "simulated_time_fs": 600.0, "notice": "lammps not found: ran ASE",
             "condition": {**run["condition"], "name": "bulk 400K NPT 0GPa", "start": "bulk", "ensemble": "npt",
                           "temperature_K": 400.0}}  # fmt: skip
    legacy = {k: v for k, v in quiet["condition"].items() if k != "name"}  # before conditions had names
    db.update_campaign(name, {"config": {"elements": ["Cu"]}, "workdir": "/w", "state": "running",
                              "stage": "queued", "iteration": 0, "wf_root_fw_id": 7, "config_hash": "h"})  # fmt: skip
    db.set_iteration(name, 0, {"seeds": 12, "cold_start": {"used": False, "setting": "off"}})
    db.update_campaign(name, inc={"oracle_calls": 12, "iterations.0.oracle_calls": 12})
    train = TrainOut(potential_id=f"{name}:pot000", iteration=0, n_structures=10, n_test=2, n_functions=16,
                     metrics={"train_energy_rmse_meV_atom": 2.4, "test_energy_rmse_meV_atom": 3.1},
                     wall_time_s=30.2, warm_start=False)  # fmt: skip
    db.set_iteration_part(name, 0, train=train, dataset=DatasetSummary(structures=10, atoms=40))
    db.set_iteration(name, 0, {"explore.1": quiet})  # runs finish in any order
    db.set_explore_run(name, 0, 0, ExploreOut.model_validate({**run, "candidate_ids": ["a", "b"]}))
    db.set_iteration_part(name, 0, decision="continue", decision_reason="1 of 2 conditions halted", halts=1,
                          conditions=[RunCondition.model_validate({**run["condition"], "quiet_windows": 0}),
                                      {**legacy, "quiet_windows": 1}])  # fmt: skip
    db.set_iteration(name, 1, {"selection": {"method": "maxvol", "pooled": 9, "candidates": 8, "chosen": 4,
                                             "extrapolative": 3, "gamma_max": 4.0, "gamma_median": 1.5}})  # fmt: skip
    db.set_iteration_part(name, 1, train={"skipped": True, "failed": True, "reason": "diverged",
                                          "potential_id": f"{name}:pot000", "iteration": 1, "n_structures": 14})  # fmt: skip
    db.set_iteration(name, 1, {"explore.0": {**quiet, "condition": legacy}})
    check = {"name": "a0_error", "property": "eos", "value": 0.4, "threshold": 1.0, "unit": "%", "passed": True,
             "reason": "a0 within 1 %"}  # fmt: skip
    gate = GateOut(potential_id=f"{name}:final", verdict="go", checks={"Cu": [check]}, wall_time_s=12.0)
    db.set_iteration_part(name, 1, validation=gate)
    db.set_campaign_part(name, final_fit=FinalFit(potential_id=f"{name}:final", n_functions=32),
                         validation=gate.model_copy(update={"reports": {}}), latest_max_gamma=0.8,
                         test_metrics={"test_energy_rmse_meV_atom": 0.31, "test_n_structures": 8.0})  # fmt: skip
    db.update_campaign(name, {"state": "converged", "end_reason": "no halts", "stage": "done", "final_iteration": 1,
                              "reference_energies.abc": {"Cu": -0.1},
                              "releases.1_0_0": {"path": "/r.zip", "potential_id": f"{name}:final", "forced": False,
                                                 "created": "2024-01-01T00:00:00+00:00"}})  # fmt: skip


def test_campaign_document_round_trips_and_status_keeps_its_schema(db, tmp_path):
    _stored_campaign(db, "st")
    f = tmp_path / "p.yace"
    f.write_text("x")
    db.save_potential({"_id": "st:pot000", "campaign": "st", "iteration": 0, "n_structures": 10}, {"yace": f})
    db.save_potential({"_id": "st:final", "campaign": "st", "iteration": 2, "final": True, "n_structures": 14},
                      {"yace": f})  # fmt: skip
    doc = db.campaign_doc("st")
    assert CampaignDoc.model_validate(doc.model_dump(by_alias=True)) == doc
    assert db.campaign_docs() == [doc] and db.campaign_doc("none") is None
    it0 = doc.iterations["0"]
    assert [r.run_id for r in it0.runs()] == ["st:it000:md0", "st:it000:md1"] and it0.train.trained
    assert it0.conditions[1].name == "400K"  # the name an unnamed condition always showed
    assert doc.iterations["1"].selection.chosen == 4 and doc.final_fit.n_functions == 32
    assert doc.releases["1_0_0"].potential_id == "st:final" and doc.reference_energies == {
        "abc": {"Cu": -0.1}
    }
    assert "candidate_ids" not in db.campaign("st")["iterations"]["0"]["explore"]["0"]

    st = campaign_status(db, db.campaign("st"))  # a stored document reads as its CampaignDoc does
    assert st == campaign_status(db, doc)
    assert st == {
        "campaign": "st", "state": "converged", "end_reason": "no halts", "stage": "done", "iteration": 0,
        "iterations": [
            {"iteration": 0, "dataset_size": 10, "potential_id": "st:pot000",
             "train_metrics": {"train_energy_rmse_meV_atom": 2.4}, "test_metrics": {"energy_rmse_meV_atom": 3.1},
             "n_test": 2, "fit_wall_time_s": 30.2, "warm_start": False, "fit_failed": False, "halts": 1,
             "halts_by_condition": {"bulk 400K NPT 0GPa": False, "vacancy 1000K": True},
             "conditions": [
                 {"halted": True, "steps_done": 230, "simulated_time_fs": 460.0, "max_gamma": 2.07, "driver": "ase",
                  "notice": None, "error": None, "name": "vacancy 1000K", "level": 0, "temperature_K": 1000.0,
                  "pressure_GPa": 0.0},
                 {"halted": False, "steps_done": 300, "simulated_time_fs": 600.0, "max_gamma": 0.8, "driver": "ase",
                  "notice": "lammps not found: ran ASE", "error": None, "name": "bulk 400K NPT 0GPa", "level": 0,
                  "temperature_K": 400.0, "pressure_GPa": 0.0}],
             "quiet_windows": {"vacancy 1000K": 0, "400K": 1}, "max_gamma": 2.07, "selected": None,
             "oracle_calls": 12, "decision": "continue"},
            {"iteration": 1, "dataset_size": 14, "potential_id": "st:pot000", "train_metrics": {},
             "test_metrics": {}, "n_test": 0, "fit_wall_time_s": None, "warm_start": None, "fit_failed": True,
             "halts": 0, "halts_by_condition": {"400K": False},
             "conditions": [
                 {"halted": False, "steps_done": 300, "simulated_time_fs": 600.0, "max_gamma": 0.8, "driver": "ase",
                  "notice": "lammps not found: ran ASE", "error": None, "name": "400K", "level": 0,
                  "temperature_K": 400.0, "pressure_GPa": 0.0}],
             "quiet_windows": {}, "max_gamma": 0.8, "selected": 4, "oracle_calls": 0, "decision": None}],
        "dataset_size": 0, "oracle_calls": 12, "surrogate": None, "potential_id": "st:final", "potential_path": str(f),
        "test_metrics": {"test_energy_rmse_meV_atom": 0.31, "test_n_structures": 8.0},
        "validation": {"potential_id": "st:final", "verdict": "go", "reasons": []},
        "workdir": "/w", "workflow_state": None, "jobs": [],
    }  # fmt: skip
    assert list(st) == list(CampaignStatus.model_fields)  # key order as documented
    json.dumps(st)


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


def test_a_server_that_loses_its_port_in_a_race_starts_on_another(tmp_path, monkeypatch):
    """Two servers starting at one moment (two campaigns, two test workers) both find the default port free; the
    one that binds second must not fail: it starts again on a free port. The race is staged: the port is held by
    a real listener while the check is told it is free."""
    import socket

    import pyacemaker.server as server_mod

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        monkeypatch.setenv("PYACEMAKER_DB_PORT", str(port))
        monkeypatch.setattr(server_mod, "_port_free", lambda p: True)
        srv = server_mod.EmbeddedServer(tmp_path / "data")
        try:
            uri = srv.start(timeout=60)
            st = srv.status()
            assert st["responding"] and st["port"] != port and f":{st['port']}/" in uri
            assert "Address already in use" in srv.logfile.read_text()  # the first try really lost the port
        finally:
            srv.stop()


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

    host, port = db_server["host"], db_server["port"]
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
