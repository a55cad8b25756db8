"""Structure records: hashing, provenance, export."""

import numpy as np
import pandas as pd
from ase.build import bulk
from ase.io import read

from pyacemaker.schemas.records import (
    Labels,
    Provenance,
    StructureRecord,
    Variant,
    content_hash,
    settings_hash,
    unique,
    write_extxyz,
)
from pyacemaker.train.dataset import write_pacemaker_pickle


def _labelled(atoms, energy=-1.0):
    r = StructureRecord.new(atoms, "c", Provenance(origin="seed"))
    r.labels = Labels(
        energy=energy,
        forces=np.zeros((len(atoms), 3)).tolist(),
        stress=[0.1, 0.2, 0.3, 0, 0, 0],
        oracle="emt",
        settings_hash=settings_hash("emt", {}),
    )
    r.status = "labelled"
    return r


def test_hash_ignores_lattice_translations_and_noise_but_not_displacements():
    a = bulk("Cu", cubic=True)
    b = a.copy()
    b.positions[0] += a.cell[0]  # same structure, atom moved by a lattice vector
    c = a.copy()
    c.positions += 1e-5  # below the rounding
    d = a.copy()
    d.positions[1, 0] += 0.01
    assert content_hash(a) == content_hash(b) == content_hash(c)
    assert content_hash(a) != content_hash(d)
    e = a.copy()
    e.set_chemical_symbols(["Au", "Cu", "Cu", "Cu"])
    assert content_hash(a) != content_hash(e)


def test_unique_keeps_first():
    a = bulk("Cu")
    r1, r2 = (
        StructureRecord.new(a, "c", Provenance(origin="seed")),
        StructureRecord.new(a, "c", Provenance(origin="md_halt")),
    )
    assert [r.provenance.origin for r in unique([r1, r2])] == ["seed"]


def test_extxyz_round_trip(tmp_path):
    recs = [_labelled(bulk("Cu", cubic=True), -3.0), _labelled(bulk("Cu", cubic=True).repeat(2), -24.0)]
    path = write_extxyz(recs, tmp_path / "d.extxyz")
    frames = read(path, ":")
    assert [f.get_potential_energy() for f in frames] == [-3.0, -24.0]
    assert frames[1].info["record_id"] == recs[1].id and frames[0].info["origin"] == "seed"
    assert np.allclose(frames[0].get_stress(), [0.1, 0.2, 0.3, 0, 0, 0])


def test_pacemaker_pickle_has_the_columns_pacemaker_reads(tmp_path):
    recs = [_labelled(bulk("Cu", cubic=True), -14.0)]
    path = write_pacemaker_pickle(recs, {"Cu": 0.5}, tmp_path / "d.pckl.gzip")
    df = pd.read_pickle(path, compression="gzip")
    assert {"ase_atoms", "energy", "forces", "energy_corrected"} <= set(df.columns)
    assert df.energy_corrected[0] == -14.0 - 4 * 0.5
    assert df.forces[0].shape == (4, 3)


def test_provenance_has_structured_fields_and_old_records_still_validate():
    old = {"origin": "seed", "iteration": 0, "parent": None, "builder": "bulk Cu fcc, volume +0%", "run_id": None,
           "condition": None, "step": None, "gamma": None}  # fmt: skip
    p = Provenance.model_validate(old)
    assert (p.base, p.base_kind, p.family, p.variant) == (None, None, None, None)
    new = Provenance(origin="seed", builder="bulk Cu fcc, volume +4%, rattle 0.100 A #1", base="Cu",
                     base_kind="element", family="seed:bulk Cu fcc, volume +4%",
                     variant=Variant(volume_strain=0.04, rattle=1))  # fmt: skip
    r = StructureRecord.new(bulk("Cu", cubic=True), "c", new)
    back = StructureRecord.model_validate(r.model_dump(mode="json"))  # what the database stores and returns
    assert back.provenance == new and back.provenance.variant.volume_strain == 0.04
    assert new.variant.model_dump(exclude_none=True) == {"volume_strain": 0.04, "rattle": 1}
