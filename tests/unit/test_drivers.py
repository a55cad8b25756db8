"""Exploration drivers are plugins by name; a condition's driver and the MD engine pick one."""

import pytest

from pyacemaker.config import parse_config, resolve
from pyacemaker.explore.drivers import DRIVERS, driver_name, run_condition
from pyacemaker.explore.protocol import GammaWatch, KMCProtocol, MDProtocol, Outcome
from pyacemaker.schemas.stages import RunCondition


@pytest.fixture(scope="module")
def explore():
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    return cfg.explore


def test_every_driver_is_registered_by_its_engine_module():
    assert {"md-ase", "md-lammps", "kmc", "eon"} <= set(DRIVERS.names())
    modules = {name: DRIVERS.get_plugin(name).__module__ for name in ("md-ase", "md-lammps", "kmc", "eon")}
    assert modules == {"md-ase": "pyacemaker.explore.md.ase_md", "md-lammps": "pyacemaker.explore.md.lammps_md",
                       "kmc": "pyacemaker.explore.kmc.akmc", "eon": "pyacemaker.explore.kmc.eon"}  # fmt: skip


def test_md_follows_the_engine_and_kmc_drivers_keep_their_names(explore, monkeypatch):
    from pyacemaker.explore.md import lammps_md

    md = RunCondition(name="c", temperature_K=300.0, steps=10)
    assert explore.engine == "auto"  # the default: LAMMPS where it has ML-PACE (or the plugin), else ASE
    for has, engine in ((True, "md-lammps"), (False, "md-ase")):
        monkeypatch.setattr(lammps_md, "has_ml_pace", lambda _cmd, has=has: has)
        assert driver_name(md, explore) == engine
        assert driver_name(md, explore.model_copy(update={"engine": "ase"})) == "md-ase"
        assert driver_name(md, explore.model_copy(update={"engine": "lammps"})) == "md-lammps"
    assert driver_name(md.model_copy(update={"driver": "kmc"}), explore) == "kmc"
    assert driver_name(md.model_copy(update={"driver": "eon"}), explore) == "eon"


def test_unknown_driver_names_the_known_ones(explore, tmp_path):
    run = RunCondition.model_construct(name="x", driver="teleport", temperature_K=300.0, steps=1)
    with pytest.raises(KeyError, match="known: md-ase, md-lammps, kmc, eon"):
        run_condition(None, None, run, explore, 0, tmp_path)


def test_a_new_driver_is_one_registration_and_gets_the_common_arguments(explore, tmp_path):
    seen = {}

    @DRIVERS.register("test-null")
    def null_driver(atoms, potential, run, explore, seed, workdir) -> Outcome:
        seen.update(
            run=run, seed=seed, workdir=workdir, protocol=MDProtocol.from_condition(run, explore, seed)
        )
        return Outcome(False, run.steps, 0.0, 0.0, None, driver="null")

    try:
        run = RunCondition.model_construct(name="n", driver="test-null", temperature_K=450.0, steps=7,
                                           ensemble="npt", pressure_GPa=2.0, swap=True)  # fmt: skip
        out = run_condition(None, None, run, explore, 11, tmp_path)
    finally:
        del DRIVERS["test-null"]
    assert out.driver == "null" and out.steps_done == 7 and seen["seed"] == 11 and seen["workdir"] == tmp_path
    p = seen["protocol"]
    assert (p.temperature_K, p.steps, p.ensemble, p.pressure_GPa, p.pressure_bar) == (
        450.0,
        7,
        "npt",
        2.0,
        2e4,
    )
    assert p.swap and p.swap_interval == explore.swap_interval and p.timestep_fs == explore.timestep_fs
    assert p.friction == explore.friction and p.seed == 11
    assert p.watch == GammaWatch(check_interval=explore.gamma_check_interval, collect=explore.gamma_collect,
                                 halt=explore.gamma_halt, max_frames=explore.max_frames)  # fmt: skip


def test_kmc_protocol_and_the_typed_explore_record(explore):
    run = RunCondition(name="k", driver="kmc", start="vacancy", temperature_K=600.0, steps=3)
    k = KMCProtocol.from_condition(run, explore, 5)
    assert (k.temperature_K, k.steps, k.searches, k.seed) == (600.0, 3, explore.kmc_searches, 5)
    assert k.watch.halt == explore.gamma_halt
    out = Outcome(True, 2, 1e3, 6.5, 2, thermo={"kmc_steps": 2.0}, driver="kmc")
    rec = out.to_explore_out("c:it000:kmc0", run, "vacancy", ["a", "b"])
    assert rec.condition == run and rec.start == "vacancy" and rec.candidate_ids == ["a", "b"]
    assert not rec.skipped and rec.model_dump(include=set(out.summary())) == out.summary()
    with pytest.raises(ValueError, match="nvt or npt"):
        MDProtocol(temperature_K=300.0, steps=1, timestep_fs=1.0, ensemble="nve")
