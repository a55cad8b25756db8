"""An oracle is one plugin: a settings model and an Oracle class registered together. A toy oracle defined here,
and nowhere else, goes through config parsing, resolution, make_oracle and label, then leaves no trace."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from pydantic import Field

from pyacemaker.config import ConfigError, dump_resolved, parse_config, resolve
from pyacemaker.config.schema import CampaignConfig, OracleSettings
from pyacemaker.oracle.base import Oracle, OracleFailure, label, make_oracle
from pyacemaker.oracle.calculator import OracleCalculator
from pyacemaker.plugins import ORACLES, SELECTORS
from pyacemaker.schemas.records import Provenance, StructureRecord


class ToySettings(OracleSettings):
    """Harmonic springs to the origin: E = -depth x atoms + stiffness/2 x sum |r|^2."""

    type: Literal["toy"] = "toy"
    supported_elements: ClassVar[tuple[str, ...] | None] = ("Cu", "Ag")
    cost: ClassVar[Literal["cheap", "dft"]] = "cheap"
    stiffness: float = Field(0.1, gt=0, description="eV/A^2")
    depth: float | None = Field(None, gt=0, description="eV per atom; derived from the elements")

    def resolve(self, elements: list[str]) -> tuple[ToySettings, dict[str, str]]:
        out = self.model_copy(deep=True)
        notes = {}
        if out.depth is None:
            if "Ag" in elements and out.stiffness > 1:
                raise ValueError("the toy oracle cannot hold Ag this stiffly")
            out.depth = float(len(elements))
            notes["depth"] = "one eV per element"
        return out, notes


class ToyOracle(Oracle):
    name = "toy"
    settings_model = ToySettings

    def compute(self, atoms: Atoms, workdir: Path):
        if len(atoms) > 100:
            raise OracleFailure("too many atoms for a toy")
        r = atoms.positions
        energy = -self.config.depth * len(atoms) + 0.5 * self.config.stiffness * float((r**2).sum())
        return energy, -self.config.stiffness * r, None, []

    def reference_energy(self, element: str, workdir: Path) -> float:
        return -self.config.depth


@contextmanager
def toy_registered():
    ORACLES.register("toy")(ToyOracle)
    try:
        yield
    finally:
        ORACLES.pop("toy", None)


@pytest.fixture
def toy():
    with toy_registered():
        yield


TOY = {"elements": ["Cu"], "oracle": {"type": "toy", "stiffness": 0.2}}


def test_config_validates_through_the_plugins_model(toy):
    cfg = parse_config(TOY)
    assert isinstance(cfg.oracle, ToySettings) and cfg.oracle.stiffness == 0.2
    assert cfg.model_dump()["oracle"] == {"type": "toy", "stiffness": 0.2, "depth": None}
    assert CampaignConfig.model_validate(cfg.model_dump(mode="json")) == cfg  # as stored in the database


def test_config_errors_come_from_the_plugin(toy):
    with pytest.raises(ConfigError, match=r"oracle\.stiffness: Input should be greater than 0"):
        parse_config({**TOY, "oracle": {"type": "toy", "stiffness": -1}})
    with pytest.raises(ConfigError, match=r"unknown key 'oracle\.stifness'; did you mean 'stiffness'\?"):
        parse_config({**TOY, "oracle": {"type": "toy", "stifness": 1}})
    with pytest.raises(ConfigError, match="the toy oracle has no parameters for Au; toy covers Cu Ag"):
        parse_config({**TOY, "elements": ["Au"]})
    with pytest.raises(ConfigError, match="unknown type 'toyy'; known: .*toy"):
        parse_config({**TOY, "oracle": {"type": "toyy"}})


def test_resolve_uses_the_plugins_defaults_and_cost(toy):
    cfg, notes = resolve(parse_config(TOY))
    assert cfg.oracle.depth == 1.0 and notes["oracle.depth"] == "one eV per element"
    assert cfg.seeds.supercell_atoms == 32  # cheap labels: the larger seed cells
    assert "phonons" in cfg.validation.properties
    assert "depth: 1.0" in dump_resolved(cfg, notes)
    with pytest.raises(ConfigError, match="cannot hold Ag this stiffly"):  # the plugin's ValueError
        resolve(parse_config({"elements": ["Ag"], "oracle": {"type": "toy", "stiffness": 2}}))


def test_make_oracle_and_label(toy, tmp_path):
    cfg, _ = resolve(parse_config(TOY))
    oracle = make_oracle(cfg.oracle)
    assert isinstance(oracle, ToyOracle)
    assert oracle.settings == {"type": "toy", "stiffness": 0.2, "depth": 1.0}
    small = bulk("Cu", "fcc", a=3.6)
    big = small.repeat(5)  # 125 atoms: rejected by the toy
    recs = [StructureRecord.new(a, "toy-test", Provenance(origin="seed")) for a in (small, big)]
    out = label(recs, oracle, tmp_path)
    assert out[0].status == "labelled" and out[0].labels.oracle == "toy"
    assert out[0].labels.energy == pytest.approx(-1.0)
    assert out[0].labels.settings_hash == oracle.settings_hash
    assert out[1].status == "rejected" and out[1].reject_reason == "too many atoms for a toy"


def test_default_calculator_factory_wraps_the_oracle(toy, tmp_path):
    cfg, _ = resolve(parse_config(TOY))
    factory = make_oracle(cfg.oracle).calculator_factory(tmp_path)
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1, 0, 0]])
    first, second = factory(), factory()
    assert isinstance(first, OracleCalculator)
    atoms.calc = first
    assert atoms.get_potential_energy() == pytest.approx(-2.0 + 0.5 * 0.2 * 1.0)
    assert np.allclose(atoms.get_forces()[1], [-0.2, 0, 0])
    atoms.calc = second
    atoms.positions[1, 0] = 2.0
    atoms.get_potential_energy()
    # calculators of one factory never share a call directory (a DFT oracle would reuse a finished run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call_00001", "call_00002"]


def test_unregistering_leaves_no_trace():
    before = ORACLES.names()
    with toy_registered():
        assert "toy" in ORACLES.names()
        parse_config(TOY)
    assert ORACLES.names() == before
    with pytest.raises(ConfigError, match="unknown type 'toy'; known: emt, espresso, vasp"):
        parse_config(TOY)
    with pytest.raises(KeyError, match="unknown oracle 'toy'"):
        make_oracle(ToySettings())


def test_builtin_oracles_declare_cost_and_elements():
    from pyacemaker.elements import EMT_ELEMENTS

    emt, qe, vasp = (ORACLES.get_plugin(n).settings_model for n in ("emt", "espresso", "vasp"))
    assert (emt.cost, qe.cost, vasp.cost) == ("cheap", "dft", "dft")
    assert emt.supported_elements == EMT_ELEMENTS and qe.supported_elements is vasp.supported_elements is None


def test_emt_calculator_factory_is_ase_emt(tmp_path):
    from ase.calculators.emt import EMT

    factory = make_oracle(
        parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}).oracle
    ).calculator_factory(tmp_path)
    assert factory is EMT and not any(tmp_path.iterdir())


def test_a_registered_selector_is_a_valid_select_method():
    def first(candidates, potential_yaml, active_set, budget, gamma_tolerance, seed):
        return candidates[:budget]

    data = {"elements": ["Cu"], "oracle": {"type": "emt"}, "select": {"method": "first"}}
    SELECTORS.register("first")(first)
    try:
        assert parse_config(data).select.method == "first"
    finally:
        SELECTORS.pop("first")
    with pytest.raises(ConfigError, match="select.method: Input should be 'maxvol', 'random' or 'gamma'"):
        parse_config(data)


def test_a_registered_builder_adds_seed_cells():
    """A structure builder is one function plus one registration line; ``seeds.builders`` names it."""
    from pyacemaker.plugins import BUILDERS
    from pyacemaker.structures.seeds import build_seeds

    def l12(elements):  # Cu3Au-type ordered cell: the first element on the faces, the last on the corners
        a = bulk(elements[0], "fcc", a=3.75, cubic=True)
        a.symbols[0] = elements[-1]
        return a

    data = {"elements": ["Cu", "Au"], "oracle": {"type": "emt"}, "seeds": {"builders": ["l12"]}}
    with pytest.raises(ConfigError, match="unknown structure builder 'l12'"):
        parse_config(data)
    BUILDERS.register("l12")(l12)
    try:
        cfg, _ = resolve(parse_config(data))
        seeds = [s for s in build_seeds(cfg) if s.base_kind == "builder"]
    finally:
        BUILDERS.pop("l12")
    strains = cfg.seeds.volume_strains
    assert len(seeds) == len(strains) * (1 + cfg.seeds.rattled_per_strain) + len(
        cfg.seeds.shear_strains
    ) + len(cfg.seeds.tetragonal_strains)
    assert all(
        s.base == "l12" and 3 * s.atoms.symbols.count("Au") == s.atoms.symbols.count("Cu") for s in seeds
    )
    prov = seeds[0].provenance()
    assert prov.base_kind == "builder" and prov.variant.volume_strain == strains[0]
