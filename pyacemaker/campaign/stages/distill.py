"""``workflow: distill``: the oracle's first labels fine-tune a surrogate (a universal potential); the surrogate
runs MD from the seed cells (over the seeds' volume strains and the exploration temperatures) and from the policy's
defect and surface starts, a D-optimal share of that pool is labelled by the surrogate in chunks, and a base ACE is
fitted on those labels. The loop's first fit then corrects the base with the
oracle's labels alone (warm start from the base, so the oracle decides every coefficient it has data for; with
``surrogate.correction: joint`` the surrogate's labels stay in, down-weighted: ``train.surrogate_share``), and the
gamma-driven loop continues on top within the budget.

Surrogate labels carry the fine-tuned surrogate's settings hash: training sets of the oracle never contain them."""

from __future__ import annotations

import logging
import math

import numpy as np

from pyacemaker.campaign.context import Context, reference_energies
from pyacemaker.campaign.stages.train import base_potential_id, store_potential
from pyacemaker.db import Database
from pyacemaker.explore.cold_start import cold_start_pool, select_first_labels
from pyacemaker.explore.policy import effective, start
from pyacemaker.oracle import make_oracle
from pyacemaker.oracle.surrogate import SurrogateOracle, label_in_chunks, surrogate_errors
from pyacemaker.schemas.potential import PotentialFile
from pyacemaker.schemas.records import StructureRecord
from pyacemaker.schemas.stages import Selection, SurrogateReport
from pyacemaker.structures.builders import volume_strain
from pyacemaker.structures.seeds import SURFACE_MILLER, Seed, base_cells
from pyacemaker.structures.starts import start_structure
from pyacemaker.train.dataset import split, within_windows
from pyacemaker.train.pacemaker import FitError, fit

log = logging.getLogger(__name__)
BUCKET = "surrogate_files"  # GridFS bucket of fine-tuned weights


def surrogate_oracle(ctx: Context, **settings) -> SurrogateOracle:
    """The configured surrogate (``surrogate.model``, from ``surrogate.model_file`` when given) with ``settings``
    on top (a fine-tuning's weights)."""
    oracle = make_oracle(ctx.config.surrogate.oracle_settings(**settings))
    assert isinstance(oracle, SurrogateOracle)
    return oracle


def finetune_stage(db: Database, ctx: Context) -> SurrogateReport:
    """Fine-tune the surrogate on the oracle's labels of the campaign, a family-split share held out to measure it
    before and after; its weights go to GridFS (workers elsewhere fetch them by sha256)."""
    db.update_campaign(ctx.campaign, {"stage": "fine-tune"})
    s = ctx.config.surrogate
    records = db.training_records(ctx.campaign, ctx.oracle.settings_hash)
    if not records:
        raise RuntimeError(
            "no oracle labels to fine-tune the surrogate on: every seed structure was rejected"
        )
    train, test = split(records, s.test_fraction, salt=f"{ctx.campaign}:surrogate")
    oracle = surrogate_oracle(ctx)
    workdir = ctx.workdir / "surrogate"
    tuned = oracle.finetune([r.to_atoms() for r in train], [r.to_atoms() for r in test], workdir,
                            s.finetune_epochs, s.finetune_learning_rate, s.finetune_stress, s.seed,
                            reference_energies(db, ctx))  # fmt: skip
    meta = db.put_file(BUCKET, f"{ctx.campaign}/{tuned.weights.name}", tuned.weights)
    finetuned_on = (
        f"{len(train)} {ctx.oracle.name} labels ({ctx.oracle.settings_hash[:12]}) of {ctx.campaign}"
    )
    tuned_oracle = surrogate_oracle(ctx, weights_file=str(tuned.weights), weights_sha256=tuned.sha256,
                                    finetuned_on=finetuned_on)  # fmt: skip
    report = SurrogateReport(
        model=s.model, settings_hash=tuned_oracle.settings_hash, oracle_settings_hash=ctx.oracle.settings_hash,
        weights=meta.model_dump(mode="json", exclude={"gridfs_id"}) | {"gridfs_id": str(meta.gridfs_id)},
        finetuned_on=finetuned_on, n_train=tuned.n_train, n_test=tuned.n_test, epochs=tuned.epochs,
        before=tuned.before, after=tuned.after, finetune_wall_time_s=tuned.wall_time_s,
    )  # fmt: skip
    db.set_campaign_part(ctx.campaign, surrogate=report.model_dump(mode="json"))
    log.info("surrogate fine-tuned on %d labels: held-out forces MAE %.1f -> %.1f meV/A", tuned.n_train,
             tuned.before.get("forces_mae_meV_A", math.nan), tuned.after.get("forces_mae_meV_A", math.nan))  # fmt: skip
    return report


def tuned_surrogate(db: Database, ctx: Context, report: SurrogateReport) -> SurrogateOracle:
    """The fine-tuned surrogate, its weights taken from where the fine-tuning wrote them when they are intact
    there, else fetched from GridFS into ``surrogate/``."""
    from bson import ObjectId

    w = dict(report.weights or {})
    meta = PotentialFile(**{**w, "gridfs_id": ObjectId(w["gridfs_id"])})
    path = db.fetch_file(BUCKET, meta, ctx.workdir / "surrogate")
    oracle = surrogate_oracle(ctx, weights_file=str(path), weights_sha256=meta.sha256,
                              finetuned_on=report.finetuned_on)  # fmt: skip
    if oracle.settings_hash != report.settings_hash:
        raise RuntimeError(
            f"the surrogate's settings differ from the fine-tuned ones ({oracle.settings_hash[:12]} vs "
            f"{report.settings_hash[:12]}): was the model package upgraded mid-campaign?"
        )
    return oracle


def pool_runs(ctx: Context, rng: np.random.Generator) -> list[tuple[Seed, float]]:
    """The surrogate's MD runs (start cell, temperature): every seed cell at each of the seeds' volume strains and
    every exploration temperature (the bulk, over the volumes the gate's EOS needs), and each of the policy's
    other MD conditions from its own start (vacancy cell, surface slab...) at its temperature."""
    cfg = ctx.config
    strains = cfg.seeds.volume_strains or [0.0]
    bases = base_cells(cfg, rng)
    runs = [(b.derive(volume_strain(b.atoms, e), f"{b.description}, volume {e:+.0%}", volume_strain=e), float(t))
            for t in cfg.explore.temperatures or [300.0] for b in bases for e in strains]  # fmt: skip
    kind = "alloy" if len(cfg.elements) > 1 else "element"
    for cond in start(cfg):
        run = effective(cond, cfg.explore)
        if run.driver != "md" or run.start == "bulk":
            continue
        base = next(
            (b for b in bases if (b.base == run.element if run.element else b.base_kind == kind)), bases[0]
        )
        atoms, how = start_structure(base.atoms, run.start, cfg, rng)
        variant = (
            {"surface": "".join(map(str, SURFACE_MILLER))}
            if run.start == "surface"
            else {"defect": run.start}
        )
        runs.append((base.derive(atoms, f"{base.description}, {how}", **variant), run.temperature_K))
    return runs


def pool_stage(db: Database, ctx: Context, report: SurrogateReport) -> Selection:
    """MD with the fine-tuned surrogate over :func:`pool_runs`; ``surrogate.labels`` snapshots of the pool are
    chosen: the D-optimal ones (MaxVol over an untrained basis of
    the campaign's shape), then a uniform random share of the rest up to the number asked (MaxVol stops when no
    structure enlarges its active set, which a pool of thousands reaches long before hundreds are chosen)."""
    db.update_campaign(ctx.campaign, {"stage": "surrogate MD"})
    s = ctx.config.surrogate
    oracle = tuned_surrogate(db, ctx, report)
    factory = oracle.calculator_factory(ctx.workdir / "surrogate")
    calc = factory()
    rng = np.random.default_rng(s.seed)
    runs = pool_runs(ctx, rng)
    per_run = max(1, math.ceil((s.pool_size or 1) / len(runs)))
    snaps = []
    for seed, temperature in runs:
        snaps += cold_start_pool(
            [seed], lambda: calc, temperature, s.md_steps or per_run, per_run, rng, relax_steps=0
        )
    pool = [StructureRecord.new(sd.atoms, ctx.campaign, sd.provenance("surrogate_md")) for sd in snaps]
    n_pick = min(s.labels or 1, len(pool))
    chosen = select_first_labels(
        pool, ctx.config.elements, ctx.config.train, n_pick, ctx.workdir / "surrogate"
    )
    ids = {r.id for r in chosen}
    rest = [r for r in pool if r.id not in ids]
    fill = [
        rest[i]
        for i in sorted(rng.choice(len(rest), size=min(len(rest), n_pick - len(chosen)), replace=False))
    ]
    for r in (*chosen, *fill):
        r.status = "selected"
    db.insert_records(pool)
    db.update_campaign(
        ctx.campaign, {"surrogate.pool": len(pool), "surrogate.chosen": len(chosen) + len(fill)}
    )
    log.info(
        "surrogate MD: %d snapshots, %d D-optimal + %d random to label", len(pool), len(chosen), len(fill)
    )
    return Selection(ids=[r.id for r in (*chosen, *fill)], origin="select", chosen=len(chosen) + len(fill),
                     n_new=len(pool))  # fmt: skip


def surrogate_label_stage(
    db: Database, ctx: Context, report: SurrogateReport, selection: Selection
) -> SurrogateReport:
    """The chosen pool structures labelled by the fine-tuned surrogate, ``surrogate.chunk_size`` at a time,
    each chunk stored as it completes (a re-run labels only what is left)."""
    db.update_campaign(ctx.campaign, {"stage": "surrogate labels"})
    oracle = tuned_surrogate(db, ctx, report)
    records = db.get_records(selection.ids)
    todo = [r for r in records if not (r.labels and r.labels.settings_hash == oracle.settings_hash)]

    def store(done: list[StructureRecord]) -> None:
        for r in done:
            db.set_labels(r)

    def progress(n: int, total: int) -> None:
        log.info("surrogate labels: %d/%d", n, total)

    done = label_in_chunks(todo, oracle, ctx.config.surrogate.chunk_size, on_chunk=store, progress=progress)
    labelled = len(records) - len(todo) + sum(r.status == "labelled" for r in done)
    db.update_campaign(ctx.campaign, {
        "surrogate.labelled": labelled, "surrogate.rejected": sum(r.status == "rejected" for r in done),
        "surrogate.label_wall_time_s": sum(r.labels.wall_time_s for r in done if r.labels),
    })  # fmt: skip
    return _stored(db, ctx)


def base_fit_stage(db: Database, ctx: Context, report: SurrogateReport) -> SurrogateReport:
    """The base ACE: a fit of every surrogate label (the oracle's isolated-atom energies as references: the
    fine-tuning moved the surrogate onto the oracle's zero of energy). Stored as ``<campaign>:base``, iteration 0;
    the loop's first fit warm-starts from it on the oracle's labels."""
    db.update_campaign(ctx.campaign, {"stage": "base fit"})
    t = ctx.config.train
    records = db.training_records(ctx.campaign, report.settings_hash)
    refs = reference_energies(db, ctx)
    records, _, _ = within_windows(records, refs, t)
    if not records:
        raise FitError("the surrogate labelled no structure within the training windows: nothing to distil")
    res = fit(
        records, ctx.config.elements, refs, t, ctx.workdir / "surrogate" / "base_fit", baseline=ctx.baseline
    )
    pot_id = base_potential_id(ctx.campaign)
    # metrics under their own names: they measure the fit to surrogate labels, which the loop's divergence check
    # must not compare with fits to the oracle's
    metrics = {f"surrogate_{k}": v for k, v in res.metrics.items()}
    store_potential(db, ctx, pot_id, 0, res, records, 0, [r.id for r in records], [], metrics, refs, None)
    db.update_campaign(ctx.campaign, {"surrogate.base_potential": pot_id, "surrogate.base_metrics": metrics})
    return _stored(db, ctx)


def surrogate_on_test_set(db: Database, ctx: Context) -> dict[str, float]:
    """The fine-tuned surrogate's errors on the campaign's held-out test set (oracle-labelled MD snapshots of the
    final potential, which neither the surrogate nor any fit saw): how far the surrogate itself is from the oracle
    where the final potential goes. Empty for a campaign without a surrogate."""
    doc = db.campaign_doc(ctx.campaign)
    if doc is None or doc.surrogate is None or doc.surrogate.weights is None:
        return {}
    tests = db.find_records({"campaign": ctx.campaign, "status": "test",
                             "labels.settings_hash": ctx.oracle.settings_hash})  # fmt: skip
    errors = surrogate_errors(tuned_surrogate(db, ctx, doc.surrogate), [r.to_atoms() for r in tests])
    db.update_campaign(ctx.campaign, {"surrogate.test_set": errors})
    return errors


def _stored(db: Database, ctx: Context) -> SurrogateReport:
    """The surrogate's report as the stages have filled it so far."""
    doc = db.campaign_doc(ctx.campaign)
    assert doc is not None and doc.surrogate is not None
    return doc.surrogate
