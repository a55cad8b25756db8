"""Physics defaults: every value a campaign config leaves out, derived from the elements, with a note saying where
it came from (``pyacemaker config FILE`` prints the notes as YAML comments)."""

from __future__ import annotations

from io import StringIO
from typing import Any

from ase.data import atomic_numbers
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pyacemaker.config.policy import MaterialProfile, decisions, initial_conditions
from pyacemaker.config.schema import CampaignConfig, ConfigError, TrainConfig
from pyacemaker.elements import nearest_neighbour_distance, solid_melting_points
from pyacemaker.structures.builders import StructureFileError, from_file

FINAL_ITERATIONS = 300  # BFGS iterations per element a final fit gets at least (benchmarks/eos_window.py)

MIN_CUTOFF_NN = 1.2
"""The shortest ACE cutoff accepted, in units of the largest nearest-neighbour distance of the elements."""


def derived_basis_size(n_structures: int, train: TrainConfig) -> int:
    """Basis functions per element for a dataset of ``n_structures``: grows linearly, clipped to the caps."""
    n = round(n_structures * train.functions_per_structure)
    return int(min(train.max_functions, max(train.min_functions, n)))


def final_basis_size(n_structures: int, n_atoms: int, train: TrainConfig) -> int:
    """Basis functions per element of the final fit: the full basis, capped by the data (2 per structure plus 1 per
    4 atoms). The atoms count because their forces constrain the basis too: Si/pw.x, 13 cells of 8 atoms, had
    B0 6.5-14 % off at 26 functions (2 per structure, train 3.0 meV/atom) and 2.2 % at 52 (1.6 meV/atom)."""
    return int(min(train.final_functions or train.max_functions, 2 * n_structures + n_atoms // 4))


def resolve(cfg: CampaignConfig) -> tuple[CampaignConfig, dict[str, str]]:
    """Fill every derived value; return the resolved copy and a note per dotted key saying where it came from."""
    out = cfg.model_copy(deep=True)
    notes: dict[str, str] = {}
    nn = {el: nearest_neighbour_distance(el) for el in cfg.elements}
    nn_min = min(d for d, _ in nn.values())
    nn_max = max(d for d, _ in nn.values())
    nn_src = ", ".join(f"{el}: {d:.3f} A from {src}" for el, (d, src) in nn.items())

    cut = cfg.train.cutoff
    if cut is not None and cut < MIN_CUTOFF_NN * nn_max:
        far = max(nn, key=lambda el: nn[el][0])
        raise ConfigError(
            f"train.cutoff {cut:g} A is too short: the nearest neighbours of {far} are {nn_max:.2f} A apart "
            f"({nn[far][1]}) and a cutoff needs at least {MIN_CUTOFF_NN:g} x that ({MIN_CUTOFF_NN * nn_max:.2f} A) "
            "so that strained, rattled and hot cells keep their first neighbours; raise it, or leave train.cutoff "
            "out to derive it"
        )
    if cfg.baseline.type == "lj" and cfg.baseline.sigma and set(cfg.baseline.sigma) != set(cfg.elements):
        raise ConfigError(f"baseline.sigma must give a value for each element {cfg.elements}")
    if out.name is None:
        out.name = "-".join(cfg.elements) + "-" + cfg.oracle.type
        notes["name"] = "elements and oracle"
    if out.train.cutoff is None:
        out.train.cutoff = round(min(7.0, max(4.0, 2.0 * nn_max)), 2)
        notes["train.cutoff"] = f"2 x largest nearest-neighbour distance, within [4, 7] A ({nn_src})"
    if out.train.inner_cutoff is None:
        out.train.inner_cutoff = round(0.6 * nn_min, 2)
        notes["train.inner_cutoff"] = (
            "0.6 x smallest nearest-neighbour distance: pacemaker's own ZBL core below it (used only with baseline: none)"
        )
    b = out.baseline
    if b.type == "zbl":
        if b.inner is None:
            b.inner = round(0.45 * nn_min, 2)
            notes["baseline.inner"] = (
                "0.45 x smallest nearest-neighbour distance: full ZBL repulsion below it"
            )
        if b.outer is None:
            b.outer = round(0.75 * nn_min, 2)
            notes["baseline.outer"] = (
                "0.75 x smallest nearest-neighbour distance: no baseline in the bonding region"
            )
        notes["baseline.type"] = (
            "delta learning: ACE fits labels minus this baseline; pacemaker's core repulsion is off"
        )
    elif b.type == "lj":
        if b.sigma is None:
            b.sigma = {el: round(d / 2 ** (1 / 6), 3) for el, (d, _) in nn.items()}
            notes["baseline.sigma"] = "minimum of LJ at each element's nearest-neighbour distance"
        if b.epsilon is None:
            b.epsilon = 0.1
            notes["baseline.epsilon"] = "0.1 eV: a weak pair term, ACE learns the rest"
        if b.cutoff is None:
            b.cutoff = out.train.cutoff
            notes["baseline.cutoff"] = "the ACE cutoff"
    if out.train.final_functions is None:
        out.train.final_functions = out.train.max_functions
        notes["train.final_functions"] = (
            "max_functions: the final fit uses the full basis (capped by the data: 2 per structure + 1 per 4 atoms)"
        )
    if out.train.final_iterations is None:
        t = out.train
        t.final_iterations = max(
            FINAL_ITERATIONS * len(out.elements) * t.embedding_ndensity, t.max_fit_iterations
        )
        notes["train.final_iterations"] = (
            f"at least {FINAL_ITERATIONS} per element and embedding density: the gate needs a converged fit (Cu/EMT "
            "at 60 iterations: B0 6-8 % low, C44 up to 15 % off, changing with the seed; at 300: B0 within 1.1 %, "
            "Cij within 4.6 %; Cu-Au, 5x the basis, at 300: train 4.5 meV/atom, Cu's B0 17 % off; 300 more: 3.2 "
            "meV/atom, 0.7 %; Cu-Au with two densities at 600: Cu's Cij 10.0 and 10.8 %, 600 more: 6.6 and 6.3 %)"
        )
    if out.train.refit_iterations is None:
        out.train.refit_iterations = max(1, out.train.max_fit_iterations // 2)
        notes["train.refit_iterations"] = (
            "half the first fit's iterations: a warm start begins near the optimum"
        )
    notes["train.min_functions"] = (
        "basis per element = clip(structures x functions_per_structure, min_functions, max_functions)"
    )

    dft = cfg.oracle.cost == "dft"
    if out.seeds.supercell_atoms is None:
        out.seeds.supercell_atoms = 8 if dft else 32
        notes["seeds.supercell_atoms"] = (
            "DFT labels: the smallest cells that hold a few environments"
            if dft
            else "small cells: cheap labels, several environments per cell"
        )
    if out.seeds.volume_strains is None:
        w = out.validation.settings.eos_max_strain
        out.seeds.volume_strains = [round(x, 4) for x in (-w, -w / 2, 0.0, w / 2, w)]
        notes["seeds.volume_strains"] = (
            f"+-{w:.0%} volume: the gate's EOS window (validation.settings.eos_max_strain), so the equation of "
            "state the gate checks is fitted, not extrapolated"
        )
    if out.seeds.rattle_amplitude is None:
        out.seeds.rattle_amplitude = round(0.04 * nn_min, 3)
        notes["seeds.rattle_amplitude"] = "4 % of the nearest-neighbour distance: thermal-like displacements"

    if out.explore.temperatures is None:
        tm = solid_melting_points(cfg.elements)
        if tm:
            el_min = min(tm, key=tm.__getitem__)
            out.explore.temperatures = [
                max(50.0, round(f * tm[el_min] / 10) * 10.0) for f in (0.25, 0.5, 0.75)
            ]
            notes["explore.temperatures"] = (
                f"0.25/0.5/0.75 x melting point {tm[el_min]:.0f} K of {el_min} (lowest-melting solid element)"
            )
        else:
            out.explore.temperatures = [300.0, 600.0, 900.0]
            notes["explore.temperatures"] = (
                "no solid-element melting point known: generic 300/600/900 K ladder"
            )
    for path in cfg.seeds.structures:  # read now: a bad file is a config error, before a campaign exists
        try:
            from_file(path, cfg.elements)
        except StructureFileError as exc:
            raise ConfigError(f"seeds.structures: {exc}") from None

    profile = MaterialProfile.from_elements(cfg.elements)
    for key, (value, why) in decisions(profile).items():
        if getattr(out.explore, key) is None:
            setattr(out.explore, key, value)
            notes[f"explore.{key}"] = f"policy: {why}"
    if out.explore.conditions is None:
        out.explore.conditions = initial_conditions(out)
        notes["explore.conditions"] = (
            "policy: bulk at each ladder temperature, plus end-member/vacancy/surface/kMC runs as switched on above"
        )
    if out.seeds.shear_strains is None:
        out.seeds.shear_strains = [0.03]
        notes["seeds.shear_strains"] = "one 3 % shear per base cell: shear moduli are in the first labels"
    if out.seeds.tetragonal_strains is None:
        out.seeds.tetragonal_strains = [0.03]
        notes["seeds.tetragonal_strains"] = (
            "one 3 % volume-conserving stretch per base cell: C11 - C12, which volume strains and xy shears do not "
            "probe (Cu-Au without it: Cu's C11 16 % off)"
        )
    if out.seeds.cold_start_labels is None:
        out.seeds.cold_start_labels = out.select.budget
        notes["seeds.cold_start_labels"] = "select.budget: cold-start snapshots chosen by D-optimality"
    if out.explore.timestep_fs is None:
        light = min(cfg.elements, key=lambda e: atomic_numbers[e])
        out.explore.timestep_fs = (
            0.5 if atomic_numbers[light] <= 2 else (1.0 if atomic_numbers[light] <= 10 else 2.0)
        )
        notes["explore.timestep_fs"] = (
            f"from the lightest element ({light}): 0.5 fs for H/He, 1 fs up to Ne, else 2 fs"
        )
    if out.explore.supercell_atoms is None:
        out.explore.supercell_atoms = 64
        notes["explore.supercell_atoms"] = (
            "large enough for collective motion, small enough for a fast halt check"
        )
    notes["explore.gamma_halt"] = "extrapolation grade: ~1 in the training domain, >5 clearly extrapolating"

    try:  # the oracle plugin derives its own settings (pseudopotentials, cutoffs, POTCARs...)
        oracle, onotes = out.oracle.resolve(cfg.elements)
    except ValueError as exc:  # e.g. no pseudopotentials: a problem the user fixes in the config
        raise ConfigError(str(exc)) from None
    out.oracle = oracle
    notes.update({f"oracle.{k}": v for k, v in onotes.items()})

    v = out.validation
    if v.properties is None:
        v.properties = ["eos", "elastic", "stability"] if dft else ["eos", "elastic", "phonons", "stability"]
        notes["validation.properties"] = (
            "DFT: phonon supercells are costly, add phonons when you can afford them" if dft
            else "cheap oracle: every property is compared with the oracle"
        )  # fmt: skip
    if "md_temperature_K" not in v.settings.model_fields_set:
        v.settings.md_temperature_K = float(max(out.explore.temperatures or [300.0]))
        notes["validation.settings"] = "md_temperature_K: the highest exploration temperature"
    if v.settings.md_min_distance is None and out.baseline.type == "zbl":
        v.settings.md_min_distance = out.baseline.inner
        notes["validation.settings"] = (
            notes.get("validation.settings", "")
            + "; md_min_distance: the ZBL inner cutoff (atoms inside the core)"
        ).lstrip("; ")
    resolve_resources(out, notes, dft)
    if out.database.name is None:
        out.database.name = "pyacemaker"
        notes["database.name"] = "default database name"
    if out.workflow == "distill":
        resolve_surrogate(out, notes)
    return out, notes


SURROGATE_LABELS = 200  # "hundreds": enough structures for a base basis several times the oracle labels' own
POOL_PER_LABEL = (
    5  # MD snapshots explored per surrogate label (the D-optimal choice needs a pool to choose from)
)
STEPS_PER_SNAPSHOT = 5  # MD steps between snapshots: 10 fs at 2 fs, decorrelated enough to differ


def resolve_surrogate(out: CampaignConfig, notes: dict[str, str]) -> None:
    """workflow: distill's pool and label counts."""
    s = out.surrogate
    if s.labels is None:
        s.labels = SURROGATE_LABELS
        notes["surrogate.labels"] = f"{SURROGATE_LABELS}: hundreds of cheap labels for the base ACE"
    if s.pool_size is None:
        s.pool_size = POOL_PER_LABEL * s.labels
        notes["surrogate.pool_size"] = f"{POOL_PER_LABEL} MD snapshots per surrogate label to choose from"
    if s.md_steps is None:
        n_runs = (
            len(out.elements) + (len(out.elements) > 1) + len(out.seeds.structures) + len(out.seeds.builders)
        )
        n_runs *= len(out.explore.temperatures or [300.0]) * len(out.seeds.volume_strains or [0.0])
        n_runs += sum(c.driver == "md" and c.start != "bulk" for c in out.explore.conditions or [])
        s.md_steps = STEPS_PER_SNAPSHOT * -(-s.pool_size // max(1, n_runs))
        notes["surrogate.md_steps"] = (
            f"pool_size over the seed cells x volume strains x temperatures and the policy's defect and surface "
            f"conditions ({n_runs} runs), a snapshot every "
            f"{STEPS_PER_SNAPSHOT} steps"
        )


def dump_resolved(cfg: CampaignConfig, notes: dict[str, str]) -> str:
    """YAML of the resolved config with each derived value's note as an end-of-line comment."""

    def convert(obj: Any, prefix: str) -> Any:
        if isinstance(obj, dict):
            cm = CommentedMap()
            for k, v in obj.items():
                cm[k] = convert(v, f"{prefix}{k}.")
                note = notes.get(f"{prefix}{k}")
                if note:
                    cm.yaml_add_eol_comment(note, k, column=40)
            return cm
        if isinstance(obj, list):
            if any(isinstance(x, dict) for x in obj):  # e.g. explore.conditions: one block per item
                return CommentedSeq([convert(x, prefix) for x in obj])
            seq = CommentedSeq(obj)
            seq.fa.set_flow_style()
            return seq
        return obj

    data = convert(cfg.model_dump(mode="json"), "")
    y = YAML()
    y.default_flow_style = False
    y.width = 200
    buf = StringIO()
    y.dump(data, buf)
    return buf.getvalue()


# per class: (nodes, ntasks, cpus_per_task, mem, walltime) and why
_RESOURCES = {
    ("label", True): ((1, 4, 1, "8G", "04:00:00"), "DFT: one node, 4 MPI ranks of pw.x per structure"),
    ("label", False): ((1, 1, 1, "2G", "01:00:00"), "cheap oracle: one core"),
    ("train", None): ((1, 1, 4, "8G", "04:00:00"), "pacemaker/TensorFlow: one process, 4 threads"),
    ("explore", "lammps"): ((1, 4, 1, "4G", "02:00:00"), "LAMMPS: 4 MPI ranks"),
    ("explore", "ase"): ((1, 1, 1, "4G", "02:00:00"), "ASE MD with pyace: one thread"),
    ("explore", "auto"): (
        (1, 1, 1, "4G", "02:00:00"),
        "MD in LAMMPS (ML-PACE or the plugin) or ASE: one core",
    ),
    ("light", None): ((1, 1, 1, "1G", "00:15:00"), "bookkeeping (select, decide): seconds on one core"),
}


def resolve_resources(out: CampaignConfig, notes: dict[str, str], dft: bool) -> None:
    """Each job class's queue request, where the user gave none (a field the user set is kept)."""
    keys = {"label": dft, "train": None, "explore": out.explore.engine, "light": None}
    for cls, key in keys.items():
        res = getattr(out.resources, cls)
        (nodes, ntasks, cpus, mem, walltime), why = _RESOURCES[(cls, key)]
        derived = {"category": cls, "nodes": nodes, "ntasks": ntasks, "cpus_per_task": cpus, "mem": mem,
                   "walltime": walltime}  # fmt: skip
        if out.workers.category:  # one category for every job: a class's own would be a conflict on reload
            derived.pop("category")
        filled = [k for k, v in derived.items() if getattr(res, k) is None]
        for k in filled:
            setattr(res, k, derived[k])
        if filled:
            notes[f"resources.{cls}"] = why + (f" (category: {cls})" if "category" in filled else "")
    if out.workers.category:
        notes["workers.category"] = "every job carries this category instead of its class's"
