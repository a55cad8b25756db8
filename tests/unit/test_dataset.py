"""Dataset families, the leak-free split, and the summary; the divergence guard of refits."""

from ase.build import bulk

from pyacemaker.campaign.stages.train import refit_diverged
from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.train.dataset import family, split, summary


def _rec(seed, **prov):
    a = bulk("Cu", cubic=True)
    a.rattle(0.05, seed=seed)
    return StructureRecord.new(a, "c", Provenance(**prov))


def _pool():
    recs = []
    for v in range(6):
        cell, fam = f"bulk Cu cubic, volume {v}%", f"seed:bulk Cu cubic, volume {v}%"
        recs.append(_rec(v, origin="seed", builder=cell, family=fam))
        recs.append(_rec(100 + v, origin="seed", builder=f"{cell}, rattle 0.1 A #1", family=fam))
    for run in range(6):
        for step in range(3):
            recs.append(_rec(1000 + 10 * run + step, origin="md_frame", iteration=1, run_id=f"c:it000:md{run}",
                             step=step))  # fmt: skip
    return recs


def test_families_group_rattled_copies_and_md_runs():
    recs = _pool()
    assert family(recs[0]) == family(recs[1])  # a strained cell and its rattled copy
    assert len({family(r) for r in recs}) == 12


def test_family_is_the_creators_else_the_run_else_the_record():
    pert = _rec(1, origin="perturbation", run_id="c:it000:md0", family="run:c:it000:md0")
    assert family(pert) == "run:c:it000:md0"
    assert family(_rec(2, origin="md_frame", run_id="c:it001:md3")) == "run:c:it001:md3"
    # a record older than structured provenance: its builder text is never parsed
    old = _rec(3, origin="seed", builder="bulk Cu cubic, volume 4%, rattle 0.1 A #1")
    assert family(old) == f"record:{old.id}"


def test_split_keeps_families_together_and_is_stable():
    recs = _pool()
    train, test = split(recs, 0.3, salt="c")
    assert train and test
    assert not {family(r) for r in train} & {family(r) for r in test}
    # growing the dataset never moves an existing family across the split
    bigger = recs + [_rec(5000, origin="md_frame", iteration=2, run_id="c:it001:md0", step=1)]
    train2, test2 = split(bigger, 0.3, salt="c")
    assert {r.id for r in test} <= {r.id for r in test2}
    assert split(recs, 0.0)[1] == [] and split(recs[:2], 0.99)[0]  # at least one family trains


def test_summary_counts():
    s = summary(_pool())
    assert s.structures == 30 and s.atoms == 120 and s.atoms_per_element == {"Cu": 120}
    assert s.by_origin == {"seed": 12, "md_frame": 18} and s.families == 12


def test_refit_divergence_guard():
    prev = {"train_energy_rmse_meV_atom": 2.0, "train_forces_rmse_meV_A": 50.0}
    assert (
        refit_diverged(prev, {"train_energy_rmse_meV_atom": 3.0, "train_forces_rmse_meV_A": 60.0}, 5) is None
    )
    assert "diverged" in refit_diverged(
        prev, {"train_energy_rmse_meV_atom": 40.0, "train_forces_rmse_meV_A": 60.0}, 5
    )
    assert refit_diverged(
        prev, {"train_energy_rmse_meV_atom": float("nan"), "train_forces_rmse_meV_A": 1.0}, 5
    )


def test_energy_window_leaves_out_far_away_structures():
    from ase.build import bulk

    from pyacemaker.schemas.records import Labels, Provenance, StructureRecord
    from pyacemaker.train.dataset import within_energy_window

    def rec(e_atom, tag):
        a = bulk("Cu", cubic=True)
        r = StructureRecord.new(a, "w", Provenance(origin="seed", builder=tag), "labelled")
        r.labels = Labels(
            energy=e_atom * 4 + 4 * -0.5, forces=[[0, 0, 0]] * 4, oracle="emt", settings_hash="x"
        )
        return r

    recs = [rec(-3.5, "a"), rec(-3.2, "b"), rec(0.2, "kmc saddle gone wrong")]
    kept, dropped = within_energy_window(recs, {"Cu": -0.5}, 2.0)
    assert [r.provenance.builder for r in dropped] == ["kmc saddle gone wrong"] and len(kept) == 2
    assert within_energy_window(recs, {"Cu": -0.5}, None) == (recs, [])


def test_force_window_leaves_out_collisions_but_not_an_embedding_buffer():
    from ase.build import bulk

    from pyacemaker.config import parse_config, resolve
    from pyacemaker.schemas.records import Labels, Provenance, StructureRecord
    from pyacemaker.train.dataset import within_force_window, within_windows

    def rec(fmax, tag, weights=None):
        r = StructureRecord.new(
            bulk("Cu", cubic=True), "w", Provenance(origin="kmc_halt", builder=tag), "labelled"
        )
        r.labels = Labels(energy=-14.0, forces=[[fmax, 0, 0], [-fmax, 0, 0], [0, 3, 4], [0, 0, 0]], oracle="emt",
                          settings_hash="x")  # fmt: skip
        r.force_weights = weights
        return r

    recs = [rec(4.0, "thermal"), rec(33.5, "atoms 1.49 A apart"), rec(33.5, "buffer", [0, 0, 1, 1])]
    kept, dropped = within_force_window(recs, 20.0)
    assert [r.provenance.builder for r in dropped] == ["atoms 1.49 A apart"]
    assert [r.provenance.builder for r in kept] == ["thermal", "buffer"]  # |F| 5 on the weighted atoms
    assert within_force_window(recs, None) == (recs, [])
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    assert cfg.train.force_window == 20.0
    kept, high_e, high_f = within_windows(recs, {"Cu": 0.0}, cfg.train)
    assert (
        len(kept) == 2 and high_e == [] and [r.provenance.builder for r in high_f] == ["atoms 1.49 A apart"]
    )


def test_force_free_structures_weigh_more_in_the_energy_loss():
    from ase.calculators.emt import EMT

    from pyacemaker.schemas.records import Labels
    from pyacemaker.train.dataset import is_force_free, to_dataframe

    recs = []
    for rattle in (0.0, 0.05):  # a strained perfect crystal (forces vanish by symmetry), then a rattled copy
        a = bulk("Cu", cubic=True, a=3.7)
        a.rattle(rattle, seed=1)
        a.calc = EMT()
        r = StructureRecord.new(a, "c", Provenance(origin="seed"), "labelled")
        r.labels = Labels(energy=a.get_potential_energy(), forces=a.get_forces().tolist(), oracle="emt",
                          settings_hash="emt")  # fmt: skip
        recs.append(r)
    assert [is_force_free(r) for r in recs] == [True, False]
    df = to_dataframe(recs, {"Cu": 0.0}, force_free_weight=10.0)
    assert df["w_energy"].tolist() == [10.0, 1.0]
    assert to_dataframe(recs, {"Cu": 0.0})["w_energy"].tolist() == [1.0, 1.0]  # off unless asked
