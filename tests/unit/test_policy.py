"""The exploration policy's decisions and its per-iteration adaptation (pure logic)."""

import pytest

from pyacemaker.config import parse_config, resolve
from pyacemaker.config.policy import MaterialProfile, decisions
from pyacemaker.config.schema import ConfigError
from pyacemaker.explore.policy import adapt, converged, effective, plan_next, start
from pyacemaker.schemas.stages import ExploreOut, TrainOut


def _cfg(elements, **explore):
    cfg, notes = resolve(parse_config({"elements": elements, "oracle": {"type": "emt"}, "explore": explore}))
    return cfg, notes


def test_metallic_alloy_turns_swap_monte_carlo_on():
    cfg, notes = _cfg(["Cu", "Au"])
    assert cfg.explore.swap is True and "metallic alloy" in notes["explore.swap"]
    bulk = [c for c in cfg.explore.conditions if c.start == "bulk" and c.element is None]
    assert bulk and all(c.swap and c.ensemble == "npt" for c in bulk)


def test_metallic_alloy_runs_each_elements_own_crystal_too():
    """The gate validates each element's crystal; alloy runs never visit it, so the policy adds a run there."""
    cfg, notes = _cfg(["Cu", "Au"])
    assert cfg.explore.end_members is True and "gate validates" in notes["explore.end_members"]
    ends = [c for c in cfg.explore.conditions if c.element]
    assert [c.element for c in ends] == ["Cu", "Au"]
    assert all(c.start == "bulk" and not c.swap and c.ensemble == "npt" for c in ends)
    assert ends[0].name.startswith("bulk Cu ") and ends[0].name.endswith("K NPT 0GPa")
    one, _ = _cfg(["Cu"])
    assert one.explore.end_members is False and not any(c.element for c in one.explore.conditions)
    oxide = decisions(MaterialProfile.from_elements(["Ti", "O"]))
    assert oxide["end_members"][0] is False


def test_a_condition_in_an_element_the_campaign_lacks_is_refused():
    with pytest.raises(ConfigError, match="not among the campaign's elements"):
        parse_config({"elements": ["Cu", "Au"], "oracle": {"type": "emt"},
                      "explore": {"conditions": [{"temperature_K": 500, "element": "Ni"}]}})  # fmt: skip


def test_single_metal_has_no_swaps_but_defects_and_surfaces():
    cfg, _ = _cfg(["Cu"])
    assert cfg.explore.swap is False and cfg.explore.defects and cfg.explore.surfaces
    starts = [c.start for c in cfg.explore.conditions]
    assert (
        starts.count("bulk") == len(cfg.explore.temperatures) and "vacancy" in starts and "surface" in starts
    )


def test_covalent_and_ionic_materials():
    si = decisions(MaterialProfile.from_elements(["Si"]))
    assert si["surfaces"][0] is False and si["max_pressure_GPa"][0] == 5.0 and si["npt"][0] is True
    oxide = decisions(MaterialProfile.from_elements(["Ti", "O"]))
    assert oxide["swap"][0] is False and "non-metallic" in oxide["swap"][1]


def test_gas_only_material_runs_nvt_without_defects():
    d = decisions(MaterialProfile.from_elements(["H"]))
    assert d["npt"][0] is False and d["defects"][0] is False


def test_melting_point_caps_escalation():
    cu, _ = _cfg(["Cu"])
    al, _ = _cfg(["Al"])
    assert (
        cu.explore.max_temperature == round(1.2 * 1358)
        and al.explore.max_temperature < cu.explore.max_temperature
    )


def test_user_switches_and_conditions_win_over_the_policy():
    cfg, notes = _cfg(["Cu", "Au"], swap=False, surfaces=False, kmc=True)
    assert cfg.explore.swap is False and "explore.swap" not in notes
    assert not any(c.swap for c in cfg.explore.conditions)
    assert [c.driver for c in cfg.explore.conditions].count("kmc") == 1
    own, _ = _cfg(["Cu"], conditions=[{"temperature_K": 500, "start": "vacancy"}])
    assert [c.name for c in own.explore.conditions] == ["vacancy 500K"]


def test_duplicate_condition_names_are_an_error():
    from pyacemaker.config import ConfigError

    with pytest.raises(ConfigError, match="unique"):
        _cfg(["Cu"], conditions=[{"temperature_K": 500}, {"temperature_K": 500}])


def _out(cond, halted, fs=800.0, cfg=None):
    run = effective(cond, (cfg or _cfg(["Cu"])[0]).explore)
    return ExploreOut(run_id=cond.name, condition=run, halted=halted, simulated_time_fs=0.0 if halted else fs,
                      candidate_ids=["x"] if halted else [])  # fmt: skip


def test_quiet_conditions_escalate_and_halting_ones_stay():
    cfg, _ = _cfg(["Cu"], temperatures=[400, 800])
    active = start(cfg)
    outs = [_out(active[0], halted=False), *(_out(c, halted=True) for c in active[1:])]
    nxt = adapt(active, outs, cfg)
    hot = effective(nxt[0], cfg.explore)
    assert nxt[0].level == 1 and hot.temperature_K == pytest.approx(400 * cfg.explore.temperature_factor)
    assert hot.steps > cfg.explore.steps and hot.pressure_GPa == cfg.explore.pressure_step_GPa  # NPT bulk
    assert nxt[0].quiet_fs == 800.0 and all(c.level == 0 and c.quiet_fs == 0 for c in nxt[1:])
    # escalation stops at the caps
    capped = effective(nxt[0].model_copy(update={"level": 50}), cfg.explore)
    assert capped.temperature_K == cfg.explore.max_temperature
    assert capped.pressure_GPa == cfg.explore.max_pressure_GPa
    assert capped.steps == round(cfg.explore.steps * cfg.explore.max_steps_factor)


def test_convergence_needs_halt_free_windows_per_condition():
    cfg, _ = _cfg(["Cu"], temperatures=[400, 800], converge_windows=2)
    active = start(cfg)
    quiet = [_out(c, halted=False) for c in active]
    once = adapt(active, quiet, cfg)
    assert not converged(once, cfg)
    trained = TrainOut(potential_id="p", iteration=0)
    assert plan_next(0, quiet, trained, cfg, 5, active).verdict == "continue"
    twice = adapt(once, quiet, cfg)
    assert converged(twice, cfg)
    d = plan_next(1, quiet, trained, cfg, 5, once)
    assert d.verdict == "converged" and "ps" in d.reason
    # a halt resets the condition's count
    again = adapt(twice, [_out(active[0], halted=True), *quiet[1:]], cfg)
    assert again[0].quiet_windows == 0 and not converged(again, cfg)
