"""Labelled data a user already owns, brought into a campaign (``pyacemaker import``): files (extended XYZ, ASE
databases, pacemaker datasets, VASP and Quantum ESPRESSO outputs) or another campaign's labels.

Imported structures become labelled records of the campaign with provenance ``imported`` (the file and frame, or
the campaign and record, they came from), and feed its first fit like labels of its own. Labels are only ever
mixed when they were computed the same way: a DFT output's settings are read from its own lines and compared with
the campaign's oracle (:mod:`pyacemaker.imports.settings`), another campaign's labels must carry the same
settings hash, and formats that do not record their settings (XYZ, ASE databases, pacemaker datasets) are taken
only when the user vouches for them (``assume_settings``). Everything is read and checked before anything is
written: a refused import leaves the database as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pyacemaker.config import CampaignConfig
from pyacemaker.db import Database
from pyacemaker.imports.readers import FORMATS, Frame, ImportFailure, detect
from pyacemaker.imports.settings import differences
from pyacemaker.oracle import make_oracle
from pyacemaker.oracle.base import Oracle
from pyacemaker.schemas.records import Labels, Provenance, StructureRecord

__all__ = ["ImportFailure", "SourceReport", "import_campaign", "import_files", "read_checked"]

MAX_LISTED = 8  # problems listed in a refusal (the count says how many more)


@dataclass
class SourceReport:
    """One source's outcome: frames read, records written, and frames already in the campaign (same structure)."""

    source: str
    format: str
    frames: int
    imported: int = 0
    known: int = 0
    records: list[StructureRecord] = field(default_factory=list, repr=False)


def _frame_problems(fr: Frame, elements: set[str]) -> list[str]:
    n = len(fr.atoms)
    out = []
    unknown = sorted(set(fr.atoms.get_chemical_symbols()) - elements)
    if unknown:
        out.append(f"{fr.source}: element(s) {unknown} not in the campaign's elements {sorted(elements)}")
    if not np.isfinite(fr.energy):
        out.append(f"{fr.source}: energy is not a number")
    if fr.forces.shape != (n, 3) or not np.all(np.isfinite(fr.forces)):
        out.append(f"{fr.source}: forces of shape {fr.forces.shape} (or not finite) for {n} atoms")
    if fr.stress is not None and (fr.stress.shape != (6,) or not np.all(np.isfinite(fr.stress))):
        out.append(f"{fr.source}: stress of shape {fr.stress.shape} (or not finite)")
    if any(fr.atoms.pbc) and abs(fr.atoms.cell.volume) < 1e-6:
        out.append(f"{fr.source}: periodic cell with zero volume")
    return out


def read_checked(cfg: CampaignConfig, paths: list[Path], fmt: str | None = None,
                 assume_settings: bool = False) -> tuple[list[tuple[str, str, list[Frame]]], list[str]]:  # fmt: skip
    """Every frame of every source, and every reason not to import them (empty: all can be imported)."""
    oracle = make_oracle(cfg.oracle)
    elements = set(cfg.elements)
    sources: list[tuple[str, str, list[Frame]]] = []
    problems: list[str] = []
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file")
            continue
        try:
            kind = fmt or detect(path)
            if kind not in FORMATS:
                raise ImportFailure(f"{path}: unknown format {kind!r} (known: {', '.join(sorted(FORMATS))})")
            frames = list(FORMATS[kind](path))
        except ImportFailure as exc:
            problems.append(str(exc))
            continue
        sources.append((str(path), kind, frames))
        for fr in frames:
            problems += _frame_problems(fr, elements)
            if fr.settings is None and assume_settings:
                continue
            diff = differences(cfg.oracle.type, oracle.settings, fr.settings, fr.atoms)
            if diff and fr.settings is None:
                problems.append(f"{path}: {kind} files do not record how their labels were computed; if they were "
                                f"computed as the campaign's oracle computes ({cfg.oracle.type}: "
                                f"`pyacemaker config` shows its settings), say so with --assume-settings")  # fmt: skip
                break
            problems += [f"{fr.source}: {d}" for d in diff]
    return sources, problems


def _labels(fr: Frame, oracle: Oracle) -> Labels:
    return Labels(energy=fr.energy, forces=fr.forces.tolist(),
                  stress=fr.stress.tolist() if fr.stress is not None and all(fr.atoms.pbc) else None,
                  oracle=oracle.name, settings=oracle.settings, settings_hash=oracle.settings_hash)  # fmt: skip


def import_files(db: Database, cfg: CampaignConfig, paths: list[Path], fmt: str | None = None,
                 assume_settings: bool = False) -> list[SourceReport]:  # fmt: skip
    """Import ``paths`` into campaign ``cfg.name``: all of them, or nothing (ImportFailure lists why)."""
    sources, problems = read_checked(cfg, paths, fmt, assume_settings)
    if problems:
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise ImportFailure("nothing imported:\n  " + "\n  ".join(problems[:MAX_LISTED]) + more)
    oracle = make_oracle(cfg.oracle)
    reports = []
    for source, kind, frames in sources:
        rep = SourceReport(source, kind, len(frames))
        for fr in frames:
            prov = Provenance(origin="imported", source=fr.source, builder=f"imported from {fr.source} ({kind})",
                              base=source, base_kind="file", family=f"imported:{source}")  # fmt: skip
            rec = StructureRecord.new(fr.atoms, cfg.name, prov, "labelled")
            rec.labels = _labels(fr, oracle)
            rep.records.append(rec)
        reports.append(rep)
    _write(db, reports)
    return reports


def import_campaign(db: Database, cfg: CampaignConfig, other: str) -> SourceReport:
    """Copy the labels of campaign ``other`` (same database) whose settings hash is this campaign's oracle's and
    whose elements are among this campaign's: the Cu and Au campaigns feed a Cu-Au one without an oracle call."""
    oracle = make_oracle(cfg.oracle)
    if other == cfg.name:
        raise ImportFailure(f"a campaign cannot import its own labels ({other!r})")
    if db.campaign(other) is None and not db.records.count_documents({"campaign": other}, limit=1):
        names = [d.name for d in db.campaign_docs()]
        raise ImportFailure(
            f"no campaign named {other!r} in the database" + (f" (known: {names})" if names else "")
        )
    labelled = db.find_records({"campaign": other, "status": "labelled"})
    same = [r for r in labelled if r.labels and r.labels.settings_hash == oracle.settings_hash]
    if labelled and not same:
        theirs = sorted({(r.labels.oracle, r.labels.settings_hash) for r in labelled if r.labels})
        raise ImportFailure(f"nothing imported: the labels of campaign {other!r} were computed with other settings "
                            f"({', '.join(f'{o} {h}' for o, h in theirs)}) than this campaign's oracle "
                            f"({oracle.name} {oracle.settings_hash}); labels of different settings are never mixed")  # fmt: skip
    elements = set(cfg.elements)
    rep = SourceReport(f"campaign {other}", "campaign", len(labelled))
    for r in same:
        if not set(r.atoms.symbols) <= elements:
            continue
        prov = Provenance(origin="imported", source=r.id, parent=r.id,
                          builder=f"imported from campaign {other} ({r.provenance.builder or r.provenance.origin})",
                          base=r.provenance.base, base_kind=r.provenance.base_kind,
                          family=f"campaign:{other}:{r.provenance.family or r.id}", variant=r.provenance.variant)  # fmt: skip
        rec = StructureRecord.new(r.to_atoms(with_labels=False), cfg.name, prov, "labelled")
        rec.labels = r.labels
        rep.records.append(rec)
    _write(db, [rep])
    return rep


def _write(db: Database, reports: list[SourceReport]) -> None:
    """Insert the records; a structure the campaign already holds is left as it is (counted as known)."""
    for rep in reports:
        new = set(db.insert_records(rep.records))
        rep.imported = sum(r.id in new for r in rep.records)
        rep.known = len(rep.records) - rep.imported
