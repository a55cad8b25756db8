"""Readers of labelled structures a user already owns: one :class:`Frame` per structure with its energy, forces
and (when the file has it) stress, and what the file says about how it was computed (``settings``).

Formats (``FORMATS``; :func:`detect` picks one from the file): extended XYZ with a calculator's results, an ASE
database, pacemaker's ``pckl.gzip`` DataFrame, VASP's ``vasprun.xml`` or ``OUTCAR``, Quantum ESPRESSO's pw.x output.
ASE reads every format but pacemaker's (pandas does); the settings of DFT outputs are read here because ASE does not
keep them (:mod:`pyacemaker.imports.settings`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms


class ImportFailure(ValueError):
    """A source cannot be imported (the message says which file, what is wrong and what to do)."""


@dataclass
class Frame:
    """One labelled structure read from a file. ``settings``: how the file says it was computed (None: the format
    does not say); ``source``: ``path#index``."""

    atoms: Atoms
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    source: str
    settings: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


Reader = Callable[[Path], Iterator[Frame]]
FORMATS: dict[str, Reader] = {}


def reader(name: str) -> Callable[[Reader], Reader]:
    def deco(fn: Reader) -> Reader:
        FORMATS[name] = fn
        return fn

    return deco


def detect(path: Path) -> str:
    """The format of ``path`` from its name, else from its first bytes."""
    name = path.name.lower()
    if name.endswith((".pckl.gzip", ".pkl.gz", ".pckl.gz", ".pkl.gzip")):
        return "pacemaker"
    if name.endswith(".db"):
        return "ase-db"
    if name.endswith(".xml") or name.startswith("vasprun"):
        return "vasp"
    if name.startswith("outcar"):
        return "vasp"
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    try:
        head = path.read_bytes()[:4096].decode(errors="replace")
    except OSError as exc:
        raise ImportFailure(f"{path}: cannot be read ({exc.strerror})") from None
    if "Program PWSCF" in head:
        return "espresso"
    if "vasp." in head and "POTCAR" in head:
        return "vasp"
    raise ImportFailure(
        f"{path}: format not recognised (known: {', '.join(sorted(FORMATS))}); name it .xyz/.extxyz, .db, "
        ".pckl.gzip, vasprun.xml or OUTCAR, or give --format"
    )


def _voigt(stress: Any) -> np.ndarray | None:
    """Stress as Voigt 6 (xx yy zz yz xz xy), from Voigt or a 3x3 tensor (ASE's own conversion)."""
    if stress is None:
        return None
    from ase.stress import full_3x3_to_voigt_6_stress

    stress = np.asarray(stress, dtype=float)
    return full_3x3_to_voigt_6_stress(stress) if stress.shape == (3, 3) else stress


def _from_calc(atoms: Atoms, source: str, settings: dict[str, Any] | None = None) -> Frame:
    """The frame of an ASE Atoms whose calculator holds its labels (energy and forces required)."""
    calc = atoms.calc
    results = getattr(calc, "results", {}) if calc is not None else {}
    if "energy" not in results and "free_energy" not in results:
        raise ImportFailure(f"{source}: no energy stored with the structure (a labelled structure needs one)")
    if "forces" not in results:
        raise ImportFailure(f"{source}: no forces stored with the structure")
    energy = float(results.get("energy", results.get("free_energy")))
    stress = _voigt(results.get("stress"))
    bare = atoms.copy()
    bare.calc = None
    return Frame(bare, energy, np.asarray(results["forces"], dtype=float), stress, source, settings)


def _ase_frames(path: Path, fmt: str, settings: dict[str, Any] | None = None) -> Iterator[Frame]:
    import ase.io

    try:
        images = ase.io.read(path, index=":", format=fmt)
    except Exception as exc:  # noqa: BLE001 (any parse failure of a user's file is reported, never a traceback)
        raise ImportFailure(f"{path}: not a readable {fmt} file ({type(exc).__name__}: {exc})") from None
    if not images:
        raise ImportFailure(f"{path}: no structure in it")
    for i, atoms in enumerate(images):
        yield _from_calc(atoms, f"{path}#{i}", settings)


@reader("extxyz")
def read_extxyz(path: Path) -> Iterator[Frame]:
    """Extended XYZ as ASE writes it (``energy``/``forces``/``stress`` of a SinglePointCalculator)."""
    yield from _ase_frames(path, "extxyz")


@reader("ase-db")
def read_ase_db(path: Path) -> Iterator[Frame]:
    """Every row of an ASE database (SQLite) that holds energy and forces."""
    import ase.db

    try:
        rows = list(ase.db.connect(str(path), create_indices=False).select())
    except Exception as exc:  # noqa: BLE001
        raise ImportFailure(f"{path}: not a readable ASE database ({type(exc).__name__}: {exc})") from None
    if not rows:
        raise ImportFailure(f"{path}: the database holds no row")
    for row in rows:
        yield _from_calc(row.toatoms(), f"{path}#{row.id}")


@reader("pacemaker")
def read_pacemaker(path: Path) -> Iterator[Frame]:
    """pacemaker's gzipped pickled DataFrame: ``ase_atoms``, ``energy`` (total, eV) and ``forces`` columns.
    ``energy_corrected`` alone (reference energies already subtracted) is refused: its zero is unknown here."""
    import pandas as pd

    try:
        df = pd.read_pickle(path, compression="gzip")
    except Exception as exc:  # noqa: BLE001
        raise ImportFailure(
            f"{path}: not a readable pacemaker dataset ({type(exc).__name__}: {exc})"
        ) from None
    missing = [c for c in ("ase_atoms", "forces") if c not in df.columns]
    if missing:
        raise ImportFailure(f"{path}: pacemaker dataset without column(s) {missing} (has {list(df.columns)})")
    if "energy" not in df.columns:
        raise ImportFailure(
            f"{path}: only 'energy_corrected' (reference energies subtracted) and no total 'energy': the labels "
            "cannot be put on the oracle's energy zero; export the dataset with its total energies"
        )
    for i, (idx, row) in enumerate(df.iterrows()):
        atoms = row["ase_atoms"].copy()
        atoms.calc = None
        stress = (
            _voigt(row["stress"]) if "stress" in df.columns and np.size(row["stress"]) in (6, 9) else None
        )
        yield Frame(atoms, float(row["energy"]), np.asarray(row["forces"], dtype=float), stress,
                    f"{path}#{idx if isinstance(idx, int | str) else i}")  # fmt: skip


@reader("espresso")
def read_espresso(path: Path) -> Iterator[Frame]:
    """pw.x output (every ionic step that printed forces); its settings from the output and, when it lies beside
    it, the input file (``pw.in``, ``*.in``: the k-point grid)."""
    from pyacemaker.imports.settings import espresso_settings

    yield from _ase_frames(path, "espresso-out", espresso_settings(path))


@reader("vasp")
def read_vasp(path: Path) -> Iterator[Frame]:
    """``vasprun.xml`` or ``OUTCAR`` (every ionic step); the INCAR and POTCARs it records are its settings."""
    from pyacemaker.imports.settings import vasp_settings

    fmt = (
        "vasp-xml"
        if path.name.lower().endswith(".xml") or path.name.lower().startswith("vasprun")
        else "vasp-out"
    )
    yield from _ase_frames(path, fmt, vasp_settings(path, fmt))
