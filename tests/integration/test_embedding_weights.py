"""Embedding weights reach pacemaker: its own data preparation keeps zero force weight on buffer atoms."""

import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from ase.build import bulk
from ase.calculators.emt import EMT

from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.records import Labels, Provenance, StructureRecord
from pyacemaker.structures.embedding import cut_cluster
from pyacemaker.train.dataset import write_pacemaker_pickle
from pyacemaker.train.pacemaker import QUIET_ENV, pacemaker_input

pytestmark = pytest.mark.integration


def _labelled(atoms, **kw):
    atoms = atoms.copy()
    atoms.calc = EMT()
    r = StructureRecord.new(atoms, "c", Provenance(origin="seed"))
    r.labels = Labels(energy=atoms.get_potential_energy(), forces=atoms.get_forces().tolist(), oracle="emt",
                      settings_hash="x")  # fmt: skip
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_pacemaker_reads_per_atom_force_weights(tmp_path):
    import os

    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    recs = []
    for i in range(3):
        a = bulk("Cu", cubic=True).repeat(2)
        a.rattle(0.05, seed=i)
        recs.append(_labelled(a))
    big = bulk("Cu", cubic=True).repeat(5)
    big.rattle(0.05, seed=9)
    gamma = np.ones(len(big))
    gamma[0] = 5.0
    cl = cut_cluster(big, gamma, cfg.train.cutoff, 1.0, core_radius=2.6)
    recs.append(_labelled(cl.atoms, force_weights=cl.force_weights.tolist()))
    write_pacemaker_pickle(recs, {"Cu": 0.0}, tmp_path / "dataset.pckl.gzip")
    spec = pacemaker_input(["Cu"], cfg.train, 10, "dataset.pckl.gzip")
    (tmp_path / "input.yaml").write_text(yaml.safe_dump(spec))
    r = subprocess.run(["pacemaker", "input.yaml", "--no-fit"], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, **QUIET_ENV}, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Both weighting columns (w_energy and w_forces) are found" in r.stdout + r.stderr
    df = pd.read_pickle(tmp_path / "fitting_data_info.pckl.gzip", compression="gzip")
    w = np.asarray(df.w_forces.iloc[-1])
    assert len(w) == len(cl.atoms) and (w > 0).sum() == int(cl.force_weights.sum())
