"""Exploration: one condition's run (MD or kMC) with the current potential; its extrapolative frames become
candidates."""

from __future__ import annotations

import logging

import numpy as np

from pyacemaker.campaign.context import Context, load_potential
from pyacemaker.config.schema import CampaignConfig
from pyacemaker.db import Database
from pyacemaker.explore.drivers import run_condition
from pyacemaker.explore.policy import effective, start
from pyacemaker.explore.protocol import Outcome, Snapshot
from pyacemaker.schemas.records import Provenance, StructureRecord, Variant
from pyacemaker.schemas.stages import ExploreOut, RunCondition, TrainOut
from pyacemaker.structures.builders import local_rattle
from pyacemaker.structures.embedding import EmbeddingError, cut_cluster
from pyacemaker.structures.starts import pick_md_start, start_structure

log = logging.getLogger(__name__)


def conditions(cfg: CampaignConfig) -> list[RunCondition]:
    """The exploration conditions of iteration 0 (effective values: temperature, pressure, steps), one job each."""
    return [effective(c, cfg.explore) for c in start(cfg)]


def md_start(db: Database, ctx: Context, element: str | None = None) -> StructureRecord:
    """The structure a run starts from: the unstrained, unrattled seed (its record is the parent); with
    ``element``, that element's own crystal."""
    seeds = db.find_records({"campaign": ctx.campaign, "provenance.origin": "seed"})
    return pick_md_start(seeds, len(ctx.config.elements), element)


def explore_stage(db: Database, ctx: Context, iteration: int, train: TrainOut, index: int,
                  run: RunCondition | None = None) -> ExploreOut:  # fmt: skip
    """One exploration run (MD or kMC) of condition ``run`` (default: iteration 0's condition ``index``); the
    halted frame, its local perturbations and other extrapolative frames become candidate records."""
    run = run or conditions(ctx.config)[index]
    kind = "kmc" if run.driver != "md" else "md"
    run_id = f"{ctx.campaign}:it{iteration:03d}:{kind}{index}"
    if not train.potential_id:
        return ExploreOut(run_id=run_id, condition=run, skipped=True)
    db.update_campaign(ctx.campaign, {"stage": "explore"})
    potential = load_potential(db, ctx, train.potential_id)
    seed = ctx.config.explore.seed + 1000 * iteration + index
    parent = md_start(db, ctx, run.element)
    atoms, how = start_structure(parent.to_atoms(with_labels=False), run.start, ctx.config,
                                 np.random.default_rng(seed))  # fmt: skip
    out = run_condition(
        atoms, potential, run, ctx.config.explore, seed, ctx.iter_dir(iteration, f"{kind}_{index}")
    )
    if out.notice:
        log.warning("%s: %s", run_id, out.notice)
    cands = halt_candidates(out, ctx, iteration, run_id, run, parent.id, kind, np.random.default_rng(seed))
    db.insert_records(cands)
    result = out.to_explore_out(run_id, run, how, [c.id for c in cands])
    db.set_explore_run(ctx.campaign, iteration, index, result)
    db.update_campaign(ctx.campaign, {"latest_max_gamma": out.max_gamma})
    return result


def halt_candidates(out: Outcome, ctx: Context, iteration: int, run_id: str, run: RunCondition, parent: str,
                    kind: str, rng: np.random.Generator) -> list[StructureRecord]:  # fmt: skip
    """Candidates of one run: every kept frame (an embedded cluster for big cells), and for the halted frame
    ``explore.perturbations`` local rattles of the atoms within the cutoff of its highest-gamma atom."""
    e = ctx.config.explore
    cands: list[StructureRecord] = []
    for k, fr in enumerate(out.frames):
        is_halt = out.halted and k == len(out.frames) - 1 and fr.step == out.halt_step
        origin = f"{kind}_halt" if is_halt else f"{kind}_frame"
        prov = Provenance(origin=origin, iteration=iteration + 1, parent=parent, run_id=run_id, family=f"run:{run_id}",
                          condition=run, step=fr.step, gamma=fr.gamma)  # fmt: skip
        rec = candidate_record(fr, prov, ctx)
        cands.append(rec)
        if not is_halt:
            continue
        halted = rec.to_atoms(with_labels=False)
        if rec.force_weights is not None:  # an embedded cluster: its centre is the first fully weighted atom
            centre = int(np.argmax(np.asarray(rec.force_weights) > 0))
        else:
            centre = int(np.argmax(fr.per_atom_gamma)) if fr.per_atom_gamma is not None else 0
        for j in range(e.perturbations):
            p = local_rattle(halted, centre, ctx.config.train.cutoff, e.perturbation_amplitude, rng)
            pert = StructureRecord.new(
                p, ctx.campaign,
                Provenance(origin="perturbation", iteration=iteration + 1, parent=rec.id, run_id=run_id,
                           family=f"run:{run_id}", variant=Variant(rattle=j + 1, centre=centre),
                           condition=run, step=fr.step,
                           builder=f"rattle {e.perturbation_amplitude} A of the atoms within the cutoff of atom "
                                   f"{centre} #{j + 1} (halted frame)"),
            )  # fmt: skip
            pert.force_weights = rec.force_weights
            cands.append(pert)
    return cands


def candidate_record(frame: Snapshot, prov: Provenance, ctx: Context) -> StructureRecord:
    """A candidate from an MD frame: the frame itself, or for a large cell an embedded cluster around its
    highest-gamma atom (buffer atoms with zero force weight)."""
    e = ctx.config.explore
    if len(frame.atoms) > e.embed_above_atoms and frame.per_atom_gamma is not None:
        try:
            cl = cut_cluster(frame.atoms, frame.per_atom_gamma, ctx.config.train.cutoff, e.embed_buffer,
                             e.embed_core_radius)  # fmt: skip
        except EmbeddingError as exc:
            log.info("labelling the whole frame: %s", exc)
        else:
            g = frame.per_atom_gamma[cl.centres[0]]
            builder = (f"embedded cluster of {len(cl.atoms)} atoms around atom {cl.centres[0]} (gamma {g:.2f}); "
                       f"{int(cl.force_weights.sum())} core atoms weighted")  # fmt: skip
            rec = StructureRecord.new(cl.atoms, ctx.campaign, prov.model_copy(update={"builder": builder}))
            rec.force_weights = cl.force_weights.tolist()
            return rec
    return StructureRecord.new(frame.atoms, ctx.campaign, prov)
