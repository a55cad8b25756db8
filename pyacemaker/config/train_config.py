"""The ``train:`` section: pacemaker's basis, loss weights, data windows and the final fit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pyacemaker.config.base import Strict


class TrainConfig(Strict):
    """Pacemaker fit settings; ``None`` means derived from the elements or the dataset."""

    cutoff: float | None = Field(None, gt=1.0, le=12.0, description="ACE radial cutoff, Angstrom")
    inner_cutoff: float | None = Field(
        None, gt=0.1, le=6.0, description="ZBL core-repulsion inner cutoff, Angstrom"
    )
    min_functions: int = Field(
        16, ge=1, description="basis functions per element for the first, smallest dataset"
    )
    max_functions: int = Field(200, ge=1, description="cap on basis functions per element")
    functions_per_structure: float = Field(
        1.0, gt=0, description="basis growth with the number of training structures"
    )
    max_fit_iterations: int = Field(150, ge=1, le=100000, description="BFGS iterations per fit")
    # 0.1, not pacemaker's usual 0.3: a strained perfect crystal has zero forces, so the equation of state and the
    # elastic constants are in the energies alone. Metals with a cheap oracle go lower: the shipped EMT workflows
    # set 0.02 (the demo's final fit at 0.1 held the force term at 96 % of the loss: B0 4 % off, phonons 0.14 THz;
    # at 0.02 B0 0.1-0.6 %, phonons 0.03-0.05 THz in 3 runs). Not the default: si_qe (pw.x, 11 cells of 8 atoms)
    # at 0.02 had training forces 205 meV/A and a final potential whose MD collapsed (atoms 0.9 A apart)
    kappa: float = Field(0.1, ge=0.0, le=1.0, description="force weight in the loss (pacemaker's kappa)")
    # the demo's final data at kappa 0.02: weight 1 gave Cu's Cij 8.8 % off and phonons 0.07 THz, 10 gave 7.3 % and
    # 0.04 THz, 50 gave 6.5 % and 0.035 THz (diminishing); Cu-Au at 10: Au's Cij 13.6 -> 6.9 %. The EMT workflows
    # set 10; the default is 1 (off): si_qe's 5 force-free cells of 11 then held 89 % of the energy loss, B0 came out
    # 11 % off and the final MD collapsed (No-Go 2/2; at 1: Go 3/3, B0 2-3 %)
    force_free_weight: float = Field(
        1.0,
        ge=0.0,
        description="energy weight (x the others') of structures whose forces vanish: strained perfect crystals, "
        "which carry the equation of state and the elastic constants in their energies alone",
    )
    test_fraction: float = Field(
        0.1, ge=0, lt=1, description="share of structure families held out for test errors"
    )
    energy_window: float | None = Field(
        2.0, gt=0, description="structures more than this (eV/atom) above the lowest are not fitted"
    )
    force_window: float | None = Field(
        20.0, gt=0, description="structures with an atom under a larger force (eV/A) are not fitted"
    )
    warm_start: bool = Field(True, description="refits start from the previous iteration's potential")
    refit_iterations: int | None = Field(None, ge=1, description="BFGS iterations of a warm refit")
    divergence_factor: float = Field(
        5.0, gt=1, description="a refit whose errors exceed this x the previous is rejected"
    )
    final_fit: bool = Field(True, description="end the campaign with one fit of all labels at a larger basis")
    final_warm_start: bool = Field(
        True,
        description="the final fit starts from the last iteration's potential (false: from scratch, every "
        "function of the full basis fitted together)",
    )
    final_functions: int | None = Field(
        None, ge=1, description="basis functions per element of the final fit"
    )
    final_iterations: int | None = Field(
        None,
        ge=1,
        le=100000,
        description="BFGS iterations of the final fit (the potential that is validated)",
    )
    ladder_step: int | None = Field(
        None, ge=1, description="pacemaker ladder fitting: functions added per step"
    )
    ladder_type: Literal["body_order", "power_order"] = "body_order"
    embedding_ndensity: int = Field(1, ge=1, le=4)
    radial_functions: int = Field(6, ge=1, le=20, description="nradmax for pair functions")
    timeout_s: float | None = Field(
        86400.0,
        gt=0,
        description="hard wall-clock limit per pacemaker run (24 h): then the fit fails; null: none",
    )
    seed: int = 42

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.min_functions > self.max_functions:
            raise ValueError(
                f"min_functions ({self.min_functions}) exceeds max_functions ({self.max_functions})"
            )
        if self.cutoff is not None and self.inner_cutoff is not None and self.inner_cutoff >= self.cutoff:
            raise ValueError(f"inner_cutoff ({self.inner_cutoff}) must be below cutoff ({self.cutoff})")
        return self
