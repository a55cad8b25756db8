"""The three selectors on one pool with a real ACE potential and its active set: the structures it was fitted on
(nothing new) and cells far from them (compressed and hot, where the potential extrapolates)."""

import numpy as np
import pytest

from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.select.selectors import extrapolation_grades, select

pytestmark = pytest.mark.integration


def _pool(tiny_cu_potential):
    known = tiny_cu_potential["records"][:4]
    rng = np.random.default_rng(3)
    novel = []
    for k, scale in enumerate((0.80, 0.82, 0.85)):
        a = known[0].to_atoms(with_labels=False)
        a.set_cell(a.cell * scale, scale_atoms=True)
        a.rattle(0.25, seed=int(rng.integers(1 << 30)))
        novel.append(
            StructureRecord.new(a, "t", Provenance(origin="md_halt", builder=f"novel {k}"), "candidate")
        )
    return known, novel


def test_gamma_and_maxvol_pick_where_the_potential_extrapolates(tiny_cu_potential):
    known, novel = _pool(tiny_cu_potential)
    pot, asi = tiny_cu_potential["yaml"], tiny_cu_potential["asi"]
    pool = known + novel
    g = extrapolation_grades(pool, pot, asi)
    assert max(g[: len(known)]) <= 1.01 < min(g[len(known) :])  # fitted-on cells sit inside the active set

    by_gamma = select("gamma", pool, pot, asi, budget=2)
    order = sorted(range(len(novel)), key=lambda i: -g[len(known) + i])
    assert [r.id for r in by_gamma] == [novel[i].id for i in order[:2]]  # highest grades first, budget held
    assert select("gamma", known, pot, asi, budget=3) == []  # nothing over the tolerance: nothing to label

    by_maxvol = select("maxvol", pool, pot, asi, budget=3)
    assert by_maxvol and {r.id for r in by_maxvol} <= {r.id for r in novel}

    drawn = select("random", pool, pot, asi, budget=3, seed=1)
    assert len(drawn) == 3 and drawn == select("random", pool, pot, asi, budget=3, seed=1)
