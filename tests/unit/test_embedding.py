"""Periodic embedding geometry: the cut, the weights and the isolation of the vacuum box."""

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.structures.embedding import (
    EmbeddingError,
    cut_cluster,
    min_image_distance,
    perpendicular_widths,
)
from pyacemaker.train.dataset import to_dataframe


@pytest.fixture
def snapshot():
    a = bulk("Cu", cubic=True).repeat(6)  # 864 atoms, 21.7 A
    a.rattle(0.05, seed=1)
    gamma = np.ones(len(a))
    gamma[7] = 9.0  # the extrapolative atom, near a cell corner: the cluster must wrap across boundaries
    return a, gamma


def test_cluster_contains_the_sphere_and_is_isolated(snapshot):
    a, gamma = snapshot
    cutoff, buffer = 5.0, 2.0
    cl = cut_cluster(a, gamma, cutoff, buffer, core_radius=1.0)
    assert cl.centres == [7]
    c = cl.atoms
    assert not any(c.pbc)
    # every atom of the snapshot within the radius (minimum image) is in the cluster, and nothing else
    d = a.get_distances(7, range(len(a)), mic=True)
    assert set(cl.source_indices) == set(np.where(d <= cl.radius)[0])
    # box: the cluster's extent plus vacuum of at least the cutoff on each side
    extent = c.positions.max(axis=0) - c.positions.min(axis=0)
    assert np.all(np.diag(c.cell) >= extent + 2 * cutoff - 1e-9)
    assert min_image_distance(c) >= cutoff  # no periodic image within the cutoff
    # interatomic distances are those of the snapshot (the cut did not tear bonds across the boundary)
    k = list(cl.source_indices).index(7)
    assert np.allclose(np.sort(c.get_distances(k, range(len(c)))), np.sort(d[cl.source_indices]), atol=1e-8)


def test_core_keeps_weight_and_buffer_gets_none(snapshot):
    a, gamma = snapshot
    cl = cut_cluster(a, gamma, 5.0, 2.0, core_radius=2.6)
    w = cl.force_weights
    d = a.get_distances(7, cl.source_indices, mic=True)
    assert np.all(w[d <= 2.6] == 1) and np.all(w[d > 2.6] == 0)
    assert 1 < w.sum() < len(w) / 4  # the centre and its first neighbours; the shell is much larger


def test_weights_reach_the_pacemaker_dataframe(snapshot):
    from pyacemaker.schemas.records import Labels

    a, gamma = snapshot
    cl = cut_cluster(a, gamma, 5.0, 2.0)
    rec = StructureRecord.new(cl.atoms, "c", Provenance(origin="md_halt"))
    rec.force_weights = cl.force_weights.tolist()
    rec.labels = Labels(
        energy=-1.0, forces=np.zeros((len(cl.atoms), 3)).tolist(), oracle="emt", settings_hash="x"
    )
    df = to_dataframe([rec], {"Cu": 0.0})
    assert list(df.w_forces[0]) == rec.force_weights and df.w_energy[0] == 1.0


def test_small_cell_is_refused(snapshot):
    small = bulk("Cu", cubic=True).repeat(2)
    with pytest.raises(EmbeddingError, match="cell too small"):
        cut_cluster(small, np.ones(len(small)), 5.0, 2.0)
    assert perpendicular_widths(small.cell).min() == pytest.approx(7.22, abs=0.01)


def test_large_halted_frames_become_weighted_clusters(snapshot, tmp_path):
    from pyacemaker.campaign.context import Context
    from pyacemaker.campaign.stages.explore import candidate_record
    from pyacemaker.config import parse_config, resolve
    from pyacemaker.explore.protocol import Snapshot

    a, gamma = snapshot
    cfg, _ = resolve(
        parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}, "explore": {"embed_above_atoms": 500}})
    )
    ctx = Context("c", cfg, tmp_path)
    prov = Provenance(origin="md_halt", step=40, gamma=9.0)
    big = candidate_record(Snapshot(a, 40, 9.0, gamma), prov, ctx)
    assert big.natoms < len(a) and big.force_weights and 0 < sum(big.force_weights) < big.natoms
    assert "embedded cluster" in big.provenance.builder and big.provenance.step == 40
    small = candidate_record(Snapshot(a[:100], 40, 9.0, gamma[:100]), prov, ctx)
    assert small.natoms == 100 and small.force_weights is None
