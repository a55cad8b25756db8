"""The status document of a campaign (the schema of ``pyacemaker status --json``, ``pyacemaker.status/1``)."""

from __future__ import annotations

from typing import Any

from pyacemaker.campaign.launchpad import workflow_states
from pyacemaker.db import Database


def _condition_name(cond: dict[str, Any]) -> str:
    """A condition's display name (campaigns from before named conditions: its temperature)."""
    return cond.get("name") or f"{cond.get('temperature_K', 0):.0f}K"


def campaign_status(db: Database, doc: dict[str, Any], lp=None) -> dict[str, Any]:
    """The stable status document of one campaign (the schema of ``pyacemaker status --json``)."""
    iters = []
    for k in sorted(doc.get("iterations", {}), key=int):
        it = doc["iterations"][k]
        explore = it.get("explore", {})
        train = it.get("train", {})
        iters.append({
            "iteration": int(k),
            "dataset_size": train.get("n_structures"),
            "potential_id": train.get("potential_id"),
            "train_metrics": {k: v for k, v in train.get("metrics", {}).items() if not k.startswith("test_")},
            "test_metrics": {k[5:]: v for k, v in train.get("metrics", {}).items() if k.startswith("test_")},
            "n_test": train.get("n_test", 0),
            "fit_wall_time_s": train.get("wall_time_s"),
            "warm_start": train.get("warm_start"),
            "fit_failed": bool(train.get("failed")),
            "halts": sum(1 for e in explore.values() if e.get("halted")),
            "halts_by_condition": {_condition_name(e["condition"]): bool(e.get("halted"))
                                   for e in explore.values() if e.get("condition")},
            "conditions": [{k: e.get(k) for k in ("halted", "steps_done", "simulated_time_fs", "max_gamma", "driver",
                                                   "notice", "error")}
                           | {"name": _condition_name(e["condition"]), "level": e["condition"].get("level", 0),
                              "temperature_K": e["condition"].get("temperature_K"),
                              "pressure_GPa": e["condition"].get("pressure_GPa")}
                           for _, e in sorted(explore.items(), key=lambda kv: int(kv[0])) if e.get("condition")],
            "quiet_windows": {c["name"]: c.get("quiet_windows", 0) for c in it.get("conditions", [])},
            "max_gamma": max((e.get("max_gamma") or 0 for e in explore.values()), default=None),
            "selected": (it.get("selection") or {}).get("chosen"),
            "oracle_calls": it.get("oracle_calls", 0),
            "decision": it.get("decision"),
        })  # fmt: skip
    pot = db.latest_potential(doc["_id"])
    out = {
        "campaign": doc["_id"],
        "state": doc.get("state", "unknown"),
        "end_reason": doc.get("end_reason"),
        "stage": doc.get("stage"),
        "iteration": doc.get("iteration"),
        "iterations": iters,
        "dataset_size": db.records.count_documents({"campaign": doc["_id"], "status": "labelled"}),
        "oracle_calls": doc.get("oracle_calls", 0),
        "potential_id": pot["_id"] if pot else None,
        "potential_path": (pot["files"]["yace"]["path"] if pot else None),
        "test_metrics": doc.get("test_metrics", {}),
        "validation": {
            k: (doc.get("validation") or {}).get(k) for k in ("potential_id", "verdict", "reasons")
        }
        if doc.get("validation")
        else None,
        "workdir": doc.get("workdir"),
        "workflow_state": None,
    }
    if lp is not None and doc.get("wf_root_fw_id") is not None:
        out["workflow_state"] = workflow_states(lp, doc["wf_root_fw_id"])["state"]
    return out
