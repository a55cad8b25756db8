"""Structure builders and transforms: what each makes, and clear errors for unusable structure files."""

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from pyacemaker.structures.builders import (
    BUILDERS,
    TRANSFORMS,
    StructureFileError,
    from_file,
    interstitial,
    local_rattle,
    min_distance_ok,
    shear_strain,
    surface_slab,
    vacancies,
)


def test_registries_name_every_builder_and_transform():
    assert {"reference", "file"} <= set(BUILDERS)
    assert {"supercell", "volume_strain", "shear_strain", "rattle", "vacancy", "interstitial", "surface",
            "substitute"} <= set(TRANSFORMS)  # fmt: skip


def test_shear_keeps_volume_and_tilts_the_cell():
    a = bulk("Cu", cubic=True)
    s = shear_strain(a, 0.04)
    assert s.get_volume() == pytest.approx(a.get_volume(), rel=1e-3)
    assert s.cell[0, 1] == pytest.approx(0.02 * a.cell[0, 0])


def test_defects_change_the_atom_count_and_stay_physical():
    rng = np.random.default_rng(0)
    a = bulk("Cu", cubic=True).repeat(2)
    assert len(vacancies(a, rng)) == len(a) - 1
    i = interstitial(a, "Cu", rng)
    assert len(i) == len(a) + 1 and min_distance_ok(i, 0.5)
    d = i.get_distances(len(i) - 1, range(len(a)), mic=True).min()
    assert d > 1.5  # placed in an open site, not on top of an atom


def test_surface_slab_has_vacuum_and_reaches_the_size():
    slab = surface_slab(bulk("Cu", cubic=True), (1, 1, 1), 3, 6.0, 40)
    z = slab.positions[:, 2]
    assert len(slab) >= 40 and slab.cell[2, 2] - (z.max() - z.min()) >= 11.9 and all(slab.pbc)


def test_local_rattle_moves_only_the_neighbourhood():
    a = bulk("Cu", cubic=True).repeat(3)
    r = local_rattle(a, 0, 3.0, 0.1, np.random.default_rng(1))
    moved = np.linalg.norm(r.positions - a.positions, axis=1) > 0
    near = a.get_distances(0, range(len(a)), mic=True) <= 3.0
    assert moved[near].all() and not moved[~near].any()


def test_user_structure_files(tmp_path):
    good = tmp_path / "POSCAR"
    write(good, bulk("Cu", "fcc", a=3.6) * (2, 1, 1), format="vasp")
    assert len(from_file(good, ["Cu"])) == 2
    cif = tmp_path / "cuau.cif"
    write(cif, bulk("Cu", "fcc", a=3.6, cubic=True), format="cif")
    assert from_file(cif, ["Cu", "Au"]).get_chemical_formula() == "Cu4"
    with pytest.raises(StructureFileError, match="not found"):
        from_file(tmp_path / "missing.cif", ["Cu"])
    with pytest.raises(StructureFileError, match="not among the campaign"):
        from_file(good, ["Au"])
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a oops\n")
    with pytest.raises(StructureFileError, match="cannot read|no atoms"):
        from_file(bad, ["Cu"])


def test_a_bad_structure_file_is_a_config_error(tmp_path):
    from pyacemaker.config import ConfigError, parse_config, resolve

    with pytest.raises(ConfigError, match="seeds.structures: structure file .*missing.cif not found"):
        resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"},
                              "seeds": {"structures": [str(tmp_path / "missing.cif")]}}))  # fmt: skip
