"""Cold start with the real CHGNet universal potential (weights from its wheel): relaxed, physical, diverse
snapshots, and a D-optimal choice of the first labels stored by the seed stage in a real database."""

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.stages.seed import seed_stage
from pyacemaker.config import parse_config, resolve
from pyacemaker.explore.cold_start import chgnet_calculator, cold_start_pool, select_first_labels
from pyacemaker.schemas.records import StructureRecord
from pyacemaker.structures.seeds import Seed

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def chgnet():
    return chgnet_calculator()


def test_chgnet_pool_is_relaxed_and_diverse(chgnet, tmp_path):
    squeezed = bulk("Cu", "fcc", a=3.3, cubic=True).repeat((2, 1, 1))  # 9 % too small in a
    base = Seed(squeezed, "Cu", "element", "Cu squeezed")
    pool = cold_start_pool([base], lambda: chgnet, 600.0, 12, 3, np.random.default_rng(0), relax_steps=25)
    relaxed = pool[0].atoms
    a = (relaxed.get_volume() / len(relaxed) * 4) ** (1 / 3)
    assert 3.5 < a < 3.75  # the cell relaxed towards copper's lattice constant (3.61 A)
    assert [s.description for s in pool][1:] == [
        f"cold start: Cu squeezed, MD 600 K step {k * 4}" for k in (1, 2, 3)
    ]
    assert pool[0].variant.relaxed and [s.variant.md_step for s in pool] == [None, 4, 8, 12]
    assert {s.base for s in pool} == {"Cu"} and pool[0].family == "seed:cold start: Cu squeezed, relaxed"
    disp = [np.abs(s.atoms.positions - relaxed.positions).max() for s in pool[1:]]
    assert min(disp) > 0.01  # MD moved the atoms: snapshots differ from the relaxed cell and each other
    recs = [StructureRecord.new(s.atoms, "c", s.provenance("cold_start")) for s in pool]
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    chosen = select_first_labels(recs, ["Cu"], cfg.train, 2, tmp_path)
    assert 1 <= len(chosen) <= 2 and len({c.id for c in chosen}) == len(chosen)


def test_seed_stage_labels_seeds_plus_d_optimal_cold_start_snapshots(db, tmp_path):
    cfg, _ = resolve(parse_config({
        "name": "cold", "elements": ["Cu"], "oracle": {"type": "emt"},
        "seeds": {"supercell_atoms": 4, "volume_strains": [0.0], "rattled_per_strain": 0, "shear_strains": [], "tetragonal_strains": [],
                  "cold_start": "chgnet", "cold_start_steps": 12, "cold_start_snapshots": 6,
                  "cold_start_labels": 2},
        "explore": {"defects": False, "surfaces": False, "temperatures": [500]},
    }))  # fmt: skip
    out = seed_stage(db, Context("cold", cfg, tmp_path))
    cold = db.find_records({"campaign": "cold", "provenance.origin": "cold_start"})
    chosen = [r for r in cold if r.status == "selected"]
    assert len(cold) == 7 and 1 <= len(chosen) <= 2  # relaxed + 6 MD snapshots; MaxVol picks at most 2
    assert out.origin == "seed" and {r.id for r in chosen} <= set(out.ids) and len(out.ids) == 1 + len(chosen)
    report = db.campaign("cold")["iterations"]["0"]["cold_start"]
    assert report["used"] and report["pool"] == 7 and report["calculator"] == "CHGNetCalculator"
