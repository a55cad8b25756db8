"""Config parsing, the physics defaults and the errors a user sees."""

import pytest

from pyacemaker.config import ConfigError, dump_resolved, load_config, parse_config, resolve
from tests.conftest import run_cli

MIN = {"elements": ["Cu"], "oracle": {"type": "emt"}}


def test_smallest_config_resolves_every_derived_value():
    cfg, notes = resolve(parse_config(MIN))
    # Cu fcc a=3.61 A -> nearest neighbour 2.553 A
    assert cfg.train.cutoff == pytest.approx(2 * 3.61 / 2**0.5, abs=0.01)
    assert cfg.train.inner_cutoff == pytest.approx(0.6 * 3.61 / 2**0.5, abs=0.01)
    # melting point of Cu 1358 K -> 0.25/0.5/0.75 ladder
    assert cfg.explore.temperatures == [340.0, 680.0, 1020.0]
    assert cfg.explore.timestep_fs == 2.0
    assert cfg.seeds.volume_strains and cfg.seeds.rattle_amplitude > 0
    assert "melting point" in notes["explore.temperatures"]
    assert "nearest-neighbour" in notes["train.cutoff"]


def test_defaults_follow_the_element():
    ni, _ = resolve(parse_config({"elements": ["Ni"], "oracle": {"type": "emt"}}))
    al, _ = resolve(parse_config({"elements": ["Al"], "oracle": {"type": "emt"}}))
    assert al.train.cutoff > ni.train.cutoff  # Al (a=4.05) has longer bonds than Ni (a=3.52)
    assert al.explore.temperatures[-1] < ni.explore.temperatures[-1]  # Al melts at 934 K, Ni at 1728 K
    h, _ = resolve(parse_config({"elements": ["H", "Pt"], "oracle": {"type": "emt"}}))
    assert h.explore.timestep_fs == 0.5


def test_user_values_are_kept():
    cfg, notes = resolve(parse_config({**MIN, "train": {"cutoff": 6.0}, "explore": {"temperatures": [500]}}))
    assert cfg.train.cutoff == 6.0 and cfg.explore.temperatures == [500]
    assert "train.cutoff" not in notes


def test_resolved_yaml_carries_comments_and_reloads():
    import yaml

    cfg, notes = resolve(parse_config(MIN))
    text = dump_resolved(cfg, notes)
    assert "# 2 x largest nearest-neighbour distance" in text
    again, _ = resolve(parse_config(yaml.safe_load(text)))
    assert again == cfg


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({**MIN, "trian": {}}, "unknown key 'trian'; did you mean 'train'?"),
        ({**MIN, "train": {"cutof": 5}}, "unknown key 'train.cutof'; did you mean 'cutoff'?"),
        ({"elements": ["Qx"], "oracle": {"type": "emt"}}, "unknown element 'Qx'"),
        ({"elements": ["cu"], "oracle": {"type": "emt"}}, "did you mean 'Cu'?"),
        ({"elements": ["Si"], "oracle": {"type": "emt"}}, "EMT oracle has no parameters for Si"),
        (
            {"elements": ["Cu"], "oracle": {"type": "dft9000"}},
            "oracle: unknown type 'dft9000'; known: emt, espresso, vasp",
        ),
        ({"elements": ["Cu"], "oracle": {}}, "oracle: give the oracle's type, one of: emt, espresso, vasp"),
        (
            {"elements": ["Si"], "oracle": {"type": "espresso", "ecutwfx": 30}},
            "unknown key 'oracle.ecutwfx'; did you mean 'ecutwfc'?",
        ),
        (
            {"elements": ["Si"], "oracle": {"type": "espresso", "ecutwfc": 3}},
            "oracle.ecutwfc: Input should be greater than 5",
        ),
        (
            {"elements": ["Fe"], "oracle": {"type": "vasp", "potcar": {}}},
            "unknown key 'oracle.potcar'; did you mean 'potcars'?",
        ),
        (
            {"elements": ["Cu"], "oracle": {"type": "emt", "command": "x"}},
            "unknown key 'oracle.command'; valid keys: type",
        ),
        ({"elements": ["Cu"]}, "missing required key 'oracle'"),
        (
            {**MIN, "select": {"method": "maxvl"}},
            "select.method: Input should be 'maxvol', 'random' or 'gamma'",
        ),
        (
            {**MIN, "validation": {"properties": ["eos", "phonon"]}},
            "validation.properties.1: Input should be 'eos', 'elastic', 'phonons' or 'stability'",
        ),
        (
            {**MIN, "explore": {"conditions": [{"driver": "kcm", "temperature_K": 300}]}},
            "explore.conditions.0.driver: Input should be 'md', 'kmc' or 'eon'",
        ),
        (  # explore.engine picks the MD driver; a condition says md
            {**MIN, "explore": {"conditions": [{"driver": "md-ase", "temperature_K": 300}]}},
            "explore.conditions.0.driver: Input should be 'md', 'kmc' or 'eon'",
        ),
        ({**MIN, "explore": {"steps": 0}}, "explore.steps"),
        (
            {**MIN, "explore": {"gamma_collect": 9, "gamma_halt": 3}},
            "gamma_collect (9.0) must be below gamma_halt",
        ),
        ({**MIN, "explore": {"temperatures": [-5]}}, "positive"),
    ],
)
def test_bad_input_names_the_problem(data, expected):
    with pytest.raises(ConfigError, match=None) as exc:
        parse_config(data)
    assert expected in str(exc.value)


def test_name_defaults_to_file_stem(tmp_path):
    p = tmp_path / "my-copper.yaml"
    p.write_text("elements: [Cu]\noracle: {type: emt}\n")
    assert load_config(p).name == "my-copper"


def test_cli_config_unknown_key_exits_2_with_one_line_and_creates_nothing(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("elements: [Cu]\noracle: {type: emt}\nbudgett: {max_iterations: 2}\n")
    before = set(tmp_path.iterdir())
    for cmd in ("config", "run"):
        r = run_cli(cmd, str(p), cwd=tmp_path, env={"PYACEMAKER_DATA_DIR": str(tmp_path / "data")})
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and "budgett" in lines[0] and "budget" in lines[0], r.stderr
    assert set(tmp_path.iterdir()) == before  # no campaign directory, no database


def test_cli_config_prints_resolved_yaml(tmp_path):
    p = tmp_path / "cu.yaml"
    p.write_text("elements: [Cu]\noracle: {type: emt}\n")
    r = run_cli("config", str(p))
    assert r.returncode == 0
    assert "cutoff: 5.11" in r.stdout and "melting point 1358 K" in r.stdout


def test_cli_missing_and_corrupt_files(tmp_path):
    r = run_cli("config", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "not found" in r.stderr
    p = tmp_path / "corrupt.yaml"
    p.write_text("elements: [Cu\n  oracle: {")
    r = run_cli("config", str(p))
    assert r.returncode == 2 and "not valid YAML" in r.stderr


def test_misspelt_key_inside_a_condition_gets_a_suggestion():
    with pytest.raises(ConfigError, match=r"explore.conditions.0.temperature'; did you mean 'temperature_K'"):
        parse_config({**MIN, "explore": {"conditions": [{"temperature": 500}]}})


@pytest.mark.parametrize(
    "oracle",
    [
        {"type": "emt"},
        {"type": "espresso", "kspacing": 0.5, "ecutwfc": 30.0},
        {"type": "vasp", "incar": {"ENCUT": 600}},
    ],
)
def test_every_oracle_field_is_dumped_and_round_trips(oracle):
    """The resolved config as YAML and as stored in the database keeps each field of the oracle's own model."""
    import yaml

    from pyacemaker.config.schema import CampaignConfig
    from pyacemaker.plugins import ORACLES

    cfg, notes = resolve(parse_config({"elements": ["Cu"], "oracle": oracle}))
    model = ORACLES.get_plugin(oracle["type"]).settings_model
    assert type(cfg.oracle) is model
    dumped = cfg.model_dump(mode="json")["oracle"]
    assert set(dumped) == set(model.model_fields) and all(dumped[k] == v for k, v in oracle.items())
    assert CampaignConfig.model_validate(cfg.model_dump(mode="json")) == cfg
    again = parse_config(yaml.safe_load(dump_resolved(cfg, notes)))
    assert again == cfg and type(again.oracle) is model


def test_oracle_cost_sets_the_dft_defaults():
    emt, _ = resolve(parse_config(MIN))
    qe, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "espresso"}}))
    assert (emt.seeds.supercell_atoms, qe.seeds.supercell_atoms) == (32, 8)
    assert "phonons" in emt.validation.properties and "phonons" not in qe.validation.properties


def test_missing_pseudopotentials_are_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setattr("pyacemaker.oracle.espresso.pseudos.DEBIAN_PSEUDO_DIR", tmp_path)
    monkeypatch.delenv("ESPRESSO_PSEUDO", raising=False)
    with pytest.raises(ConfigError, match="no consistent set of pseudopotentials for Cu"):
        resolve(
            parse_config({"elements": ["Cu"], "oracle": {"type": "espresso", "pseudo_dir": str(tmp_path)}})
        )


def test_oracle_assignment_is_validated_by_the_plugin():
    cfg = parse_config(MIN)
    cfg.oracle = {"type": "espresso", "ecutwfc": 30}
    assert cfg.oracle.ecutwfc == 30.0 and cfg.oracle.cost == "dft"
    with pytest.raises(ValueError, match="ecutwfc"):
        cfg.oracle = {"type": "espresso", "ecutwfc": 1}


def test_plugin_names_of_the_builtins_are_accepted():
    cfg = parse_config(
        {
            **MIN,
            "select": {"method": "gamma"},
            "validation": {"properties": ["stability", "eos"]},
            "explore": {"conditions": [{"driver": d, "temperature_K": 300} for d in ("md", "kmc", "eon")]},
        }
    )
    assert cfg.select.method == "gamma" and cfg.validation.properties == ["stability", "eos"]
    assert [c.name for c in cfg.explore.conditions] == ["bulk 300K", "kmc bulk 300K", "eon bulk 300K"]


def test_final_basis_counts_structures_and_atoms():
    from pyacemaker.config.resolve import final_basis_size

    cfg, _ = resolve(parse_config({"name": "b", "elements": ["Cu"], "oracle": {"type": "emt"}}))
    t = cfg.train
    assert final_basis_size(13, 13 * 8, t) == 2 * 13 + 26  # few cells, many atoms: forces count too
    assert final_basis_size(13, 13, t) == 2 * 13 + 3
    assert final_basis_size(10_000, 10**6, t) == t.final_functions  # capped by the full basis


def test_final_fit_iterations_grow_with_the_elements_and_embedding_densities():
    one, _ = resolve(parse_config({"name": "a", "elements": ["Cu"], "oracle": {"type": "emt"}}))
    two, _ = resolve(parse_config({"name": "b", "elements": ["Cu", "Au"], "oracle": {"type": "emt"}}))
    assert one.train.final_iterations == 300 and two.train.final_iterations == 600
    dens, _ = resolve(parse_config({"name": "d", "elements": ["Cu", "Au"], "oracle": {"type": "emt"},
                                    "train": {"embedding_ndensity": 2}}))  # fmt: skip
    assert dens.train.final_iterations == 1200
    kept, _ = resolve(parse_config({"name": "c", "elements": ["Cu"], "oracle": {"type": "emt"},
                                    "train": {"final_iterations": 25}}))  # fmt: skip
    assert kept.train.final_iterations == 25  # a given value stays
