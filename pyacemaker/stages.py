"""The campaign's stages as plain functions of (database, context, inputs): no jobflow, no FireWorks.

:mod:`pyacemaker.flows` wraps each in a jobflow ``@job``; tests call them directly with a real database.
Every stage records what it did in the campaign document, so ``pyacemaker status`` and ``decide`` read one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pyacemaker.config import CampaignConfig
from pyacemaker.db import Database
from pyacemaker.records import Provenance, StructureRecord

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What every stage needs to know about its campaign: its name, resolved config and working directory."""

    campaign: str
    config: CampaignConfig
    workdir: Path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Context:
        return cls(d["campaign"], CampaignConfig.model_validate(d["config"]), Path(d["workdir"]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "config": self.config.model_dump(mode="json"),
            "workdir": str(self.workdir),
        }

    @property
    def baseline(self):
        """The pair baseline of delta learning (None when ``baseline: {type: none}``)."""
        from pyacemaker.train.baseline import make_baseline

        return make_baseline(self.config.baseline, self.config.elements)

    def iter_dir(self, iteration: int, *parts: str) -> Path:
        d = self.workdir / f"iter_{iteration:03d}"
        for p in parts:
            d = d / p
        d.mkdir(parents=True, exist_ok=True)
        return d


def conditions(cfg: CampaignConfig) -> list[dict[str, Any]]:
    """The exploration conditions of iteration 0 (effective values: temperature, pressure, steps), one job each."""
    from pyacemaker.explore.policy import start

    return [c.effective(cfg) for c in start(cfg)]


# ----------------------------------------------------------------------------------------------- seeds
def seed_stage(db: Database, ctx: Context) -> dict[str, Any]:
    """Build the iteration-0 structures and store them as records (known hashes are not duplicated)."""
    from pyacemaker.explore.seeds import build_seeds

    recs = [
        StructureRecord.new(
            atoms, ctx.campaign, Provenance(origin="seed", iteration=0, builder=desc), "selected"
        )
        for atoms, desc in build_seeds(ctx.config)
    ]
    cold = cold_start_records(ctx)
    recs += cold["chosen"]
    new = db.insert_records(recs + cold["pool"])
    if not (db.campaign(ctx.campaign) or {}).get("config"):  # submitted without `pyacemaker run`/`submit`
        db.update_campaign(ctx.campaign, {"config": ctx.config.model_dump(mode="json"), "workdir": str(ctx.workdir),
                                          "state": "running"})  # fmt: skip
    db.set_iteration(ctx.campaign, 0, {"seeds": len(recs), "cold_start": cold["report"]})
    db.update_campaign(ctx.campaign, {"stage": "seed"})
    return {"ids": [r.id for r in recs], "n_new": len(new)}


def cold_start_records(ctx: Context) -> dict[str, Any]:
    """Cold-start snapshots (universal potential) as records: the D-optimal ``chosen`` ones to label
    (status selected) and the rest of the ``pool`` (status candidate, kept for provenance)."""
    from pyacemaker.explore.cold_start import cold_start_pool, select_first_labels, universal_calculator
    from pyacemaker.explore.seeds import base_cells

    s = ctx.config.seeds
    calc = universal_calculator(s.cold_start)
    if calc is None:
        return {"chosen": [], "pool": [], "report": {"used": False, "setting": s.cold_start}}
    temps = ctx.config.explore.temperatures or [300.0]
    rng = np.random.default_rng(s.seed + 1)
    snaps = cold_start_pool(base_cells(ctx.config, rng), lambda: calc, float(temps[len(temps) // 2]),
                            s.cold_start_steps, 4, rng)  # fmt: skip
    pool = [
        StructureRecord.new(a, ctx.campaign, Provenance(origin="cold_start", iteration=0, builder=d))
        for a, d in snaps
    ]
    chosen = select_first_labels(pool, ctx.config.elements, ctx.config.train, s.cold_start_labels,
                                 ctx.workdir / "cold_start")  # fmt: skip
    for r in chosen:
        r.status = "selected"
    ids = {r.id for r in chosen}
    report = {"used": True, "calculator": type(calc).__name__, "pool": len(pool), "chosen": len(chosen)}
    return {"chosen": chosen, "pool": [r for r in pool if r.id not in ids], "report": report}


# ----------------------------------------------------------------------------------------------- labelling
def label_stage(
    db: Database, ctx: Context, ids: list[str], batch: int, n_batches: int, iteration: int
) -> dict:
    """Label this batch's share of ``ids``; structures already labelled with the same settings are reused."""
    from pyacemaker.oracle import label, make_oracle

    mine = ids[batch::n_batches]
    oracle = make_oracle(ctx.config.oracle)
    records = db.get_records(mine) if mine else []
    todo = [r for r in records if not (r.labels and r.labels.settings_hash == oracle.settings_hash)]
    reused = len(records) - len(todo)
    budget_left = ctx.config.budget.max_oracle_calls - int(
        (db.campaign(ctx.campaign) or {}).get("oracle_calls", 0)
    )
    skipped = todo[max(budget_left, 0) :]
    todo = todo[: max(budget_left, 0)]
    db.update_campaign(ctx.campaign, {"stage": "label"})
    done = label(todo, oracle, ctx.iter_dir(iteration, "label"))
    for r in done:
        db.set_labels(r)
    if done:
        db.update_campaign(
            ctx.campaign, inc={"oracle_calls": len(done), f"iterations.{iteration}.oracle_calls": len(done)}
        )
    rejected = [{"id": r.id, "reason": r.reject_reason} for r in done if r.status == "rejected"]
    return {
        "labelled": [r.id for r in done if r.status in ("labelled", "test")],
        "rejected": rejected,
        "reused": reused,
        "over_budget": [r.id for r in skipped],
        "oracle_calls": len(done),
    }


def reference_energies(db: Database, ctx: Context) -> dict[str, float]:
    """Isolated-atom energies for the campaign's oracle settings: computed once, stored in the campaign."""
    from pyacemaker.oracle import make_oracle

    oracle = make_oracle(ctx.config.oracle)
    key = f"reference_energies.{oracle.settings_hash}"
    doc = db.campaign(ctx.campaign) or {}
    stored = (doc.get("reference_energies") or {}).get(oracle.settings_hash) or {}
    missing = [el for el in ctx.config.elements if el not in stored]
    if missing:
        wd = ctx.workdir / "reference_atoms"
        wd.mkdir(parents=True, exist_ok=True)
        stored = {**stored, **{el: oracle.reference_energy(el, wd) for el in missing}}
        db.update_campaign(ctx.campaign, {key: stored})
    return stored


# ----------------------------------------------------------------------------------------------- training
def train_stage(db: Database, ctx: Context, iteration: int) -> dict[str, Any]:
    """Fit on the campaign's labelled records (train side of a family split), warm-started from the previous
    potential. Nothing new: skipped. A failed or diverged refit: reported, and the previous potential stays."""
    from pyacemaker.oracle import make_oracle
    from pyacemaker.train.dataset import split, summary, within_energy_window
    from pyacemaker.train.pacemaker import FitError, evaluate, fit

    db.update_campaign(ctx.campaign, {"stage": "train", "iteration": iteration})
    oracle = make_oracle(ctx.config.oracle)
    records = db.training_records(ctx.campaign, oracle.settings_hash)
    prev = db.latest_potential(ctx.campaign)
    if (
        prev is not None
        and prev.get("n_labelled", prev["n_structures"]) >= len(records)
        and prev["iteration"] < iteration
    ):
        out = {"skipped": True, "reason": "no new labelled structures", "potential_id": prev["_id"],
               "iteration": iteration, "n_structures": len(records)}  # fmt: skip
        db.set_iteration(ctx.campaign, iteration, {"train": out})
        return out
    t = ctx.config.train
    refs = reference_energies(db, ctx)
    n_all = len(records)  # what "nothing new" compares against next iteration
    records, dropped = within_energy_window(records, refs, t.energy_window)
    train_set, test_set = split(records, t.test_fraction, salt=ctx.campaign)
    warm = None
    if t.warm_start and prev is not None:
        warm = potential_files(db, ctx, prev["_id"])["yaml"]
    wd = ctx.iter_dir(iteration, "train")
    try:
        res = fit(train_set, ctx.config.elements, refs, t, wd, baseline=ctx.baseline, initial_potential=warm,
                  max_iterations=t.refit_iterations if warm else None)  # fmt: skip
        test_metrics = evaluate(res.yaml, test_set, refs, ctx.baseline) if test_set else {}
        metrics = {**res.metrics, **{f"test_{k}": v for k, v in test_metrics.items()}}
        if prev is not None:
            diverged = refit_diverged(prev.get("metrics", {}), metrics, t.divergence_factor)
            if diverged:
                raise FitError(diverged)
    except FitError as exc:
        if prev is None:
            raise  # nothing to fall back on: the job fails with the reason
        out = {"skipped": True, "failed": True, "reason": str(exc)[:2000], "potential_id": prev["_id"],
               "iteration": iteration, "n_structures": len(records)}  # fmt: skip
        db.set_iteration(ctx.campaign, iteration, {"train": out})
        log.warning("fit of iteration %d rejected, keeping %s: %s", iteration, prev["_id"], exc)
        return out
    pot_id = f"{ctx.campaign}:pot{iteration:03d}"
    doc = {
        "_id": pot_id, "campaign": ctx.campaign, "iteration": iteration, "n_structures": res.n_structures,
        "n_labelled": n_all, "n_functions": res.n_functions, "dataset_ids": [r.id for r in train_set],
        "test_ids": [r.id for r in test_set], "metrics": metrics, "reference_energies": refs,
        "fit_wall_time_s": res.wall_time_s, "elements": ctx.config.elements, "warm_start_from": prev["_id"] if warm else None,
        "baseline": ctx.config.baseline.model_dump(mode="json"), "dataset": summary(records),
    }  # fmt: skip
    db.save_potential(doc, {"yaml": res.yaml, "yace": res.yace, "asi": res.asi})
    out = {"skipped": False, "potential_id": pot_id, "iteration": iteration, "n_structures": res.n_structures,
           "n_test": len(test_set), "n_functions": res.n_functions, "metrics": metrics,
           "wall_time_s": res.wall_time_s, "warm_start": warm is not None,
           "excluded_high_energy": [r.id for r in dropped]}  # fmt: skip
    db.set_iteration(ctx.campaign, iteration, {"train": out, "dataset": summary(records)})
    db.update_campaign(ctx.campaign, {"current_potential": pot_id, "current_potential_path": str(res.yace)})
    return out


def final_fit_stage(db: Database, ctx: Context, potential_id: str) -> str:
    """One last fit of every labelled structure at the full basis (warm-started from ``potential_id``); returns the
    id of the potential the campaign hands over. A failed or diverged final fit leaves ``potential_id``."""
    from pyacemaker.oracle import make_oracle
    from pyacemaker.train.dataset import summary, within_energy_window
    from pyacemaker.train.pacemaker import FitError, fit

    t = ctx.config.train
    if not t.final_fit:
        return potential_id
    db.update_campaign(ctx.campaign, {"stage": "final fit"})
    records = db.training_records(ctx.campaign, make_oracle(ctx.config.oracle).settings_hash)
    prev = db.potentials.find_one({"_id": potential_id}) or {}
    refs = reference_energies(db, ctx)
    records, _ = within_energy_window(records, refs, t.energy_window)
    # a No-Go round fits again: its own id and directory, the first final potential's files stay as they were
    n_final = db.potentials.count_documents({"campaign": ctx.campaign, "final": True})
    suffix = f"{n_final + 1}" if n_final else ""
    pot_id = f"{ctx.campaign}:final{suffix}"
    n_func = max(min(t.final_functions or t.max_functions, 2 * len(records)), prev.get("n_functions", 1))
    try:
        res = fit(records, ctx.config.elements, refs, t, ctx.workdir / f"final_fit{suffix}", baseline=ctx.baseline,
                  initial_potential=potential_files(db, ctx, potential_id)["yaml"], n_functions=n_func)  # fmt: skip
        diverged = refit_diverged(prev.get("metrics", {}), res.metrics, t.divergence_factor)
        if diverged:
            raise FitError(diverged)
    except FitError as exc:
        db.update_campaign(ctx.campaign, {"final_fit": {"failed": True, "reason": str(exc)[:2000]}})
        log.warning("final fit rejected, keeping %s: %s", potential_id, exc)
        return potential_id
    doc = {
        "_id": pot_id, "campaign": ctx.campaign, "iteration": int(prev.get("iteration", 0)) + 1, "final": True,
        "n_structures": res.n_structures, "n_labelled": len(records), "n_functions": res.n_functions,
        "dataset_ids": [r.id for r in records], "test_ids": [], "metrics": res.metrics, "reference_energies": refs,
        "fit_wall_time_s": res.wall_time_s, "elements": ctx.config.elements, "warm_start_from": potential_id,
        "baseline": ctx.config.baseline.model_dump(mode="json"), "dataset": summary(records),
    }  # fmt: skip
    db.save_potential(doc, {"yaml": res.yaml, "yace": res.yace, "asi": res.asi})
    db.update_campaign(ctx.campaign, {"current_potential": pot_id, "current_potential_path": str(res.yace),
                                      "final_fit": {"potential_id": pot_id, "n_functions": res.n_functions,
                                                    "metrics": res.metrics, "wall_time_s": res.wall_time_s}})  # fmt: skip
    return pot_id


def refit_diverged(previous: dict[str, float], current: dict[str, float], factor: float) -> str | None:
    """Why a refit is worse than useless (errors ``factor`` x the previous iteration's), or None."""
    for key in ("train_energy_rmse_meV_atom", "train_forces_rmse_meV_A"):
        old, new = previous.get(key), current.get(key)
        if old and new is not None and (not np.isfinite(new) or new > factor * max(old, 1e-3)):
            return f"{key} rose from {old:.3g} to {new:.3g} (more than {factor}x): diverged fit"
    return None


def potential_files(db: Database, ctx: Context, potential_id: str) -> dict[str, Path]:
    """The potential's files, from the fit directory when this worker shares it, else from GridFS."""
    doc = db.potentials.find_one({"_id": potential_id})
    if doc is None:
        raise KeyError(f"potential {potential_id} not found")
    paths = {k: Path(v["path"]) for k, v in doc["files"].items()}
    if all(p.exists() for p in paths.values()):
        return paths
    return db.fetch_potential_files(potential_id, ctx.iter_dir(doc["iteration"], "potential"))


# ----------------------------------------------------------------------------------------------- exploration
def md_start(db: Database, ctx: Context) -> StructureRecord:
    """The structure every MD run starts from: the unstrained, unrattled seed (its record is the parent)."""
    seeds = db.find_records({"campaign": ctx.campaign, "provenance.origin": "seed"})
    plain = [s for s in seeds if (s.provenance.builder or "").endswith("volume +0%")]
    # the user's own structure first; else the alloy for several elements; else the element's crystal
    for prefix in ("file ", "random alloy" if len(ctx.config.elements) > 1 else "bulk "):
        found = [s for s in plain if (s.provenance.builder or "").startswith(prefix)]
        if found:
            return found[0]
    return (plain or seeds)[0]


def explore_stage(
    db: Database,
    ctx: Context,
    iteration: int,
    train_out: dict,
    index: int,
    cond: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One exploration run (MD or kMC) of condition ``cond`` (default: iteration 0's condition ``index``); the
    halted frame, its local perturbations and other extrapolative frames become candidate records."""
    from pyacemaker.dynamics.drivers import Potential, run_condition
    from pyacemaker.explore.starts import start_structure

    cond = cond or conditions(ctx.config)[index]
    kind = "kmc" if cond.get("driver", "md") != "md" else "md"
    run_id = f"{ctx.campaign}:it{iteration:03d}:{kind}{index}"
    if not train_out.get("potential_id"):
        return {"run_id": run_id, "condition": cond, "skipped": True, "halted": False, "candidate_ids": []}
    db.update_campaign(ctx.campaign, {"stage": "explore"})
    files = potential_files(db, ctx, train_out["potential_id"])
    e = ctx.config.explore
    seed = e.seed + 1000 * iteration + index
    parent = md_start(db, ctx)
    atoms, how = start_structure(parent.to_atoms(with_labels=False), cond.get("start", "bulk"), ctx.config,
                                 np.random.default_rng(seed))  # fmt: skip
    pot = Potential(files["yaml"], files["asi"], files.get("yace"), ctx.baseline, ctx.config.elements)
    out = run_condition(atoms, pot, cond, ctx.config, seed, ctx.iter_dir(iteration, f"{kind}_{index}"))
    if out.notice:
        log.warning("%s: %s", run_id, out.notice)
    cands = halt_candidates(out, ctx, iteration, run_id, cond, parent.id, kind, np.random.default_rng(seed))
    db.insert_records(cands)
    summary = {"run_id": run_id, "condition": cond, "start": how, "skipped": False, **out.summary(),
               "candidate_ids": [c.id for c in cands]}  # fmt: skip
    db.set_iteration(
        ctx.campaign,
        iteration,
        {f"explore.{index}": {k: v for k, v in summary.items() if k != "candidate_ids"}},
    )
    db.update_campaign(ctx.campaign, {"latest_max_gamma": out.max_gamma})
    return summary


def halt_candidates(out, ctx: Context, iteration: int, run_id: str, cond: dict, parent: str, kind: str,
                    rng: np.random.Generator) -> list[StructureRecord]:  # fmt: skip
    """Candidates of one run: every kept frame (an embedded cluster for big cells), and for the halted frame
    ``explore.perturbations`` local rattles of the atoms within the cutoff of its highest-gamma atom."""
    from pyacemaker.explore.builders import local_rattle

    e = ctx.config.explore
    cands: list[StructureRecord] = []
    for k, fr in enumerate(out.frames):
        is_halt = out.halted and k == len(out.frames) - 1 and fr.step == out.halt_step
        origin = f"{kind}_halt" if is_halt else f"{kind}_frame"
        prov = Provenance(origin=origin, iteration=iteration + 1, parent=parent, run_id=run_id, condition=cond,
                          step=fr.step, gamma=fr.gamma)  # fmt: skip
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
                           condition=cond, step=fr.step,
                           builder=f"rattle {e.perturbation_amplitude} A of the atoms within the cutoff of atom "
                                   f"{centre} #{j + 1} (halted frame)"),
            )  # fmt: skip
            pert.force_weights = rec.force_weights
            cands.append(pert)
    return cands


def candidate_record(frame, prov: Provenance, ctx: Context) -> StructureRecord:
    """A candidate from an MD frame: the frame itself, or for a large cell an embedded cluster around its
    highest-gamma atom (buffer atoms with zero force weight)."""
    from pyacemaker.oracle.embedding import EmbeddingError, cut_cluster

    e = ctx.config.explore
    if len(frame.atoms) > e.embed_above_atoms and frame.per_atom_gamma is not None:
        try:
            cl = cut_cluster(frame.atoms, frame.per_atom_gamma, ctx.config.train.cutoff, e.embed_buffer,
                             e.embed_core_radius)  # fmt: skip
        except EmbeddingError as exc:
            log.info("labelling the whole frame: %s", exc)
        else:
            prov = prov.model_copy(
                update={
                    "builder": (
                        f"embedded cluster of {len(cl.atoms)} atoms around atom {cl.centres[0]} (gamma "
                        f"{frame.per_atom_gamma[cl.centres[0]]:.2f}); {int(cl.force_weights.sum())} core atoms weighted"
                    )
                }
            )
            rec = StructureRecord.new(cl.atoms, ctx.campaign, prov)
            rec.force_weights = cl.force_weights.tolist()
            return rec
    return StructureRecord.new(frame.atoms, ctx.campaign, prov)


# ----------------------------------------------------------------------------------------------- selection
def select_stage(
    db: Database, ctx: Context, iteration: int, explore_outs: list[dict], potential_id: str
) -> dict:
    """Choose from the previous iteration's candidates (deduplicated, minus anything already labelled); the
    selection report (pooled, extrapolative, chosen, gamma statistics) goes into the campaign document."""
    from pyacemaker.train.select import dedupe, extrapolation_grades, select

    db.update_campaign(ctx.campaign, {"stage": "select", "iteration": iteration})
    ids = [i for o in explore_outs for i in o.get("candidate_ids", [])]
    fetched = [r for r in db.get_records(ids) if r.status == "candidate"] if ids else []
    known = {
        d["hash"] for d in db.records.find({"campaign": ctx.campaign, "labels": {"$ne": None}}, {"hash": 1})
    }
    pool = dedupe(fetched, known)
    files = potential_files(db, ctx, potential_id)
    s = ctx.config.select
    chosen = select(s.method, pool, files["yaml"], files["asi"], s.budget, s.gamma_tolerance, iteration)
    db.set_status([c.id for c in chosen], "selected")
    grades = extrapolation_grades(pool, files["yaml"], files["asi"]) if pool else np.array([])
    report = {
        "method": s.method, "pooled": len(ids), "candidates": len(pool), "chosen": len(chosen),
        "extrapolative": int((grades > s.gamma_tolerance).sum()),
        "gamma_max": float(grades.max()) if grades.size else None,
        "gamma_median": float(np.median(grades)) if grades.size else None,
    }  # fmt: skip
    db.set_iteration(ctx.campaign, iteration, {"selection": report})
    return {"ids": [c.id for c in chosen], **report}


# ----------------------------------------------------------------------------------------------- decision
END_STATES = ("converged", "stalled", "budget")


def decide_outcome(
    iteration: int,
    explore_outs: list[dict],
    train_out: dict,
    cfg: CampaignConfig,
    oracle_calls: int,
    active: list | None = None,
) -> tuple[str, str]:
    """``continue`` or an end state, with the reason. Pure logic: unit-tested without a database.

    ``active`` are the conditions after :func:`pyacemaker.explore.policy.adapt` (their halt-free windows in a row
    are the convergence signal); without them one halt-free iteration converges.
    """
    from pyacemaker.explore.policy import converged

    halts = [o for o in explore_outs if o.get("halted")]
    if not halts:
        quiet = ", ".join(
            f"{(o.get('condition') or {}).get('name', i)} {float(o.get('simulated_time_fs') or 0) / 1000:.2f} ps"
            for i, o in enumerate(explore_outs)
        )
        if active is None or converged(active, cfg):
            return "converged", f"no halts at any of {len(explore_outs)} conditions ({quiet})"
        if iteration + 1 >= cfg.budget.max_iterations:
            return "budget", f"reached max_iterations={cfg.budget.max_iterations} before every condition had " \
                             f"{cfg.explore.converge_windows} halt-free runs"  # fmt: skip
        return "continue", (
            f"no halts ({quiet}); conditions escalate until each has {cfg.explore.converge_windows} halt-free runs"
        )
    if train_out.get("skipped") and iteration > 0:
        return "stalled", "MD halted but no new structure survived selection and labelling"
    if not any(o.get("candidate_ids") for o in halts):
        return "stalled", "MD halted but produced no candidate structures"
    if iteration + 1 >= cfg.budget.max_iterations:
        return (
            "budget",
            f"reached max_iterations={cfg.budget.max_iterations} with {len(halts)} halting conditions",
        )
    if oracle_calls >= cfg.budget.max_oracle_calls:
        return "budget", f"reached max_oracle_calls={cfg.budget.max_oracle_calls}"
    return "continue", f"{len(halts)} of {len(explore_outs)} conditions halted on gamma"
