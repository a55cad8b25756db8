"""Seed builders from the elements alone; their structured provenance and the MD start chosen from it."""

import re

import pytest

from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.records import Provenance, StructureRecord, Variant
from pyacemaker.structures.seeds import build_seeds, supercell_to
from pyacemaker.structures.starts import pick_md_start
from pyacemaker.train.dataset import family


def test_seed_set_follows_the_config():
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    seeds = build_seeds(cfg)
    # strained (+ rattled copies), one shear, one tetragonal stretch, one vacancy cell, one slab
    assert len(seeds) == len(cfg.seeds.volume_strains) * (1 + cfg.seeds.rattled_per_strain) + 4
    (tet,) = [s for s in seeds if s.variant.tetragonal is not None]
    cell = tet.atoms.cell.lengths()
    assert tet.atoms.get_volume() == pytest.approx(
        seeds[0].atoms.get_volume() / (1 + cfg.seeds.volume_strains[0])
    )
    assert cell[2] / cell[0] == pytest.approx(1.03**1.5)  # z stretched 3 %, x and y contracted, volume kept
    vols = sorted({round(s.atoms.get_volume() / len(s.atoms), 2) for s in seeds
                   if s.variant.rattle is None and s.variant.surface is None})  # fmt: skip
    assert vols[0] < 11.76 < vols[-1]  # brackets Cu's equilibrium volume per atom (a=3.61 A -> 11.76 A^3)
    assert all(len(s.atoms) >= cfg.seeds.supercell_atoms for s in seeds if s.variant.defect is None)


def test_alloy_seeds_contain_both_elements():
    cfg, _ = resolve(parse_config({"elements": ["Cu", "Au"], "oracle": {"type": "emt"}}))
    alloys = [s for s in build_seeds(cfg) if s.base_kind == "alloy"]
    assert alloys and {"Cu", "Au"} <= set(alloys[0].atoms.get_chemical_symbols())
    assert {s.base for s in alloys} == {"Cu-Au"} and alloys[0].description.startswith("random alloy Cu-Au")
    # at the mix's volume (mean of Cu's 11.76 and Au's 16.98 A^3/atom), not squeezed onto Cu's lattice
    plain = next(s for s in alloys if s.variant.model_dump(exclude_none=True) == {"volume_strain": 0.0})
    assert plain.atoms.get_volume() / len(plain.atoms) == pytest.approx((11.76 + 16.98) / 2, abs=0.02)
    slab = next(s for s in alloys if s.variant.surface)
    assert slab.atoms.cell.cellpar()[0] > 1.05 * next(s for s in build_seeds(cfg) if s.base == "Cu" and
                                                    s.variant.surface).atoms.cell.cellpar()[0]  # fmt: skip


def test_supercell_reaches_target():
    from ase.build import bulk

    assert len(supercell_to(bulk("Cu"), 30)) >= 30


def test_policy_adds_shear_vacancy_and_slab_seeds():
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    seeds = build_seeds(cfg)
    assert any(s.variant.shear_xy for s in seeds) and any(s.variant.defect == "vacancy" for s in seeds)
    assert any(s.variant.surface == "111" for s in seeds)
    descs = [s.description for s in seeds]  # the text humans read says the same
    assert any("shear" in d for d in descs) and any("vacancy" in d for d in descs)
    assert any("slab" in d for d in descs)
    off, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"},
                                   "explore": {"defects": False, "surfaces": False}, "seeds": {"shear_strains": []}}))  # fmt: skip
    v = [s.variant for s in build_seeds(off)]
    assert not any(x.shear_xy is not None or x.defect or x.surface for x in v)


def test_user_structure_file_becomes_a_seed_base(tmp_path):
    from ase.build import bulk
    from ase.io import write

    f = tmp_path / "Cu3Au.extxyz"
    a = bulk("Cu", "fcc", a=3.75, cubic=True)
    a[0].symbol = "Au"
    write(f, a)
    cfg, _ = resolve(parse_config({"elements": ["Cu", "Au"], "oracle": {"type": "emt"},
                                   "seeds": {"structures": [str(f)]}}))  # fmt: skip
    mine = [s for s in build_seeds(cfg) if s.base_kind == "file"]
    assert mine and all(s.atoms.get_chemical_formula(empirical=True) == "AuCu3" for s in mine)
    assert {s.base for s in mine} == {str(f)} and all(s.description.startswith(f"file {f}") for s in mine)
    assert not any(s.variant.defect or s.variant.surface for s in mine)  # defects and slabs: bulk bases only


def test_seed_families_keep_rattled_copies_with_their_cell_and_the_old_split():
    cfg, _ = resolve(parse_config({"elements": ["Cu", "Au"], "oracle": {"type": "emt"}}))
    seeds = build_seeds(cfg)
    n = cfg.seeds.rattled_per_strain
    strained = [s for s in seeds if s.variant.volume_strain is not None and s.variant.rattle is None]
    for s in strained:
        copies = [c for c in seeds if c.family == s.family and c is not s]
        assert [c.variant.rattle for c in copies] == list(range(1, n + 1))
        assert all(c.base == s.base and c.variant.volume_strain == s.variant.volume_strain for c in copies)
    # the names earlier versions derived from the description: a campaign's train/test split does not move
    assert all(s.family == "seed:" + re.sub(r", rattle .*$", "", s.description) for s in seeds)
    recs = [StructureRecord.new(s.atoms, "c", s.provenance()) for s in seeds]
    assert [family(r) for r in recs] == [s.family for s in seeds]
    assert recs[0].provenance.builder == seeds[0].description and recs[0].provenance.base_kind == "element"


def _seed_records(elements, structures=()):
    cfg, _ = resolve(parse_config({"elements": elements, "oracle": {"type": "emt"},
                                   "seeds": {"structures": list(structures)}}))  # fmt: skip
    return [StructureRecord.new(s.atoms, "c", s.provenance(), "selected") for s in build_seeds(cfg)]


@pytest.mark.parametrize(
    "elements, kind, base", [(["Cu"], "element", "Cu"), (["Cu", "Au"], "alloy", "Cu-Au")]
)
def test_md_starts_from_the_unstrained_unrattled_seed(elements, kind, base):
    start = pick_md_start(_seed_records(elements), len(elements))
    p = start.provenance
    assert (p.base_kind, p.base, p.variant) == (kind, base, Variant(volume_strain=0.0))
    assert p.builder.endswith("volume +0%")


def test_md_starts_from_the_users_file_first(tmp_path):
    from ase.build import bulk
    from ase.io import write

    f = tmp_path / "Cu3Au.extxyz"
    a = bulk("Cu", "fcc", a=3.75, cubic=True)
    a[0].symbol = "Au"
    write(f, a)
    start = pick_md_start(_seed_records(["Cu", "Au"], [str(f)]), 2)
    assert start.provenance.base == str(f) and start.provenance.builder == f"file {f}, volume +0%"


def test_md_start_of_an_old_campaign_is_its_first_seed():
    old = [StructureRecord.new(s.atoms, "c", Provenance(origin="seed", builder=s.provenance().builder))
           for s in build_seeds(resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))[0])]  # fmt: skip
    assert pick_md_start(old, 1) is old[0]
    with pytest.raises(ValueError, match="no seed records"):
        pick_md_start([], 1)
