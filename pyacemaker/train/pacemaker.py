"""Fitting an ACE potential with pacemaker: input.yaml from the config, the fit, .yace and the active set.

Pacemaker runs as its own process (``pacemaker input.yaml``): TensorFlow stays out of the caller, a crash
cannot take a worker down, and the log is kept in the fit directory. Its tools are found beside the interpreter
before PATH (:func:`pyacemaker.allocation.tool`), and it gets the threads of the allocation the worker holds (one
thread without one, unless the user's ``OMP_NUM_THREADS`` says otherwise).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pyacemaker.allocation import Allocation, ToolNotFound, thread_env, tool
from pyacemaker.config.resolve import derived_basis_size
from pyacemaker.config.schema import TrainConfig
from pyacemaker.proc import GRACE_S, run_logged
from pyacemaker.schemas.records import StructureRecord
from pyacemaker.train.baseline import AcePlusBaseline
from pyacemaker.train.dataset import write_pacemaker_pickle

# pacemaker's environment outside any allocation (pacemaker_env adds the allocation's threads instead)
QUIET_ENV = {
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "CUDA_VISIBLE_DEVICES": "-1",
}


def pacemaker_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment pacemaker and its tools run in: ``environ`` (default ``os.environ``), TensorFlow quiet, and
    the threads of the allocation it describes (:func:`~pyacemaker.allocation.thread_env`). Without allocation
    variables this is ``{**environ, **QUIET_ENV}``."""
    environ = os.environ if environ is None else environ
    alloc = Allocation.from_env(environ)
    return {**environ, "TF_CPP_MIN_LOG_LEVEL": "2", **thread_env(alloc, environ)}


EV_A3_TO_GPA = 160.21766208  # 1 eV/A^3 in GPa


class FitError(RuntimeError):
    """Pacemaker did not produce a usable potential (message has the log tail)."""


@dataclass
class FitResult:
    yaml: Path
    yace: Path
    asi: Path
    n_structures: int
    n_functions: int
    metrics: dict[str, float] = field(default_factory=dict)
    wall_time_s: float = 0.0


def pacemaker_input(
    elements: Sequence[str], train: TrainConfig, n_functions: int, data_file: str, core_repulsion: bool = True
) -> dict[str, Any]:
    """The input.yaml dictionary: one radial cutoff, a small basis, and pacemaker's own ZBL inner core below
    ``inner_cutoff`` only when ``core_repulsion`` (off in delta learning: the baseline repels, never twice)."""
    nrad = train.radial_functions
    bonds: dict[str, Any] = {"radbase": "SBessel", "radparameters": [5.25], "rcut": train.cutoff, "dcut": 0.01,
                             "NameOfCutoffFunction": "cos"}  # fmt: skip
    if core_repulsion:
        bonds.update({"r_in": train.inner_cutoff, "delta_in": 0.1, "inner_cutoff_type": "zbl"})
    return {
        "seed": train.seed,
        "cutoff": train.cutoff,  # informational; pacemaker reads the bond rcut below
        "metadata": {"origin": "pyacemaker"},
        "potential": {
            "deltaSplineBins": 0.001,
            "elements": list(elements),
            "embeddings": {
                "ALL": {
                    "npot": "FinnisSinclairShiftedScaled",
                    "fs_parameters": [1, 1, 1, 0.5][: 2 * train.embedding_ndensity],
                    "ndensity": train.embedding_ndensity,
                }
            },
            "bonds": {"ALL": bonds},
            "functions": {
                "number_of_functions_per_element": int(n_functions),
                "UNARY": {"nradmax_by_orders": [nrad, 3, 2, 1], "lmax_by_orders": [0, 2, 2, 1]},
                "BINARY": {"nradmax_by_orders": [nrad, 2, 2, 1], "lmax_by_orders": [0, 2, 1, 0]},
                "ALL": {"nradmax_by_orders": [nrad, 2, 1, 1], "lmax_by_orders": [0, 1, 1, 0]},
            },
        },
        "data": {"filename": data_file},
        "fit": {
            "loss": {"kappa": train.kappa, "L1_coeffs": 1e-8, "L2_coeffs": 1e-8},
            "optimizer": "BFGS",
            "maxiter": train.max_fit_iterations,
        },
        "backend": {"evaluator": "tensorpot", "batch_size": 100, "display_step": 50},
    }


# pace_yaml2yace on its own (a converted potential takes seconds): its hard limit
TOOL_TIMEOUT_S = 3600.0
KILL_GRACE_S = GRACE_S  # past a limit: SIGTERM to the tool's process group, SIGKILL this much later


def _run(cmd: list[str], cwd: Path, log: Path, timeout: float | None = None) -> None:
    """Run a pacemaker tool, its output appended to ``log``; FitError when it fails or runs past ``timeout``
    seconds (its process group then gets SIGTERM, SIGKILL after a grace period: :mod:`pyacemaker.proc`)."""
    try:
        exe = tool(cmd[0])
    except ToolNotFound as exc:
        raise FitError(f"{exc}: install python-ace (scripts/setup.sh) in this environment") from None
    run_logged(
        [exe, *cmd[1:]], cwd, log, FitError, env=pacemaker_env(), timeout_s=timeout, grace_s=KILL_GRACE_S
    )


def fit(
    records: Sequence[StructureRecord],
    elements: Sequence[str],
    reference_energies: dict[str, float],
    train: TrainConfig,
    workdir: Path,
    timeout: float | None = None,
    baseline=None,
    initial_potential: Path | None = None,
    max_iterations: int | None = None,
    n_functions: int | None = None,
) -> FitResult:
    """Fit a potential on ``records`` in ``workdir``; return its .yaml/.yace/.asi and training-set errors.

    With a ``baseline`` (delta learning) pacemaker fits labels minus the baseline and has no core of its own.
    ``timeout`` (default ``train.timeout_s``) limits each pacemaker/pace_activeset run: past it the fit fails.
    """
    import time

    t0 = time.perf_counter()
    timeout = train.timeout_s if timeout is None else timeout
    workdir.mkdir(parents=True, exist_ok=True)
    if not records:
        raise FitError("no labelled structures to fit")
    data = write_pacemaker_pickle(
        records, reference_energies, workdir / "dataset.pckl.gzip", baseline, train.force_free_weight
    )
    n_func = n_functions or derived_basis_size(len(records), train)
    spec = pacemaker_input(elements, train, n_func, data.name, core_repulsion=baseline is None)
    if initial_potential is not None:
        # Warm start from the previous potential. A larger basis: pacemaker's ladder scheme extends it and fits;
        # the same basis: continue fitting its coefficients (the ladder would stop at once, "no new function",
        # and hand back the previous potential unfitted). The target's size is what pacemaker builds from the
        # spec, not n_func x elements: the basis shape caps it (Cu: 53; Cu-Au: 268 however large n_func).
        from pyace import BBasisConfiguration, create_multispecies_basis_config

        prev_total = BBasisConfiguration(str(initial_potential)).total_number_of_functions
        target_total = create_multispecies_basis_config(spec["potential"]).total_number_of_functions
        if target_total > prev_total:
            spec["potential"]["initial_potential"] = str(Path(initial_potential).resolve())
        else:
            spec["potential"] = {"filename": str(Path(initial_potential).resolve())}
    if max_iterations is not None:
        spec["fit"]["maxiter"] = int(max_iterations)
    if train.ladder_step is not None:
        spec["fit"]["ladder_step"] = train.ladder_step
        spec["fit"]["ladder_type"] = train.ladder_type
    (workdir / "input.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    log = workdir / "pacemaker.log"
    _run(["pacemaker", "input.yaml", "--no-predict"], workdir, log, timeout)
    pot = workdir / "output_potential.yaml"
    if not pot.exists():
        raise FitError(f"pacemaker finished without output_potential.yaml in {workdir}")
    _check_finite(pot)
    losses = fit_losses(workdir)
    if losses and not np.isfinite(losses[-1]):
        raise FitError(f"the fit diverged: loss {losses[-1]} (NaN or infinite) in {workdir}")
    yaml_to_yace(pot, workdir / "output_potential.yace", log, timeout)
    _run(["pace_activeset", "-d", "fitting_data_info.pckl.gzip", pot.name], workdir, log, timeout)
    asi = workdir / "output_potential.asi"
    if not asi.exists():
        raise FitError(f"pace_activeset wrote no active set in {workdir}")
    metrics = evaluate(pot, records, reference_energies, baseline)
    if losses:
        metrics.update(loss_initial=float(losses[0]), loss_final=float(losses[-1]))
    return FitResult(
        pot, workdir / "output_potential.yace", asi, len(records), n_func,
        {f"train_{k}": v for k, v in metrics.items()}, time.perf_counter() - t0,
    )  # fmt: skip


def yaml_to_yace(
    potential_yaml: Path,
    yace: Path | None = None,
    log: Path | None = None,
    timeout: float | None = TOOL_TIMEOUT_S,
) -> Path:
    """Convert a potential .yaml to LAMMPS' .yace with ``pace_yaml2yace`` (beside ``potential_yaml``, same stem, by
    default); its output goes to ``log`` (default: ``pace_yaml2yace.log`` beside the potential)."""
    potential_yaml = Path(potential_yaml).resolve()
    yace = (Path(yace) if yace is not None else potential_yaml.with_suffix(".yace")).resolve()
    log = Path(log) if log is not None else potential_yaml.with_name("pace_yaml2yace.log")
    _run(["pace_yaml2yace", str(potential_yaml), "-o", str(yace)], potential_yaml.parent, log, timeout)
    if not yace.exists():
        raise FitError(f"pace_yaml2yace wrote no {yace.name} in {yace.parent}")
    return yace


def fit_losses(workdir: Path) -> list[float]:
    """The total training loss of the last fit at each iteration pacemaker reported (its log, which ladder and
    plain fits both write; ``metrics.txt`` stays empty in ladder mode)."""
    text = (
        (workdir / "pacemaker.log").read_text(errors="replace")
        if (workdir / "pacemaker.log").exists()
        else ""
    )
    found = re.findall(r"Iteration:\s+#(\d+)\s+Loss:\s+Total:\s+(\S+)", text)
    out: list[float] = []
    for it, val in found:
        if int(it) == 0:
            out = []  # a new fit (or ladder step) starts: keep the last one
        try:
            out.append(float(val))
        except ValueError:
            out.append(float("nan"))
    return out


def _check_finite(pot: Path) -> None:
    text = pot.read_text()
    if "nan" in text.lower().split("elements")[-1]:
        raise FitError(f"the fitted potential {pot} contains NaN coefficients (diverged fit)")


def calculator(
    potential_yaml: Path,
    active_set: Path | None = None,
    baseline=None,
    reference_energies: dict[str, float] | None = None,
):
    """ASE calculator of a fitted potential: ACE (+ baseline) (+ isolated-atom energies, for absolute energies).

    With the active set it also reports per-atom ``gamma`` (the extrapolation grade) in ``results``.
    """
    from pyace import PyACECalculator

    ace = PyACECalculator(str(potential_yaml))
    if active_set is not None:
        ace.set_active_set(str(active_set))
    return AcePlusBaseline(ace, baseline, reference_energies)


def evaluate(
    potential_yaml: Path,
    records: Sequence[StructureRecord],
    reference_energies: dict[str, float],
    baseline=None,
) -> dict[str, float]:
    """RMSE and MAE of energy (meV/atom) and forces (meV/A) of a potential (+ baseline) against labelled records."""
    calc = calculator(potential_yaml, None, baseline, reference_energies)
    de, df, ds = [], [], []
    for r in records:
        atoms = r.to_atoms(with_labels=False)
        atoms.calc = calc
        de.append((atoms.get_potential_energy() - r.labels.energy) / len(atoms))
        df.append((atoms.get_forces() - np.array(r.labels.forces)).ravel())
        if r.labels.stress is not None and all(atoms.pbc):
            ds.append(atoms.get_stress() - np.array(r.labels.stress))
    de_a, df_a = np.array(de) * 1000, np.concatenate(df) * 1000
    out = {
        "energy_rmse_meV_atom": float(np.sqrt(np.mean(de_a**2))),
        "energy_mae_meV_atom": float(np.mean(np.abs(de_a))),
        "forces_rmse_meV_A": float(np.sqrt(np.mean(df_a**2))),
        "forces_mae_meV_A": float(np.mean(np.abs(df_a))),
        "n_structures": float(len(records)),
    }
    if ds:
        ds_a = np.concatenate(ds) * EV_A3_TO_GPA
        out.update(
            stress_rmse_GPa=float(np.sqrt(np.mean(ds_a**2))), stress_mae_GPa=float(np.mean(np.abs(ds_a)))
        )
    return out
