"""MACE as a surrogate oracle, for real (mace-torch): with no model file it is trained from scratch on EMT labels by
``mace_run_train`` (a tiny model, few epochs), its labels equal MACE's own calculator, the model file it wrote is
recorded by sha256 and changes the labels' identity, and it covers Cu only (a Cu-Au campaign is refused); a
foundation-model name or a file that is not a model is
refused with an error that says what to do."""

from __future__ import annotations

import numpy as np
import pytest

from pyacemaker.config import parse_config
from pyacemaker.oracle import make_oracle
from pyacemaker.oracle.surrogate.base import sha256_of
from pyacemaker.oracle.surrogate.mace import MaceUnavailable
from tests.integration.test_surrogate_chgnet import _emt_cells

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _mace(**settings):
    return make_oracle(parse_config({"elements": ["Cu"], "oracle": {"type": "mace", **settings}}).oracle)


def test_trained_from_scratch_on_the_labels(tmp_path):
    from mace.calculators import MACECalculator

    cells = _emt_cells(20, seed=3)
    oracle = _mace(channels=8, r_max=4.5)
    oracle.check_ready()  # no model file: fine, the finetune job trains one
    with pytest.raises(MaceUnavailable, match="no MACE model to label with yet"):
        oracle.compute_batch(cells[:1])
    emt_isolated = {"Cu": 3.51}  # ASE's EMT energy of a lone Cu atom, eV
    tuned = oracle.finetune(cells[:16], cells[16:], tmp_path, epochs=40, learning_rate=0.01, stress=False, seed=1,
                            references=emt_isolated)  # fmt: skip
    assert tuned.before == {} and tuned.n_train == 16 and tuned.sha256 == sha256_of(tuned.weights)
    # it learned: its held-out forces beat predicting none at all (the mean force magnitude of those cells)
    zero_forces = 1000 * np.mean([np.abs(a.get_forces()).mean() for a in cells[16:]])
    assert tuned.after["forces_mae_meV_A"] < 0.7 * zero_forces, (tuned.after, zero_forces)
    model = _mace(weights_file=str(tuned.weights), weights_sha256=tuned.sha256)
    ((energy, forces, stress),) = model.compute_batch(cells[16:17])
    ref = cells[16].copy()
    ref.calc = MACECalculator(model_paths=str(tuned.weights), device="cpu", default_dtype="float64")
    assert energy == pytest.approx(ref.get_potential_energy(), abs=1e-6)
    assert np.allclose(forces, ref.get_forces(), atol=1e-6) and stress is not None
    assert model.settings_hash != _mace(channels=8, r_max=4.5).settings_hash
    # a model file covers the elements it was trained on: a Cu-Au campaign is refused before anything is created
    model.check_covers(["Cu"])
    from pyacemaker.app.cli_common import CliError, check_oracle

    cfg = parse_config({"elements": ["Cu", "Au"], "oracle": {"type": "emt"}, "workflow": "distill",
                        "surrogate": {"model": "mace", "model_file": str(tuned.weights)}})  # fmt: skip
    with pytest.raises(CliError, match=r"was not trained on Au \(it covers Cu\).*covers every element"):
        check_oracle(cfg)


def test_a_foundation_name_or_a_file_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(MaceUnavailable, match="does not download at run time.*give its path"):
        _mace(weights_file="medium").check_ready()
    bad = tmp_path / "x.model"
    bad.write_text("not a model")
    with pytest.raises(MaceUnavailable, match="does not load as a MACE model"):
        _mace(weights_file=str(bad)).check_ready()
