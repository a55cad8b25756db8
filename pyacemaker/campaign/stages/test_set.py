"""The held-out test set of a finished campaign: MD snapshots of its final potential, labelled by the oracle.

Test records carry status ``test`` and never enter a training set; their errors are the campaign's honest score.
"""

from __future__ import annotations

import numpy as np
from ase import units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from pyacemaker.campaign.context import Context, load_potential
from pyacemaker.campaign.stages.explore import conditions, md_start
from pyacemaker.db import Database
from pyacemaker.oracle import label
from pyacemaker.schemas.records import Provenance, StructureRecord
from pyacemaker.structures.starts import start_structure
from pyacemaker.train.pacemaker import evaluate


def test_set_stage(db: Database, ctx: Context, potential_id: str) -> dict[str, float]:
    """Held-out errors (``test_*`` metrics): MD snapshots of the final potential labelled by the oracle (status
    ``test``, never trained on)."""
    v = ctx.config.validation
    if v.test_structures == 0:
        return {}
    potential = load_potential(db, ctx, potential_id)
    conds = conditions(ctx.config)
    per = max(1, -(-v.test_structures // len(conds)))
    recs: list[StructureRecord] = []
    rng = np.random.default_rng(12345)
    # each condition's own start (bulk, vacancy, slab) at the small labelling size
    small = ctx.config.model_copy(update={"explore": ctx.config.explore.model_copy(
        update={"supercell_atoms": ctx.config.seeds.supercell_atoms or 32})})  # fmt: skip
    starts = {
        el: md_start(db, ctx, el) for el in {c.element for c in conds}
    }  # one seed query per start crystal
    for i, cond in enumerate(conds):
        start = starts[cond.element]
        atoms, _ = start_structure(start.to_atoms(with_labels=False), cond.start, small, rng)
        atoms.calc = potential.calculator(with_gamma=False)
        MaxwellBoltzmannDistribution(atoms, temperature_K=cond.temperature_K, rng=rng)
        dyn = Langevin(atoms, ctx.config.explore.timestep_fs * units.fs, temperature_K=cond.temperature_K,
                       friction=ctx.config.explore.friction / units.fs, rng=rng)  # fmt: skip
        for _k in range(per):
            dyn.run(max(1, v.test_md_steps // per))
            run_id = f"{ctx.campaign}:test:md{i}"
            prov = Provenance(origin="test_set", iteration=-1, parent=start.id, condition=cond,
                              step=dyn.nsteps, run_id=run_id, family=f"run:{run_id}")  # fmt: skip
            recs.append(StructureRecord.new(atoms.copy(), ctx.campaign, prov, "test"))
    recs = recs[: v.test_structures]
    db.insert_records(recs)
    stored = db.get_records([r.id for r in recs])
    todo = [r for r in stored if r.labels is None]
    for r in label(todo, ctx.oracle, ctx.workdir / "test_set"):
        db.set_labels(r)
    if todo:
        db.update_campaign(ctx.campaign, inc={"oracle_calls": len(todo), "test_oracle_calls": len(todo)})
    labelled = [r for r in db.get_records([r.id for r in recs]) if r.labels is not None]
    metrics = (
        evaluate(potential.yaml, labelled, potential.reference_energies, ctx.baseline) if labelled else {}
    )
    return {f"test_{k}": val for k, val in metrics.items()}
