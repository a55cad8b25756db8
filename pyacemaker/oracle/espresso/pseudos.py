"""Finding pseudopotentials and reading what their UPF headers say (type, functional, suggested cutoffs)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEBIAN_PSEUDO_DIR = Path("/usr/share/espresso/pseudo")  # Debian's quantum-espresso-data


class PseudoError(ValueError):
    """Pseudopotentials are missing or inconsistent (the message lists what and how to get them); a ValueError,
    so resolving the config reports it as a config error."""


@dataclass(frozen=True)
class Pseudo:
    element: str
    path: Path
    kind: str  # NC, US or PAW
    functional: str  # PBE, PBEsol, LDA or the header's text
    wfc_cutoff: float | None  # suggested, Ry (None when the header gives 0 or nothing)
    rho_cutoff: float | None
    relativistic: bool


def _functional(text: str) -> str:
    t = " ".join(text.upper().replace('"', " ").split())
    if "PBESOL" in t or ("PSX" in t and "PSC" in t):
        return "PBEsol"
    if "PBE" in t or ("PBX" in t and "PBC" in t):
        return "PBE"
    if "PZ" in t or t in ("LDA", "SLA PW NOGX NOGC"):
        return "LDA"
    return t or "unknown"


def read_header(path: Path) -> Pseudo | None:
    """Parse a UPF file's header (v1 or v2); None when the file is not a readable UPF."""
    try:
        head = path.read_text(errors="replace")[:20000]
    except OSError:
        return None
    if "<PP_HEADER" not in head and "<PP_INFO" not in head:
        return None

    def attr(name: str) -> str | None:
        m = re.search(rf'\b{name}\s*=\s*"([^"]*)"', head)
        return m.group(1).strip() if m else None

    def info(label: str) -> str | None:
        m = re.search(rf"{label}\s*:?\s*([^\n]+)", head)
        return m.group(1).strip() if m else None

    element = attr("element") or (info("Element") or "").split()[0:1]
    element = element if isinstance(element, str) else (element[0] if element else "")
    kind_raw = (attr("pseudo_type") or info("Pseudopotential type") or "").upper()
    if attr("is_paw") == "true" or "PAW" in kind_raw:
        kind = "PAW"
    elif attr("is_ultrasoft") == "true" or kind_raw.startswith("US"):
        kind = "US"
    else:
        kind = "NC"
    functional = _functional(attr("functional") or info("Functional") or "")

    def cutoff(attr_name: str, label: str) -> float | None:
        raw = attr(attr_name)
        if raw is None:
            m = re.search(rf"Suggested minimum cutoff for {label}:\s*([0-9.eE+-]+)", head)
            raw = m.group(1) if m else None
        try:
            v = float(raw.replace("d", "e").replace("D", "e")) if raw else 0.0
        except ValueError:
            v = 0.0
        return v if v > 0 else None

    # v2 headers store cutoffs in Ry already
    wfc, rho = cutoff("wfc_cutoff", "wavefunctions"), cutoff("rho_cutoff", "charge density")
    rel = (
        (attr("relativistic") or "").lower() == "full" or ".rel-" in path.name or "rel." in path.name.lower()
    )
    return Pseudo(element.strip().capitalize(), path, kind, functional, wfc, rho, rel)


def pseudo_dirs(configured: str | None) -> list[Path]:
    """Where to look, in order: the config's pseudo_dir, $ESPRESSO_PSEUDO, Debian's quantum-espresso-data."""
    out = []
    if configured:
        out.append(Path(configured).expanduser())
    if os.environ.get("ESPRESSO_PSEUDO"):
        out.append(Path(os.environ["ESPRESSO_PSEUDO"]).expanduser())
    out.append(DEBIAN_PSEUDO_DIR)
    return out


def _symbol_of(name: str) -> str:
    return re.split(r"[._-]", name, maxsplit=1)[0].capitalize()


KIND_ORDER = {"NC": 0, "US": 1, "PAW": 2}  # cheapest first: NC needs the smallest charge-density cutoff


def _preference(p: Pseudo) -> tuple:
    """Lower is better. sp elements: norm-conserving first (cheap, no augmentation); d-block elements:
    ultrasoft/PAW with suggested cutoffs first (norm-conserving d states need very high cutoffs)."""
    from ase.data import atomic_numbers

    z = atomic_numbers[p.element]
    d_block = 21 <= z <= 30 or 39 <= z <= 48 or 57 <= z <= 80
    kind = KIND_ORDER[p.kind]
    if d_block:
        return (p.wfc_cutoff is None, -kind, p.path.name)
    return (kind, p.wfc_cutoff is None, p.path.name)


def find_pseudos(
    elements: list[str],
    configured_dir: str | None,
    explicit: dict[str, str] | None = None,
    functional: str = "PBE",
) -> dict[str, Pseudo]:
    """One pseudopotential per element, all with the same functional (``functional`` preferred).

    ``explicit`` maps elements to file names (looked up in the directories) and wins over the automatic choice.
    """
    dirs = [d for d in pseudo_dirs(configured_dir) if d.is_dir()]
    explicit = explicit or {}
    found: dict[str, list[Pseudo]] = {el: [] for el in elements}
    chosen: dict[str, Pseudo] = {}
    for el, fname in explicit.items():
        p = next(
            (d / fname for d in dirs if (d / fname).is_file()), Path(fname) if Path(fname).is_file() else None
        )
        hdr = read_header(p) if p else None
        if hdr is None:
            raise PseudoError(f"pseudopotential {fname!r} for {el} not found or not a UPF file (looked in: "
                              f"{', '.join(map(str, dirs)) or 'no directory'})")  # fmt: skip
        chosen[el] = hdr
    for d in dirs:
        for f in sorted(d.iterdir()):
            if f.suffix.lower() != ".upf" or _symbol_of(f.name) not in found:
                continue
            hdr = read_header(f)
            if hdr and hdr.element == _symbol_of(f.name) and not hdr.relativistic:
                found[hdr.element].append(hdr)
    functionals = [functional, "PBE", "PBEsol", "LDA"]
    for func in dict.fromkeys(functionals):
        if all(el in chosen or any(p.functional == func for p in found[el]) for el in elements):
            for el in elements:
                if el not in chosen:
                    cands = [p for p in found[el] if p.functional == func]
                    chosen[el] = min(cands, key=_preference)
            break
    missing = [el for el in elements if el not in chosen]
    if missing:
        have = {el: sorted({p.functional for p in found[el]}) for el in elements if found[el]}
        raise PseudoError(
            f"no consistent set of pseudopotentials for {', '.join(missing)} (looked in: "
            f"{', '.join(map(str, dirs)) or 'no existing directory'}; available functionals: {have or 'none'}). "
            "Put UPF files (e.g. from SSSP or pslibrary) in a directory and set oracle.pseudo_dir or $ESPRESSO_PSEUDO, "
            "or install Debian's quantum-espresso-data; oracle.pseudopotentials: {El: file} picks files by name."
        )
    funcs = {p.functional for p in chosen.values()}
    if len(funcs) > 1:
        raise PseudoError(f"pseudopotentials mix functionals {sorted(funcs)}: labels would be inconsistent; "
                          "choose files of one functional in oracle.pseudopotentials")  # fmt: skip
    return chosen
