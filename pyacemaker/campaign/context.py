"""What every stage needs: the campaign's name, resolved config and working directory, its isolated-atom
reference energies and the files of a stored potential."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyacemaker.config import CampaignConfig
from pyacemaker.db import Database
from pyacemaker.oracle import make_oracle
from pyacemaker.train.baseline import make_baseline

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What every stage needs to know about its campaign: its name, resolved config and working directory."""

    campaign: str
    config: CampaignConfig
    workdir: Path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Context:
        return cls(d["campaign"], CampaignConfig.model_validate(d["config"]), Path(d["workdir"]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "config": self.config.model_dump(mode="json"),
            "workdir": str(self.workdir),
        }

    @property
    def baseline(self):
        """The pair baseline of delta learning (None when ``baseline: {type: none}``)."""

        return make_baseline(self.config.baseline, self.config.elements)

    def iter_dir(self, iteration: int, *parts: str) -> Path:
        d = self.workdir / f"iter_{iteration:03d}"
        for p in parts:
            d = d / p
        d.mkdir(parents=True, exist_ok=True)
        return d


def reference_energies(db: Database, ctx: Context) -> dict[str, float]:
    """Isolated-atom energies for the campaign's oracle settings: computed once, stored in the campaign."""

    oracle = make_oracle(ctx.config.oracle)
    key = f"reference_energies.{oracle.settings_hash}"
    doc = db.campaign(ctx.campaign) or {}
    stored = (doc.get("reference_energies") or {}).get(oracle.settings_hash) or {}
    missing = [el for el in ctx.config.elements if el not in stored]
    if missing:
        wd = ctx.workdir / "reference_atoms"
        wd.mkdir(parents=True, exist_ok=True)
        stored = {**stored, **{el: oracle.reference_energy(el, wd) for el in missing}}
        db.update_campaign(ctx.campaign, {key: stored})
    return stored


def potential_files(db: Database, ctx: Context, potential_id: str) -> dict[str, Path]:
    """The potential's files, from the fit directory when this worker shares it, else from GridFS."""
    doc = db.potentials.find_one({"_id": potential_id})
    if doc is None:
        raise KeyError(f"potential {potential_id} not found")
    paths = {k: Path(v["path"]) for k, v in doc["files"].items()}
    if all(p.exists() for p in paths.values()):
        return paths
    return db.fetch_potential_files(potential_id, ctx.iter_dir(doc["iteration"], "potential"))
