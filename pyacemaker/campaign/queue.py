"""Job classes and what they ask of a queue: the FireWorks category and queue-adapter parameters every job carries.

Jobs fall into four classes (``label``, ``train``, ``explore``, ``light``). Each job's spec gets its class's
``_category`` (so a worker of that class, e.g. one ``qlaunch`` per class with its own adapter, takes only its jobs)
and ``_queueadapter`` (the class's resources: FireWorks applies them when ``qlaunch`` runs in reservation mode,
one queue job per firework). The keys are those of FireWorks' ``CommonAdapter`` templates for Slurm and PBS.
"""

from __future__ import annotations

from typing import Any

from pyacemaker.config.schema import CampaignConfig, JobResources

# the class of each job of the campaign graph (job names as in pyacemaker.campaign.flows)
JOB_CLASS: dict[str, str] = {
    "seed": "explore",  # builds structures and runs the cold-start MD
    "targeted": "light",
    "select": "light",
    "label": "label",
    "train": "train",
    "finetune": "train",  # workflow: distill: fine-tunes the surrogate
    "pool": "explore",  # MD with the surrogate
    "surrogate-label": "explore",  # the surrogate's labels: model inference, not the oracle
    "base-fit": "train",  # the base ACE on the surrogate's labels
    "explore": "explore",
    "decide": "light",
    "summary": "train",  # the final fit; its test set and gate call the oracle too
}


def _walltime_pbs(walltime: str) -> str:
    """PBS wants HH:MM:SS; Slurm's D-HH:MM:SS becomes hours."""
    if "-" in walltime:
        days, rest = walltime.split("-", 1)
        h, *ms = rest.split(":")
        return ":".join([str(int(days) * 24 + int(h)), *ms])
    return walltime


def queue_params(res: JobResources, system: str) -> dict[str, Any]:
    """The queue-adapter parameters of one class (only what is set), for FireWorks' Slurm or PBS template."""
    if system == "pbs":
        cores = (res.ntasks or 1) * (res.cpus_per_task or 1)
        out: dict[str, Any] = {"nnodes": res.nodes, "ppnode": -(-cores // (res.nodes or 1)), "queue": res.queue,
                               "account": res.account, "pmem": res.mem,
                               "walltime": _walltime_pbs(res.walltime) if res.walltime else None}  # fmt: skip
    else:
        out = {"nodes": res.nodes, "ntasks": res.ntasks, "cpus_per_task": res.cpus_per_task, "mem": res.mem,
               "walltime": res.walltime, "queue": res.queue, "account": res.account,
               "gpus": res.gpus or None}  # fmt: skip
    out["pre_rocket"] = res.pre_rocket
    out.update(res.directives)
    return {k: v for k, v in out.items() if v is not None}


def manager_config(cfg: CampaignConfig, campaign: str, job_class: str) -> dict[str, Any]:
    """The FireWorks spec entries of one job: its class, category, queue parameters, campaign (and worker pin)."""
    res: JobResources = getattr(cfg.resources, job_class)
    mc: dict[str, Any] = {
        "_category": cfg.workers.category or res.category or job_class,
        "_queueadapter": queue_params(res, cfg.resources.system),
        "pyacemaker_campaign": campaign,  # lets `pyacemaker run` workers take only this campaign's jobs
        "pyacemaker_class": job_class,
    }
    if cfg.workers.fworker:
        mc["_fworker"] = cfg.workers.fworker
    return mc


def qadapter(
    res: JobResources, system: str, rocket_launch: str, logdir: str, job_name: str
) -> dict[str, Any]:
    """A complete ``CommonAdapter`` description for one class (what ``qlaunch -q`` reads)."""
    return {"_fw_name": "CommonAdapter", "_fw_q_type": "PBS" if system == "pbs" else "SLURM",
            "rocket_launch": rocket_launch, "logdir": logdir, "job_name": job_name,
            **queue_params(res, system)}  # fmt: skip
