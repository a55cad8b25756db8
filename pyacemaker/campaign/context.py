"""What every stage needs: the campaign's name, resolved config and working directory (one typed object that
travels from job to job), its isolated-atom reference energies and the potentials it has stored."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from pyacemaker.config.schema import CampaignConfig
from pyacemaker.db import Database, file_matches
from pyacemaker.oracle import Oracle, make_oracle
from pyacemaker.train.baseline import Baseline, make_baseline
from pyacemaker.train.potential import Potential


class Context(BaseModel):
    """A campaign's name, resolved config and working directory. Jobs receive it as it is (jobflow serialises
    pydantic models), so nothing rebuilds it from a dict."""

    model_config = ConfigDict(frozen=True, ignored_types=(cached_property,))

    campaign: str
    config: CampaignConfig
    workdir: Path

    def __init__(self, campaign: str, config: CampaignConfig, workdir: Path | str, **_: object):
        super().__init__(campaign=campaign, config=config, workdir=Path(workdir))

    @cached_property
    def baseline(self) -> Baseline | None:
        """The pair baseline of delta learning (None when ``baseline: {type: none}``)."""
        return make_baseline(self.config.baseline, self.config.elements)

    @cached_property
    def oracle(self) -> Oracle:
        """The campaign's oracle (one settings set for the whole campaign)."""
        return make_oracle(self.config.oracle)

    def iter_dir(self, iteration: int, *parts: str) -> Path:
        d = self.workdir / f"iter_{iteration:03d}"
        for p in parts:
            d = d / p
        d.mkdir(parents=True, exist_ok=True)
        return d


def reference_energies(db: Database, ctx: Context) -> dict[str, float]:
    """Isolated-atom energies for the campaign's oracle settings: computed once, stored in the campaign."""
    oracle = ctx.oracle
    doc = db.campaign_doc(ctx.campaign)
    stored = dict((doc.reference_energies if doc else {}).get(oracle.settings_hash) or {})
    missing = [el for el in ctx.config.elements if el not in stored]
    if missing:
        wd = ctx.workdir / "reference_atoms"
        wd.mkdir(parents=True, exist_ok=True)
        stored.update({el: oracle.reference_energy(el, wd) for el in missing})
        db.update_campaign(ctx.campaign, {f"reference_energies.{oracle.settings_hash}": stored})
    return stored


class PotentialFileError(OSError):
    """A potential's file still differs from its stored sha256 after it was fetched again from the database."""


def potential_files(db: Database, ctx: Context, potential_id: str) -> dict[str, Path]:
    """The potential's files, verified before every use: from the fit directory when this worker shares it and
    every file there has its stored size and sha256; else from GridFS into ``iter_NNN/potential`` (a copy there
    that is truncated or has a changed byte is fetched again). PotentialFileError when a fetched file still does
    not match (the stored copy itself is damaged). Files stored without a sha256 (older potentials) are only
    checked for existence."""
    doc = db.potential(potential_id)
    if doc is None:
        raise KeyError(f"potential {potential_id} not found")
    paths = {k: Path(v.path) for k, v in doc.files.items()}
    if all(file_matches(paths[k], meta) for k, meta in doc.files.items()):
        return paths
    fetched = db.fetch_potential_files(potential_id, ctx.iter_dir(doc.iteration, "potential"))
    bad = [
        f"{fetched[k]} (sha256 {meta.sha256})"
        for k, meta in doc.files.items()
        if not file_matches(fetched[k], meta)
    ]
    if bad:
        raise PotentialFileError(
            f"potential {potential_id}: {', '.join(bad)} still differ from the stored sha256 after fetching "
            "them again from the database"
        )
    return fetched


def load_potential(db: Database, ctx: Context, potential_id: str) -> Potential:
    """The stored potential as a handle (files, baseline, the isolated-atom energies it was fitted with) that
    builds its calculator."""
    doc = db.potential(potential_id)
    if doc is None:
        raise KeyError(f"potential {potential_id} not found")
    files = potential_files(db, ctx, potential_id)
    return Potential(id=potential_id, yaml=files["yaml"], asi=files.get("asi"), yace=files.get("yace"),
                     elements=tuple(ctx.config.elements), baseline=ctx.baseline,
                     reference_energies=dict(doc.reference_energies))  # fmt: skip
