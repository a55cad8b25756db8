"""The ``validation:`` section: the held-out test set and the Go/No-Go gate's properties and limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pyacemaker.config.base import Strict, plugin_name
from pyacemaker.plugins import VALIDATORS


def _validated_property(value: str) -> str:
    return plugin_name(value, VALIDATORS)


class ValidationThresholds(BaseModel):
    """Go/No-Go limits: errors against the oracle and the tolerances of the self-consistency checks."""

    model_config = ConfigDict(extra="forbid")

    # the release targets; every shipped workflow met them in 3 of 3 runs (workflows/README.md) before they became
    # the defaults (they were 1 %, 10 %, 15 %, 0.5 THz)
    a0_pct: float = Field(0.5, gt=0, description="lattice parameter error, %")
    b0_pct: float = Field(5.0, gt=0, description="bulk modulus error, %")
    cij_pct: float = Field(10.0, gt=0, description="largest error over independent nonzero C_ij, %")
    phonon_rmse_THz: float = Field(0.2, gt=0, description="RMSE of band-path frequencies, THz")
    imaginary_tol_THz: float = Field(0.05, ge=0, description="frequencies above -tol are not imaginary")
    acoustic_tol_THz: float = Field(0.3, ge=0, description="same, for acoustic branches near Gamma")
    eos_smooth_rms_meV_atom: float = Field(5.0, gt=0, description="largest RMS residual of the BM fit")
    md_max_drift_eV_atom: float = Field(0.05, gt=0)
    md_max_jump_eV_atom: float = Field(0.1, gt=0)
    md_temperature_rtol: float = Field(0.3, gt=0)


class GateSettings(BaseModel):
    """How the properties are computed (the same for the potential and the oracle)."""

    model_config = ConfigDict(extra="forbid")

    eos_max_strain: float = Field(0.15, gt=0, lt=0.5)
    eos_points: int = Field(11, ge=5)
    elastic_strains: list[float] = [-0.01, -0.005, 0.005, 0.01]
    elastic_relax_ions: bool | None = None  # None: when the primitive cell has more than one atom
    phonon_supercell_min_length: float = Field(10.0, gt=0)
    phonon_displacement: float = Field(0.01, gt=0)
    phonon_npoints: int = Field(51, ge=2)
    phonon_mesh: float | list[int] = 30.0
    md_temperature_K: float = Field(300.0, gt=0)
    md_steps: int = Field(300, ge=10)
    md_timestep_fs: float = Field(2.0, gt=0)
    md_min_atoms: int = Field(32, ge=1)
    md_min_distance: float | None = Field(
        None,
        description="core threshold (A), e.g. the ZBL inner cutoff; None: 0.6 x the nearest-neighbour distance",
    )


class ValidationConfig(Strict):
    """The end of a campaign: a held-out test set (MD snapshots of the final potential labelled by the oracle,
    never trained on) and the quality gate (EOS, elastic constants, phonons, MD stability against the oracle)."""

    test_structures: int = Field(8, ge=0, le=1000)
    test_md_steps: int = Field(200, ge=1)
    gate: bool = Field(True, description="validate the final potential against the oracle (Go/No-Go)")
    properties: list[Annotated[str, AfterValidator(_validated_property)]] | None = Field(
        None,
        description="registered properties the gate checks, of eos, elastic, phonons, stability "
        "(default: all for cheap oracles; no phonons for DFT)",
    )
    structures: int = Field(2, ge=1, le=10, description="elements whose reference crystal is validated")
    thresholds: ValidationThresholds = Field(default_factory=ValidationThresholds)
    settings: GateSettings = Field(default_factory=GateSettings)
    every_iteration: bool = Field(
        False, description="also gate each iteration's potential (recorded, never stops the loop)"
    )
    no_go_iterations: int = Field(
        1,
        ge=0,
        le=20,
        description="extra iterations a No-Go may add (targeted structures), beyond budget.max_iterations "
        "but within budget.max_oracle_calls",
    )
