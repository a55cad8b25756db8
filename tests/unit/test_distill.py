"""workflow: distill as pure logic: its config (errors, derived counts), the flow's shape, and chunked labelling
with a toy surrogate (the real CHGNet: tests/integration/test_surrogate_chgnet.py and the e2e campaign)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.flows import iteration_flow
from pyacemaker.campaign.queue import JOB_CLASS
from pyacemaker.config import parse_config, resolve
from pyacemaker.config.base import ConfigError
from pyacemaker.oracle.base import OracleFailure
from pyacemaker.oracle.surrogate import SurrogateOracle, SurrogateSettings, label_in_chunks
from pyacemaker.schemas.records import Provenance, StructureRecord

DISTILL = {"elements": ["Cu"], "oracle": {"type": "emt"}, "workflow": "distill"}


@pytest.mark.parametrize(
    ("surrogate", "elements", "oracle", "expected"),
    [
        (
            {"model": "mace-foo"},
            ["Cu"],
            "emt",
            "surrogate.model: unknown type 'mace-foo'; known: emt, espresso",
        ),
        ({"model": "emt"}, ["Cu"], "emt", "'emt' is an oracle without a surrogate's batch interface"),
        ({}, ["Am"], "espresso", "CHGNet was not trained on Am (it covers H..Pu): use workflow: loop"),
        ({}, ["Cu"], "chgnet", "workflow: distill needs an oracle other than its surrogate (chgnet)"),
        ({"epochs": 3}, ["Cu"], "emt", "unknown key 'surrogate.epochs'; did you mean 'finetune_epochs'?"),
        (
            {"chunk_size": 0},
            ["Cu"],
            "emt",
            "surrogate.chunk_size: Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_surrogate_config_names_the_problem(surrogate, elements, oracle, expected):
    data = {**DISTILL, "elements": elements, "oracle": {"type": oracle}, "surrogate": surrogate}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert expected in str(exc.value)


def test_pool_and_label_counts_are_derived_and_explained():
    explore = {"temperatures": [300, 600], "defects": False, "surfaces": False}
    cfg, notes = resolve(parse_config({**DISTILL, "explore": explore}))
    s = cfg.surrogate
    runs = 1 * 2 * len(cfg.seeds.volume_strains)  # one base cell x temperatures x volume strains
    assert (s.labels, s.pool_size) == (200, 1000)
    assert s.md_steps == 5 * -(-1000 // runs)
    assert {"surrogate.labels", "surrogate.pool_size", "surrogate.md_steps"} <= set(notes)
    loop, loop_notes = resolve(parse_config({k: v for k, v in DISTILL.items() if k != "workflow"}))
    assert loop.surrogate.labels is None and not any(k.startswith("surrogate") for k in loop_notes)


def test_the_pool_runs_cover_the_volumes_and_the_policys_defect_and_surface_conditions():
    from pyacemaker.campaign.stages.distill import pool_runs

    explore = {"temperatures": [300, 600], "defects": True, "surfaces": True}
    cfg, _ = resolve(
        parse_config({**DISTILL, "explore": explore, "seeds": {"volume_strains": [-0.1, 0, 0.1]}})
    )
    runs = pool_runs(Context("d", cfg, Path(".")), np.random.default_rng(0))
    bulk_runs = [(sd, t) for sd, t in runs if sd.variant.volume_strain is not None]
    assert sorted((sd.variant.volume_strain, t) for sd, t in bulk_runs) == sorted(
        (e, t) for e in (-0.1, 0.0, 0.1) for t in (300.0, 600.0)
    )
    others = {(sd.variant.defect or "surface", t) for sd, t in runs if sd.variant.volume_strain is None}
    conditions = {(c.start, c.temperature_K) for c in cfg.explore.conditions if c.start != "bulk"}
    assert others == conditions and {k for k, _ in others} == {"vacancy", "surface"}
    slab = next(sd.atoms for sd, _ in runs if sd.variant.surface)
    assert not slab.pbc[2] or slab.cell[2, 2] > 2 * (slab.positions[:, 2].max() - slab.positions[:, 2].min())
    assert cfg.surrogate.md_steps == 5 * -(-1000 // len(runs))  # the derived steps count these runs


def test_distill_inserts_its_jobs_between_the_first_labels_and_the_first_fit(tmp_path):
    cfg, _ = resolve(parse_config(DISTILL))
    ctx = Context("d", cfg, tmp_path)
    names = [j.name.split()[0] for j in iteration_flow(ctx, 0).jobs]
    assert names[: 1 + cfg.workers.label_batches] == ["seed"] + ["label"] * cfg.workers.label_batches
    rest = names[1 + cfg.workers.label_batches :]
    assert rest[:5] == ["finetune", "pool", "surrogate-label", "base-fit", "train"]
    assert rest[-1] == "decide" and set(rest[5:-1]) == {"explore"}
    assert all(n in JOB_CLASS for n in names)
    later = [j.name.split()[0] for j in iteration_flow(ctx, 1).jobs]
    assert not {"finetune", "pool", "surrogate-label", "base-fit"} & set(later)  # distillation happens once
    given = [j.name.split()[0] for j in iteration_flow(ctx, 0, given_ids=["x"]).jobs]
    assert "finetune" not in given  # a No-Go round at iteration 0 does not distil again
    loop_cfg, _ = resolve(parse_config({k: v for k, v in DISTILL.items() if k != "workflow"}))
    assert "finetune" not in [
        j.name.split()[0] for j in iteration_flow(Context("l", loop_cfg, tmp_path), 0).jobs
    ]


class ToySettings(SurrogateSettings):
    type: Literal["toy"] = "toy"


class Toy(SurrogateOracle):
    """E = -n, F = 0; a structure of 3 atoms fails, one of 5 atoms gives NaN forces."""

    name = "toy"
    package = "pyacemaker"  # a distribution that is installed: its version enters the identity
    settings_model = ToySettings
    batches: list[int]

    def compute_batch(self, structures):
        self.batches.append(len(structures))
        out = []
        for a in structures:
            if len(a) == 3:
                out.append(OracleFailure("three is a crowd"))
            else:
                forces = np.full((len(a), 3), np.nan if len(a) == 5 else 0.0)
                out.append((-float(len(a)), forces, None))
        return out

    def finetune(self, *args, **kwargs):
        raise NotImplementedError

    def reference_energy(self, element: str, workdir: Path) -> float:
        return -1.0


def _records(sizes):
    """Records of Cu structures with the given numbers of atoms."""
    cells = [bulk("Cu", cubic=True).repeat((3, 1, 1))[:n] for n in sizes]
    return [StructureRecord.new(a, "c", Provenance(origin="surrogate_md")) for a in cells]


def test_label_in_chunks_bounds_each_call_and_rejects_what_fails():
    toy = Toy(ToySettings(weights_file="/somewhere/w.pt", weights_sha256="ab"))
    toy.batches = []
    recs = _records([4, 3, 8, 5, 12])
    chunks = []
    done = label_in_chunks(recs, toy, 2, on_chunk=lambda c: chunks.append(len(c)))
    assert toy.batches == [2, 2, 1] and chunks == [2, 2, 1]
    assert [r.status for r in done] == ["labelled", "rejected", "labelled", "rejected", "labelled"]
    assert done[1].reject_reason == "three is a crowd" and "non-finite" in done[3].reject_reason
    assert done[0].labels.energy == -4.0 and done[4].labels.oracle == "toy"
    # the settings identity: the weights' sha256 and the package version, not the path (it differs by machine)
    assert (
        "weights_file" not in done[0].labels.settings
        and done[0].labels.settings["version"] == toy.version() != "not installed"
    )
    moved = Toy(ToySettings(weights_file="/elsewhere/w.pt", weights_sha256="ab"))
    assert moved.settings_hash == toy.settings_hash
    assert Toy(ToySettings(weights_sha256="cd")).settings_hash != toy.settings_hash


def test_surrogate_device_follows_the_config_and_leaves_the_labels_identity_alone():
    import torch

    from pyacemaker.oracle import make_oracle

    cfg = parse_config({**DISTILL, "surrogate": {"device": "cpu"}})
    assert resolve(parse_config(DISTILL))[0].surrogate.device == "auto"  # the default, shown by `config`
    cpu = make_oracle(cfg.surrogate.oracle_settings())
    auto = make_oracle(cfg.surrogate.oracle_settings(device="auto"))
    assert cpu.torch_device() == "cpu" and cpu.settings_hash == auto.settings_hash
    assert auto.torch_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():  # asked for a GPU that is not there: said before anything runs
        cuda = make_oracle(cfg.surrogate.oracle_settings(device="cuda"))
        with pytest.raises(OracleFailure, match="sees no CUDA GPU here.*surrogate.device: auto or cpu"):
            cuda.check_ready()
    with pytest.raises(ConfigError, match="surrogate.device"):
        parse_config({**DISTILL, "surrogate": {"device": "gpu"}})
