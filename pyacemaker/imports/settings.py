"""How an imported DFT label was computed, read from its own files, and whether that is how the campaign's oracle
computes: labels of different settings are never mixed in one training set.

Only the settings that change the physics are compared (functional, pseudopotentials or POTCARs, cutoffs,
smearing, spin, the k-point grid of each structure); convergence thresholds, mixing and the number of SCF steps
change a converged label by less than its noise and are not. ASE's readers keep the labels but not these settings,
so they are read here from the outputs' own lines.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ase import Atoms

RY_EV = 13.605693122994  # eV per Rydberg (CODATA 2018, as QE prints)


def _num(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def espresso_settings(out: Path) -> dict[str, Any]:
    """The physics settings a pw.x output states; the k-point grid from the input beside it (``pw.in`` or the
    only ``*.in``) when there is one."""
    text = out.read_text(errors="replace")
    pseudos = {m.group(1): Path(m.group(2).strip()).name
               for m in re.finditer(r"PseudoPot\. #\s*\d+ for (\w+)\s+read from file:\s*\n\s*(\S+)", text)}  # fmt: skip
    xc = re.search(r"Exchange-correlation\s*=\s*(\S+)", text)
    smear = re.search(r"(\S+(?:-\S+)?) smearing, width \(Ry\)=\s*([-+.\dEe]+)", text)
    s: dict[str, Any] = {
        "functional": xc.group(1).upper() if xc else None,
        "ecutwfc": _num(r"kinetic-energy cutoff\s*=\s*([\d.]+)", text),
        "ecutrho": _num(r"charge density cutoff\s*=\s*([\d.]+)", text),
        "pseudopotentials": pseudos or None,
        "occupations": "smearing" if smear else "fixed",
        "smearing": {
            "gaussian": "gaussian",
            "marzari-vanderbilt": "mv",
            "methfessel-paxton": "mp",
            "fermi-dirac": "fd",
        }.get(smear.group(1).lower(), smear.group(1).lower())
        if smear
        else None,  # fmt: skip
        "degauss": float(smear.group(2)) if smear else None,
        "spin_polarized": bool(re.search(r"number of electrons\s*=\s*[\d.]+\s*\(up:", text)),
        "kpoint_grid": None,
    }
    inputs = [out.with_name("pw.in")] if out.with_name("pw.in").is_file() else list(out.parent.glob("*.in"))
    if len(inputs) == 1:
        m = re.search(r"K_POINTS\s*\(?\s*(\w+)\s*\)?\s*\n\s*(\d+)\s+(\d+)\s+(\d+)", inputs[0].read_text(errors="replace"),
                      re.IGNORECASE)  # fmt: skip
        if m and m.group(1).lower() == "automatic":
            s["kpoint_grid"] = [int(m.group(i)) for i in (2, 3, 4)]
        elif m and m.group(1).lower() == "gamma":
            s["kpoint_grid"] = [1, 1, 1]
    return s


# VASP's own defaults for the INCAR tags compared, when a file does not set them
VASP_DEFAULTS = {"ISMEAR": 1, "SIGMA": 0.2, "ISPIN": 1, "LASPH": False, "GGA": "PE", "METAGGA": None}
VASP_TAGS = ("ENCUT", "GGA", "METAGGA", "ISMEAR", "SIGMA", "ISPIN", "LASPH", "KSPACING")


def _vasp_value(v: str) -> Any:
    v = v.strip()
    if v.upper() in (".TRUE.", "T", "TRUE"):
        return True
    if v.upper() in (".FALSE.", "F", "FALSE"):
        return False
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v.upper()


def vasp_settings(path: Path, fmt: str) -> dict[str, Any]:
    """The INCAR tags of VASP_TAGS and the POTCAR labels a ``vasprun.xml`` (its ``<parameters>`` and ``<incar>``
    blocks and ``<atominfo>``) or an ``OUTCAR`` (its echo of the INCAR and its ``POTCAR:`` lines) records."""
    incar: dict[str, Any] = {}
    potcars: dict[str, str] = {}
    if fmt == "vasp-xml":
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError):
            return {"incar": {}, "potcars": {}}
        # the effective values VASP used (<parameters>, every tag), then the INCAR as given on top
        for item in [*root.findall("./parameters//i"), *root.findall("./incar/i")]:
            tag = {"ENMAX": "ENCUT"}.get(item.get("name", "").upper(), item.get("name", "").upper())
            if tag in VASP_TAGS:
                incar[tag] = _vasp_value(item.text or "")
        for rc in root.findall("./atominfo/array[@name='atomtypes']/set/rc"):
            cols = [c.text.strip() if c.text else "" for c in rc.findall("c")]
            if len(cols) >= 5:  # atomspertype, element, mass, valence, pseudopotential title
                potcars[cols[1]] = cols[4].split()[1] if len(cols[4].split()) > 1 else cols[4]
    else:
        text = path.read_text(errors="replace")
        for tag in VASP_TAGS:
            m = re.search(rf"^\s*{tag}\s*=\s*([^\s;]+)", text, re.MULTILINE)
            if m:
                incar[tag] = _vasp_value(m.group(1))
        for m in re.finditer(r"^\s*POTCAR:\s*\S+\s+(\S+)", text, re.MULTILINE):
            label = m.group(1)
            potcars.setdefault(label.split("_")[0], label)
    if incar.get("GGA") in ("--", None):  # not set: the POTCARs' own functional (PBE for the PAW_PBE sets)
        incar["GGA"] = "PE"
    if incar.get("METAGGA") in ("--", False, "F", "NONE"):
        incar["METAGGA"] = None
    return {"incar": {k: incar.get(k, VASP_DEFAULTS.get(k)) for k in VASP_TAGS}, "potcars": potcars}


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    return a == b


def differences(oracle_type: str, oracle_settings: dict[str, Any], found: dict[str, Any] | None,
                atoms: Atoms) -> list[str]:  # fmt: skip
    """What differs between how a frame was computed (``found``) and how the campaign's oracle computes
    (``oracle_settings``), one phrase each ("ecutwfc 30 Ry in the file, 20 Ry in the campaign"); [] when they
    agree. A setting the file does not state is a difference too (it cannot be checked)."""
    if found is None:
        return ["the file does not say how its labels were computed"]
    if oracle_type == "espresso":
        return _espresso_differences(oracle_settings, found, atoms)
    if oracle_type == "vasp":
        return _vasp_differences(oracle_settings, found)
    return [f"labels from a DFT output, the campaign's oracle is {oracle_type!r}"]


def _espresso_differences(want: dict[str, Any], got: dict[str, Any], atoms: Atoms) -> list[str]:
    from pyacemaker.oracle.espresso.pw import kpoint_grid

    if "incar" in got:
        return ["a VASP output, the campaign's oracle is Quantum ESPRESSO"]
    out = []
    for key, unit in (("functional", ""), ("ecutwfc", " Ry"), ("ecutrho", " Ry"), ("occupations", ""),
                      ("smearing", ""), ("degauss", " Ry"), ("spin_polarized", "")):  # fmt: skip
        w = want.get(key)
        if key in ("smearing", "degauss") and want.get("occupations") != "smearing":
            continue
        if key == "functional" and isinstance(w, str):
            w = w.upper()
        if got.get(key) is None:
            out.append(f"{key} not stated in the file (the campaign uses {w}{unit})")
        elif not _close(got[key], w):
            out.append(f"{key} {got[key]}{unit} in the file, {w}{unit} in the campaign")
    pp_want = want.get("pseudopotentials") or {}
    pp_got = got.get("pseudopotentials") or {}
    for el in sorted(set(atoms.get_chemical_symbols())):
        if pp_got.get(el) != pp_want.get(el):
            out.append(f"pseudopotential of {el} {pp_got.get(el) or 'not stated'} in the file, "
                       f"{pp_want.get(el)} in the campaign")  # fmt: skip
    grid = kpoint_grid(atoms, want["kspacing"]) or (1, 1, 1)
    if got.get("kpoint_grid") is None:
        out.append(
            f"k-point grid not stated (no pw.x input beside the output; the campaign uses {list(grid)})"
        )
    elif list(got["kpoint_grid"]) != list(grid):
        out.append(f"k-point grid {got['kpoint_grid']} in the file, {list(grid)} in the campaign "
                   f"(kspacing {want['kspacing']})")  # fmt: skip
    return out


def _vasp_differences(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    if "incar" not in got:
        return ["a Quantum ESPRESSO output, the campaign's oracle is VASP"]
    from pymatgen.io.vasp.sets import MatPESStaticSet

    expected = {k: _vasp_value(str(v)) if isinstance(v, str) else v
                for k, v in MatPESStaticSet.CONFIG["INCAR"].items()}  # fmt: skip
    expected.update({k.upper(): v for k, v in (want.get("incar") or {}).items()})
    out = []
    for tag in VASP_TAGS:
        w = expected.get(tag, VASP_DEFAULTS.get(tag))
        g = got["incar"].get(tag)
        if not _close(g, w):
            out.append(f"{tag} {g} in the file, {w} in the campaign")
    for el, label in (want.get("potcars") or {}).items():
        if el in got.get("potcars", {}) and got["potcars"][el] != label:
            out.append(f"POTCAR of {el} {got['potcars'][el]} in the file, {label} in the campaign")
    return out
