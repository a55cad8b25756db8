"""The potential document (collection ``potentials``): what was fitted, on which data, how well; its files are
in the ``potential_files`` GridFS bucket. The handle that turns the files into an ASE calculator is
:class:`pyacemaker.train.potential.Potential`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pyacemaker.config.schema import BaselineConfig
from pyacemaker.schemas.stages import DatasetSummary


class PotentialFile(BaseModel):
    """One file of a potential in GridFS; ``sha256`` and ``size`` (None for potentials stored before they were
    recorded) tell whether a copy on disk is that file."""

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)

    gridfs_id: Any  # bson ObjectId
    name: str
    path: str  # where the fit wrote it (valid on machines that share the fit's directory)
    sha256: str | None = None
    size: int | None = None


class PotentialDoc(BaseModel):
    """One fitted potential of a campaign (an iteration's, or a final fit of every label)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    campaign: str
    iteration: int
    final: bool = False
    n_structures: int
    n_labelled: int | None = None  # labels available when it was fitted ("nothing new" compares with this)
    n_functions: int | None = None
    dataset_ids: list[str] = Field(default_factory=list)
    test_ids: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    reference_energies: dict[str, float] = Field(default_factory=dict)
    fit_wall_time_s: float | None = None
    elements: list[str] = Field(default_factory=list)
    warm_start_from: str | None = None
    baseline: BaselineConfig | None = None  # the pair baseline it was fitted over (delta learning)
    dataset: DatasetSummary | None = None
    files: dict[str, PotentialFile] = Field(default_factory=dict)  # yaml, yace, asi
    created: datetime | None = None

    @property
    def labelled_count(self) -> int:
        return self.n_labelled if self.n_labelled is not None else self.n_structures
