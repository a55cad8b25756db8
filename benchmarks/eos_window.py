"""Why was the bulk modulus low? B0, a0 and C_ij of potentials fitted on the demo's data against the oracle's.

    python benchmarks/eos_window.py [VARIANT ...]      (default: every variant; --list names them)

Cu with EMT: each variant fits the demo's seed structures (``workflows/cu_emt_demo.yaml``) plus oracle-driven MD
frames at its exploration temperatures (what the loop's first iterations hold) with the campaign's training
settings and the basis rule of its final fit, then fits a Birch-Murnaghan EOS of the potential and of EMT over +-5,
+-10 and +-15 % volume (the gate uses +-15 %) and prints B0 and a0 errors per window, and the errors of the cubic
C11, C12, C44 (the gate's finite-strain fits). Each fit is a final fit (its basis rule and
``train.final_iterations``). Each variant changes one thing against the demo as shipped (seeds over +-15 % volume,
one 3 % shear and one 3 % tetragonal stretch, kappa 0.02, force-free structures x10 in the energy loss, a final fit
of 300 BFGS iterations): the iterations, the seeds' volume range or shears, the energy weights (kappa, force-free
weight), the baseline; "former defaults" are the +-8 % seeds, kappa 0.3, no force-free weight and the demo's
60-iteration final fit that gave B0 23-28 % low. A B0 right in the narrow
window and wrong in the wide one says the fit extrapolates beyond its training volumes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import yaml
from ase.calculators.emt import EMT
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import data_efficiency as de  # noqa: E402

from pyacemaker.config import parse_config, resolve  # noqa: E402
from pyacemaker.config.resolve import final_basis_size  # noqa: E402
from pyacemaker.oracle import make_oracle  # noqa: E402
from pyacemaker.structures.seeds import build_seeds, reference_cell  # noqa: E402
from pyacemaker.train.baseline import make_baseline  # noqa: E402
from pyacemaker.train.pacemaker import calculator, fit  # noqa: E402
from pyacemaker.validate.elastic import cij_errors, elastic_constants  # noqa: E402
from pyacemaker.validate.eos import equation_of_state  # noqa: E402

FORMER_SEEDS = {"volume_strains": [-0.08, -0.04, 0.0, 0.04, 0.08]}
VARIANTS = {
    "former defaults": {
        "seeds": FORMER_SEEDS,
        "train": {"kappa": 0.3, "final_iterations": 60, "force_free_weight": 1.0},
    },
    "final fit 60 iterations": {"train": {"final_iterations": 60}},
    "former seeds": {"seeds": FORMER_SEEDS},
    "former kappa": {"train": {"kappa": 0.3}},
    "defaults": {},
    "kappa 0.1, no force-free weight": {"train": {"kappa": 0.1, "force_free_weight": 1.0}},
    "no force-free weight": {"train": {"force_free_weight": 1.0}},
    "kappa 0.05": {"train": {"kappa": 0.05}},
    "7 seeds over +-15 %": {"seeds": {"volume_strains": [-0.15, -0.08, -0.04, 0.0, 0.04, 0.08, 0.15]}},
    "shears 3 and 6 %": {"seeds": {"shear_strains": [0.03, 0.06]}},
    "no tetragonal strain": {"seeds": {"tetragonal_strains": []}},
    "no baseline": {"baseline": {"type": "none"}},
}
WINDOWS = (0.05, 0.10, 0.15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="*", help=f"of: {', '.join(VARIANTS)}")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--md-frames", type=int, default=10, help="MD frames per exploration temperature")
    ap.add_argument("--repeats", type=int, default=1,
                    help="fits per variant, each with other seeds (seed cells' rattles, MD): the spread of one fit")  # fmt: skip
    args = ap.parse_args()
    if args.list:
        print("\n".join(f"{k}: {v or 'the demo as shipped'}" for k, v in VARIANTS.items()))
        return 0
    bad = [v for v in args.variants if v not in VARIANTS]
    if bad:
        ap.error(f"unknown variant(s) {bad}; --list")
    raw = yaml.safe_load((HERE.parent / "workflows" / "cu_emt_demo.yaml").read_text())
    root = Path(tempfile.mkdtemp(prefix="eos_window_"))
    cell = reference_cell("Cu")
    emt = {w: equation_of_state(EMT, cell, max_strain=w) for w in WINDOWS}
    emt_cij = elastic_constants(EMT, cell)
    t = Table(
        title=f"Cu/EMT: B0 and a0 of the fitted potential against EMT's, per EOS window (work in {root})"
    )
    for col in ("variant", "rep", "structures", "seed volume strains", "functions", "fit s", "train E meV/at", "train F meV/A",
                *[f"B0 +-{w:.0%}" for w in WINDOWS], *[f"a0 +-{w:.0%}" for w in WINDOWS], "C11 %", "C12 %",
                "C44 %"):  # fmt: skip
        t.add_column(col)
    Console().print("EMT B0 (GPa): " + ", ".join(f"+-{w:.0%} {r.b0_GPa:.1f}" for w, r in emt.items()))
    for name, rep in [(n, r) for n in args.variants or list(VARIANTS) for r in range(1, args.repeats + 1)]:
        cfg, _ = resolve(parse_config(de.merge(raw, {**VARIANTS[name], "seeds": {**VARIANTS[name].get("seeds", {}),
                                                                                  "seed": rep}})))  # fmt: skip
        seeds = [s.atoms for s in build_seeds(cfg)]
        recs = [
            de.labelled(a, f"s{i}", "eos") for i, a in enumerate(seeds + de.md_pool(cfg, rep, args.md_frames))
        ]
        d = root / f"{name.replace(' ', '_').replace('%', 'pct').replace('+-', 'pm')}_{rep}"
        refs = {"Cu": make_oracle(cfg.oracle).reference_energy("Cu", d / "refs")}
        base = make_baseline(cfg.baseline, cfg.elements)
        t0 = time.time()
        tr = cfg.train
        res = fit(recs, cfg.elements, refs, tr, d / "fit", baseline=base,
                  n_functions=final_basis_size(len(recs), sum(r.natoms for r in recs), tr),
                  max_iterations=tr.final_iterations)  # fmt: skip
        wall = time.time() - t0
        pot = partial(calculator, res.yaml, None, base, refs)
        eos = {w: equation_of_state(pot, cell, max_strain=w) for w in WINDOWS}
        cij = cij_errors(elastic_constants(pot, cell), emt_cij)
        strains = sorted({round(s, 2) for s in cfg.seeds.volume_strains or []})
        t.add_row(name, str(rep), str(len(recs)), str(strains), str(res.n_functions), f"{wall:.0f}",
                  f"{res.metrics['train_energy_rmse_meV_atom']:.2f}",
                  f"{res.metrics['train_forces_rmse_meV_A']:.1f}",
                  *[f"{eos[w].b0_GPa:.1f} ({(eos[w].b0_GPa / emt[w].b0_GPa - 1) * 100:+.1f}%)" for w in WINDOWS],
                  *[f"{(eos[w].a0 / emt[w].a0 - 1) * 100:+.2f}%" for w in WINDOWS],
                  *[f"{cij.get(k, float('nan')):.1f}" for k in ("C11", "C12", "C44")])  # fmt: skip
        Console().print(f"{name} #{rep}: done in {wall:.0f} s")
    Console(width=200).print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
