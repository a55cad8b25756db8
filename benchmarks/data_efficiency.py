"""Data-efficiency benchmark: the errors each way of choosing labels reaches at equal oracle budgets.

    python benchmarks/data_efficiency.py [--systems cu,cuau] [--budgets 25 50 100 200] [--seeds 3]
        [--methods loop,random,gamma,seeds,cold,distill] [--workdir DIR] [--report-only]

The claim it tests: pyacemaker's loop reaches a given accuracy with far fewer oracle calls than random sampling.
Everything is labelled by ASE's EMT (the oracle; cheap, so that the budgets can be swept on a laptop).

**The test set** is built here, with the oracle, and never by pyacemaker's exploration: Langevin MD snapshots (EMT
forces) at 0.2, 0.5, 0.8 and 1.0 Tm, the liquid (melted at 2 Tm, sampled at 1.3 Tm), a vacancy at 0.5 Tm, a (111)
surface at 0.3 Tm, volume strains of -10, -5, +5, +10 % and xy shears of 3, 6, 9 % (rattled by 0.03 A); Tm the
experimental melting point (the alloy: the mean of its elements'). Each family is reported on its own: an average
can hide a family the loop never learned.

**Methods**, each at every budget (oracle calls for training labels) and seed:

- ``loop``: ``pyacemaker run`` of the shipped workflow (``workflows/cu_emt_demo.yaml``, ``workflows/cuau_emt.yaml``)
  with ``budget.max_oracle_calls`` set to the budget (iterations unlimited, no held-out test set of its own,
  no gate) and its seeds set from the benchmark's seed; its final potential.
- ``gamma``: the same with ``select.method: gamma`` (the highest extrapolation grades instead of D-optimality).
- ``distill``: the same with ``workflow: distill``: the first oracle labels fine-tune CHGNet, which explores a pool
  of ``surrogate.pool_size`` (300) MD snapshots and labels ``surrogate.labels`` (100) of them for a base ACE that
  the oracle's labels then correct; the loop continues on top to the budget (``benchmarks/distillation.py`` runs
  this method against ``loop``). Surrogate labels are not oracle calls.
- ``distill_joint``: ``distill`` with ``surrogate.correction: joint`` (the surrogate's labels stay in every fit at
  weight 0.1 instead of the oracle's labels alone correcting the base).
- ``random``: the baseline of the claim: snapshots of oracle-driven MD (EMT forces) at the workflow's exploration
  temperatures, from its MD cell, sampled at random; fitted cold with the campaign's training settings, the
  basis rule of its final fit (``config.resolve.final_basis_size``) and its ``train.final_iterations``.
- ``random_conditions``: the same, from oracle-driven MD of each of the workflow's exploration conditions (bulk,
  vacancy cell, slab, at their temperatures, from the structures the loop starts them from): random sampling of
  the kinds of structure the loop explores, not only the bulk.
- ``seeds``: no exploration at all: the workflow's seed generator (strains, rattles, shears) drawn to the budget,
  fitted the same way.
- ``cold``: cold start only: the campaign's iteration 0 and no further (``budget.max_iterations: 1``): its seeds and,
  for the rest of the budget, the snapshots of CHGNet MD from the seed cells that D-optimality picks
  (``seeds.cold_start_labels``); its final fit.

**Measured per run**: energy (meV/atom), force (meV/A) and stress (GPa) RMSE on the test set and per family; a0,
B0, the largest Cij error and the phonon band RMSE against the oracle (pyacemaker's own validators on the
reference crystal; ``Go`` when every check of the default thresholds passes); wall time.

**Printed**: a table per system (mean and spread over seeds for each method and budget); the oracle calls each
method needs to reach 2 meV/atom and 50 meV/A, and 1 meV/atom and 30 meV/A (the smallest budget whose mean meets
both; ">max" when none does), with the ratio to random; the errors per family at the largest budget; a PNG of
the learning curves (``learning_curves.png`` in the work directory). Results are kept in ``results.json`` there:
a run that stops is continued by the same command (finished points are not redone); ``--report-only`` prints
what is there.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from ase import Atoms, units
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data_efficiency_report import METHODS, console, report  # noqa: E402

from pyacemaker.config import parse_config, resolve  # noqa: E402
from pyacemaker.config.resolve import final_basis_size  # noqa: E402
from pyacemaker.schemas.records import Labels, Provenance, StructureRecord  # noqa: E402

EXE = str(Path(sys.executable).with_name("pyacemaker"))
SYSTEMS = {"cu": ("workflows/cu_emt_demo.yaml", ["Cu"]), "cuau": ("workflows/cuau_emt.yaml", ["Cu", "Au"])}
POOL_FRAMES = 150  # oracle-MD frames per temperature / condition the random baselines draw from
DISTILL = {"workflow": "distill", "surrogate": {"labels": 100, "pool_size": 300}}
DISTILL_QUICK = {"workflow": "distill", "surrogate": {"labels": 8, "pool_size": 12, "finetune_epochs": 1}}
# --quick: a smoke run that shows every column (the test suite runs it); its numbers mean nothing
QUICK = {
    "train": {"max_fit_iterations": 8, "final_iterations": 8, "final_functions": 8},
    "explore": {"steps": 60},
}


# ------------------------------------------------------------------------------------------------ test set
def melting_point(elements: list[str]) -> float:
    data = yaml.safe_load((ROOT / "pyacemaker" / "data" / "melting_points.yaml").read_text())
    return float(np.mean([data[e] for e in elements]))


def crystal(elements: list[str], natoms: int, rng: np.random.Generator) -> Atoms:
    """The fcc cell of ``natoms`` (32: 2x2x2 conventional); an alloy: random equal shares at Vegard's a."""
    a0 = float(np.mean([bulk(e).cell.cellpar()[0] * np.sqrt(2) for e in elements]))
    n_rep = round((natoms / 4) ** (1 / 3))
    atoms = bulk(elements[0], "fcc", a=a0, cubic=True).repeat((n_rep,) * 3)
    if len(elements) > 1:
        symbols = [elements[i % len(elements)] for i in range(len(atoms))]
        rng.shuffle(symbols)
        atoms.set_chemical_symbols(symbols)
    return atoms


def md_frames(atoms: Atoms, temperature_K: float, n: int, every: int, seed: int, equilibrate: int = 300,
              melt_at: float | None = None) -> list[Atoms]:  # fmt: skip
    """``n`` snapshots ``every`` steps apart of EMT Langevin MD (2 fs) at ``temperature_K`` after ``equilibrate``
    steps (first at ``melt_at`` K when given: a liquid)."""
    a = atoms.copy()
    a.calc = EMT()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(a, temperature_K=melt_at or temperature_K, rng=rng)
    dyn = Langevin(a, 2 * units.fs, temperature_K=melt_at or temperature_K, friction=0.02, rng=rng)
    if melt_at:
        dyn.run(equilibrate)
        dyn.set_temperature(temperature_K=temperature_K)
    dyn.run(equilibrate)
    out = []
    for _ in range(n):
        dyn.run(every)
        out.append(a.copy())
    return out


def labelled(atoms: Atoms, family: str, campaign: str = "testset") -> StructureRecord:
    a = atoms.copy()
    a.calc = EMT()
    stress = a.get_stress().tolist() if all(a.pbc) else None
    rec = StructureRecord.new(a, campaign, Provenance(origin="test_set", family=family), "labelled")
    rec.labels = Labels(energy=a.get_potential_energy(), forces=a.get_forces().tolist(), stress=stress,
                        oracle="emt", settings_hash="emt")  # fmt: skip
    return rec


def build_test_set(elements: list[str], frames: int = 6, seed: int = 1234) -> list[StructureRecord]:
    rng = np.random.default_rng(seed)
    tm = melting_point(elements)
    base = crystal(elements, 32, rng)
    out: list[StructureRecord] = []
    for f in (0.2, 0.5, 0.8, 1.0):
        out += [
            labelled(a, f"bulk {f:g} Tm") for a in md_frames(base, f * tm, frames, 40, seed + int(10 * f))
        ]
    out += [labelled(a, "liquid") for a in md_frames(base, 1.3 * tm, frames, 60, seed + 7, melt_at=2 * tm)]
    vac = base.copy()
    del vac[0]
    out += [labelled(a, "vacancy") for a in md_frames(vac, 0.5 * tm, frames, 40, seed + 8)]
    slab = fcc111(elements[0], (3, 3, 4), a=base.cell.cellpar()[0] / 2, vacuum=8.0, periodic=True)
    if len(elements) > 1:
        sym = [elements[i % len(elements)] for i in range(len(slab))]
        rng.shuffle(sym)
        slab.set_chemical_symbols(sym)
    out += [labelled(a, "surface (111)") for a in md_frames(slab, 0.3 * tm, frames, 40, seed + 9)]
    for s in (-0.10, -0.05, 0.05, 0.10):
        a = base.copy()
        a.set_cell(a.cell * (1 + s) ** (1 / 3), scale_atoms=True)
        a.rattle(0.03, seed=int(rng.integers(1 << 30)))
        out.append(labelled(a, "volume strain"))
    for g in (0.03, 0.06, 0.09):
        a = base.copy()
        cell = np.array(a.cell)
        cell[1] += g * cell[0] / np.linalg.norm(cell[0]) * np.linalg.norm(cell[1])
        a.set_cell(cell, scale_atoms=True)
        a.rattle(0.03, seed=int(rng.integers(1 << 30)))
        out.append(labelled(a, "shear"))
    return out


def test_set(work: Path, system: str, elements: list[str], frames: int) -> list[StructureRecord]:
    """The system's test set (``frames`` snapshots per MD family), built once and kept in ``work``."""
    path = work / f"testset_{system}.json"
    if path.is_file():
        return [StructureRecord.model_validate(d) for d in json.loads(path.read_text())]
    t0 = time.monotonic()
    recs = build_test_set(elements, frames=frames)
    path.write_text(json.dumps([r.model_dump(mode="json") for r in recs]))
    fams = sorted({r.provenance.family for r in recs})
    console.print(f"test set {system}: {len(recs)} structures in {len(fams)} families ({', '.join(fams)}), "
                  f"built in {time.monotonic() - t0:.0f} s")  # fmt: skip
    return recs


# ------------------------------------------------------------------------------------------------ methods
def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def campaign_config(
    system: str, name: str, budget: int, seed: int, overrides: dict, select: str = "maxvol"
) -> dict:
    """The shipped workflow (with ``overrides`` merged in), run to an oracle budget: iterations unlimited, no test
    set or gate of its own."""
    raw = merge(yaml.safe_load((ROOT / SYSTEMS[system][0]).read_text()), overrides)
    iterations = (overrides.get("budget") or {}).get("max_iterations", 50)
    return merge(raw, {"name": name, "budget": {"max_oracle_calls": budget, "max_iterations": iterations},
                       "validation": {"test_structures": 0, "gate": False}, "select": {"method": select},
                       "seeds": {"seed": seed}, "explore": {"seed": seed}, "train": {"seed": seed}})  # fmt: skip


def run_loop(work: Path, system: str, budget: int, seed: int, select: str, overrides: dict,
             method: str | None = None) -> dict[str, Any]:  # fmt: skip
    """One ``pyacemaker run`` in its own data directory; its final potential and the calls it spent."""
    from pyacemaker.db import Database, resolve_target
    from pyacemaker.oracle import make_oracle

    name = f"{system}_{method or select}_{budget}_{seed}"
    d = work / "runs" / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    raw = campaign_config(system, name, budget, seed, overrides, select)
    (d / "config.yaml").write_text(yaml.safe_dump(raw))
    env = {
        **os.environ,
        "PYACEMAKER_DATA_DIR": str(d / "data"),
        "OMP_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    env.pop("PYACEMAKER_DB_URI", None)
    try:
        r = subprocess.run([EXE, "run", str(d / "config.yaml"), "--workdir", str(d / "w"), "--quiet"], env=env,
                           capture_output=True, text=True, timeout=6 * 3600)  # fmt: skip
        (d / "run.log").write_text(r.stdout + r.stderr)
        if r.returncode != 0:
            raise RuntimeError(
                f"pyacemaker run exited {r.returncode}: {(r.stdout + r.stderr).strip()[-400:]}"
            )
        db = Database.connect(resolve_target(data_dir=d / "data", start_embedded=False))
        doc = db.campaign(name)
        cfg, _ = resolve(parse_config(raw))
        refs = (doc.get("reference_energies") or {}).get(make_oracle(cfg.oracle).settings_hash) or {}
        yace = Path(doc["summary"]["potential_path"])
        return {"yaml": str(yace.with_suffix(".yaml")), "refs": refs, "calls": int(doc.get("oracle_calls") or 0),
                "iterations": int(doc.get("iteration") or 0) + 1, "cfg": raw}  # fmt: skip
    finally:
        subprocess.run([EXE, "db", "stop"], env=env, capture_output=True, timeout=120)


def cold_only(system: str, budget: int, seed: int) -> dict:
    """Overrides for iteration 0 alone: the seeds, and cold-start labels for the rest of the budget, picked from a
    pool of CHGNet MD snapshots twice their number, 10 MD steps apart."""
    from pyacemaker.structures.seeds import base_cells, build_seeds

    cfg, _ = resolve(parse_config(campaign_config(system, "cold", budget, seed, {})))
    labels = max(0, budget - len(build_seeds(cfg)))
    cells = len(base_cells(cfg, np.random.default_rng(cfg.seeds.seed + 1)))
    snapshots = max(4, -(-2 * labels // cells))
    return {"budget": {"max_iterations": 1},
            "seeds": {"cold_start": "chgnet", "cold_start_labels": labels, "cold_start_snapshots": snapshots,
                      "cold_start_steps": 10 * snapshots}}  # fmt: skip


def md_pool(cfg, seed: int, per_temperature: int = POOL_FRAMES) -> list[Atoms]:
    """Oracle-driven MD snapshots at the workflow's exploration temperatures, from its MD cell size."""
    rng = np.random.default_rng(seed)
    natoms = cfg.explore.supercell_atoms or 32
    pool = []
    for k, t in enumerate(cfg.explore.temperatures):
        pool += md_frames(
            crystal(cfg.elements, natoms, rng), t, per_temperature, 10, seed * 100 + k, equilibrate=200
        )
    return pool


def condition_pool(cfg, seed: int, per_condition: int = POOL_FRAMES) -> list[Atoms]:
    """Oracle-driven MD snapshots of each of the workflow's exploration conditions from the structure the loop
    starts it from (bulk, vacancy cell, slab) at its temperature: random sampling of what the loop explores."""
    from pyacemaker.campaign.stages.explore import conditions
    from pyacemaker.structures.seeds import base_cells
    from pyacemaker.structures.starts import start_structure

    rng = np.random.default_rng(seed)
    bases = base_cells(cfg, rng)
    base = next(b for b in bases if b.base_kind == ("alloy" if len(cfg.elements) > 1 else "element")).atoms
    pool = []
    for k, c in enumerate(conditions(cfg)):
        start, _ = start_structure(base, c.start, cfg, rng)
        pool += md_frames(start, c.temperature_K, per_condition, 10, seed * 100 + k, equilibrate=200)
    return pool


def seed_pool(cfg, n: int) -> list[Atoms]:
    """The workflow's seed generator, drawn again with more rattled copies until it holds ``n`` structures."""
    from pyacemaker.structures.seeds import build_seeds

    out: list[Atoms] = []
    k = 0
    while len(out) < n and k < 50:
        c = cfg.model_copy(deep=True)
        c.seeds.seed = cfg.seeds.seed + k
        c.seeds.rattled_per_strain = max(1, cfg.seeds.rattled_per_strain) * (1 + k)
        out += [s.atoms for s in build_seeds(c)]
        k += 1
    return out


def fit_drawn(
    work: Path,
    system: str,
    method: str,
    budget: int,
    seed: int,
    overrides: dict,
    pool_frames: int = POOL_FRAMES,
) -> dict[str, Any]:
    """``budget`` structures drawn at random from the method's pool, labelled by EMT and fitted as a campaign's
    final fit would be (cold, its training settings, ``final_basis_size`` functions)."""
    from pyacemaker.oracle import make_oracle
    from pyacemaker.train.baseline import make_baseline
    from pyacemaker.train.pacemaker import fit

    raw = campaign_config(system, f"{system}_{method}", budget, seed, overrides)
    cfg, _ = resolve(parse_config(raw))
    pools = {"random": lambda: md_pool(cfg, seed, pool_frames),
             "random_conditions": lambda: condition_pool(cfg, seed, pool_frames)}  # fmt: skip
    pool = pools.get(method, lambda: seed_pool(cfg, budget))()
    rng = np.random.default_rng(seed)
    picked = [pool[i] for i in rng.choice(len(pool), size=min(budget, len(pool)), replace=False)]
    recs = [labelled(a, f"{method} {i}", "drawn") for i, a in enumerate(picked)]
    d = work / "runs" / f"{system}_{method}_{budget}_{seed}"
    shutil.rmtree(d, ignore_errors=True)
    oracle = make_oracle(cfg.oracle)
    refs = {el: oracle.reference_energy(el, d / "refs") for el in cfg.elements}
    t = cfg.train
    n_func = final_basis_size(len(recs), sum(r.natoms for r in recs), t)
    res = fit(recs, cfg.elements, refs, t, d / "fit", baseline=make_baseline(cfg.baseline, cfg.elements),
              n_functions=n_func, max_iterations=t.final_iterations)  # fmt: skip
    return {"yaml": str(res.yaml), "refs": refs, "calls": len(recs), "iterations": 1, "cfg": raw}


# ------------------------------------------------------------------------------------------------ measures
def measure(got: dict[str, Any], tests: list[StructureRecord], elements: list[str]) -> dict[str, Any]:
    """Test-set RMSE (all, per family) and the gate's properties against the oracle."""
    from pyacemaker.structures.seeds import reference_cell
    from pyacemaker.train.baseline import make_baseline
    from pyacemaker.train.pacemaker import calculator, evaluate
    from pyacemaker.validate.gate import run_gate

    cfg, _ = resolve(parse_config(got["cfg"]))
    base = make_baseline(cfg.baseline, cfg.elements)
    pot = Path(got["yaml"])
    out: dict[str, Any] = {"all": evaluate(pot, tests, got["refs"], base), "families": {}}
    for fam in sorted({r.provenance.family for r in tests}):
        out["families"][fam] = evaluate(
            pot, [r for r in tests if r.provenance.family == fam], got["refs"], base
        )
    props: dict[str, Any] = {}
    for el in elements:
        rep = run_gate(lambda: calculator(pot, None, base, got["refs"]), lambda: EMT(), reference_cell(el),
                       properties=["eos", "elastic", "phonons"])  # fmt: skip
        props[el] = {"go": rep.verdict.go, **{k.name: k.value for k in rep.verdict.checks}}
    out["properties"] = props
    return out


# ------------------------------------------------------------------------------------------------ driver
def load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.is_file() else []


def point(system: str, method: str, budget: int, seed: int, work: Path, tests, elements, overrides: dict,
          pool_frames: int = POOL_FRAMES) -> dict[str, Any]:  # fmt: skip
    t0 = time.monotonic()
    if method in ("loop", "gamma"):
        got = run_loop(work, system, budget, seed, "maxvol" if method == "loop" else "gamma", overrides)
    elif method in ("distill", "distill_joint"):
        correction = "joint" if method == "distill_joint" else "warm_start"
        distill = merge(DISTILL_QUICK if overrides == QUICK else DISTILL,
                        {"surrogate": {"seed": seed, "correction": correction}})  # fmt: skip
        got = run_loop(work, system, budget, seed, "maxvol", merge(overrides, distill), method)
    elif method == "cold":
        got = run_loop(
            work, system, budget, seed, "maxvol", merge(overrides, cold_only(system, budget, seed)), method
        )
    else:
        got = fit_drawn(work, system, method, budget, seed, overrides, pool_frames)
    m = measure(got, tests, elements)
    return {"system": system, "method": method, "budget": budget, "seed": seed, "calls": got["calls"],
            "iterations": got["iterations"], "wall_s": time.monotonic() - t0, **m}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", default="cu,cuau", help=f"comma-separated, of {', '.join(SYSTEMS)}")
    ap.add_argument("--budgets", type=int, nargs="+", default=[25, 50, 100, 200])
    ap.add_argument("--seeds", type=int, default=3, help="seeds per point (default 3)")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    ap.add_argument("--workdir", type=Path, help="default: a new temporary directory (give one to continue)")
    ap.add_argument("--report-only", action="store_true", help="print the tables of results.json and stop")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 snapshot per test family, 15 oracle-MD frames per pool, 8-function fits, short MD "
                    "(numbers mean nothing)")  # fmt: skip
    args = ap.parse_args()
    # test-set frames per MD family; oracle-MD frames per temperature/condition the random baselines draw from
    overrides, frames, pool_frames = (QUICK, 1, 15) if args.quick else ({}, 6, POOL_FRAMES)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [s for s in systems if s not in SYSTEMS] + [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"unknown system or method {bad}")
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="data_efficiency_"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    store = work / "results.json"
    results = load(store)
    if args.report_only:
        report(results, work)
        return 0
    failed = []
    console.print(f"data-efficiency benchmark in {work}: systems {systems}, methods {methods}, budgets "
                  f"{args.budgets}, {args.seeds} seed(s)")  # fmt: skip
    for system in systems:
        elements = SYSTEMS[system][1]
        tests = test_set(work, system, elements, frames)
        for budget in args.budgets:
            for seed in range(1, args.seeds + 1):
                for method in methods:
                    key = (system, method, budget, seed)
                    if any((r["system"], r["method"], r["budget"], r["seed"]) == key for r in results):
                        continue
                    try:
                        row = point(
                            system, method, budget, seed, work, tests, elements, overrides, pool_frames
                        )
                    except Exception as exc:  # noqa: BLE001 (one failed point is reported; the sweep goes on)
                        console.print(f"[red]{key}: failed: {type(exc).__name__}: {str(exc)[:300]}[/]")
                        failed.append(key)
                        continue
                    results.append(row)
                    store.write_text(json.dumps(results, indent=1, default=float))
                    console.print(f"{system} {method} budget {budget} seed {seed}: {row['calls']} calls, "
                                  f"E {row['all']['energy_rmse_meV_atom']:.2f} meV/atom, "
                                  f"F {row['all']['forces_rmse_meV_A']:.1f} meV/A, {row['wall_s']:.0f} s")  # fmt: skip
    report(results, work)
    if failed:
        console.print(f"[red]{len(failed)} point(s) failed (kept out of the tables): {failed}[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
