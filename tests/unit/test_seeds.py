"""Seed builders from the elements alone."""

from pyacemaker.config import parse_config, resolve
from pyacemaker.explore.seeds import build_seeds, supercell_to


def test_seed_set_follows_the_config():
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    seeds = build_seeds(cfg)
    assert len(seeds) == len(cfg.seeds.volume_strains) * (1 + cfg.seeds.rattled_per_strain)
    vols = sorted({round(a.get_volume() / len(a), 2) for a, d in seeds if "rattle" not in d})
    assert vols[0] < 11.76 < vols[-1]  # brackets Cu's equilibrium volume per atom (a=3.61 A -> 11.76 A^3)
    assert all(len(a) >= cfg.seeds.supercell_atoms for a, _ in seeds)


def test_alloy_seeds_contain_both_elements():
    cfg, _ = resolve(parse_config({"elements": ["Cu", "Au"], "oracle": {"type": "emt"}}))
    alloys = [a for a, d in build_seeds(cfg) if d.startswith("random alloy")]
    assert alloys and {"Cu", "Au"} <= set(alloys[0].get_chemical_symbols())


def test_supercell_reaches_target():
    from ase.build import bulk

    assert len(supercell_to(bulk("Cu"), 30)) >= 30
