"""The Cu-Au example end to end, as a new user would run it: the policy swaps and escalates, MD and kMC halt on
gamma and the next iterations learn from the halted frames; status shows halts per condition; the final potential
comes with a LAMMPS folder, a validated report that renders in headless Chromium, and a release zip that a
colleague can use (hashes verified, the ASE snippet reproduces the campaign's energies)."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.support import md_engine, missing

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _config(tmp_path: Path) -> Path:
    text = (ROOT / "workflows" / "cuau_emt.yaml").read_text()
    # the example as shipped, made shorter: two iterations, no CHGNet (tests/integration/test_cold_start.py), three
    # seed volumes instead of five, a 60-iteration final fit
    text = (
        text.replace("cold_start_steps: 20}", "cold_start: none, volume_strains: [-0.04, 0.0, 0.04]}")
        .replace("max_iterations: 3", "max_iterations: 2")
        .replace("  max_fit_iterations: 60", "  final_iterations: 60\n  max_fit_iterations: 60")
    )
    assert "cold_start: none" in text and "max_iterations: 2" in text and "final_iterations: 60" in text
    cfg = tmp_path / "cuau.yaml"
    cfg.write_text(text)
    return cfg


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cuau")
    env = {"PYACEMAKER_DATA_DIR": str(tmp / "data")}
    r = run_cli("run", str(_config(tmp)), "--workdir", str(tmp / "w"), env=env, timeout=1500)
    from pyacemaker.db import Database, resolve_target

    db = Database.connect(resolve_target(data_dir=tmp / "data", start_embedded=False))
    yield {"run": r, "db": db, "env": env, "tmp": tmp, "doc": db.campaign("cuau_emt")}
    run_cli("db", "stop", env=env, timeout=120)


def test_policy_swaps_escalates_and_learns_from_md_and_kmc_halts(campaign):
    r, db, doc = campaign["run"], campaign["db"], campaign["doc"]
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    it0 = doc["iterations"]["0"]
    assert "1" in doc["iterations"]
    conds = {c["name"]: c for c in doc["config"]["explore"]["conditions"]}
    runs0 = list(it0["explore"].values())
    assert all(
        c["swap"] for c in conds.values() if c["start"] == "bulk" and not c.get("element")
    )  # swap MC on
    # and each element's own crystal runs too (the gate validates it), from that element's seed, without swaps
    ends = {e["condition"]["element"]: e for e in runs0 if e["condition"].get("element")}
    assert set(ends) == {"Cu", "Au"} and not any(e["thermo"].get("swaps_tried") for e in ends.values())
    # their frames (once a run gets past gamma_collect: escalated, in a later iteration) are of that element alone
    end_runs = [e for it in doc["iterations"].values() for e in it.get("explore", {}).values()
                if e["condition"].get("element")]  # fmt: skip
    frames = {
        e["condition"]["element"]: db.find_records({"provenance.run_id": e["run_id"]}) for e in end_runs
    }
    assert any(frames.values()) and all(set(f.atoms.symbols) == {el} for el, fs in frames.items() for f in fs)
    assert any(e["thermo"].get("swaps_tried", 0) > 0 for e in runs0)
    assert any(e["driver"] == "kmc" and e["halted"] for e in runs0)  # kMC halted on gamma
    # MD halted on gamma, in the engine the shipped config names (or the one engine auto picks)
    engine = doc["config"]["explore"]["engine"]
    assert any(e["driver"] == (md_engine() if engine == "auto" else engine) and e["halted"] for e in runs0)
    # decide adapts the conditions: those that ran their window without a halt escalate (hotter, longer),
    # halting ones stay; the campaign escalated at least one condition on its way
    for k, it in doc["iterations"].items():
        for e in it.get("explore", {}).values():
            nxt = next((c for c in it.get("conditions", []) if c["name"] == e["condition"]["name"]), None)
            if nxt is None:
                continue
            assert nxt["level"] == e["condition"]["level"] + (0 if e["halted"] else 1), (
                k,
                e["condition"]["name"],
            )
            if not e["halted"]:
                assert (
                    nxt["temperature_K"] > e["condition"]["temperature_K"]
                    and nxt["steps"] > e["condition"]["steps"]
                )
    assert any(c["level"] >= 1 for it in doc["iterations"].values() for c in it.get("conditions", []))
    learned = db.find_records({"campaign": "cuau_emt", "status": "labelled",
                               "provenance.origin": {"$in": ["md_halt", "kmc_halt", "perturbation", "md_frame"]}})  # fmt: skip
    # learned from a halt: a halted frame itself, or a local rattle of one (MaxVol may prefer the rattles; they
    # are made only around halted frames, so their parent must be an md/kMC halt)
    parents = {r.provenance.parent for r in learned if r.provenance.origin == "perturbation"}
    parent_origins = {r.provenance.origin for r in db.find_records({"_id": {"$in": sorted(parents)}})}
    assert parent_origins <= {"md_halt", "kmc_halt"}
    assert ({r.provenance.origin for r in learned} | parent_origins) & {"md_halt", "kmc_halt"}
    pot1 = db.potentials.find_one({"_id": "cuau_emt:pot001"})
    assert pot1 and {r.id for r in learned if r.provenance.iteration == 1} & set(
        pot1["dataset_ids"] + pot1["test_ids"]
    )


def test_status_shows_halts_per_condition(campaign):
    r = run_cli("status", "cuau_emt", env=campaign["env"])
    assert r.returncode == 0, r.stderr
    assert "exploration conditions" in r.stdout
    for name in (
        "bulk 500K NPT 0GPa swap",
        "bulk Cu 900K NPT 0GPa",
        "vacancy 900K",
        "surface 900K",
        "kmc vacancy 900K",
    ):
        assert name in r.stdout
    js = json.loads(run_cli("status", "cuau_emt", "--json", env=campaign["env"]).stdout)
    by_cond = js["campaigns"][0]["iterations"][0]["halts_by_condition"]
    assert by_cond["kmc vacancy 900K"] is True and len(by_cond) == 7  # 2 alloy bulk, 2 end members, 3 more


def test_lammps_folder_for_the_final_potential(campaign):
    d = Path(campaign["doc"]["summary"]["lammps_dir"])
    text = (d / "potential.in").read_text()
    assert (
        (d / "potential.yace").exists() and (d / "potential.asi").exists() and (d / "structure.data").exists()
    )
    assert (
        re.search(r"pair_style hybrid/overlay pace .*zbl", text)
        and "pair_coeff * * pace ./potential.yace Cu Au" in text
    )
    assert "pace/extrapolation" in text and "include potential.in" in (d / "in.example").read_text()


def test_validation_verdict_is_stored_with_numbers(campaign):
    v = campaign["doc"]["validation"]
    assert v["verdict"] in ("go", "no-go") and set(v["checks"]) == {"Cu", "Au"}
    names = {c["name"] for c in v["checks"]["Cu"]}
    assert {"a0_error", "b0_error", "cij_error", "phonon_rmse", "md_stability"} <= names
    if v["verdict"] == "no-go":
        assert v["reasons"] and campaign["doc"].get("no_go_rounds", 0) <= 1


def test_report_renders_every_section_in_headless_chromium(campaign, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        msg = "chromium not installed (scripts/setup.sh installs it when run as root)"
        missing(msg)
    out = tmp_path / "report.html"
    r = run_cli("report", "cuau_emt", "-o", str(out), env=campaign["env"])
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched from a network
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=180).stdout  # fmt: skip
    body = re.search(r"<body([^>]*)>", dom).group(1)
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))
    from pyacemaker.app.report import SECTIONS

    assert (
        attrs.get("sections") == str(len(SECTIONS))
        and attrs.get("broken") == "0"
        and "js-errors" not in attrs
    )
    figures = dict(re.findall(r'data-figure="([a-z]+)" data-points="(\d+)"', dom))
    for name in ("learning", "parity", "gamma", "halts", "dataset", "eos", "phonons"):
        assert int(figures.get(name, 0)) > 0, f"figure {name} missing or empty"
    assert attrs.get("images") == str(len(figures)) and "could not be drawn" not in dom
    assert "Born-stable" in dom or "Born-unstable" in dom  # elastic tensors


def test_release_zip_hashes_and_snippet_energies(campaign, tmp_path):
    env, doc = campaign["env"], campaign["doc"]
    args = ["release", "cuau_emt", "--version", "1.2.3", "-o", str(tmp_path), "--author", "tester"]
    r = run_cli(*args, env=env)
    if doc["validation"]["verdict"] == "no-go":  # refused without --force, with the reasons
        assert r.returncode != 0 and "--force" in r.stderr and not (tmp_path / "release_v1.2.3.zip").exists()
        r = run_cli(*args, "--force", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    zf = zipfile.ZipFile(tmp_path / "release_v1.2.3.zip")
    zf.extractall(tmp_path / "x")
    folder = tmp_path / "x" / "cuau_emt_v1.2.3"
    m = json.loads((folder / "manifest.json").read_text())
    assert m["version"] == "1.2.3" and m["author"] == "tester" and m["elements"] == ["Cu", "Au"]
    assert m["forced"] == (doc["validation"]["verdict"] == "no-go") and m["campaign"] == "cuau_emt"
    assert (
        m["training_set_size"] > 0
        and m["oracle"]["settings"]["type"] == "emt"
        and m["baseline"]["type"] == "zbl"
    )
    for name, digest in m["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert {
        "report.html",
        "lammps_potential.in",
        "use_with_ase.py",
        "cuau_emt_v1.2.3.yace",
        "cuau_emt_v1.2.3.asi",
    } <= set(m["files"])
    # the colleague's way: run the ASE snippet in the unzipped folder; the campaign's own calculator agrees
    out = subprocess.run(
        [sys.executable, "use_with_ase.py"], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    e_snippet = json.loads(out.stdout.strip().splitlines()[-1])["energy_eV"]
    from ase.build import bulk

    from pyacemaker.campaign.context import Context, potential_files
    from pyacemaker.config import CampaignConfig
    from pyacemaker.train.baseline import make_baseline
    from pyacemaker.train.pacemaker import calculator

    cfg = CampaignConfig.model_validate(doc["config"])
    pot = campaign["db"].potentials.find_one({"_id": doc["current_potential"]})
    files = potential_files(campaign["db"], Context("cuau_emt", cfg, Path(doc["workdir"])), pot["_id"])
    a = bulk("Cu", cubic=True)
    a.calc = calculator(
        files["yaml"], None, make_baseline(cfg.baseline, cfg.elements), pot["reference_energies"]
    )
    assert e_snippet == pytest.approx(a.get_potential_energy(), abs=1e-6)
