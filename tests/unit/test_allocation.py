"""The allocation a job runs in, read from environment mappings (Slurm, PBS Pro, Torque, none), and what follows
from it: thread variables, the MPI launcher, pw.x's and LAMMPS' command lines, where tools are found."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from pyacemaker.allocation import (
    Allocation,
    ToolNotFound,
    interpreter_bin,
    mpi_prefix,
    thread_env,
    tool,
)
from pyacemaker.explore.md import lammps_md
from pyacemaker.explore.md.lammps_md import lammps_launch
from pyacemaker.oracle.espresso.oracle import EspressoOracle
from pyacemaker.oracle.espresso.settings import EspressoSettings
from pyacemaker.train.pacemaker import QUIET_ENV, pacemaker_env

SLURM = {"SLURM_JOB_ID": "42", "SLURM_CPUS_ON_NODE": "16"}


def _exe(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# --------------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, Allocation(1, 1, 0, "local")),
        ({"OMP_NUM_THREADS": "4"}, Allocation(4, 1, 0, "local")),  # the user's own setting
        ({"OMP_NUM_THREADS": "junk", "CUDA_VISIBLE_DEVICES": "0"}, Allocation(1, 1, 0, "local")),
        # Slurm: a training job (1 task x 4 CPUs) and a DFT job (4 ranks x 1 CPU); the user's OMP is ignored
        ({**SLURM, "SLURM_CPUS_PER_TASK": "4", "SLURM_NTASKS": "1", "OMP_NUM_THREADS": "1"},
         Allocation(4, 1, 0, "slurm", 16)),
        ({**SLURM, "SLURM_NTASKS": "4"}, Allocation(1, 4, 0, "slurm", 16)),
        ({**SLURM}, Allocation(16, 1, 0, "slurm", 16)),  # neither asked for: one task holding the node
        ({"SLURM_JOBID": "7", "SLURM_NPROCS": "8", "SLURM_CPUS_PER_TASK": "2", "SLURM_GPUS_ON_NODE": "2"},
         Allocation(2, 8, 2, "slurm")),
        ({**SLURM, "SLURM_NTASKS": "2", "SLURM_JOB_GPUS": "0,1,3"}, Allocation(1, 2, 3, "slurm", 16)),
        ({**SLURM, "SLURM_NTASKS": "2", "SLURM_GPUS": "a100:2"}, Allocation(1, 2, 2, "slurm", 16)),
        ({**SLURM, "SLURM_NTASKS": "2", "CUDA_VISIBLE_DEVICES": "-1"}, Allocation(1, 2, 0, "slurm", 16)),
        # PBS Pro: ncpus=8 with ompthreads=2 (4 ranks x 2 threads), or without (PBS sets OMP_NUM_THREADS=1)
        ({"PBS_JOBID": "1.pbs", "NCPUS": "8", "OMP_NUM_THREADS": "2"}, Allocation(2, 4, 0, "pbs", 8)),
        ({"PBS_JOBID": "1.pbs", "NCPUS": "8", "OMP_NUM_THREADS": "1"}, Allocation(1, 8, 0, "pbs", 8)),
        ({"PBS_JOBID": "1.pbs", "NCPUS": "8", "OMP_NUM_THREADS": "8", "NGPUS": "1"}, Allocation(8, 1, 1, "pbs", 8)),
        # Torque: PBS_NP processors in all, PBS_NUM_PPN on this node
        ({"PBS_JOBID": "1.torque", "PBS_NP": "32", "PBS_NUM_PPN": "16"}, Allocation(1, 32, 0, "pbs", 16)),
        ({"PBS_JOBID": "1.torque", "PBS_NP": "16", "OMP_NUM_THREADS": "4"}, Allocation(4, 4, 0, "pbs", 16)),
        ({"PBS_JOBID": "1.pbs"}, Allocation(1, 1, 0, "pbs")),
    ],
)  # fmt: skip
def test_allocation_from_environment(env, expected):
    assert Allocation.from_env(env) == expected


def test_one_process_gets_the_cpus_of_the_allocation_on_its_node():
    assert Allocation(1, 4, 0, "slurm", 16).process_cpus == 4
    assert Allocation(1, 128, 0, "slurm", 64).process_cpus == 64  # two nodes: one process uses its own
    assert Allocation(4, 1).process_cpus == 4 and Allocation().process_cpus == 1


# --------------------------------------------------------------------------------------------- threads
def test_thread_env_outside_an_allocation_is_todays_single_thread():
    env = thread_env(Allocation.from_env({}), {})
    assert env == {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                   "CUDA_VISIBLE_DEVICES": "-1"}  # fmt: skip
    assert pacemaker_env({"PATH": "/bin"}) == {"PATH": "/bin", **QUIET_ENV}  # no allocation: today's exactly


def test_thread_env_follows_the_allocation():
    train = Allocation.from_env({**SLURM, "SLURM_CPUS_PER_TASK": "4", "SLURM_NTASKS": "1"})
    env = thread_env(train, {})
    assert (
        env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "4"
        and env["TF_NUM_INTEROP_THREADS"] == "2"
    )
    assert env["CUDA_VISIBLE_DEVICES"] == "-1"
    dft = Allocation.from_env({**SLURM, "SLURM_NTASKS": "4"})
    assert thread_env(dft, {})["OMP_NUM_THREADS"] == "4"  # one process: all four CPUs
    assert thread_env(dft, {}, per_rank=True)["OMP_NUM_THREADS"] == "1"  # each of four ranks: one
    gpu = Allocation.from_env({**SLURM, "SLURM_NTASKS": "1", "SLURM_GPUS_ON_NODE": "1"})
    assert "CUDA_VISIBLE_DEVICES" not in thread_env(gpu, {})
    assert "CUDA_VISIBLE_DEVICES" not in thread_env(Allocation(), {"CUDA_VISIBLE_DEVICES": "0"})  # the user's
    slurm_env = {**SLURM, "SLURM_CPUS_PER_TASK": "8", "OMP_NUM_THREADS": "1", "X": "y"}
    assert pacemaker_env(slurm_env)["OMP_NUM_THREADS"] == "8" and pacemaker_env(slurm_env)["X"] == "y"


# --------------------------------------------------------------------------------------------- MPI
def test_mpi_prefix():
    slurm = Allocation.from_env({**SLURM, "SLURM_NTASKS": "4"})
    assert mpi_prefix(slurm) == ["srun", "-n", "4"]
    assert mpi_prefix(Allocation(2, 4, 0, "slurm")) == ["srun", "-n", "4", "-c", "2"]
    assert mpi_prefix(Allocation(1, 8, 0, "pbs")) == ["mpirun", "-np", "8"]
    assert mpi_prefix(Allocation()) == [] and mpi_prefix(Allocation(16, 1, 0, "slurm")) == []  # one rank
    assert mpi_prefix(slurm, "mpirun -np 2 --bind-to core") == ["mpirun", "-np", "2", "--bind-to", "core"]
    assert mpi_prefix(slurm, "") == []  # a configured launcher always wins, an empty one too


def test_mpi_prefix_prefers_the_programs_own_mpirun(tmp_path):
    own = _exe(tmp_path / "qe" / "bin" / "mpirun")
    prog = _exe(tmp_path / "qe" / "bin" / "pw.x")
    assert mpi_prefix(Allocation(1, 4, 0, "pbs"), beside=str(prog)) == [str(own), "-np", "4"]
    other = _exe(tmp_path / "other" / "pw.x")
    assert mpi_prefix(Allocation(1, 4, 0, "pbs"), beside=str(other)) == ["mpirun", "-np", "4"]


def test_pw_command_follows_the_allocation_unless_mpi_command_is_set(tmp_path):
    pwx = str(_exe(tmp_path / "bin" / "pw.x"))
    path = {"PATH": str(tmp_path / "bin")}
    oracle = EspressoOracle(EspressoSettings(command="pw.x"))
    assert oracle.command(path) == [pwx]  # no allocation: one rank, as before
    slurm = {**path, **SLURM, "SLURM_NTASKS": "4"}
    assert oracle.command(slurm) == ["env", "OMP_NUM_THREADS=1", "srun", "-n", "4", pwx]
    hybrid = {**path, "SLURM_JOB_ID": "1", "SLURM_NTASKS": "2", "SLURM_CPUS_PER_TASK": "3"}
    assert oracle.command(hybrid) == ["env", "OMP_NUM_THREADS=3", "srun", "-n", "2", "-c", "3", pwx]
    configured = EspressoOracle(EspressoSettings(command="pw.x", mpi_command="mpirun -np 2"))
    assert configured.command(slurm) == ["mpirun", "-np", "2", pwx]
    from pyacemaker.oracle.base import OracleFailure

    with pytest.raises(
        OracleFailure, match="not found on PATH .* nor beside the Python interpreter .*apt-get"
    ):
        EspressoOracle(EspressoSettings(command="no-such-pw.x")).command(path)


def test_lammps_default_command_is_resolved_and_launched_by_the_allocation(tmp_path, monkeypatch):
    help_text = "Large-scale Atomic/Molecular Massively Parallel Simulator\\n\\nMPI v4.0: Open MPI v4.1.4\\n"
    lmp = _exe(tmp_path / "venv" / "bin" / "lmp", f'#!/bin/sh\nprintf "{help_text}"\n')
    _exe(tmp_path / "usr" / "bin" / "lmp")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))  # a venv's interpreter
    path = {"PATH": str(tmp_path / "usr" / "bin")}
    assert lammps_launch("lmp", path) == (str(lmp), [], None)  # no allocation: as it was, found beside python
    assert lammps_launch("mpirun -np 2 lmp", {**path, **SLURM}) == ("mpirun -np 2 lmp", [], None)  # as given
    exe, launcher, env = lammps_launch(
        "lmp", {**path, **SLURM, "SLURM_NTASKS": "4", "SLURM_CPUS_PER_TASK": "2"}
    )
    assert exe == str(lmp) and launcher == ["srun", "-n", "4", "-c", "2"]
    assert env is not None and env["OMP_NUM_THREADS"] == "2" and env["PATH"] == path["PATH"]
    exe, launcher, env = lammps_launch(
        "lmp", {**path, "PBS_JOBID": "1", "NCPUS": "8", "OMP_NUM_THREADS": "1"}
    )
    assert launcher == ["mpirun", "-np", "8"] and env is not None and env["OMP_NUM_THREADS"] == "1"
    serial = _exe(tmp_path / "venv" / "bin" / "lmp", '#!/bin/sh\nprintf "MPI v1.0: LAMMPS MPI STUBS\\n"\n')
    lammps_md._lammps_help.cache_clear()
    exe, launcher, env = lammps_launch("lmp", {**path, **SLURM, "SLURM_NTASKS": "4"})
    assert exe == str(serial) and launcher == [] and env is not None and env["OMP_NUM_THREADS"] == "4"
    assert not lammps_md.lammps_has_mpi(str(serial))
    lammps_md._lammps_help.cache_clear()


# --------------------------------------------------------------------------------------------- tools
def test_tool_looks_beside_the_interpreter_then_on_path(tmp_path):
    here = _exe(tmp_path / "venv" / "bin" / "pacemaker")
    there = _exe(tmp_path / "usr" / "bin" / "pacemaker")
    only_there = _exe(tmp_path / "usr" / "bin" / "qlaunch")
    path = str(tmp_path / "usr" / "bin")
    assert tool("pacemaker", bindir=here.parent, path=path) == str(here)
    assert tool("pacemaker", bindir=tmp_path / "empty", path=path) == str(there)
    assert tool("qlaunch", bindir=here.parent, path=path) == str(only_there)
    assert tool(str(there)) == str(there)
    with pytest.raises(ToolNotFound, match=r"'rlaunch' not found on PATH \(.*usr/bin\) "
                                           r"nor beside the Python interpreter \(.*venv/bin\)"):  # fmt: skip
        tool("rlaunch", bindir=here.parent, path=path)


def test_interpreter_bin_keeps_the_environments_directory():
    here = Path(os.path.abspath(sys.executable))
    assert interpreter_bin() == here.parent  # not the directory the symlink leads to
    assert tool(here.name, path="") == str(here)
