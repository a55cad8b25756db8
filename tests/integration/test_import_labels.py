"""Labels a user already owns come into a campaign (provenance ``imported``) only when they were computed as the
campaign's oracle computes; a refused import writes nothing.

Real parts: the database server, EMT labels written by ASE in each format, real pw.x outputs (Si2, 2 s each), the
VASP outputs ASE ships as its own test data, another campaign's records in the same database."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from pyacemaker.config import parse_config, resolve
from pyacemaker.imports import ImportFailure, import_campaign, import_files
from pyacemaker.schemas.records import Provenance, StructureRecord
from tests.support import missing

pytestmark = pytest.mark.integration

ASE_VASP = Path(__import__("ase").__file__).parent / "test" / "testdata" / "vasp"


def cfg_of(name: str, elements: list[str], oracle: dict):
    cfg, _ = resolve(parse_config({"name": name, "elements": elements, "oracle": oracle}))
    return cfg


def emt_frames(n: int = 3, symbols: str = "Cu"):
    out = []
    for i in range(n):
        a = bulk(symbols, "fcc", a=3.6 + 0.02 * i, cubic=True).repeat((2, 1, 1))
        a.rattle(0.05, seed=i)
        a.calc = EMT()
        res = {"energy": a.get_potential_energy(), "forces": a.get_forces(), "stress": a.get_stress()}
        a.calc = SinglePointCalculator(a, **res)
        out.append(a)
    return out


def test_extxyz_needs_the_user_to_vouch_then_imports_once(db, tmp_path):
    import ase.io

    frames = emt_frames(3)
    path = tmp_path / "mine.extxyz"
    ase.io.write(path, frames)
    cfg = cfg_of("imp_xyz", ["Cu"], {"type": "emt"})
    with pytest.raises(
        ImportFailure, match="do not record how their labels were computed.*--assume-settings"
    ):
        import_files(db, cfg, [path])
    assert db.records.count_documents({"campaign": "imp_xyz"}) == 0  # refused: nothing written
    (rep,) = import_files(db, cfg, [path], assume_settings=True)
    assert (rep.format, rep.frames, rep.imported, rep.known) == ("extxyz", 3, 3, 0)
    recs = db.find_records({"campaign": "imp_xyz"})
    assert {r.provenance.origin for r in recs} == {"imported"} and {r.status for r in recs} == {"labelled"}
    assert sorted(r.provenance.source for r in recs) == [f"{path}#{i}" for i in range(3)]
    by_src = {r.provenance.source: r for r in recs}
    for i, a in enumerate(frames):
        r = by_src[f"{path}#{i}"]
        assert r.labels.energy == pytest.approx(a.get_potential_energy(), abs=1e-9)
        assert np.allclose(r.labels.forces, a.get_forces()) and np.allclose(r.labels.stress, a.get_stress())
    # the campaign trains on them: they carry its oracle's settings hash
    assert len(db.training_records("imp_xyz", recs[0].labels.settings_hash)) == 3
    (again,) = import_files(db, cfg, [path], assume_settings=True)
    assert (again.imported, again.known) == (0, 3) and db.records.count_documents(
        {"campaign": "imp_xyz"}
    ) == 3


def test_ase_db_and_pacemaker_datasets(db, tmp_path):
    import ase.db
    import pandas as pd

    frames = emt_frames(2)
    with ase.db.connect(str(tmp_path / "mine.db")) as con:
        for a in frames:
            con.write(a)
    df = pd.DataFrame({"ase_atoms": [a.copy() for a in frames], "energy": [a.get_potential_energy() for a in frames],
                       "forces": [a.get_forces() for a in frames]})  # fmt: skip
    df.to_pickle(tmp_path / "data.pckl.gzip", compression="gzip")
    cfg = cfg_of("imp_db", ["Cu"], {"type": "emt"})
    reps = import_files(db, cfg, [tmp_path / "mine.db", tmp_path / "data.pckl.gzip"], assume_settings=True)
    assert [(r.format, r.frames) for r in reps] == [("ase-db", 2), ("pacemaker", 2)]
    assert reps[0].imported == 2 and reps[1].known == 2  # the same two structures: stored once
    df.drop(columns=["energy"]).assign(energy_corrected=0.0).to_pickle(
        tmp_path / "c.pckl.gzip", compression="gzip"
    )
    with pytest.raises(ImportFailure, match="only 'energy_corrected'.*total energies"):
        import_files(db, cfg_of("imp_db2", ["Cu"], {"type": "emt"}), [tmp_path / "c.pckl.gzip"],
                     assume_settings=True)  # fmt: skip


def test_bad_sources_are_all_listed_and_nothing_is_written(db, tmp_path):
    import ase.io

    ase.io.write(tmp_path / "au.extxyz", emt_frames(1, "Au"))
    ase.io.write(tmp_path / "cu.extxyz", emt_frames(2))
    (tmp_path / "junk.xyz").write_text("this is not xyz\n")
    cfg = cfg_of("imp_bad", ["Cu"], {"type": "emt"})
    with pytest.raises(ImportFailure) as err:
        import_files(db, cfg, [tmp_path / "cu.extxyz", tmp_path / "au.extxyz", tmp_path / "junk.xyz",
                               tmp_path / "missing.extxyz"], assume_settings=True)  # fmt: skip
    msg = str(err.value)
    assert "au.extxyz#0: element(s) ['Au'] not in the campaign's elements ['Cu']" in msg
    assert "junk.xyz: not a readable extxyz file" in msg and "missing.extxyz: no such file" in msg
    assert db.records.count_documents({"campaign": "imp_bad"}) == 0


@pytest.fixture(scope="module")
def pw_output(tmp_path_factory):
    """A real pw.x run of a rattled Si2 cell with the campaign settings below: its directory (pw.in, pw.out)."""
    if shutil.which("pw.x") is None:
        msg = "pw.x not installed (scripts/setup.sh installs quantum-espresso when run as root)"
        missing(msg)
    from pyacemaker.oracle import make_oracle

    atoms = bulk("Si")
    atoms.positions[1] += [0.04, -0.02, 0.03]
    d = tmp_path_factory.mktemp("pw") / "si2"
    oracle = make_oracle(cfg_of("x", ["Si"], QE).oracle)
    res, _ = oracle.run_pw(atoms, d)
    return d, atoms, res


QE = {"type": "espresso", "ecutwfc": 20.0, "kspacing": 0.8}


def test_a_pw_x_output_with_the_campaign_settings_is_imported(db, pw_output):
    d, atoms, res = pw_output
    (rep,) = import_files(db, cfg_of("imp_qe", ["Si"], QE), [d / "pw.out"])  # no vouching needed: it says
    assert (rep.format, rep.imported) == ("espresso", 1)
    (rec,) = db.find_records({"campaign": "imp_qe"})
    assert rec.labels.energy == pytest.approx(res.energy, abs=1e-6)
    assert np.allclose(rec.labels.forces, res.forces, atol=1e-6) and np.allclose(
        rec.labels.stress, res.stress, atol=1e-8
    )
    assert np.allclose(rec.to_atoms().positions, atoms.positions, atol=1e-6)


def test_a_pw_x_output_with_other_settings_is_refused_naming_them(db, pw_output):
    d, _, _ = pw_output
    with pytest.raises(ImportFailure) as err:
        import_files(db, cfg_of("imp_qe2", ["Si"], {**QE, "ecutwfc": 25.0, "kspacing": 0.3}), [d / "pw.out"])
    msg = str(err.value)
    assert "ecutwfc 20.0 Ry in the file, 25.0 Ry in the campaign" in msg
    assert "k-point grid [3, 3, 3] in the file, [7, 7, 7] in the campaign (kspacing 0.3)" in msg
    with pytest.raises(ImportFailure, match="a Quantum ESPRESSO output, the campaign's oracle is VASP"):
        import_files(db, cfg_of("imp_qe3", ["Si"], {"type": "vasp"}), [d / "pw.out"])
    assert db.records.count_documents({"campaign": {"$in": ["imp_qe2", "imp_qe3"]}}) == 0


def test_vasp_outputs_are_checked_against_the_vasp_oracle(db):
    outcar = ASE_VASP / "OUTCAR_example_1"
    with pytest.raises(ImportFailure) as err:
        import_files(db, cfg_of("imp_vasp", ["Ni"], {"type": "vasp"}), [outcar])
    assert "ENCUT 300.0 in the file, 680 in the campaign" in str(err.value)
    assert "POTCAR of Ni Ni in the file, Ni_pv in the campaign" in str(err.value)
    with pytest.raises(ImportFailure, match="DFT output, the campaign's oracle is 'emt'"):
        import_files(db, cfg_of("imp_vasp2", ["C"], {"type": "emt"}), [ASE_VASP / "vasprun_pstress.xml"])


def _labelled(frames, campaign: str, oracle: str, settings_hash: str) -> list[StructureRecord]:
    from pyacemaker.schemas.records import Labels

    recs = []
    for i, a in enumerate(frames):
        r = StructureRecord.new(a, campaign, Provenance(origin="seed", family=f"f{i}"), "labelled")
        r.labels = Labels(energy=a.get_potential_energy(), forces=a.get_forces().tolist(), oracle=oracle,
                          settings_hash=settings_hash)  # fmt: skip
        recs.append(r)
    return recs


def test_another_campaigns_labels_feed_this_one_when_computed_alike(db):
    from pyacemaker.oracle import make_oracle

    cu = cfg_of("imp_cu", ["Cu"], {"type": "emt"})
    emt = make_oracle(cu.oracle)
    recs = _labelled(emt_frames(2) + emt_frames(1, "Au"), "imp_cu_src", emt.name, emt.settings_hash)
    db.insert_records(recs)
    rep = import_campaign(db, cu, "imp_cu_src")  # the Au structure is not among this campaign's elements
    assert (rep.frames, rep.imported) == (3, 2)
    got = db.find_records({"campaign": "imp_cu"})
    assert {r.provenance.source for r in got} == {r.id for r in recs[:2]}
    assert {r.provenance.origin for r in got} == {"imported"}
    assert import_campaign(db, cfg_of("imp_cuau", ["Cu", "Au"], {"type": "emt"}), "imp_cu_src").imported == 3
    # labels computed otherwise (another oracle's settings hash) are never mixed in
    db.insert_records(_labelled(emt_frames(1), "imp_dft_src", "espresso", "0123456789abcdef"))
    with pytest.raises(ImportFailure, match="computed with other settings"):
        import_campaign(db, cfg_of("imp_cu2", ["Cu"], {"type": "emt"}), "imp_dft_src")
    assert db.records.count_documents({"campaign": "imp_cu2"}) == 0
    with pytest.raises(ImportFailure, match="no campaign named 'nope'"):
        import_campaign(db, cu, "nope")
