"""Files reused across jobs are checked before reuse: a pw.x output must be complete (a pw.x killed while writing
its forces leaves one that looks finished), and a potential's files must have their stored sha256 (a truncated
or altered copy is fetched again from the database, identical to the stored one)."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.config import parse_config, resolve
from pyacemaker.oracle import make_oracle
from pyacemaker.oracle.espresso import pw
from tests.support import missing

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------------------- pw.x output
@pytest.fixture(scope="module")
def si_run(tmp_path_factory):
    """A real pw.x run of a rattled Si2 cell (non-zero forces): the oracle, the structure, its directory and the
    complete output's text and parsed result."""
    if shutil.which("pw.x") is None:
        msg = "pw.x not installed (scripts/setup.sh installs quantum-espresso when run as root)"
        missing(msg)
    cfg, _ = resolve(
        parse_config({"elements": ["Si"], "oracle": {"type": "espresso", "kspacing": 0.8, "ecutwfc": 20.0}})
    )
    oracle = make_oracle(cfg.oracle)
    atoms = bulk("Si")
    atoms.positions[1] += [0.05, -0.03, 0.02]
    d = tmp_path_factory.mktemp("si") / "run"
    res, _ = oracle.run_pw(atoms, d)
    return oracle, atoms, d, (d / pw.PW_OUT).read_text(), res


def _truncate_after(text: str, marker: str, extra_lines: int) -> str:
    """``text`` cut ``extra_lines`` lines after the line holding ``marker``, in the middle of the next line."""
    lines = text.splitlines(keepends=True)
    k = next(i for i, ln in enumerate(lines) if marker in ln) + extra_lines
    return "".join(lines[:k]) + lines[k][: len(lines[k]) // 2]


def test_a_pw_x_output_cut_in_its_forces_is_incomplete_and_redone(si_run, tmp_path):
    oracle, atoms, ref_dir, full, ref = si_run
    assert np.abs(ref.forces).max() > 0.01 and pw.missing_parts(ref_dir) == [] and pw.succeeded(ref_dir)
    d = tmp_path / "run"
    shutil.copytree(ref_dir, d)
    cut = _truncate_after(full, "Forces acting on atoms", 3)  # atom 1's force line whole, atom 2's half
    (d / pw.PW_OUT).write_text(cut)
    # what the old check accepted: converged SCF and a final energy, no error signature
    assert pw.CONVERGED in cut and pw.TOTAL_ENERGY.search(cut) and not pw.detect_errors(d)
    assert pw.missing_parts(d) == ["forces", "stress", pw.JOB_DONE] and not pw.succeeded(d)
    with pytest.raises(ValueError, match="incomplete output, missing: forces, stress, JOB DONE"):
        pw.parse(d)
    restart_state = sorted(p.name for p in (d / pw.OUTDIR).rglob("*"))
    res, corrections = oracle.run_pw(atoms, d)  # not reused: pw.x runs again in the same directory
    assert corrections == []
    assert (d / f"{pw.PW_OUT}.incomplete").read_text() == cut  # kept for a look, never parsed
    assert pw.succeeded(d) and pw.JOB_DONE in (d / pw.PW_OUT).read_text()
    assert {p.name for p in (d / pw.OUTDIR).rglob("*")} >= set(restart_state)  # the directory's state stays
    assert res.energy == pytest.approx(ref.energy, abs=1e-6)
    assert np.allclose(res.forces, ref.forces, atol=1e-6) and np.allclose(res.stress, ref.stress, atol=1e-8)


def test_outputs_missing_only_the_stress_or_the_end_are_incomplete(si_run, tmp_path):
    *_, ref_dir, full, _ = si_run
    d = tmp_path / "run"
    shutil.copytree(ref_dir, d)
    (d / pw.PW_OUT).write_text(_truncate_after(full, "total   stress", 2))
    assert pw.missing_parts(d) == ["stress", pw.JOB_DONE]
    (d / pw.PW_OUT).write_text(full.replace(pw.JOB_DONE, ""))
    assert pw.missing_parts(d) == [pw.JOB_DONE] and not pw.succeeded(d)
    # a run that asked for no stress needs none
    (d / pw.PW_OUT).write_text(_truncate_after(full, "total   stress", 0) + "\n" + pw.JOB_DONE + "\n")
    (d / pw.PW_IN).write_text((d / pw.PW_IN).read_text().replace(".true.", ".false.", 1))
    assert "tstress          = .false." in (d / pw.PW_IN).read_text()
    assert pw.missing_parts(d) == []


# ------------------------------------------------------------------------------------------- potential files
def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_damaged_potential_file_is_fetched_again_and_identical_to_the_stored_one(
    db, tiny_cu_potential, tmp_path
):
    from pyacemaker.campaign.context import Context, load_potential, potential_files
    from pyacemaker.schemas.potential import PotentialDoc

    fit = tmp_path / "fit"
    fit.mkdir()
    files = {k: fit / tiny_cu_potential[k].name for k in ("yaml", "yace", "asi")}
    for k, p in files.items():
        shutil.copyfile(tiny_cu_potential[k], p)
    stored = {k: p.read_bytes() for k, p in files.items()}
    ctx = Context("integrity", tiny_cu_potential["cfg"], tmp_path / "campaign")
    doc = PotentialDoc(id="integrity:pot000", campaign="integrity", iteration=0, n_structures=3,
                       reference_energies=tiny_cu_potential["refs"])  # fmt: skip
    db.save_potential(doc, files)
    metas = db.potential(doc.id).files
    assert all(metas[k].sha256 == _sha(p) for k, p in files.items())
    assert potential_files(db, ctx, doc.id) == files  # the fit directory's copies match: used as they are

    # one byte flipped in the shared fit directory (same size: only the sha256 tells)
    raw = bytearray(files["yace"].read_bytes())
    raw[len(raw) // 2] ^= 0x01
    files["yace"].write_bytes(bytes(raw))
    assert files["yace"].stat().st_size == metas["yace"].size
    got = potential_files(db, ctx, doc.id)
    assert got["yace"].parent == ctx.workdir / "iter_000" / "potential"  # fetched from the database
    assert {k: p.read_bytes() for k, p in got.items()} == stored
    assert all(_sha(got[k]) == metas[k].sha256 for k in got)

    # the fetched copy truncated (an interrupted write) and the active set altered: fetched again
    got["asi"].write_bytes(got["asi"].read_bytes()[:100])
    raw = bytearray(got["yaml"].read_bytes())
    raw[-2] ^= 0x20
    got["yaml"].write_bytes(bytes(raw))
    pot = load_potential(db, ctx, doc.id)
    assert {k: p.read_bytes() for k, p in pot.files.items()} == stored
    assert pot.files == got and not list(got["yaml"].parent.glob("*.part*"))

    # the result is the stored potential's: same energy, forces and gamma as from the original files
    atoms = bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=1)
    a, b = atoms.copy(), atoms.copy()
    a.calc = tiny_cu_potential["calc"]()
    b.calc = pot.calculator()
    assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), abs=1e-10)
    assert np.allclose(b.get_forces(), a.get_forces(), atol=1e-10)
    assert np.allclose(b.calc.results["gamma"], a.calc.results["gamma"])


def test_a_damaged_stored_copy_is_an_error_not_a_silent_reuse(db, tmp_path):
    """When the database's own copy does not match its sha256, the fetch cannot repair the file: an error says
    so instead of handing the damaged file on."""
    from pyacemaker.campaign.context import Context, PotentialFileError, potential_files
    from pyacemaker.schemas.potential import PotentialDoc

    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    f = tmp_path / "fit" / "p.yaml"
    f.parent.mkdir()
    f.write_text("elements: [Cu]\n" + "y" * 5000)
    doc = PotentialDoc(id="bad:pot000", campaign="bad", iteration=0, n_structures=1)
    db.save_potential(doc, {"yaml": f})
    f.write_text("elements: [Cu]\n" + "z" * 5000)  # the shared copy altered
    db.potentials.update_one({"_id": doc.id}, {"$set": {"files.yaml.sha256": "0" * 64}})  # and the record
    with pytest.raises(PotentialFileError, match="still differ from the stored sha256"):
        potential_files(db, Context("bad", cfg, tmp_path / "campaign"), doc.id)
