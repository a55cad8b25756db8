"""The unit that flows through a campaign: a structure record (atoms + labels + provenance + content hash).

Records are plain pydantic documents so they go into MongoDB as they are and come back validated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from ase import Atoms
from pydantic import BaseModel, ConfigDict, Field

from pyacemaker.schemas.stages import RunCondition

Origin = Literal[
    "seed",
    "cold_start",
    "md_halt",
    "md_frame",
    "kmc_halt",
    "kmc_frame",
    "perturbation",
    "test_set",
    "validation",
    "imported",  # a label the user already had (a file, another campaign): see Provenance.source
    "surrogate_md",  # a snapshot of MD driven by the fine-tuned surrogate (workflow: distill)
]
Status = Literal["candidate", "selected", "labelled", "rejected", "test"]
# what a seed cell is: an element's crystal, a random alloy of the elements, a user's structure file
BaseKind = Literal["element", "alloy", "file", "builder"]

HASH_DECIMALS = 3  # positions and cell rounded to 1e-3 A before hashing: equal within numerical noise


class AtomsData(BaseModel):
    """ASE Atoms as JSON-friendly lists (what MongoDB stores)."""

    model_config = ConfigDict(extra="forbid")
    symbols: list[str]
    positions: list[list[float]]
    cell: list[list[float]]
    pbc: list[bool]

    @classmethod
    def from_atoms(cls, atoms: Atoms) -> AtomsData:
        return cls(
            symbols=atoms.get_chemical_symbols(),
            positions=atoms.get_positions().tolist(),
            cell=np.asarray(atoms.get_cell()).tolist(),
            pbc=[bool(p) for p in atoms.get_pbc()],
        )

    def to_atoms(self) -> Atoms:
        return Atoms(symbols=self.symbols, positions=self.positions, cell=self.cell, pbc=self.pbc)


class Correction(BaseModel):
    """One change an oracle made to get a label (e.g. a healing handler's action)."""

    handler: str
    error: str
    action: dict[str, Any] = Field(default_factory=dict)


class Labels(BaseModel):
    """What the oracle said about a structure, and exactly how it was asked."""

    model_config = ConfigDict(extra="forbid")
    energy: float  # eV
    forces: list[list[float]]  # eV/A
    stress: list[float] | None = None  # Voigt (xx yy zz yz xz xy), eV/A^3
    oracle: str
    settings: dict[str, Any] = Field(default_factory=dict)
    settings_hash: str
    corrections: list[Correction] = Field(default_factory=list)
    wall_time_s: float = 0.0
    shared_from: str | None = None  # the record (another campaign's, same settings) this label was taken from


class Variant(BaseModel):
    """How a structure differs from its base cell, as data (the ``builder`` text is for humans only).

    Every field None: the base cell itself. Code decides on these fields, never on the description.
    """

    model_config = ConfigDict(extra="forbid")
    volume_strain: float | None = None  # fractional volume change
    shear_xy: float | None = None  # engineering shear strain in the xy plane
    tetragonal: float | None = None  # volume-conserving stretch along z (x and y contract)
    rattle: int | None = None  # number of the rattled copy (1, 2, ...)
    centre: int | None = None  # atom a local rattle is centred on
    defect: Literal["vacancy", "interstitial"] | None = None
    surface: str | None = None  # Miller indices of a slab, e.g. "111"
    relaxed: bool | None = None  # relaxed with a universal potential (cold start)
    md_step: int | None = None  # MD steps run from the relaxed cell (cold start)


class Provenance(BaseModel):
    """Where a structure came from: enough to answer "which MD run, at which temperature and step".

    ``base``, ``base_kind``, ``family`` and ``variant`` are what code reads; ``builder`` says the same for humans.
    Records written before they existed validate with them None.
    """

    model_config = ConfigDict(extra="forbid")
    origin: Origin
    iteration: int = 0
    parent: str | None = None  # record id of the structure this one was derived from
    builder: str | None = None  # for humans, e.g. "bulk Cu fcc, volume -4%, rattle 0.100 A #1"
    run_id: str | None = None  # exploration run that produced it
    condition: RunCondition | None = None  # the exploration condition (at its escalation level) of the run
    step: int | None = None
    gamma: float | None = None  # max extrapolation grade when it was created
    base: str | None = None  # seed cell it derives from: an element ("Cu"), an alloy ("Cu-Au") or a file path
    base_kind: BaseKind | None = None
    family: str | None = None  # correlated structures kept on one side of the train/test split
    variant: Variant | None = None
    source: str | None = None  # imported: the file and frame ("path#3") or the record id it came from


class StructureRecord(BaseModel):
    """A structure with its labels, provenance and content hash; ``id`` is stable for a campaign."""

    model_config = ConfigDict(extra="forbid")
    id: str
    campaign: str
    hash: str
    atoms: AtomsData
    formula: str
    natoms: int
    provenance: Provenance
    status: Status = "candidate"
    labels: Labels | None = None
    reject_reason: str | None = None
    oracle_reserved: bool = False  # holds a place in the oracle budget (pyacemaker.campaign.budget)
    weight: float = 1.0  # energy weight of the structure in a fit
    force_weights: list[float] | None = None  # per-atom force weights (None: all 1); 0 for embedding buffers
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def new(
        cls, atoms: Atoms, campaign: str, provenance: Provenance, status: Status = "candidate"
    ) -> StructureRecord:
        h = content_hash(atoms)
        return cls(
            id=record_id(campaign, h),
            campaign=campaign,
            hash=h,
            atoms=AtomsData.from_atoms(atoms),
            formula=atoms.get_chemical_formula(),
            natoms=len(atoms),
            provenance=provenance,
            status=status,
        )

    @property
    def labelled_status(self) -> Status:
        """The status this record takes once labelled: a held-out test-set structure stays ``test``."""
        return "test" if self.status == "test" or self.provenance.origin == "test_set" else "labelled"

    def to_atoms(self, with_labels: bool = True) -> Atoms:
        """ASE Atoms; with labels attached as a SinglePointCalculator (what ase.io and pacemaker expect)."""
        atoms = self.atoms.to_atoms()
        if with_labels and self.labels is not None:
            from ase.calculators.singlepoint import SinglePointCalculator

            kw: dict[str, Any] = {"energy": self.labels.energy, "forces": np.array(self.labels.forces)}
            if self.labels.stress is not None:
                kw["stress"] = np.array(self.labels.stress)
            atoms.calc = SinglePointCalculator(atoms, **kw)
        atoms.info["record_id"] = self.id
        atoms.info["origin"] = self.provenance.origin
        atoms.info["iteration"] = self.provenance.iteration
        return atoms


def content_hash(atoms: Atoms) -> str:
    """sha256 of species, wrapped positions and cell rounded to 1e-3 A, and pbc: equal structures, equal hash."""
    wrapped = atoms.copy()
    if any(wrapped.pbc):
        wrapped.wrap(eps=1e-6)
    pos = np.round(wrapped.get_positions(), HASH_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    cell = np.round(np.asarray(wrapped.get_cell()), HASH_DECIMALS) + 0.0
    h = hashlib.sha256()
    h.update(",".join(wrapped.get_chemical_symbols()).encode())
    h.update(pos.astype("<f8").tobytes())
    h.update(cell.astype("<f8").tobytes())
    h.update(bytes(int(p) for p in wrapped.pbc))
    return h.hexdigest()


def record_id(campaign: str, h: str) -> str:
    return f"{campaign}:{h[:16]}"


def settings_hash(oracle: str, settings: dict[str, Any]) -> str:
    """Hash of an oracle and its settings: labels with different hashes are never mixed in one training set."""
    import json

    blob = json.dumps({"oracle": oracle, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def unique(records: Iterable[StructureRecord]) -> list[StructureRecord]:
    """Records with duplicate hashes removed, first occurrence kept."""
    seen: set[str] = set()
    out = []
    for r in records:
        if r.hash not in seen:
            seen.add(r.hash)
            out.append(r)
    return out


# ----------------------------------------------------------------------------------------------- export
def write_extxyz(records: Sequence[StructureRecord], path: str | Path) -> Path:
    """Labelled records as extended XYZ (energy, forces, stress and provenance keys in each frame)."""
    from ase.io import write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, [r.to_atoms() for r in records], format="extxyz")
    return path
