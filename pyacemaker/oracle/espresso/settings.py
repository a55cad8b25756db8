"""The pw.x settings (the ``oracle:`` section of a Quantum ESPRESSO campaign) and their physics defaults from the
elements and the pseudopotential headers: one settings set per campaign."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from pyacemaker.config.schema import OracleSettings
from pyacemaker.elements import MAGNETIC, NONMETALS
from pyacemaker.oracle.espresso.pseudos import Pseudo, find_pseudos


class EspressoSettings(OracleSettings):
    """Quantum ESPRESSO pw.x. Every ``None`` is derived from the elements and the pseudopotentials' headers."""

    cost: ClassVar[Literal["cheap", "dft"]] = "dft"

    type: Literal["espresso"] = "espresso"
    command: str = Field("pw.x", description="pw.x executable")
    mpi_command: str | None = Field(None, description='launcher prefix, e.g. "mpirun -np 4"')
    pseudo_dir: str | None = Field(
        None, description="directory of UPF files (else $ESPRESSO_PSEUDO, then Debian's)"
    )
    pseudopotentials: dict[str, str] | None = Field(None, description="element -> UPF file name")
    functional: Literal["PBE", "PBEsol", "LDA"] = "PBE"
    ecutwfc: float | None = Field(None, gt=5, le=500, description="wavefunction cutoff, Ry")
    ecutrho: float | None = Field(None, gt=20, le=4000, description="charge-density cutoff, Ry")
    kspacing: float = Field(
        0.25, gt=0.01, le=5.0, description="k-point spacing, 2pi/A (Gamma only when every axis gets 1)"
    )
    occupations: Literal["smearing", "fixed"] | None = None
    smearing: Literal["mv", "gaussian", "fd", "mp"] | None = None
    degauss: float | None = Field(None, gt=0, le=0.2, description="Ry")
    spin_polarized: bool | None = None
    starting_magnetization: dict[str, float] | None = None
    conv_thr_per_atom: float = Field(1e-9, gt=0, le=1e-4, description="SCF threshold per atom, Ry")
    electron_maxstep: int = Field(100, ge=1, le=10000)
    mixing_beta: float = Field(0.4, gt=0, le=1)
    max_seconds: float | None = Field(
        None, gt=0, description="pw.x stops cleanly after this and is restarted"
    )
    min_distance_factor: float = Field(
        0.5, ge=0, le=1.5, description="reject structures with atoms closer than this x covalent radii sum"
    )
    max_corrections: int = Field(8, ge=0, le=50, description="healing attempts per structure")
    timeout_s: float | None = Field(
        21600.0,
        gt=0,
        description="hard wall-clock limit per pw.x run (6 h; at least max_seconds' clean stop): then SIGTERM, "
        "SIGKILL 10 s later, and the structure is rejected; null: none",
    )

    def resolve(self, elements: list[str]) -> tuple[EspressoSettings, dict[str, str]]:
        """Pseudopotentials, cutoffs, smearing and spin from the elements (PseudoError when none fit)."""
        out, notes, _ = resolve_espresso(self, elements)
        return out, notes


# Wavefunction cutoffs (Ry) when a UPF header suggests none: first-row elements have hard potentials.
HARD_NC = {"H": 60.0, "B": 60.0, "C": 70.0, "N": 70.0, "O": 75.0, "F": 80.0}
DEFAULT_NC, DEFAULT_US = 40.0, 45.0
RHO_FACTOR = {"NC": 4.0, "US": 8.0, "PAW": 8.0}


def _wfc(p: Pseudo) -> tuple[float, str]:
    if p.wfc_cutoff:
        return p.wfc_cutoff, f"{p.path.name} suggests {p.wfc_cutoff:.0f} Ry"
    if p.kind == "NC":
        v = HARD_NC.get(p.element, DEFAULT_NC)
        return v, f"table value for norm-conserving {p.element} ({v:.0f} Ry)"
    return DEFAULT_US, f"table value for {p.kind} pseudopotentials ({DEFAULT_US:.0f} Ry)"


def resolve_espresso(
    cfg: EspressoSettings, elements: list[str]
) -> tuple[EspressoSettings, dict[str, str], dict[str, Pseudo]]:
    """The oracle config with every derived value filled, a note per key (for ``pyacemaker config``), and the
    pseudopotentials chosen."""
    out = cfg.model_copy(deep=True)
    notes: dict[str, str] = {}
    pseudos = find_pseudos(elements, cfg.pseudo_dir, cfg.pseudopotentials, cfg.functional)
    if out.pseudo_dir is None:
        dirs = {str(p.path.parent) for p in pseudos.values()}
        out.pseudo_dir = dirs.pop() if len(dirs) == 1 else None
        notes["pseudo_dir"] = "first directory holding the pseudopotentials ($ESPRESSO_PSEUDO, then Debian's)"
    if out.pseudopotentials is None:
        out.pseudopotentials = {el: p.path.name for el, p in pseudos.items()}
        kinds = ", ".join(f"{el}: {p.kind} {p.functional}" for el, p in pseudos.items())
        notes["pseudopotentials"] = f"{cfg.functional} preferred, one functional for all ({kinds})"
    if out.ecutwfc is None:
        vals = {el: _wfc(p) for el, p in pseudos.items()}
        el = max(vals, key=lambda e: vals[e][0])
        out.ecutwfc = float(round(vals[el][0]))
        notes["ecutwfc"] = f"maximum over elements: {el}, {vals[el][1]}"
    if out.ecutrho is None:
        need = {el: max(p.rho_cutoff or 0.0, RHO_FACTOR[p.kind] * out.ecutwfc) for el, p in pseudos.items()}
        out.ecutrho = float(round(max(need.values())))
        notes["ecutrho"] = (
            "4 x ecutwfc for norm-conserving, 8 x for ultrasoft/PAW, or the header's suggestion if larger"
        )
    metal = all(el not in NONMETALS for el in elements)
    if out.occupations is None:
        out.occupations = "smearing"
        notes["occupations"] = (
            "smearing: metals need it, and it keeps hot or defective cells of semiconductors converging"
        )
    if out.occupations == "smearing":
        if out.smearing is None:
            out.smearing = "mv" if metal else "gaussian"
            notes["smearing"] = "Marzari-Vanderbilt for metals" if metal else "Gaussian for non-metals"
        if out.degauss is None:
            out.degauss = 0.02 if metal else 0.01
            notes["degauss"] = "0.02 Ry for metals, 0.01 Ry otherwise"
    mags = {el: MAGNETIC[el] for el in elements if el in MAGNETIC}
    if out.spin_polarized is None:
        out.spin_polarized = bool(mags)
        notes["spin_polarized"] = f"magnetic elements: {', '.join(mags)}" if mags else "no magnetic element"
    if out.spin_polarized and out.starting_magnetization is None:
        out.starting_magnetization = {el: mags.get(el, 0.0) for el in elements}
        notes["starting_magnetization"] = (
            "ferromagnetic start on magnetic elements (fraction of valence charge)"
        )
    return out, notes, pseudos
