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
        ({"elements": ["Cu"], "oracle": {"type": "dft9000"}}, "unknown type 'dft9000'"),
        ({"elements": ["Cu"]}, "missing required key 'oracle'"),
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
