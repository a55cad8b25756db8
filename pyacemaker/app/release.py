"""Release packages: one zip with everything a colleague needs to use a campaign's potential.

``release_vX.Y.Z.zip`` holds the potential files (.yace for LAMMPS' ``pace``, .yaml + .asi for pyace and
``pace/extrapolation``), ``manifest.json`` (what it is, how it was made, how good it is, sha256 of every file),
``report.html`` and snippets: LAMMPS ``pair_style``/``pair_coeff`` lines with the baseline, an ASE script.
A potential whose validation said No-Go is refused unless forced, and the manifest records the force. A potential
whose files are damaged (missing, not matching their stored checksums, truncated) is refused before the zip is
written.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pyacemaker import __version__
from pyacemaker.campaign.context import Context, potential_files
from pyacemaker.config.schema import BASELINE_MODELS
from pyacemaker.db import Database, file_matches, sha256_file
from pyacemaker.explore.md.lammps_input import production_input_text
from pyacemaker.oracle import make_oracle
from pyacemaker.schemas.campaign import ReleaseEntry
from pyacemaker.schemas.potential import PotentialFile
from pyacemaker.train.baseline import make_baseline
from pyacemaker.train.potential import Potential

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+([.-]?[A-Za-z0-9.]+)?$")


class ReleaseError(ValueError):
    """The release cannot be made as asked (unknown campaign, no potential, No-Go without --force, bad version)."""


sha256 = sha256_file


def lammps_snippet(elements: list[str], baseline, stem: str) -> str:
    """LAMMPS lines for the released files (``include lammps_potential.in`` after ``read_data``), ML-PACE build."""

    return production_input_text(elements, ".", baseline, yace_name=f"{stem}.yace", yaml_name=f"{stem}.yaml",
                                 asi_name=f"{stem}.asi")  # fmt: skip


def ase_snippet(stem: str, elements: list[str]) -> str:
    """A runnable ASE script: the released potential (ACE + its baseline + isolated-atom energies) on a crystal."""
    return f'''"""Use the released potential from ASE: python use_with_ase.py (run it in the unzipped release folder).

Needs pyace (pip install python-ace) and pyacemaker (the baseline the potential was fitted on, read from
manifest.json). Energies are absolute, on the scale of the oracle that labelled the training set.
"""

import json
from pathlib import Path

from ase.build import bulk

from pyacemaker.app.release import calculator_from_release

here = Path(__file__).resolve().parent
calc = calculator_from_release(here)  # ACE ({stem}.yaml, gamma from {stem}.asi) + baseline from the manifest
atoms = bulk("{elements[0]}", cubic=True)
atoms.calc = calc
print(json.dumps({{"energy_eV": atoms.get_potential_energy(), "max_gamma": float(max(calc.results.get("gamma", [0])))}}))
'''


def calculator_from_release(folder: Path):
    """The ASE calculator of an unzipped release: exactly what the campaign used (ACE + baseline + references)."""

    folder = Path(folder)
    m = json.loads((folder / "manifest.json").read_text())
    b = m["baseline"]
    base = make_baseline(BASELINE_MODELS[b["type"]].model_validate(b), m["elements"])
    stem = m["potential_stem"]
    asi, yace = folder / f"{stem}.asi", folder / f"{stem}.yace"
    pot = Potential(id=m["potential_id"], yaml=folder / f"{stem}.yaml", asi=asi if asi.exists() else None,
                    yace=yace if yace.exists() else None, elements=tuple(m["elements"]), baseline=base,
                    reference_energies=m["reference_energies"])  # fmt: skip
    return pot.calculator(absolute=True)


# the top-level sections of a pacemaker B-basis (.yaml) and of a LAMMPS/pyace C-tilde basis (.yace)
_SECTIONS = {"yaml": ("species",), "yace": ("elements", "embeddings", "bonds", "functions")}


def _keys(node) -> dict[str, Any]:
    return {k.value: v for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}


def _damage(kind: str, path: Path) -> str | None:
    """Why a potential file is unusable (truncated, not its format), or None: the YAML files must parse and hold
    their sections (every B-basis species block complete up to its ``nbody``), the active set must be an intact
    archive."""
    if kind == "asi":
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError):
            return "is not a readable active-set archive (truncated?)"
        return f"has a damaged member {bad}" if bad else None
    if kind not in _SECTIONS:
        return None
    try:  # composed, not constructed: a .yace has keys such as [0, 0] that plain YAML cannot hash
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return "is not valid YAML (truncated?)"
    keys = _keys(node)
    missing = [k for k in _SECTIONS[kind] if k not in keys]
    if missing:
        return f"lacks its {', '.join(missing)} section{'s' if len(missing) > 1 else ''} (truncated?)"
    if kind == "yaml":
        blocks = keys["species"].value if isinstance(keys["species"], yaml.SequenceNode) else []
        if not blocks or any(not {"speciesblock", "nbody"} <= set(_keys(b)) for b in blocks):
            return "has an incomplete species block (truncated?)"
    return None


def damaged_files(files: dict[str, Path], stored: dict[str, PotentialFile]) -> list[str]:
    """What is wrong with a potential's files: missing, different from the stored checksum, or unreadable."""
    out = []
    for kind, meta in stored.items():
        path = files.get(kind)
        if path is None or not Path(path).is_file():
            out.append(f"{meta.name} is missing")
        elif not file_matches(Path(path), meta):
            out.append(f"{meta.name} does not match its stored checksum")
        elif why := _damage(kind, Path(path)):
            out.append(f"{meta.name} {why}")
    if not stored:
        out.append("no files are stored with it")
    return out


def make_release(
    db: Database, campaign: str, version: str, out_dir: Path, *, force: bool = False, author: str | None = None,
    report: Path | None = None,
) -> Path:  # fmt: skip
    """Write ``out_dir/release_v{version}.zip`` for the campaign's current potential; return its path."""

    if not VERSION_RE.match(version):
        raise ReleaseError(f"version {version!r} is not X.Y.Z (e.g. 1.0.0)")
    doc = db.campaign_doc(campaign)
    if doc is None:
        raise ReleaseError(f"no campaign named {campaign!r}")
    pot_id = doc.current_potential
    pot = db.potential(pot_id) if pot_id else None
    if pot is None:
        raise ReleaseError(f"campaign {campaign!r} has no trained potential yet")
    v = doc.validation
    verdict = v.verdict if v else None
    if v and v.potential_id not in (None, pot_id):
        verdict = None  # validated a different potential
    if verdict == "no-go" and not force:
        reasons = "; ".join(v.reasons) or "see the report"
        raise ReleaseError(
            f"potential {pot_id} failed validation (No-Go: {reasons}); release it anyway with --force "
            "(the manifest records that)"
        )
    cfg = doc.campaign_config()
    ctx = Context(campaign, cfg, Path(doc.workdir or out_dir))
    target = out_dir / f"release_v{version}.zip"
    if target.exists():
        raise ReleaseError(f"{target} exists: choose another --version or remove it")
    try:
        files = potential_files(db, ctx, pot_id)
    except Exception as exc:  # noqa: BLE001 - GridFS and the filesystem raise many types
        raise ReleaseError(f"cannot get the files of potential {pot_id} from the database "
                           f"({type(exc).__name__}: {exc}); nothing was released") from None  # fmt: skip
    problems = damaged_files(files, pot.files)
    if problems:
        raise ReleaseError(f"potential {pot_id} is corrupt: {'; '.join(problems)}. The database holds no intact "
                           "copy and nothing was released: fit it again (run the campaign under a new name)")  # fmt: skip
    stem = f"{campaign}_v{version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, bytes] = {}
    for kind in ("yace", "yaml", "asi"):
        if kind in files:
            payload[f"{stem}.{kind}"] = Path(files[kind]).read_bytes()
    payload["lammps_potential.in"] = lammps_snippet(cfg.elements, ctx.baseline, stem).encode()
    payload["use_with_ase.py"] = ase_snippet(stem, cfg.elements).encode()
    if report is not None and report.exists():
        payload["report.html"] = report.read_bytes()
    oracle = make_oracle(cfg.oracle)
    manifest: dict[str, Any] = {
        "schema": "pyacemaker.app.release/1",
        "version": version,
        "author": author or getpass.getuser(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "pyacemaker_version": __version__,
        "campaign": campaign,
        "potential_id": pot_id,
        "potential_stem": stem,
        "elements": cfg.elements,
        "baseline": cfg.baseline.model_dump(mode="json"),
        "cutoff": cfg.train.cutoff,
        "n_functions": pot.n_functions,
        "reference_energies": pot.reference_energies,
        "training_set_size": pot.n_structures,
        "training_metrics": pot.metrics,
        "test_metrics": doc.test_metrics,
        # the stored verdict's own keys (exclude_unset), the verdict as it applies to this potential
        "validation": {"verdict": verdict or "not validated",
                       **(v.model_dump(mode="json", exclude_unset=True, exclude={"verdict"}) if v else {})},
        "forced": bool(force and verdict == "no-go"),
        "oracle": {"settings": cfg.oracle.model_dump(mode="json"), "settings_hash": oracle.settings_hash},
        # workflow: distill: the surrogate whose labels the base ACE was fitted on (never the released fits')
        "surrogate": None if doc.surrogate is None else {
            **doc.surrogate.model_dump(mode="json", include={"model", "settings_hash", "finetuned_on", "before",
                                                              "after", "test_set", "labelled", "base_potential"}),
            "weights_sha256": (doc.surrogate.weights or {}).get("sha256"),
            "correction": cfg.surrogate.correction,
        },
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(payload.items())},
    }  # fmt: skip
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(payload.items()):
            zf.writestr(f"{stem}/{name}", data)
        zf.writestr(f"{stem}/manifest.json", json.dumps(manifest, indent=2, default=str))
    tmp.replace(target)  # never a half-written zip under the final name
    entry = ReleaseEntry(
        path=str(target), potential_id=pot_id, forced=manifest["forced"], created=manifest["created"]
    )
    db.update_campaign(campaign, {f"releases.{version.replace('.', '_')}": entry})
    return target
