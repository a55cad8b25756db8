"""What the database holds at the end of a trial: lost, duplicated, wrong and over-budget labels."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from faultsuite.trial import END_STATES, Trial


# ----------------------------------------------------------------------------------------------- checks
@dataclass
class Audit:
    name: str
    ended: bool
    state: str | None
    stage: str | None
    oracle_calls: int = 0
    test_calls: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    over: int = 0
    labelled: int = 0
    notes: list[str] = field(default_factory=list)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def audit(trial: Trial, name: str, max_calls: int) -> Audit:
    """The end state of campaign ``name`` in the trial's database (the columns: ``benchmarks/faults.py``'s docstring)."""
    from pymongo.errors import PyMongoError

    trial.reset_db()
    try:
        return _audit(trial, name, max_calls)
    except PyMongoError as exc:
        return Audit(
            name, False, None, None, notes=[f"database unreachable at the end ({type(exc).__name__})"]
        )


def reference_oracle(
    trial: Trial, name: str
) -> tuple[Callable[[Any, str], tuple[float, np.ndarray]], float, float]:
    """How a label of campaign ``name`` is recomputed (energy eV, forces eV/A) and the tolerances: EMT to 1e-6;
    pw.x (the campaign's own settings, a fresh directory) to 1e-4 eV and 1e-3 eV/A, the SCF's own precision (a
    run continued from saved wavefunctions converges to the same state, not the same bits)."""
    cfg_text = (trial.root / f"{name}.yaml").read_text()
    if "espresso" not in cfg_text:
        from ase.calculators.emt import EMT

        def emt(atoms, key: str) -> tuple[float, np.ndarray]:
            atoms.calc = EMT()
            return atoms.get_potential_energy(), atoms.get_forces()

        return emt, 1e-6, 1e-6
    from pyacemaker.config import parse_config, resolve
    from pyacemaker.oracle import make_oracle

    cfg, _ = resolve(parse_config(yaml.safe_load(cfg_text)))
    oracle = make_oracle(cfg.oracle)

    def dft(atoms, key: str) -> tuple[float, np.ndarray]:
        res, _ = oracle.run_pw(atoms, trial.root / "recomputed" / key)
        return float(res.energy), np.asarray(res.forces)

    return dft, 1e-4, 1e-3


def _audit(trial: Trial, name: str, max_calls: int) -> Audit:
    import gridfs

    from pyacemaker.schemas.records import StructureRecord

    db = trial.db
    if db is None:
        return Audit(name, False, None, None, notes=["database unreachable at the end"])
    doc = db.campaign(name) or {}
    a = Audit(name, doc.get("state") in END_STATES and doc.get("stage") == "done", doc.get("state"),
              doc.get("stage"), int(doc.get("oracle_calls") or 0), int(doc.get("test_oracle_calls") or 0))  # fmt: skip
    recs = {r["_id"]: r for r in db.records.find({"campaign": name})}
    by_oracle = [r for r in recs.values() if r.get("labels") or r.get("status") == "rejected"]
    non_test = [r for r in by_oracle if (r.get("provenance") or {}).get("origin") != "test_set"]
    counted: set[str] = set()
    pots = list(db.potentials.find({"campaign": name}))
    for p in pots:
        counted.update(p.get("dataset_ids") or [])
        counted.update(p.get("test_ids") or [])
    missing = [i for i in counted if i not in recs or not recs[i].get("labels")]
    iter_calls = sum(
        int((it or {}).get("oracle_calls") or 0) for it in (doc.get("iterations") or {}).values()
    )
    a.lost = len(missing) + max(0, iter_calls - len(non_test))
    a.duplicated = max(0, a.oracle_calls - len(by_oracle))
    a.over = max(
        0, a.oracle_calls - a.test_calls - max_calls
    )  # the test set is counted apart from the budget
    if missing:
        a.notes.append(f"{len(missing)} trained-on record(s) missing/unlabelled: {sorted(missing)[:3]}")
    if iter_calls > len(non_test):
        a.notes.append(f"iterations counted {iter_calls} calls, {len(non_test)} non-test records labelled")
    # every label recomputed by the same oracle, from scratch
    recompute, tol_e, tol_f = reference_oracle(trial, name)
    for raw in recs.values():
        if not raw.get("labels"):
            continue
        rd = dict(raw)
        rd["id"] = rd.pop("_id")
        rec = StructureRecord.model_validate(rd)
        e, f = recompute(rec.to_atoms(with_labels=False), rec.hash[:16])
        a.labelled += 1
        if abs(e - rec.labels.energy) > tol_e or np.max(np.abs(f - np.asarray(rec.labels.forces))) > tol_f:
            a.wrong += 1
            a.notes.append(f"wrong label {rec.id}: dE {e - rec.labels.energy:.2e} eV")
    # the potential files as stored, and the one the campaign names
    fs = gridfs.GridFS(db.db, collection="potential_files")
    bad = []
    for p in pots:
        for kind, meta in (p.get("files") or {}).items():
            try:
                data = fs.get(meta["gridfs_id"]).read()
            except Exception as exc:  # noqa: BLE001 (any failure is a damaged file)
                bad.append(f"{p['_id']} {kind}: {type(exc).__name__}")
                continue
            if meta.get("sha256") and sha256_hex(data) != meta["sha256"] or not data:
                bad.append(f"{p['_id']} {kind}: stored bytes differ from their sha256")
    if bad:
        a.notes.append("damaged stored potential files: " + "; ".join(bad[:3]))
    named = (doc.get("summary") or {}).get("potential_path")
    pid = (doc.get("summary") or {}).get("potential_id")
    if named and pid:
        meta = ((db.potentials.find_one({"_id": pid}) or {}).get("files") or {}).get("yace") or {}
        path = Path(named)
        if not path.is_file():
            a.notes.append(f"the potential the campaign names ({path.name}) does not exist")
        elif meta.get("sha256") and sha256_hex(path.read_bytes()) != meta["sha256"]:
            a.notes.append(
                f"the potential file the campaign names (summary.potential_path: {path.parent.name}/"
                f"{path.name}) does not match its stored sha256"
            )
    return a


def failure_report(trial: Trial, names: list[str]) -> str:
    """Exit codes, last output lines and database state of a trial that did not recover."""
    out = []
    for r in trial.runs:
        out.append(f"  `pyacemaker {' '.join(r.args[:2])}` (pid {r.pid}) exit code {r.rc}; last lines:")
        out += [f"    | {line}" for line in r.tail(15).splitlines()]
    for name in names:
        with contextlib.suppress(Exception):
            doc = trial.campaign(name)
            out.append(f"  campaign {name}: state {doc.get('state')!r}, stage {doc.get('stage')!r}, end_reason "
                       f"{doc.get('end_reason')!r}, oracle_calls {doc.get('oracle_calls')}, "
                       f"controller {doc.get('controller')}")  # fmt: skip
            fws = trial.fireworks(name)
            counts: dict[str, int] = {}
            for fw in fws:
                counts[fw["state"]] = counts.get(fw["state"], 0) + 1
            out.append(
                f"  fireworks: {counts}"
                + ("; workflow LOCKED (FireWorks WFLock)" if stale_lock(trial, name) else "")
            )
            for fw in fws:
                if fw["state"] not in ("COMPLETED", "WAITING", "READY") or len(fw.get("launches") or []) > 1:
                    msg = ""
                    if fw["state"] == "FIZZLED" and fw.get("launch_id"):
                        launch = trial.db.db["launches"].find_one({"launch_id": fw["launch_id"]})
                        act = (launch or {}).get("action") or {}
                        tb = ((act.get("stored_data") or {}).get("_exception") or {}).get("_stacktrace") or ""
                        msg = ": " + (tb.strip().splitlines() or [""])[-1][:300]
                    out.append(f"    {fw['name']} (fw {fw['fw_id']}): {fw['state']}, "
                               f"{len(fw.get('launches') or [])} launch(es){msg}")  # fmt: skip
    return "\n".join(out)


def stale_lock(trial: Trial, name: str) -> bool:
    """Whether the campaign's workflow carries FireWorks' ``locked`` flag (now: nobody should hold it)."""
    from pymongo.errors import PyMongoError

    root = trial.campaign(name).get("wf_root_fw_id")
    try:
        wf = trial.db.db["workflows"].find_one({"nodes": root}, {"locked": 1}) if trial.db and root else None
    except PyMongoError:
        return False
    return bool((wf or {}).get("locked"))
