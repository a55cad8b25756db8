"""The ``seeds:``, ``explore:`` and ``select:`` sections: what is built, how it is explored, what is labelled."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pyacemaker.config.base import Strict, one_of, plugin_name
from pyacemaker.plugins import BUILDERS, DRIVERS, SELECTORS

# builders the seeds call themselves (the elements' reference crystals, seeds.structures files)
INTERNAL_BUILDERS = ("reference", "file")


class SeedConfig(Strict):
    """Iteration-0 structures built from the elements' reference crystal structures."""

    supercell_atoms: int | None = Field(None, ge=1, le=2000, description="target atoms per seed cell")
    volume_strains: list[float] | None = Field(
        None, description="fractional volume changes of the seed cells"
    )
    rattle_amplitude: float | None = Field(None, ge=0, le=1.0, description="Gaussian rattle, Angstrom")
    rattled_per_strain: int = Field(2, ge=0, le=50, description="rattled copies per strained cell")
    shear_strains: list[float] | None = Field(
        None, description="engineering shear strains (xy) of the seed cells"
    )
    tetragonal_strains: list[float] | None = Field(
        None, description="volume-conserving stretches along z of the seed cells (x and y contract)"
    )
    structures: list[str] = Field(
        default_factory=list, description="your own structure files (CIF, POSCAR, extxyz) added as seed cells"
    )
    builders: list[str] = Field(
        default_factory=list,
        description="registered structure builders whose cells join the seed cells (called with the elements)",
    )
    cold_start: Literal["auto", "chgnet", "none"] = Field(
        "auto",
        description="relax seeds and run short MD with CHGNet for a physical first pool (auto: if installed)",
    )
    cold_start_steps: int = Field(
        40, ge=1, le=100000, description="CHGNet MD steps per seed cell and temperature"
    )
    cold_start_snapshots: int = Field(
        4,
        ge=1,
        le=10000,
        description="CHGNet MD snapshots kept per seed cell (the pool the labels are picked from)",
    )
    cold_start_labels: int | None = Field(
        None, ge=0, description="cold-start snapshots picked (D-optimal) for the first labels"
    )
    seed: int = Field(42, description="random seed for rattles")

    @field_validator("builders")
    @classmethod
    def _known_builders(cls, v: list[str]) -> list[str]:
        own = [n for n in BUILDERS.names() if n not in INTERNAL_BUILDERS]
        for name in v:
            if name not in own:
                known = ", ".join(own) or "none (register one with @BUILDERS.register in pyacemaker.plugins)"
                raise ValueError(f"unknown structure builder {name!r}; registered: {known}")
        return v


class ConditionConfig(Strict):
    """One exploration condition: a driver run from a start structure, repeated (and escalated) every iteration."""

    name: str | None = Field(None, description="label in status and reports (default: built from the fields)")
    driver: str = Field(
        "md",
        description="md (explore.engine's MD), kmc (built-in kMC), eon (EON's kMC), or a registered driver",
    )
    start: Literal["bulk", "vacancy", "interstitial", "surface"] = Field(
        "bulk", description="start structure, built from the seeds"
    )
    ensemble: Literal["nvt", "npt"] = "nvt"
    temperature_K: float = Field(gt=0, le=20000)
    pressure_GPa: float = Field(0.0, ge=-20, le=500, description="NPT target pressure")
    swap: bool = Field(False, description="atom-swap Monte Carlo between unlike atoms (alloys)")
    element: str | None = Field(
        None,
        description="run in this element's own crystal (an alloy's end member), not the campaign's bulk seed",
    )
    steps: int | None = Field(
        None, ge=1, description="MD steps (kMC: kMC steps); default explore.steps/kmc_steps"
    )

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        # "md" is the MD driver explore.engine picks (md-ase or md-lammps), never named by a condition
        if v == "md" or (v in DRIVERS and not v.startswith("md-")):
            return v
        return one_of(v, ["md", *(n for n in DRIVERS.names() if not n.startswith("md-"))])

    @model_validator(mode="after")
    def _named(self) -> ConditionConfig:
        if self.name is None:
            parts = [self.start, *([self.element] if self.element else []), f"{self.temperature_K:.0f}K"]
            if self.driver != "md":
                parts.insert(0, self.driver)
            elif self.ensemble == "npt":
                parts.append(f"NPT {self.pressure_GPa:g}GPa")
            if self.swap:
                parts.append("swap")
            self.name = " ".join(parts)
        return self


class ExploreConfig(Strict):
    """Exploration: the policy turns the material into conditions (MD or kMC runs that halt when gamma exceeds
    ``gamma_halt``); conditions that stop halting escalate (hotter, higher pressure, longer)."""

    temperatures: list[float] | None = Field(None, description="MD temperature ladder, K")
    conditions: list[ConditionConfig] | None = Field(
        None, description="explicit conditions (default: from the exploration policy)"
    )
    npt: bool | None = Field(None, description="bulk runs at constant pressure (cell breathes)")
    swap: bool | None = Field(None, description="atom-swap Monte Carlo in bulk runs of alloys")
    defects: bool | None = Field(None, description="a vacancy condition and vacancy seeds")
    surfaces: bool | None = Field(None, description="a surface-slab condition and slab seeds")
    end_members: bool | None = Field(
        None,
        description="alloys: a bulk run in each element's own crystal too (the gate validates those crystals)",
    )
    kmc: bool = Field(False, description="add a kinetic Monte Carlo condition (vacancy hops)")
    engine: Literal["auto", "ase", "lammps"] = Field(
        "auto",
        description="MD engine: auto (LAMMPS where lammps_command has ML-PACE or pyacemaker's plugin, else "
        "ASE; decided where the job runs), ase (ASE + pyace), lammps (ML-PACE; falls back to ASE without it)",
    )
    lammps_command: str = Field("lmp", description='LAMMPS executable, e.g. "mpirun -np 8 lmp"')
    eon_command: str = Field("eonclient", description="EON client executable (conditions with driver: eon)")
    escalate: bool = Field(
        True, description="conditions that stop halting get hotter, higher pressure, longer"
    )
    temperature_factor: float = Field(1.2, ge=1.0, le=3.0, description="temperature x this per escalation")
    max_temperature: float | None = Field(None, gt=0, description="escalation cap, K")
    pressure_step_GPa: float = Field(2.0, ge=0, le=100, description="NPT pressure + this per escalation")
    max_pressure_GPa: float | None = Field(None, ge=0, le=500, description="escalation cap, GPa")
    steps_factor: float = Field(1.5, ge=1.0, le=4.0, description="steps x this per escalation")
    max_steps_factor: float = Field(4.0, ge=1.0, le=100, description="escalated steps <= this x the base")
    converge_windows: int = Field(
        1,
        ge=1,
        le=100,
        description="halt-free runs in a row each condition needs before the campaign converges",
    )
    swap_interval: int = Field(20, ge=1, description="MD steps between atom-swap Monte Carlo sweeps")
    kmc_steps: int = Field(4, ge=1, le=10000, description="kMC steps per kMC condition and iteration")
    kmc_searches: int = Field(4, ge=1, le=1000, description="saddle searches per kMC state")
    steps: int = Field(
        2000, ge=1, description="MD steps per condition and iteration (the convergence window)"
    )
    timestep_fs: float | None = Field(None, gt=0, le=10, description="MD time step, fs")
    friction: float = Field(0.02, gt=0, description="Langevin friction, 1/fs")
    gamma_check_interval: int = Field(10, ge=1, description="steps between extrapolation-grade checks")
    gamma_collect: float = Field(2.0, gt=0, description="frames above this gamma are kept as candidates")
    gamma_halt: float = Field(5.0, gt=0, description="MD stops when max gamma exceeds this")
    max_frames: int = Field(
        5, ge=1, description="candidate frames kept per MD run (the halted frame included)"
    )
    perturbations: int = Field(
        3, ge=0, le=50, description="rattled copies of each halted frame added to the pool"
    )
    perturbation_amplitude: float = Field(0.05, ge=0, le=0.5, description="Angstrom")
    supercell_atoms: int | None = Field(None, ge=1, le=5000, description="atoms in the MD cell")
    embed_above_atoms: int = Field(
        400, ge=2, description="halted frames larger than this are labelled as embedded clusters"
    )
    embed_buffer: float = Field(
        2.0, ge=0, le=10, description="buffer shell (A) beyond the cutoff, zero force weight"
    )
    embed_core_radius: float = Field(
        0.0, ge=0, le=10, description="atoms this close (A) to the highest-gamma atom keep full weight"
    )
    timeout_s: float | None = Field(
        43200.0,
        gt=0,
        description="hard wall-clock limit per MD or kMC run (ASE, LAMMPS or EON; 12 h): then it ends with an error",
    )
    seed: int = 7

    @field_validator("temperatures")
    @classmethod
    def _positive(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or any(t <= 0 for t in v)):
            raise ValueError("temperatures must be a non-empty list of positive values in K")
        return v

    @field_validator("conditions")
    @classmethod
    def _unique(cls, v: list[ConditionConfig] | None) -> list[ConditionConfig] | None:
        if v is not None:
            if not v:
                raise ValueError("give at least one condition, or leave conditions out for the policy's")
            names = [c.name for c in v]
            if len(set(names)) != len(names):
                raise ValueError(f"condition names must be unique: {names}")
        return v

    @model_validator(mode="after")
    def _order(self) -> ExploreConfig:
        if self.gamma_collect >= self.gamma_halt:
            raise ValueError(
                f"gamma_collect ({self.gamma_collect}) must be below gamma_halt ({self.gamma_halt})"
            )
        return self


class SelectConfig(Strict):
    """Which candidates get labelled: D-optimal (MaxVol), or random / highest-gamma for comparison."""

    method: str = Field("maxvol", description="a registered selector: maxvol, random or gamma")
    budget: int = Field(12, ge=1, description="structures labelled per iteration at most")
    gamma_tolerance: float = Field(1.01, ge=1.0)

    @field_validator("method")
    @classmethod
    def _known_selector(cls, v: str) -> str:
        return plugin_name(v, SELECTORS)
