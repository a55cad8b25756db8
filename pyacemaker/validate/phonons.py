"""Harmonic phonons by finite displacements (phonopy) evaluated with any ASE calculator.

Band path: seekpath's HPKOT path, through phonopy's own helper. seekpath gives a standard path for every Bravais
lattice and reports it in the reduced coordinates of *its* standardised primitive cell; building the phonopy
model on seekpath's conventional cell with seekpath's primitive transformation makes those coordinates exact for
phonopy. ASE's ``bandpath`` would also work but defines special points on its own (Niggli-reduced) cell, which
would need mapping onto phonopy's primitive basis; and seekpath is what phonopy itself uses for automatic bands.
Because the potential and the oracle share the structure's symmetry, both get the same q-points, so their
frequencies compare point by point.

As a validator of the gate (registered as "phonons"): the band RMSE against the oracle and imaginary modes; on
failure the displaced supercells are labelled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from pydantic import BaseModel

from pyacemaker.config.schema import GateSettings, ValidationThresholds
from pyacemaker.schemas.records import AtomsData
from pyacemaker.schemas.stages import Check
from pyacemaker.validate.base import (
    CalculatorFactory,
    GateReport,
    PropertyReport,
    Validator,
    finite,
    fmt,
    fnum,
    limit_check,
    missing_check,
    quiet_spglib,
    register,
    relax,
)


class BandStructure(BaseModel):
    """What is needed to plot the dispersion: per segment the path distances and frequencies (THz)."""

    distances: list[list[float]]  # [segment][q]
    frequencies: list[list[list[float | None]]]  # [segment][q][branch]
    qpoints: list[list[list[float]]]  # [segment][q][3], reduced coordinates of the primitive cell
    labels: list[str]  # segment end points in phonopy's order, plain text ("Γ", "X", ...)
    tick_positions: list[float]  # path distance of each segment start and the final end
    tick_labels: list[str]
    connections: list[bool]  # whether segment i continues into i+1 (False: a jump, e.g. "X|K")


class Dos(BaseModel):
    """Total phonon density of states on a mesh (states/THz per primitive cell)."""

    mesh: list[int]
    frequency_points: list[float]
    total_dos: list[float]


class PhononResult(BaseModel):
    """Phonons of one structure: band structure, DOS and the imaginary-mode verdict."""

    formula: str
    natoms_primitive: int
    supercell_matrix: list[list[int]]
    n_displacements: int
    displacement: float
    relax_converged: bool
    structure: AtomsData  # the (relaxed) standardised conventional cell the supercells are built from
    band: BandStructure | None = None
    dos: Dos | None = None
    min_frequency_THz: float | None = None
    min_frequency_qpoint: list[float] | None = None
    min_frequency_label: str | None = None  # nearest labelled point or "path" / "mesh"
    max_frequency_THz: float | None = None
    imaginary_tol_THz: float
    acoustic_tol_THz: float
    imaginary: bool = False
    imaginary_modes: list[dict[str, Any]] = []  # up to 10 of the worst: where, which branch, frequency
    ok: bool = False
    reasons: list[str] = []


def _standard(atoms: Atoms, symprec: float) -> tuple[Atoms, np.ndarray]:
    """seekpath's conventional cell and primitive matrix P (primitive rows = P^T conventional rows, the same
    convention as phonopy's ``primitive_matrix``), so phonopy's primitive cell is exactly seekpath's."""
    import seekpath

    with quiet_spglib():
        sp = seekpath.get_path(
            (np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers), symprec=symprec
        )
    conv = Atoms(
        numbers=sp["conv_types"], scaled_positions=sp["conv_positions"], cell=sp["conv_lattice"], pbc=True
    )
    return conv, np.asarray(sp["primitive_transformation_matrix"], dtype=float)


def supercell_matrix(atoms: Atoms, min_length: float) -> np.ndarray:
    """Diagonal repetitions making every perpendicular width of the supercell at least ``min_length``."""
    cell = np.asarray(atoms.cell)
    vol = abs(np.linalg.det(cell))
    heights = [vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    return np.diag([max(1, int(np.ceil(min_length / h - 1e-6))) for h in heights])


def _phonopy(conv: Atoms, pmat: np.ndarray, smat: np.ndarray, symprec: float):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(symbols=conv.get_chemical_symbols(), cell=np.asarray(conv.cell),
                        scaled_positions=conv.get_scaled_positions(), masses=conv.get_masses())  # fmt: skip
    return Phonopy(unit, supercell_matrix=smat, primitive_matrix=pmat, symprec=symprec)


def _to_atoms(sc) -> Atoms:
    return Atoms(symbols=sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)


def displacement_supercells(
    atoms: Atoms, *, supercell_min_length: float = 10.0, displacement: float = 0.01, symprec: float = 1e-5
) -> list[tuple[Atoms, str]]:
    """The symmetry-reduced displaced supercells phonopy needs (no calculator), with a description each."""
    conv, pmat = _standard(atoms, symprec)
    smat = supercell_matrix(conv, supercell_min_length)
    ph = _phonopy(conv, pmat, smat, symprec)
    ph.generate_displacements(distance=displacement)
    out = []
    for i, (sc, d) in enumerate(
        zip(ph.supercells_with_displacements, ph.dataset["first_atoms"], strict=True)
    ):
        vec = ", ".join(f"{x:.3f}" for x in d["displacement"])
        out.append(
            (
                _to_atoms(sc),
                f"phonon displacement {i}: atom {d['number']} by ({vec}) A in {len(sc)}-atom supercell",
            )
        )
    return out


def phonons(
    calc_factory: CalculatorFactory,
    atoms: Atoms,
    *,
    supercell_min_length: float = 10.0,
    displacement: float = 0.01,
    npoints: int = 51,
    mesh: float | list[int] = 30.0,
    relax_structure: bool = True,
    imaginary_tol_THz: float = 0.05,
    acoustic_tol_THz: float = 0.3,
    gamma_radius: float = 0.1,
    symprec: float = 1e-5,
) -> PhononResult:
    """Finite-displacement phonons of ``atoms`` (relaxed first, keeping symmetry) with the calculator.

    A mode is imaginary when its frequency is below ``-imaginary_tol_THz``; the three acoustic branches within
    ``gamma_radius`` (reduced units) of Gamma are allowed down to ``-acoustic_tol_THz``, because a small breach of
    the acoustic sum rule in a fitted potential shows there as tiny imaginary values that mean nothing physical.
    ``mesh`` is phonopy's: a length (A) for an automatic mesh or three integers.
    """
    calc = calc_factory()
    converged = True
    if relax_structure:
        atoms, converged = relax(atoms, calc, cell=True)
    conv, pmat = _standard(atoms, symprec)
    smat = supercell_matrix(conv, supercell_min_length)
    ph = _phonopy(conv, pmat, smat, symprec)
    ph.generate_displacements(distance=displacement)
    scs = ph.supercells_with_displacements
    res = PhononResult(
        formula=atoms.get_chemical_formula(), natoms_primitive=len(ph.primitive), supercell_matrix=smat.tolist(),
        n_displacements=len(scs), displacement=displacement, relax_converged=converged,
        structure=AtomsData.from_atoms(conv), imaginary_tol_THz=imaginary_tol_THz, acoustic_tol_THz=acoustic_tol_THz,
    )  # fmt: skip
    reasons = [] if converged else ["relaxation before phonons did not converge"]
    forces = []
    for sc in scs:
        a = _to_atoms(sc)
        a.calc = calc
        try:
            f = a.get_forces()
        except Exception:  # a broken model is reported, not raised
            f = np.full((len(a), 3), np.nan)
        forces.append(f)
    if not finite(forces):
        res.reasons = [*reasons, "non-finite forces in displaced supercells"]
        return res
    ph.forces = np.array(forces)
    ph.produce_force_constants(show_drift=False)
    ph.symmetrize_force_constants(show_drift=False)

    from phonopy.phonon.band_structure import get_band_qpoints_by_seekpath

    paths, tex_labels, conns = get_band_qpoints_by_seekpath(ph.primitive, npoints)
    labels = [plain_label(x) for x in tex_labels]
    ph.run_band_structure(paths, labels=tex_labels, path_connections=conns)
    bs = ph.band_structure
    dist = [np.asarray(d) for d in bs.distances]
    freqs = [np.asarray(f) for f in bs.frequencies]
    ticks, tick_labels, li = [float(dist[0][0])], [labels[0]], 1
    for i, d in enumerate(dist):
        ticks.append(float(d[-1]))
        if conns[i] or i == len(dist) - 1:
            tick_labels.append(labels[li])
            li += 1
        else:  # a jump: the end of this segment and the start of the next share one tick
            tick_labels.append(f"{labels[li]}|{labels[li + 1]}")
            li += 2
    res.band = BandStructure(
        distances=[d.tolist() for d in dist], frequencies=[[[fnum(x) for x in q] for q in f] for f in freqs],
        qpoints=[np.asarray(q).tolist() for q in bs.qpoints], labels=list(labels),
        tick_positions=ticks, tick_labels=tick_labels, connections=list(conns),
    )  # fmt: skip

    ph.run_mesh(mesh)
    mesh_res = ph.mesh
    fmesh = np.asarray(mesh_res.frequencies)
    if finite(fmesh) and np.ptp(fmesh) > 1e-6:
        ph.run_total_dos()
        dos = ph.total_dos
        res.dos = Dos(mesh=[int(x) for x in ph.mesh_numbers], frequency_points=np.asarray(dos.frequency_points).tolist(),
                      total_dos=np.asarray(dos.dos).tolist())  # fmt: skip
    else:  # phonopy's DOS cannot bin a degenerate spectrum; such a model has lost its forces altogether
        reasons.append(
            f"degenerate phonon spectrum (all mesh frequencies within 1e-6 THz of {fmesh.max():.3g} THz)"
        )

    # imaginary-mode analysis over the band path and the mesh together
    qs = np.concatenate([np.concatenate([np.asarray(q) for q in bs.qpoints]), np.asarray(mesh_res.qpoints)])
    fs = np.concatenate([np.concatenate(freqs), np.asarray(mesh_res.frequencies)])
    where = ["path"] * sum(len(f) for f in freqs) + ["mesh"] * len(mesh_res.qpoints)
    near_gamma = np.linalg.norm(qs - np.rint(qs), axis=1) < gamma_radius
    allowed = np.full(fs.shape, -imaginary_tol_THz)
    allowed[near_gamma, :3] = -acoustic_tol_THz
    iq, ib = np.unravel_index(int(np.argmin(fs)), fs.shape)
    res.min_frequency_THz, res.max_frequency_THz = fnum(fs.min()), fnum(fs.max())
    res.min_frequency_qpoint = [float(x) for x in qs[iq]]
    res.min_frequency_label = _label_of(qs[iq], paths, labels, conns) or where[iq]
    bad = np.argwhere(fs < allowed)
    if len(bad):
        res.imaginary = True
        worst, seen = [], set()
        for q, b in sorted(bad.tolist(), key=lambda qb: fs[qb[0], qb[1]]):
            key = (*np.round(qs[q], 6).tolist(), b)  # segment ends repeat q-points: list each mode once
            if key not in seen and len(worst) < 10:
                seen.add(key)
                worst.append((q, b))
        res.imaginary_modes = [{"qpoint": [float(x) for x in qs[q]], "branch": int(b), "frequency_THz": float(fs[q, b]),
                                "where": _label_of(qs[q], paths, labels, conns) or where[q]} for q, b in worst]  # fmt: skip
        reasons.append(f"imaginary modes: {len(bad)} (q, branch) pairs below tolerance, lowest "
                       f"{fs.min():.3f} THz at q = {np.round(qs[iq], 3).tolist()} ({res.min_frequency_label})")  # fmt: skip
    res.reasons = reasons
    res.ok = not reasons
    return res


def _label_of(q: np.ndarray, paths, labels, conns) -> str | None:
    """The high-symmetry label of ``q`` when it is a segment end point (phonopy's label order), else None."""
    ends = []
    li = 0
    for i, p in enumerate(paths):
        ends.append((np.asarray(p[0]), labels[li]))
        ends.append((np.asarray(p[-1]), labels[li + 1]))
        li += 1 if conns[i] else 2
    for e, lab in ends:
        if np.allclose(q, e, atol=1e-6):
            return lab
    return None


def plain_label(tex: str) -> str:
    """phonopy's LaTeX point label as plain text: "$\\Gamma$" -> "Γ", "$\\mathrm{X}$" -> "X", "$\\mathrm{W}_2$" -> "W_2"."""
    s = tex.replace("$", "").replace("\\mathrm{", "").replace("}", "").replace("{", "")
    return s.replace("\\Gamma", "Γ").replace("\\", "")


def band_frequencies(res: PhononResult) -> np.ndarray:
    """All band-path frequencies as one (n_q, n_branch) array (NaN where missing), for comparisons."""
    if res.band is None:
        return np.empty((0, 0))
    return np.array([q for seg in res.band.frequencies for q in seg], dtype=float)


# ----------------------------------------------------------------------------------------------- the validator
def phonon_rmse(candidate: PhononResult, reference: PhononResult) -> float | None:
    """RMSE (THz) of band-path frequencies, q-point by q-point and branch by branch; None if the paths differ."""
    fc, fr = band_frequencies(candidate), band_frequencies(reference)
    if fc.size == 0 or fc.shape != fr.shape:
        return None
    return float(np.sqrt(np.mean((fc - fr) ** 2)))


def compute(
    calc_factory: CalculatorFactory, atoms: Atoms, settings: GateSettings, thresholds: ValidationThresholds
) -> PhononResult:
    s, th = settings, thresholds
    return phonons(calc_factory, atoms, supercell_min_length=s.phonon_supercell_min_length,
                   displacement=s.phonon_displacement, npoints=s.phonon_npoints, mesh=s.phonon_mesh,
                   imaginary_tol_THz=th.imaginary_tol_THz, acoustic_tol_THz=th.acoustic_tol_THz)  # fmt: skip


def compare(candidate: PropertyReport, reference: PropertyReport, th: ValidationThresholds) -> list[Check]:
    """The band RMSE against the oracle, then imaginary modes (allowed only where the oracle has them too)."""
    c, r = candidate.result("phonons"), reference.result("phonons")
    if c is None or r is None or c.band is None or r.band is None:
        why = (c and c.reasons) or (r and r.reasons) or ["missing"]
        return [missing_check("phonons", "phonons", "", candidate, reference, "; ".join(why))]
    rmse = phonon_rmse(c, r)
    text = "phonon band RMSE" if rmse is not None else "phonon band RMSE (band paths differ in shape)"
    ok = not c.imaginary or r.imaginary
    where = f"{fmt(c.min_frequency_THz)} THz at {c.min_frequency_label} {np.round(c.min_frequency_qpoint or [], 3).tolist()}"
    why = ("no imaginary modes (lowest " + where + ")" if not c.imaginary else
           "imaginary modes, as in the oracle (lowest " + where + ")" if ok else
           "imaginary modes the oracle does not have: lowest " + where)  # fmt: skip
    return [
        limit_check("phonon_rmse", "phonons", rmse, th.phonon_rmse_THz, "THz", text),
        Check(name="imaginary_modes", property="phonons", value=c.min_frequency_THz,
              threshold=-th.imaginary_tol_THz, unit="THz", passed=ok, reason=why),
    ]  # fmt: skip


def targets(report: GateReport, failed: set[str]) -> list[tuple[Atoms, str]]:
    """The displaced supercells, built on the oracle's relaxed cell."""
    s, ref = report.settings, report.reference
    src = ref.result("phonons") or report.candidate.result("phonons")
    base = src.structure.to_atoms() if src else ref.structure.to_atoms()
    return displacement_supercells(base, supercell_min_length=s.phonon_supercell_min_length,
                                   displacement=s.phonon_displacement)  # fmt: skip


register(Validator("phonons", PhononResult, compute, compare, targets))
