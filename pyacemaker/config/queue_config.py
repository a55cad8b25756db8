"""The ``workers:`` and ``resources:`` sections: how jobs are split over FireWorks workers and queues."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from pyacemaker.config.base import Strict


class WorkerConfig(Strict):
    """How work is split across FireWorks workers."""

    label_batches: int = Field(2, ge=1, le=256, description="parallel labelling jobs per iteration")
    fworker: str | None = Field(None, description="FireWorks worker name the jobs are pinned to (_fworker)")
    category: str | None = Field(
        None,
        description="one FireWorks category for every job (_category; default: each class's, see resources)",
    )
    lost_after_s: float = Field(
        600.0,
        ge=180,
        le=7 * 86400,
        description="a running job whose worker has not pinged for this long (workers ping every 60 s) is re-run;"
        " a local worker that silent (frozen, or hung in code that blocks it) is killed first",
    )


JOB_CLASSES = ("label", "train", "explore", "light")
_WALLTIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}(:\d{2})?$")
_MEMORY = re.compile(r"^\d+(\.\d+)?[KMGT]B?$", re.IGNORECASE)


class JobResources(Strict):
    """What one class of jobs asks of a queue (Slurm or PBS) and the FireWorks category its jobs carry."""

    category: str | None = Field(None, description="FireWorks category (_category); default: the class name")
    nodes: int | None = Field(None, ge=1, le=10000)
    ntasks: int | None = Field(None, ge=1, le=1000000, description="MPI ranks")
    cpus_per_task: int | None = Field(None, ge=1, le=1024, description="threads per rank")
    gpus: int | None = Field(None, ge=0, le=64)
    mem: str | None = Field(None, description='memory per node, e.g. "8G"')
    walltime: str | None = Field(None, description='e.g. "04:00:00" or "1-00:00:00"')
    queue: str | None = Field(None, description="Slurm partition or PBS queue")
    account: str | None = None
    directives: dict[str, str | int] = Field(
        default_factory=dict, description="more template keys of FireWorks' queue adapter, e.g. {qos: high}"
    )
    pre_rocket: str | None = Field(None, description="shell lines run before the job (modules, environment)")

    @field_validator("walltime", mode="before")
    @classmethod
    def _walltime(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(
            v, bool
        ):  # YAML 1.1 reads an unquoted 12:00:00 as 43200 seconds
            v = f"{v // 3600:02d}:{v % 3600 // 60:02d}:{v % 60:02d}"
        if v is not None and not (isinstance(v, str) and _WALLTIME.match(v)):
            raise ValueError(f"walltime {v!r}: use HH:MM:SS or D-HH:MM:SS")
        return v

    @field_validator("mem")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        if v is not None and not _MEMORY.match(v):
            raise ValueError(f"mem {v!r}: use a number with K, M, G or T, e.g. 8G")
        return v


class ResourcesConfig(Strict):
    """Per-class queue resources: ``label`` (the oracle, DFT), ``train`` (pacemaker fits, the final fit and the
    quality gate), ``explore`` (MD/kMC, seeds and cold start), ``light`` (select, decide, bookkeeping)."""

    system: Literal["slurm", "pbs"] = Field("slurm", description="the queue system of qlaunch")
    label: JobResources = JobResources()
    train: JobResources = JobResources()
    explore: JobResources = JobResources()
    light: JobResources = JobResources()
