"""Training benchmark: pacemaker fit time against dataset size, and a cold start against a warm start.

    python benchmarks/training.py [--sizes 10 20 40] [--iterations 60] [--threads 1 2]

EMT-labelled Cu cells (8 atoms, strained and rattled) with the ZBL baseline of delta learning. For each size it
fits cold, then refits on the same data plus 25 % new structures twice: cold again, and warm from the first fit
with half the iterations (what a campaign's refit does). Prints wall time, initial/final loss and RMSE. Then the
largest size is fitted cold with each of ``--threads`` (default: 1 and every CPU this process may use), the way a
job inside an allocation of that many CPUs runs pacemaker (OpenMP and TensorFlow threads from it): fit time against
threads.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from rich.console import Console
from rich.table import Table

from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.records import Labels, Provenance, StructureRecord
from pyacemaker.train.baseline import make_baseline
from pyacemaker.train.pacemaker import fit


def dataset(n: int, seed: int) -> list[StructureRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cu", cubic=True).repeat((2, 1, 1))
        a.set_cell(a.cell * (1 + rng.uniform(-0.04, 0.04)), scale_atoms=True)
        a.rattle(0.08, seed=int(rng.integers(1 << 30)))
        a.calc = EMT()
        r = StructureRecord.new(
            a, "bench", Provenance(origin="seed", builder=f"bench {seed}-{k}"), "labelled"
        )
        r.labels = Labels(energy=a.get_potential_energy(), forces=a.get_forces().tolist(), oracle="emt",
                          settings_hash="emt")  # fmt: skip
        out.append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40])
    ap.add_argument("--iterations", type=int, default=60)
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    ap.add_argument("--threads", type=int, nargs="+", default=sorted({1, ncpu}),
                    help="threads of the fit-time-against-threads table (default: 1 and all CPUs)")  # fmt: skip
    args = ap.parse_args()
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"},
                                   "train": {"max_fit_iterations": args.iterations}}))  # fmt: skip
    base = make_baseline(cfg.baseline, cfg.elements)
    refs = {"Cu": 0.0}
    root = Path(tempfile.mkdtemp(prefix="training_bench_"))
    table = Table(title=f"pacemaker fits (Cu, EMT labels, ZBL baseline; {args.iterations} BFGS iterations cold, "
                        f"{cfg.train.refit_iterations} warm) in {root}")  # fmt: skip
    for col in (
        "structures",
        "start",
        "basis/el",
        "wall s",
        "loss start",
        "loss end",
        "E rmse meV/at",
        "F rmse meV/A",
    ):
        table.add_column(col)
    for n in args.sizes:
        first = dataset(n, seed=n)
        grown = first + dataset(max(1, n // 4), seed=1000 + n)
        runs = [("cold", first, None, None)]
        r0 = None
        for label, data, init, iters in runs:
            t0 = time.perf_counter()
            r0 = fit(data, ["Cu"], refs, cfg.train, root / f"{n}_{label}", baseline=base, initial_potential=init,
                     max_iterations=iters)  # fmt: skip
            _row(table, len(data), label, r0, time.perf_counter() - t0)
        for label, init, iters in (
            ("cold (grown)", None, None),
            ("warm (grown)", r0.yaml, cfg.train.refit_iterations),
        ):
            t0 = time.perf_counter()
            r = fit(grown, ["Cu"], refs, cfg.train, root / f"{n}_{label.split()[0]}_grown", baseline=base,
                    initial_potential=init, max_iterations=iters)  # fmt: skip
            _row(table, len(grown), label, r, time.perf_counter() - t0)
    Console(width=160).print(table)
    threads_table(args, cfg, base, refs, root)


def threads_table(args, cfg, base, refs, root: Path) -> None:
    """Cold fits of the largest dataset with each thread count (the OMP_NUM_THREADS an allocation gives a job)."""
    n = max(args.sizes)
    data = dataset(n, seed=n)
    t = Table(title=f"fit time against threads ({n} structures, {args.iterations} iterations, cold)")
    for col in ("threads", "wall s", "speed-up", "E rmse meV/at"):
        t.add_column(col)
    before = os.environ.get("OMP_NUM_THREADS")
    first = None
    try:
        for k in args.threads:
            os.environ["OMP_NUM_THREADS"] = str(k)  # pacemaker_env takes the job's threads from it
            t0 = time.perf_counter()
            r = fit(data, ["Cu"], refs, cfg.train, root / f"threads_{k}", baseline=base)
            wall = time.perf_counter() - t0
            first = first or wall
            t.add_row(
                str(k), f"{wall:.1f}", f"{first / wall:.2f}", f"{r.metrics['train_energy_rmse_meV_atom']:.2f}"
            )
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before
    Console(width=160).print(t)


def _row(table: Table, n: int, label: str, r, wall: float) -> None:
    m = r.metrics
    table.add_row(str(n), label, str(r.n_functions), f"{wall:.1f}", f"{m.get('train_loss_initial', float('nan')):.3g}",
                  f"{m.get('train_loss_final', float('nan')):.3g}", f"{m['train_energy_rmse_meV_atom']:.2f}",
                  f"{m['train_forces_rmse_meV_A']:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
