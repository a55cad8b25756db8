"""Bad input gets one clear error and loses nothing (issue 12).

Every case runs the installed ``pyacemaker`` command as a user would (``run_cli``) on a tiny EMT config that the case
breaks, and checks: the exit code (2 bad input, 3 database), one ``error:`` message on stderr with a phrase that says
what is wrong, no traceback, nothing on stdout, and nothing created or changed: the case's directory (the working
directory, the current directory, the data directory, the input files) and its database (every document of every
collection) are exactly as they were before the command. No case starts a campaign's workers.

The commands are independent processes, each with its own directory and database, so they run a few at a time
(module fixture) and each case then checks its own outcome.

Cases that do not give a clean error yet are ``xfail(strict=True)``, each naming the fix it waits for: once that is
made they pass, strict xfail reports XPASS as a failure, and the mark comes off.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_cli

pytestmark = [pytest.mark.e2e]

# the shape of tests/e2e/test_campaign.py's TINY: a campaign that would start at once if nothing were wrong
BASE = yaml.safe_load("""
name: bad_cu
elements: [Cu]
oracle: {type: emt}
seeds: {volume_strains: [-0.04, 0.0, 0.04], rattled_per_strain: 1, shear_strains: [], tetragonal_strains: [], cold_start: none}
train: {max_fit_iterations: 25, final_iterations: 25}
explore: {temperatures: [1100], steps: 300, gamma_collect: 1.05, gamma_halt: 1.3, perturbations: 2,
          npt: false, defects: false, surfaces: false}
select: {budget: 6}
budget: {max_iterations: 2}
workers: {label_batches: 2}
validation: {test_structures: 3, test_md_steps: 30, gate: false}
""")

CIF_HEAD = """data_bad
_cell_length_a 3.61
_cell_length_b 3.61
_cell_length_c 3.61
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
"""
# two atoms 0.04 A apart (a site given twice, slightly off)
OVERLAP_CIF = CIF_HEAD + "Cu1 Cu 0 0 0\nCu2 Cu 0.01 0 0\nCu3 Cu 0.5 0.5 0\nCu4 Cu 0.5 0 0.5\n"
FOREIGN_CIF = CIF_HEAD + "Cu1 Cu 0 0 0\nAu1 Au 0.5 0.5 0\nCu3 Cu 0.5 0 0.5\nCu4 Cu 0 0.5 0.5\n"
# the second lattice vector repeats the first: the cell has no volume
ZERO_VOLUME_POSCAR = "Cu\n1.0\n3.61 0 0\n3.61 0 0\n0 0 3.61\nCu\n2\nCartesian\n0 0 0\n1.8 0 1.8\n"
# a UPF header as read_header sees it: enough for the config to resolve with the espresso oracle
FAKE_UPF = (
    '<UPF version="2.0.1">\n<PP_HEADER element="Cu" pseudo_type="NC" functional="PBE" wfc_cutoff="40" />\n'
)
# a .yace cut off in the middle of its radial coefficients (a fit or a copy that stopped half way)
TRUNCATED_YACE = """elements: [Cu]
E0: [0]
deltaSplineBins: 0.001
embeddings:
  0: {ndensity: 1, FS_parameters: [1, 1], npoti: FinnisSinclairShiftedScaled, rho_core_cutoff: 100000}
bonds:
  [0, 0]: {nradmax: 3, lmax: 2, nradbasemax: 6, radbasename: SBessel, radparameters: [5.25], radcoefficients: [[[0.88
"""
TRUNCATED_YAML = """metadata: {pacemaker_version: 0.4.0}
global: {DeltaSplineBins: 0.001}
species:
  - speciesblock: Cu
    ndensityi: 1
    npoti: FinnisSinclairShiftedScaled
    parameters: [1, 1]
    radcoefficients: [[[0.887, 0.154], [1.02
"""


def merge(base: dict, change: dict) -> dict:
    out = dict(base)
    for k, v in change.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


@dataclass
class Workspace:
    """One case's directory (its current directory too), database and environment."""

    dir: Path
    db_uri: str
    db_name: str
    env: dict[str, str] = field(default_factory=dict)
    cleanup: list[Callable[[], Any]] = field(default_factory=list)
    phrase: dict[str, str] = field(default_factory=dict)  # values the expected phrase is formatted with

    def file(self, name: str, text: str | bytes) -> str:
        p = self.dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text) if isinstance(text, bytes) else p.write_text(text)
        return str(p)

    def config(
        self, change: dict | None = None, text: str | bytes | None = None, drop: tuple[str, ...] = ()
    ) -> str:
        data = merge(BASE, change or {})
        for key in drop:
            data.pop(key)
        return self.file("campaign.yaml", text if text is not None else yaml.safe_dump(data))

    def run(
        self, change: dict | None = None, text: str | bytes | None = None, drop: tuple[str, ...] = ()
    ) -> list[str]:
        """``pyacemaker run`` of a broken config, with an explicit working directory."""
        return ["run", self.config(change, text, drop), "--workdir", str(self.dir / "work"), "--workers", "1"]

    def database(self):
        from pymongo import MongoClient

        client = MongoClient(self.db_uri, serverSelectionTimeoutMS=5000)
        self.cleanup.append(client.close)
        return client[self.db_name]


# ----------------------------------------------------------------------------------------------- case setups
def pseudo_dir_empty(ws: Workspace) -> list[str]:
    """Silver has no pseudopotential in the empty pseudo_dir (nor in $ESPRESSO_PSEUDO or Debian's set)."""
    (ws.dir / "pseudo").mkdir()
    ws.env["ESPRESSO_PSEUDO"] = ""  # whatever the environment names is not searched
    return ws.run({"elements": ["Ag"], "oracle": {"type": "espresso", "pseudo_dir": str(ws.dir / "pseudo")}})


def pseudo_file_missing(ws: Workspace) -> list[str]:
    (ws.dir / "pseudo").mkdir()
    ws.env["ESPRESSO_PSEUDO"] = ""
    return ws.run({"oracle": {"type": "espresso", "pseudo_dir": str(ws.dir / "pseudo"),
                              "pseudopotentials": {"Cu": "Cu.missing.UPF"}}})  # fmt: skip


def pw_missing(ws: Workspace) -> list[str]:
    """Everything resolves (a pseudopotential is there) but pw.x is not."""
    ws.file("pseudo/Cu.pbe-fake.UPF", FAKE_UPF)
    ws.env["ESPRESSO_PSEUDO"] = ""
    return ws.run({"oracle": {"type": "espresso", "pseudo_dir": str(ws.dir / "pseudo"),
                              "command": str(ws.dir / "no-qe" / "pw.x")}})  # fmt: skip


def workdir_under_file(ws: Workspace) -> list[str]:
    """Root ignores permission bits, so the unwritable place is a path below a regular file."""
    blocker = ws.file("blocker", "a regular file\n")
    return ["run", ws.config(), "--workdir", f"{blocker}/sub/work"]


def port_in_use(ws: Workspace) -> list[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    ws.phrase["port"] = str(port)
    data = ws.dir / "data"

    def stop() -> None:  # should a server have started after all: stop it, then free the socket
        if (data / "server.json").exists() or (data / "server.pid").exists():
            run_cli("db", "stop", "--data-dir", str(data), timeout=120)
        sock.close()

    ws.cleanup.append(stop)
    return ["db", "start", "--port", str(port), "--data-dir", str(data)]


def unreachable(ws: Workspace) -> list[str]:
    ws.env["PYACEMAKER_DB_URI"] = "mongodb://127.0.0.1:1/"  # nothing listens on port 1
    return ws.run()


def launchpad_missing(ws: Workspace) -> list[str]:
    ws.env["PYACEMAKER_DB_URI"] = ""  # the URI would win over -l
    return ["status", "-l", str(ws.dir / "my_launchpad.yaml")]


def credentials(ws: Workspace) -> list[str]:
    """The session server has no user 'bob': the URI's credentials are refused."""
    plain = re.sub(r"^mongodb://[^@/]*@", "mongodb://", ws.db_uri)  # without the fixture's own login
    ws.env["PYACEMAKER_DB_URI"] = plain.replace("mongodb://", "mongodb://bob:wrong-password@")
    return ["status"]


def corrupt_potential(ws: Workspace, own_output: bool = True) -> list[str]:
    """A finished campaign whose stored potential is truncated (the copy on disk and the one in GridFS alike)."""
    from pyacemaker.config import parse_config, resolve
    from pyacemaker.db import Database, DbTarget

    cfg, _ = resolve(parse_config(merge(BASE, {"name": "broken"})))
    work = ws.dir / "work"
    files = {"yaml": ws.file("work/iter_000/train/output_potential.yaml", TRUNCATED_YAML),
             "yace": ws.file("work/iter_000/train/output_potential.yace", TRUNCATED_YACE),
             "asi": ws.file("work/iter_000/train/output_potential.asi", b"PK\x03\x04 cut short")}  # fmt: skip
    db = Database.connect(DbTarget(ws.db_uri, ws.db_name, "test server"))
    ws.cleanup.append(db.db.client.close)
    db.save_potential({"_id": "broken:pot000", "campaign": "broken", "iteration": 0, "n_structures": 9,
                       "elements": ["Cu"]}, {k: Path(v) for k, v in files.items()})  # fmt: skip
    db.update_campaign("broken", {"config": cfg.model_dump(mode="json"), "workdir": str(work), "state": "budget",
                                  "iteration": 0, "current_potential": "broken:pot000"})  # fmt: skip
    if not own_output:
        return ["release", "broken"]
    (ws.dir / "dist").mkdir()
    return ["release", "broken", "-o", str(ws.dir / "dist")]


def seed(name: str, content: str | bytes | None):
    """A config whose seeds.structures names ``name`` (written with ``content``; a directory for None)."""

    def setup(ws: Workspace) -> list[str]:
        path = ws.dir / name
        if content is None:
            path.mkdir()
        elif content != "":
            ws.file(name, content)
        return ws.run({"seeds": {"structures": [str(path)]}})

    return setup


def cfg(change: dict | None = None, text: str | bytes | None = None, drop: tuple[str, ...] = ()):
    return lambda ws: ws.run(change, text, drop)


def cli(*args: str):
    return lambda ws: list(args)


@dataclass
class Case:
    id: str
    setup: Callable[[Workspace], list[str]]
    code: int
    phrase: str
    xfail: str | None = None


def labelled_xyz(ws: Workspace, name: str, symbol: str = "Cu") -> str:
    """An extended XYZ of two EMT-labelled cells of ``symbol`` (what a user's own data looks like)."""
    import ase.io
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for i in range(2):
        a = bulk(symbol, cubic=True)
        a.rattle(0.05, seed=i)
        a.calc = EMT()
        a.calc = SinglePointCalculator(a, energy=a.get_potential_energy(), forces=a.get_forces())
        frames.append(a)
    path = ws.dir / name
    ase.io.write(path, frames)
    return str(path)


def importing(*extra: str, xyz: str | None = None, symbol: str = "Cu") -> Callable[[Workspace], list[str]]:
    def setup(ws: Workspace) -> list[str]:
        sources = [labelled_xyz(ws, xyz, symbol)] if xyz else []
        return ["import", ws.config(), *sources, *extra]

    return setup


# fmt: off
CASES = [
    # --- the file itself
    Case("yaml_malformed", cfg(text="elements: [Cu\noracle: {type: emt}\n"), 2,
         "not valid YAML (line 2, column 7: expected ',' or ']'"),
    Case("yaml_not_a_mapping", cfg(text="- Cu\n- emt\n"), 2, "expected a mapping at the top level"),
    Case("config_not_text", cfg(text=b"\xff\xfe\x00 binary \x00"), 2, "it is not a text file"),
    Case("config_missing", lambda ws: ["run", str(ws.dir / "nope.yaml")], 2, "nope.yaml' not found"),
    # --- values
    Case("elements_empty", cfg({"elements": []}), 2, "give at least one element"),
    Case("element_unknown", cfg({"elements": ["Xx"]}), 2, "unknown element 'Xx'"),
    Case("temperature_negative", cfg({"explore": {"temperatures": [-300]}}), 2,
         "explore.temperatures: temperatures must be a non-empty list of positive values in K"),
    Case("temperature_zero", cfg({"explore": {"conditions": [{"temperature_K": 0}]}}), 2,
         "explore.conditions.0.temperature_K: Input should be greater than 0"),
    Case("max_oracle_calls_zero", cfg({"budget": {"max_oracle_calls": 0}}), 2,
         "budget.max_oracle_calls: Input should be greater than or equal to 1"),
    Case("max_iterations_negative", cfg({"budget": {"max_iterations": -1}}), 2,
         "budget.max_iterations: Input should be greater than or equal to 1"),
    Case("cutoff_below_neighbours", cfg({"train": {"cutoff": 2.0}}), 2,
         "train.cutoff 2 A is too short: the nearest neighbours of Cu are 2.55 A apart"),
    # --- seed structure files
    Case("seed_missing", seed("nope.cif", ""), 2, "nope.cif not found: check seeds.structures"),
    Case("seed_is_directory", seed("cells", None), 2, "cells is a directory"),
    Case("seed_garbage", seed("garbage.cif", b"\x00\x01 not a structure \xff\n" * 20), 2, "ASE cannot parse it"),
    Case("seed_overlapping_atoms", seed("overlap.cif", OVERLAP_CIF), 2,
         "has overlapping atoms: atoms 0 (Cu) and 1 (Cu) are 0.04 A apart"),
    Case("seed_zero_volume", seed("POSCAR", ZERO_VOLUME_POSCAR), 2, "has a zero-volume cell"),
    Case("seed_foreign_element", seed("alloy.cif", FOREIGN_CIF), 2,
         "contains Au, not among the campaign's elements ['Cu']"),
    # --- the oracle's tools and data
    Case("pseudo_dir_empty", pseudo_dir_empty, 2, "no consistent set of pseudopotentials for Ag"),
    Case("pseudo_file_missing", pseudo_file_missing, 2, "pseudopotential 'Cu.missing.UPF' for Cu not found"),
    Case("pw_missing", pw_missing, 2, "the espresso oracle cannot run on this machine"),
    # --- workflow: distill's surrogate
    Case("surrogate_unknown", cfg({"workflow": "distill", "surrogate": {"model": "mace-mp"}}), 2,
         "surrogate.model: unknown type 'mace-mp'; known: emt"),
    Case("surrogate_not_a_surrogate", cfg({"workflow": "distill", "surrogate": {"model": "emt"}}), 2,
         "'emt' is an oracle without a surrogate's batch interface"),
    Case("surrogate_elements", cfg({"elements": ["Am"], "oracle": {"type": "espresso"}, "workflow": "distill"}), 2,
         "CHGNet was not trained on Am"),
    Case("surrogate_file_missing", cfg({"workflow": "distill", "surrogate": {"model_file": "/nonexistent/w.pth"}}), 2,
         "CHGNet weights file /nonexistent/w.pth does not exist"),
    # --- places
    Case("workdir_not_writable", workdir_under_file, 2, "blocker is a file, not a directory"),
    # --- keys and types
    Case("unknown_key_top", cfg({"trian": {}}), 2, "unknown key 'trian'; did you mean 'train'?"),
    Case("unknown_key_nested", cfg({"explore": {"temperatrues": [500]}}), 2,
         "unknown key 'explore.temperatrues'; did you mean 'temperatures'?"),
    Case("wrong_type_number", cfg({"select": {"budget": "many"}}), 2, "select.budget: Input should be a valid integer"),
    Case("wrong_type_list", cfg({"elements": "Cu"}), 2, "elements: Input should be a valid list"),
    Case("missing_oracle", cfg(drop=("oracle",)), 2, "missing required key 'oracle'"),
    Case("oracle_unknown", cfg({"oracle": {"type": "gaussian"}}), 2, "oracle: unknown type 'gaussian'; known: emt"),
    Case("driver_unknown", cfg({"explore": {"conditions": [{"temperature_K": 600, "driver": "lammps-kmc"}]}}), 2,
         "explore.conditions.0.driver: Input should be 'md', 'kmc'"),
    Case("walltime_invalid", cfg({"resources": {"train": {"walltime": "4 hours"}}}), 2,
         "walltime '4 hours': use HH:MM:SS or D-HH:MM:SS"),
    # --- settings that contradict each other
    Case("conflict_gamma", cfg({"explore": {"gamma_collect": 3, "gamma_halt": 2}}), 2,
         "gamma_collect (3.0) must be below gamma_halt (2.0)"),
    Case("conflict_basis", cfg({"train": {"min_functions": 300}}), 2, "min_functions (300) exceeds max_functions"),
    Case("conflict_category", cfg({"workers": {"category": "all"}, "resources": {"label": {"category": "dft"}}}), 2,
         "workers.category puts every job in one category, so resources.label.category would be ignored"),
    Case("conflict_kmc", cfg({"explore": {"kmc": True, "conditions": [{"temperature_K": 600}]}}), 2,
         "explore.kmc: true adds a kMC condition to the policy's conditions, but explore.conditions replaces them"),
    # --- the database
    Case("db_unreachable", unreachable, 3, "cannot reach the database (PYACEMAKER_DB_URI (mongodb://127.0.0.1:1/)"),
    Case("db_credentials", credentials, 3, "authentication failed"),
    Case("db_port_in_use", port_in_use, 3, "port {port} is in use"),
    Case("launchpad_missing", launchpad_missing, 3, "my_launchpad.yaml' not found"),
    # --- campaigns that do not exist
    *[Case(f"unknown_campaign_{cmd}", cli(cmd, "nope"), 2, "no campaign named 'nope'")
      for cmd in ("status", "report", "provenance", "release", "recover")],
    # --- a release of a corrupt potential
    Case("release_corrupt_potential", corrupt_potential, 2,
         "potential broken:pot000 is corrupt: output_potential.yaml is not valid YAML (truncated?); "
         "output_potential.yace is not valid YAML (truncated?); output_potential.asi is not a readable"),
    Case("release_corrupt_default_output", lambda ws: corrupt_potential(ws, own_output=False), 2,
         "potential broken:pot000 is corrupt"),
    # --- labels brought in with `pyacemaker import`
    Case("import_nothing", importing(), 2, "nothing to import: give labelled files, or --from-campaign NAME"),
    Case("import_unvouched_xyz", importing(xyz="mine.extxyz"), 2,
         "extxyz files do not record how their labels were computed"),
    Case("import_foreign_element", importing("--assume-settings", xyz="au.extxyz", symbol="Au"), 2,
         "element(s) ['Au'] not in the campaign's elements ['Cu']"),
    Case("import_unreadable", lambda ws: ["import", ws.config(), ws.file("junk.xyz", "not xyz at all\n"),
                                          "--assume-settings"], 2, "junk.xyz: not a readable extxyz file"),
    Case("import_unknown_campaign", importing("--from-campaign", "nope"), 2, "no campaign named 'nope'"),
]
# fmt: on
assert len({c.id for c in CASES}) == len(CASES)


# ----------------------------------------------------------------------------------------------- snapshots
def tree(root: Path) -> dict[str, Any]:
    """Every path under ``root`` with its type, size, modification time and content hash."""
    out: dict[str, Any] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(root))
        if p.is_dir():
            out[rel] = ("dir", st.st_mode)
        else:
            out[rel] = (
                "file",
                st.st_size,
                st.st_mtime_ns,
                st.st_mode,
                hashlib.sha256(p.read_bytes()).hexdigest(),
            )
    return out


def documents(db) -> dict[str, list]:
    """Every document of every non-empty collection (empty collections and indexes are not content)."""
    out = {}
    for name in sorted(db.list_collection_names()):
        docs = list(db[name].find(sort=[("_id", 1)]))
        if docs:
            out[name] = docs
    return out


@dataclass
class Outcome:
    ws: Workspace
    args: list[str]
    result: Any = None
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    db_before: dict = field(default_factory=dict)
    db_after: dict = field(default_factory=dict)
    seconds: float = 0.0


@pytest.fixture(scope="module")
def outcomes(request, db_server, tmp_path_factory):
    """Prepare the selected cases, run their commands a few at a time, snapshot before and after each."""
    import time

    wanted = {it.callspec.params["case"].id for it in request.session.items
              if getattr(it, "originalname", None) == "test_bad_input" and hasattr(it, "callspec")}  # fmt: skip
    out: dict[str, Outcome] = {}
    for case in CASES:
        if case.id not in wanted:
            continue
        ws = Workspace(tmp_path_factory.mktemp(case.id), db_server["uri"], f"bad_{case.id}"[:60])
        ws.env.update(PYACEMAKER_DB_URI=db_server["uri"], PYACEMAKER_DB_NAME=ws.db_name,
                      PYACEMAKER_DATA_DIR=str(ws.dir / "data"))  # fmt: skip
        args = case.setup(ws)
        out[case.id] = Outcome(ws, args, before=tree(ws.dir), db_before=documents(ws.database()))

    def one(o: Outcome) -> None:
        t0 = time.perf_counter()
        try:
            o.result = run_cli(*o.args, env=o.ws.env, cwd=o.ws.dir, timeout=300)
        except subprocess.TimeoutExpired as exc:  # that case fails, the others still run
            o.result = subprocess.CompletedProcess(
                exc.cmd, -9, exc.stdout or "", f"timed out after {exc.timeout} s"
            )
        o.seconds = time.perf_counter() - t0
        o.after = tree(o.ws.dir)
        o.db_after = documents(o.ws.database())

    with ThreadPoolExecutor(max_workers=max(2, min(6, (os.cpu_count() or 2) * 2))) as pool:
        list(pool.map(one, out.values()))
    yield out
    for o in out.values():
        for fn in reversed(o.ws.cleanup):
            fn()
        o.ws.database().client.drop_database(o.ws.db_name)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
     for c in CASES],
)  # fmt: skip
def test_bad_input(case: Case, outcomes):
    o = outcomes[case.id]
    r = o.result
    said = f"\n$ pyacemaker {' '.join(o.args)}\nexit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert "Traceback" not in r.stdout + r.stderr, said
    assert r.returncode == case.code, said
    # one message, on stderr, saying what is wrong; nothing else printed
    assert r.stderr.startswith("error: ") and r.stderr.count("error:") == 1, said
    assert case.phrase.format(**o.ws.phrase) in r.stderr, said
    assert r.stdout == "", said
    if case.id == "db_unreachable":
        # fails fast: a few seconds more than the typical case, which waits for nothing (a measure that holds on a
        # loaded machine; pymongo's default server selection alone would wait 30 s)
        others = sorted(x.seconds for x in outcomes.values() if x is not o)
        typical = others[len(others) // 2] if others else 40.0
        assert o.seconds < typical + 20, f"took {o.seconds:.0f} s, a typical case {typical:.0f} s" + said
    # nothing created or changed: files, directories (working directory, data directory) and database documents
    assert o.after == o.before, (
        f"files changed: {sorted(set(o.after.items()) ^ set(o.before.items()))}" + said
    )
    assert o.db_after == o.db_before, said


SOUND_YAML = """metadata: {pacemaker_version: 0.4.0}
global: {DeltaSplineBins: 0.001}
species:
  - speciesblock: Cu
    radcoefficients: [[[0.887, 0.154]]]
    nbody:
      - {type: Cu Cu, nr: [1], nl: [0], c: [1.0]}
"""
SOUND_YACE = TRUNCATED_YACE.replace("[[[0.88\n", "[[[0.88]]]}\nfunctions:\n  0: []\n")


def test_the_release_check_passes_sound_files(tmp_path):
    """The other side of ``release_corrupt_potential``: complete files of each kind (YAML with keys such as
    ``[0, 0]`` that plain YAML cannot construct, an active set that is a zip of arrays) are not reported."""
    import io

    import numpy as np

    from pyacemaker.app.release import damaged_files
    from pyacemaker.db import sha256_file
    from pyacemaker.schemas.potential import PotentialFile

    buf = io.BytesIO()
    np.savez(buf, Cu=np.eye(3))
    files = {"yaml": tmp_path / "p.yaml", "yace": tmp_path / "p.yace", "asi": tmp_path / "p.asi"}
    files["yaml"].write_text(SOUND_YAML)
    files["yace"].write_text(SOUND_YACE)
    files["asi"].write_bytes(buf.getvalue())
    meta = {k: PotentialFile(gridfs_id=None, name=f.name, path=str(f), sha256=sha256_file(f), size=f.stat().st_size)
            for k, f in files.items()}  # fmt: skip
    assert damaged_files(files, meta) == []
    files["yace"].write_text(TRUNCATED_YACE)
    assert damaged_files(files, meta) == ["p.yace does not match its stored checksum"]
