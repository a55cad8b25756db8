"""Training: a pacemaker fit per iteration (warm-started from the previous one), and the final fit of every label.

A failed or diverged refit is an expected state: it is reported and the previous potential stays in use.
"""

from __future__ import annotations

import logging

import numpy as np

from pyacemaker.campaign.context import Context, potential_files, reference_energies
from pyacemaker.config.resolve import final_basis_size
from pyacemaker.db import Database
from pyacemaker.schemas.potential import PotentialDoc
from pyacemaker.schemas.records import StructureRecord
from pyacemaker.schemas.stages import FinalFit, TrainOut
from pyacemaker.train.dataset import split, summary, within_windows
from pyacemaker.train.pacemaker import FitError, FitResult, evaluate, fit

log = logging.getLogger(__name__)


def train_stage(db: Database, ctx: Context, iteration: int) -> TrainOut:
    """Fit on the campaign's labelled records (train side of a family split), warm-started from the previous
    potential. Nothing new: skipped. A failed or diverged refit: reported, and the previous potential stays."""
    db.update_campaign(ctx.campaign, {"stage": "train", "iteration": iteration})
    records = db.training_records(ctx.campaign, ctx.oracle.settings_hash)
    prev = db.latest_potential(ctx.campaign)
    if prev is not None and prev.labelled_count >= len(records) and prev.iteration < iteration:
        out = TrainOut(skipped=True, reason="no new labelled structures", potential_id=prev.id, iteration=iteration,
                       n_structures=len(records))  # fmt: skip
        db.set_iteration_part(ctx.campaign, iteration, train=out)
        return out
    t = ctx.config.train
    refs = reference_energies(db, ctx)
    n_all = len(records)  # what "nothing new" compares against next iteration
    records, high_e, high_f = within_windows(records, refs, t)
    train_set, test_set = split(records, t.test_fraction, salt=ctx.campaign)
    train_set += surrogate_share(db, ctx, refs)  # the test side stays the oracle's
    # a distillation's base is always where the first fit on the oracle's labels starts, and that fit is a whole
    # one (every label is new to the base), not a refit
    from_base = prev is not None and prev.id == base_potential_id(ctx.campaign)
    warm = (
        potential_files(db, ctx, prev.id)["yaml"]
        if prev is not None and (t.warm_start or from_base)
        else None
    )
    refit = warm is not None and not from_base
    try:
        res = fit(train_set, ctx.config.elements, refs, t, ctx.iter_dir(iteration, "train"), baseline=ctx.baseline,
                  initial_potential=warm, max_iterations=t.refit_iterations if refit else None)  # fmt: skip
        test_metrics = evaluate(res.yaml, test_set, refs, ctx.baseline) if test_set else {}
        metrics = {**res.metrics, **{f"test_{k}": v for k, v in test_metrics.items()}}
        diverged = refit_diverged(prev.metrics, metrics, t.divergence_factor) if prev is not None else None
        if diverged:
            raise FitError(diverged)
    except FitError as exc:
        if prev is None:
            raise  # nothing to fall back on: the job fails with the reason
        out = TrainOut(skipped=True, failed=True, reason=str(exc)[:2000], potential_id=prev.id, iteration=iteration,
                       n_structures=len(records))  # fmt: skip
        db.set_iteration_part(ctx.campaign, iteration, train=out)
        log.warning("fit of iteration %d rejected, keeping %s: %s", iteration, prev.id, exc)
        return out
    pot_id = f"{ctx.campaign}:pot{iteration:03d}"
    store_potential(db, ctx, pot_id, iteration, res, records, n_all, [r.id for r in train_set],
                    [r.id for r in test_set], metrics, refs, prev.id if warm else None)  # fmt: skip
    out = TrainOut(skipped=False, potential_id=pot_id, iteration=iteration, n_structures=res.n_structures,
                   n_test=len(test_set), n_functions=res.n_functions, metrics=metrics, wall_time_s=res.wall_time_s,
                   warm_start=warm is not None, excluded_high_energy=[r.id for r in high_e],
                   excluded_high_force=[r.id for r in high_f])  # fmt: skip
    db.set_iteration_part(ctx.campaign, iteration, train=out, dataset=summary(records))
    db.update_campaign(ctx.campaign, {"current_potential": pot_id, "current_potential_path": str(res.yace)})
    return out


def final_fit_stage(db: Database, ctx: Context, potential_id: str) -> str:
    """One last fit of every labelled structure at the full basis (warm-started from ``potential_id`` unless
    ``train.final_warm_start`` is off); returns the id of the potential the campaign hands over. A failed or
    diverged final fit leaves ``potential_id``."""
    t = ctx.config.train
    if not t.final_fit:
        return potential_id
    db.update_campaign(ctx.campaign, {"stage": "final fit"})
    records = db.training_records(ctx.campaign, ctx.oracle.settings_hash)
    prev = db.potential(potential_id)
    refs = reference_energies(db, ctx)
    records, _, _ = within_windows(records, refs, t)
    records += surrogate_share(db, ctx, refs)
    # a No-Go round fits again: its own id and directory, the first final potential's files stay as they were
    n_final = db.final_potentials(ctx.campaign)
    suffix = f"{n_final + 1}" if n_final else ""
    pot_id = f"{ctx.campaign}:final{suffix}"
    n_func = max(
        final_basis_size(len(records), sum(r.natoms for r in records), t),
        (prev.n_functions if prev else 1) or 1,
    )
    warm = potential_files(db, ctx, potential_id)["yaml"] if t.final_warm_start else None
    try:
        res = fit(records, ctx.config.elements, refs, t, ctx.workdir / f"final_fit{suffix}", baseline=ctx.baseline,
                  initial_potential=warm, n_functions=n_func, max_iterations=t.final_iterations)  # fmt: skip
        diverged = refit_diverged(prev.metrics if prev else {}, res.metrics, t.divergence_factor)
        if diverged:
            raise FitError(diverged)
    except FitError as exc:
        failed = FinalFit(failed=True, reason=str(exc)[:2000])
        db.set_campaign_part(ctx.campaign, final_fit=failed.model_dump(mode="json", exclude_defaults=True))
        log.warning("final fit rejected, keeping %s: %s", potential_id, exc)
        return potential_id
    ids = [r.id for r in records]
    store_potential(db, ctx, pot_id, (prev.iteration if prev else 0) + 1, res, records, len(records), ids, [],
                    res.metrics, refs, potential_id if warm else None, final=True)  # fmt: skip
    final = FinalFit(potential_id=pot_id, n_functions=res.n_functions, metrics=res.metrics,
                     wall_time_s=res.wall_time_s, warm_start=warm is not None)  # fmt: skip
    db.update_campaign(ctx.campaign, {"current_potential": pot_id, "current_potential_path": str(res.yace),
                                      "final_fit": final.model_dump(mode="json", exclude_defaults=True)})  # fmt: skip
    return pot_id


def base_potential_id(campaign: str) -> str:
    """The id of a distillation's base ACE (fitted on the surrogate's labels)."""
    return f"{campaign}:base"


def surrogate_share(db: Database, ctx: Context, refs: dict[str, float]) -> list[StructureRecord]:
    """The surrogate's labelled records a fit adds to the oracle's: none, unless ``workflow: distill`` with
    ``surrogate.correction: joint``, where each carries ``surrogate.joint_weight`` on its energy and every force
    (the oracle's labels weigh 1, so they dominate where both have data)."""
    s = ctx.config.surrogate
    if ctx.config.workflow != "distill" or s.correction != "joint":
        return []
    doc = db.campaign_doc(ctx.campaign)
    if doc is None or doc.surrogate is None:
        return []
    cheap, _, _ = within_windows(
        db.training_records(ctx.campaign, doc.surrogate.settings_hash), refs, ctx.config.train
    )
    for r in cheap:
        r.weight *= s.joint_weight
        r.force_weights = [w * s.joint_weight for w in (r.force_weights or [1.0] * r.natoms)]
    return cheap


def store_potential(db: Database, ctx: Context, pot_id: str, iteration: int, res: FitResult, records, n_labelled: int,
                    dataset_ids: list[str], test_ids: list[str], metrics: dict[str, float], refs: dict[str, float],
                    warm_start_from: str | None, final: bool = False) -> PotentialDoc:  # fmt: skip
    """The potential document and its files (GridFS), so workers on other machines can fetch it."""
    doc = PotentialDoc(
        id=pot_id, campaign=ctx.campaign, iteration=iteration, final=final, n_structures=res.n_structures,
        n_labelled=n_labelled, n_functions=res.n_functions, dataset_ids=dataset_ids, test_ids=test_ids,
        metrics=metrics, reference_energies=refs, fit_wall_time_s=res.wall_time_s, elements=ctx.config.elements,
        warm_start_from=warm_start_from, baseline=ctx.config.baseline,
        dataset=summary(records),
    )  # fmt: skip
    db.save_potential(doc, {"yaml": res.yaml, "yace": res.yace, "asi": res.asi})
    return doc


def refit_diverged(previous: dict[str, float], current: dict[str, float], factor: float) -> str | None:
    """Why a refit is worse than useless (errors ``factor`` x the previous iteration's), or None."""
    for key in ("train_energy_rmse_meV_atom", "train_forces_rmse_meV_A"):
        old, new = previous.get(key), current.get(key)
        if old and new is not None and (not np.isfinite(new) or new > factor * max(old, 1e-3)):
            return f"{key} rose from {old:.3g} to {new:.3g} (more than {factor}x): diverged fit"
    return None
