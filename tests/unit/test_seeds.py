"""Seed builders from the elements alone."""

from pyacemaker.config import parse_config, resolve
from pyacemaker.structures.seeds import build_seeds, supercell_to


def test_seed_set_follows_the_config():
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    seeds = build_seeds(cfg)
    # strained (+ rattled copies), one shear, one vacancy cell, one slab
    assert len(seeds) == len(cfg.seeds.volume_strains) * (1 + cfg.seeds.rattled_per_strain) + 3
    vols = sorted(
        {round(a.get_volume() / len(a), 2) for a, d in seeds if "rattle" not in d and "slab" not in d}
    )
    assert vols[0] < 11.76 < vols[-1]  # brackets Cu's equilibrium volume per atom (a=3.61 A -> 11.76 A^3)
    assert all(len(a) >= cfg.seeds.supercell_atoms for a, d in seeds if "vacancy" not in d)


def test_alloy_seeds_contain_both_elements():
    cfg, _ = resolve(parse_config({"elements": ["Cu", "Au"], "oracle": {"type": "emt"}}))
    alloys = [a for a, d in build_seeds(cfg) if d.startswith("random alloy")]
    assert alloys and {"Cu", "Au"} <= set(alloys[0].get_chemical_symbols())


def test_supercell_reaches_target():
    from ase.build import bulk

    assert len(supercell_to(bulk("Cu"), 30)) >= 30


def test_policy_adds_shear_vacancy_and_slab_seeds():
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    descs = [d for _, d in build_seeds(cfg)]
    assert any("shear" in d for d in descs) and any("vacancy" in d for d in descs)
    assert any("slab" in d for d in descs)
    off, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"},
                                   "explore": {"defects": False, "surfaces": False}, "seeds": {"shear_strains": []}}))  # fmt: skip
    assert not any(k in d for _, d in build_seeds(off) for k in ("shear", "vacancy", "slab"))


def test_user_structure_file_becomes_a_seed_base(tmp_path):
    from ase.build import bulk
    from ase.io import write

    f = tmp_path / "Cu3Au.extxyz"
    a = bulk("Cu", "fcc", a=3.75, cubic=True)
    a[0].symbol = "Au"
    write(f, a)
    cfg, _ = resolve(parse_config({"elements": ["Cu", "Au"], "oracle": {"type": "emt"},
                                   "seeds": {"structures": [str(f)]}}))  # fmt: skip
    mine = [at for at, d in build_seeds(cfg) if d.startswith(f"file {f}")]
    assert mine and all(at.get_chemical_formula(empirical=True) == "AuCu3" for at in mine)
