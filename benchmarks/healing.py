"""Healing benchmark: provoke each pw.x failure class for real and check what the Custodian handlers do.

    python benchmarks/healing.py [--trials N] [--workdir DIR]

For every class it runs a clean reference and an injected run of the same structure, then prints: class,
injected, healed, rejected correctly, wrong labels (a healed label that differs from the clean one: must be 0)
and the extra DFT time the failure cost. Needs pw.x and Debian's quantum-espresso-data.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase.build import bulk, fcc111
from rich.console import Console
from rich.table import Table

from pyacemaker.config import parse_config, resolve
from pyacemaker.oracle import make_oracle
from pyacemaker.oracle.base import OracleFailure


def oracle(element: str = "Si", **kw):
    base = {"type": "espresso", "kspacing": 0.8, "ecutwfc": 20.0}
    if element == "Al":
        base["functional"] = "LDA"  # Debian ships Al only as LDA
    cfg, _ = resolve(parse_config({"elements": [element], "oracle": {**base, **kw}}))
    return make_oracle(cfg.oracle)


def si8(seed: int):
    a = bulk("Si", cubic=True)
    a.rattle(0.05, seed=seed)
    return a


def close(seed: int):
    a = si8(seed)
    a.positions[1] = a.positions[0] + [0.2, 0, 0]
    return a


@dataclass
class Case:
    name: str
    expect: str  # "healed", "rejected", or "either" (a numerical remedy may or may not be enough)
    structure: object
    element: str = "Si"
    settings: dict = field(default_factory=dict)  # oracle settings of the injected run
    inject: dict | None = None
    memory_limit_mb: int | None = None


CASES = [
    Case("scf_not_converged", "healed", si8, inject={"electrons": {"electron_maxstep": 2}}),
    Case("charge_sloshing_slab", "healed", lambda s: fcc111("Al", size=(1, 1, 8), vacuum=10.0), "Al",
         inject={"electrons": {"mixing_beta": 0.9, "electron_maxstep": 12}}),
    Case("walltime", "healed", si8, settings={"max_seconds": 1.5}),
    Case("too_few_bands", "healed", si8, inject={"system": {"nbnd": 8}}),
    Case("atoms_too_close", "rejected", close),
    Case("metal_fixed_occupations", "rejected", lambda s: bulk("Al"), "Al", settings={"occupations": "fixed"}),
    Case("missing_pseudopotential", "rejected", si8, settings={"pseudopotentials": {"Si": "Si.absent.UPF"}}),
    Case("out_of_memory", "either", si8, memory_limit_mb=200),
]  # fmt: skip


def run(case: Case, trials: int, root: Path) -> dict:
    row = {"injected": 0, "healed": 0, "rejected_ok": 0, "wrong": 0, "extra_s": 0.0, "corrections": 0}
    for t in range(trials):
        atoms = case.structure(t + 1)
        ref, t_clean = None, 0.0
        if case.expect != "rejected":  # the label a healed run must reproduce
            t0 = time.perf_counter()
            ref, _ = oracle(case.element).run_pw(atoms, root / f"{case.name}_{t}_clean")
            t_clean = time.perf_counter() - t0
        row["injected"] += 1
        t0 = time.perf_counter()
        try:
            if "pseudopotentials" in case.settings:
                # resolved settings that name a file that does not exist: must be rejected, never labelled
                o = oracle(case.element)
                o.config.pseudopotentials = case.settings["pseudopotentials"]
            else:
                o = oracle(case.element, **case.settings)
            if case.memory_limit_mb or case.inject:
                res, corr = o.run_pw(atoms, root / f"{case.name}_{t}", case.memory_limit_mb, case.inject)
                e, f = res.energy, res.forces
            else:
                e, f, _, corr = o.compute(atoms, root / f"{case.name}_{t}")
            labelled = True
        except OracleFailure:
            labelled = False
        row["extra_s"] += max(0.0, time.perf_counter() - t0 - t_clean)
        if labelled:
            row["corrections"] += len(corr)
            same = ref is not None and abs(e - ref.energy) < 1e-4 and np.allclose(f, ref.forces, atol=2e-3)
            # a label where none should be, or one that differs from the clean run, is a wrong label
            row["healed" if same else "wrong"] += 1
        elif case.expect != "healed":
            row["rejected_ok"] += 1
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    if shutil.which("pw.x") is None:
        raise SystemExit("pw.x not found: apt-get install quantum-espresso quantum-espresso-data")
    root = args.workdir or Path(tempfile.mkdtemp(prefix="healing_"))
    table = Table(title=f"pw.x healing benchmark ({args.trials} trial(s) per class, work in {root})")
    for col in ("class", "expected", "injected", "healed", "rejected correctly", "wrong labels", "corrections",
                "extra DFT time (s)"):  # fmt: skip
        table.add_column(col)
    total_wrong = 0
    for case in CASES:
        r = run(case, args.trials, root)
        total_wrong += r["wrong"]
        table.add_row(case.name, case.expect, str(r["injected"]), str(r["healed"]), str(r["rejected_ok"]),
                      str(r["wrong"]), str(r["corrections"]), f"{r['extra_s']:.1f}")  # fmt: skip
    Console(width=160).print(table)
    print(f"wrong labels in total: {total_wrong}")


if __name__ == "__main__":
    main()
