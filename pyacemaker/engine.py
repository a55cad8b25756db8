"""Putting a campaign on a LaunchPad, running local FireWorks workers, and reading its state back.

Nothing here schedules anything itself: workflows go through jobflow's ``flow_to_workflow`` and the LaunchPad,
work is done by FireWorks' ``rlaunch`` processes, and state is read from the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pyacemaker.config import CampaignConfig
from pyacemaker.db import Database, DbTarget
from pyacemaker.stages import Context


class CampaignError(RuntimeError):
    """A campaign cannot be created or continued (message says why)."""


def config_hash(cfg: CampaignConfig) -> str:
    blob = json.dumps(cfg.model_dump(mode="json", exclude={"database"}), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_workflow(ctx: Context):
    """The campaign's FireWorks Workflow (no store inside: workers use their own jobflow config)."""
    from jobflow.managers.fireworks import flow_to_workflow

    from pyacemaker.flows import campaign_flow

    wf = flow_to_workflow(campaign_flow(ctx))
    wf.metadata = {"pyacemaker_campaign": ctx.campaign}  # FireWorks' workflow files need a metadata key
    return wf


def ensure_launchpad(lp) -> None:
    """Initialise FireWorks' id counters on a database that has never held a workflow (a no-op otherwise)."""
    if lp.fw_id_assigner.count_documents({}) == 0 and lp.workflows.count_documents({}) == 0:
        lp.reset("", require_password=False, max_reset_wo_password=0)


def ensure_campaign(db: Database, lp, ctx: Context) -> tuple[dict[str, Any], bool]:
    """Create the campaign and add its workflow, or find it to continue. Returns (campaign doc, created)."""
    doc = db.campaign(ctx.campaign)
    h = config_hash(ctx.config)
    if doc and doc.get("wf_root_fw_id") is not None:
        if doc.get("config_hash") and doc["config_hash"] != h:
            raise CampaignError(
                f"campaign {ctx.campaign!r} already exists with a different config; "
                "give the new campaign another name (name: in the config) to keep both"
            )
        try:
            lp.get_wf_by_fw_id_lzyfw(doc["wf_root_fw_id"])
        except ValueError:
            raise CampaignError(
                f"campaign {ctx.campaign!r} is recorded but its workflow is gone from the LaunchPad "
                "(was the LaunchPad reset?); choose another campaign name"
            ) from None
        return doc, False
    wf = build_workflow(ctx)
    ensure_launchpad(lp)
    ids = lp.add_wf(wf)
    root = min(ids.values())
    db.update_campaign(ctx.campaign, {
        "config": ctx.config.model_dump(mode="json"), "config_hash": h, "workdir": str(ctx.workdir),
        "state": "running", "created": datetime.now(UTC), "wf_root_fw_id": root, "iteration": 0, "stage": "queued",
    })  # fmt: skip
    return db.campaign(ctx.campaign) or {}, True


def workflow_states(lp, root_fw_id: int) -> dict[str, Any]:
    """The workflow's state and its fireworks by state (names included for the RUNNING ones)."""
    wf = lp.workflows.find_one({"nodes": root_fw_id}, {"state": 1, "nodes": 1})
    if wf is None:
        return {"state": "MISSING", "counts": {}, "running": [], "fizzled": []}
    counts: dict[str, int] = {}
    running, fizzled = [], []
    for fw in lp.fireworks.find({"fw_id": {"$in": wf["nodes"]}}, {"state": 1, "name": 1, "fw_id": 1}):
        counts[fw["state"]] = counts.get(fw["state"], 0) + 1
        if fw["state"] == "RUNNING":
            running.append(fw["name"])
        if fw["state"] == "FIZZLED":
            fizzled.append(fw["fw_id"])
    return {
        "state": wf["state"],
        "counts": counts,
        "running": running,
        "fizzled": fizzled,
        "nodes": wf["nodes"],
    }


def requeue_local_launches(lp, root_fw_id: int, launches_dir: Path) -> list[int]:
    """Re-queue this campaign's RUNNING jobs that local workers of an earlier ``run`` left behind (killed or
    interrupted). Only launches in this campaign's own local launch directory are touched: jobs running on
    other machines (rlaunch/qlaunch elsewhere) are left alone."""
    st = workflow_states(lp, root_fw_id)
    if not st.get("nodes"):
        return []
    prefix = str(launches_dir.resolve())
    out = []
    for fw in lp.fireworks.find(
        {"fw_id": {"$in": st["nodes"]}, "state": "RUNNING"}, {"fw_id": 1, "launches": 1}
    ):
        launch = lp.launches.find_one(
            {"launch_id": {"$in": fw.get("launches", [])}}, sort=[("launch_id", -1)]
        )
        if launch and str(launch.get("launch_dir", "")).startswith(prefix):
            lp.rerun_fw(fw["fw_id"])
            out.append(fw["fw_id"])
    return out


def fizzle_reasons(lp, fw_ids: list[int]) -> list[str]:
    out = []
    for fw_id in fw_ids:
        fw = lp.fireworks.find_one({"fw_id": fw_id}, {"name": 1, "launches": 1})
        launch = lp.launches.find_one(
            {"launch_id": {"$in": fw.get("launches", [])}}, sort=[("launch_id", -1)]
        )
        tb = (
            ((launch or {}).get("action") or {})
            .get("stored_data", {})
            .get("_exception", {})
            .get("_stacktrace", "")
        )
        last = [ln for ln in str(tb).strip().splitlines() if ln.strip()][-1:] or ["(no traceback recorded)"]
        out.append(f"{fw['name']} (fw {fw_id}): {last[0]}")
    return out


# ----------------------------------------------------------------------------------------------- local workers
def worker_files(
    target: DbTarget, directory: Path, campaign: str, fworker_name: str | None
) -> dict[str, Path]:
    """my_launchpad.yaml, my_fworker.yaml and jobflow.yaml for local workers (never with credentials)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {"launchpad": directory / "my_launchpad.yaml", "fworker": directory / "my_fworker.yaml",
             "jobflow": directory / "jobflow.yaml"}  # fmt: skip
    if target.launchpad_file:
        files["launchpad"] = Path(target.launchpad_file)
    else:
        files["launchpad"].write_text(yaml.safe_dump(target.launchpad_spec()))
    fworker = {"name": fworker_name or f"pyacemaker-local-{os.uname().nodename}", "category": "",
               "query": json.dumps({"spec.pyacemaker_campaign": campaign})}  # fmt: skip
    files["fworker"].write_text(yaml.safe_dump(fworker))
    if not target.has_credentials:
        files["jobflow"].write_text(yaml.safe_dump({"JOB_STORE": target.jobflow_store_spec()}))
    return files


def start_workers(target: DbTarget, ctx: Context, n: int, fworker_name: str | None) -> list[subprocess.Popen]:
    """Start ``n`` FireWorks ``rlaunch rapidfire`` workers for this campaign, logging to workdir/logs."""
    fw_dir = ctx.workdir / "fireworks"
    files = worker_files(target, fw_dir, ctx.campaign, fworker_name)
    logs = ctx.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}
    if target.has_credentials:
        # the store is built in the worker process from the environment / launchpad file: nothing written to disk
        cmd = [sys.executable, "-m", "pyacemaker.worker", "-w", str(files["fworker"])]
        if target.launchpad_file:
            cmd += ["-l", target.launchpad_file]
    else:
        env["JOBFLOW_CONFIG_FILE"] = str(files["jobflow"])
        rlaunch = shutil.which("rlaunch") or str(Path(sys.executable).with_name("rlaunch"))
        cmd = [rlaunch, "-l", str(files["launchpad"]), "-w", str(files["fworker"]), "rapidfire",
               "--nlaunches", "infinite", "--sleep", "1"]  # fmt: skip
    procs = []
    for i in range(n):
        wd = ctx.workdir / "launches"
        wd.mkdir(parents=True, exist_ok=True)
        log = open(logs / f"worker_{i}.log", "ab")  # noqa: SIM115  (closed with the process)
        procs.append(subprocess.Popen(cmd, cwd=wd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                      stdin=subprocess.DEVNULL, start_new_session=True))  # fmt: skip
    return procs


def stop_workers(procs: list[subprocess.Popen], timeout: float = 10.0) -> None:
    """Stop the workers and everything they started (pacemaker, ...): each worker leads its own process group."""
    import signal

    def signal_group(p: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)

    for p in procs:
        signal_group(p, signal.SIGTERM)
    end = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(p, signal.SIGKILL)
            p.wait()
        signal_group(p, signal.SIGKILL)  # children that outlived their worker


# ----------------------------------------------------------------------------------------------- status
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
