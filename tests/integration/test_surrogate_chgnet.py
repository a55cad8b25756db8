"""CHGNet as a surrogate oracle, for real (weights from its wheel): batch labels equal chgnet's own calculator,
chunked labelling stores each chunk, fine-tuning on EMT labels lowers its held-out force error and writes weights
that load back with their sha256, and a weights file that is not CHGNet's is refused with a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from pyacemaker.config import parse_config
from pyacemaker.oracle import make_oracle
from pyacemaker.oracle.surrogate import label_in_chunks
from pyacemaker.oracle.surrogate.base import sha256_of
from pyacemaker.oracle.surrogate.chgnet import ChgnetUnavailable
from pyacemaker.schemas.records import Provenance, StructureRecord

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _chgnet(**settings):
    cfg = parse_config({"elements": ["Cu"], "oracle": {"type": "chgnet", **settings}})
    return make_oracle(cfg.oracle)


def _emt_cells(n: int, seed: int = 0) -> list:
    """Strained, rattled 8-atom Cu cells with EMT labels (energy, forces, stress)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = bulk("Cu", cubic=True).repeat((2, 1, 1))
        a.set_cell(a.cell * (1 + 0.02 * rng.normal()), scale_atoms=True)
        a.rattle(0.08, seed=seed * 1000 + i)
        a.calc = EMT()
        a.calc = SinglePointCalculator(a, energy=a.get_potential_energy(), forces=a.get_forces(),
                                       stress=a.get_stress())  # fmt: skip
        out.append(a)
    return out


@pytest.fixture(scope="module")
def pretrained():
    return _chgnet()


def test_batch_labels_equal_chgnets_calculator(pretrained):
    from chgnet.model.dynamics import CHGNetCalculator

    cells = [a.copy() for a in _emt_cells(3)]
    cells.append(bulk("Cu", "fcc", a=3.7))  # a primitive cell: another size in the same batch
    results = pretrained.compute_batch(cells)
    calc = CHGNetCalculator(model=pretrained.model(), use_device="cpu")
    for atoms, (energy, forces, stress) in zip(cells, results, strict=True):
        ref = atoms.copy()
        ref.calc = calc
        assert energy == pytest.approx(ref.get_potential_energy(), abs=1e-4)
        assert np.allclose(forces, ref.get_forces(), atol=1e-4)
        assert np.allclose(stress, ref.get_stress(voigt=True), atol=1e-6)
    assert pretrained.settings["version"] and "weights_file" not in pretrained.settings


def test_chunks_are_stored_as_they_complete(pretrained):
    recs = [StructureRecord.new(a, "c", Provenance(origin="surrogate_md")) for a in _emt_cells(5, seed=1)]
    stored: list[list[str]] = []
    done = label_in_chunks(recs, pretrained, 2, on_chunk=lambda chunk: stored.append([r.id for r in chunk]))
    assert stored == [[r.id for r in recs[:2]], [r.id for r in recs[2:4]], [recs[4].id]]
    assert all(r.status == "labelled" and r.labels.oracle == "chgnet" for r in done)
    assert {r.labels.settings_hash for r in done} == {pretrained.settings_hash}
    single = pretrained.compute_batch([recs[3].to_atoms(with_labels=False)])[0]
    assert done[3].labels.energy == pytest.approx(single[0], abs=1e-4)  # a chunk labels like a lone call


def test_finetune_lowers_held_out_force_error_and_weights_load_back(tmp_path):
    cells = _emt_cells(30, seed=2)
    oracle = _chgnet()
    tuned = oracle.finetune(
        cells[:24], cells[24:], tmp_path, epochs=8, learning_rate=1e-4, stress=False, seed=0
    )
    assert tuned.n_train == 24 and tuned.n_test == 6 and tuned.sha256 == sha256_of(tuned.weights)
    # measured: 169 -> 51 meV/A (EMT is not CHGNet's PBE: the pretrained forces are far off)
    assert tuned.after["forces_mae_meV_A"] < 0.6 * tuned.before["forces_mae_meV_A"]
    assert tuned.before["energy_mae_meV_atom"] < 50  # the energy zero was moved onto EMT's before measuring
    again = _chgnet(weights_file=str(tuned.weights), weights_sha256=tuned.sha256)
    e0 = oracle.compute_batch(cells[24:25])[0][0]
    assert again.compute_batch(cells[24:25])[0][0] == pytest.approx(e0, abs=1e-5)
    assert again.settings_hash != _chgnet().settings_hash  # its labels never pass for the pretrained model's


def test_a_file_that_is_not_chgnet_weights_is_refused(tmp_path):
    bad = tmp_path / "weights.pth.tar"
    bad.write_text("not a checkpoint")
    with pytest.raises(ChgnetUnavailable, match=r"does not load as CHGNet weights"):
        _chgnet(weights_file=str(bad)).check_ready()
    with pytest.raises(ChgnetUnavailable, match=r"does not exist"):
        _chgnet(weights_file=str(tmp_path / "absent.pth.tar")).check_ready()
    good = tmp_path / "copy.pth.tar"
    good.write_bytes(b"x")
    with pytest.raises(ChgnetUnavailable, match=r"sha256 differs"):
        _chgnet(weights_file=str(good), weights_sha256="0" * 64).check_ready()
