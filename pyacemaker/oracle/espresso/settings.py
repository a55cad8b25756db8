"""Physics defaults for pw.x from the elements and the pseudopotential headers: one settings set per campaign."""

from __future__ import annotations

from pyacemaker.oracle.espresso.pseudos import Pseudo, find_pseudos

# Elements that are not metals as elemental solids: they get a small Gaussian smearing, metals Marzari-Vanderbilt.
NON_METALS = {"H", "He", "B", "C", "N", "O", "F", "Ne", "Si", "P", "S", "Cl", "Ar", "Ge", "As", "Se", "Br", "Kr",
              "Sb", "Te", "I", "Xe"}  # fmt: skip
# Ferromagnetic or with a magnetic ground state: spin-polarised with a positive starting moment.
MAGNETIC = {"Cr": 0.5, "Mn": 0.5, "Fe": 0.5, "Co": 0.5, "Ni": 0.4, "Gd": 0.5}
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


def resolve_espresso(cfg, elements: list[str]):
    """The oracle config with every derived value filled, and a note per key (for ``pyacemaker config``)."""
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
    metal = all(el not in NON_METALS for el in elements)
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
