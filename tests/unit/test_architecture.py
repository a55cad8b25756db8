"""The package's shape, checked from its source: no import circle, arrows between layers pointing down.

Every ``import``/``from ... import`` of a pyacemaker module counts, wherever it stands (module top or inside a
function), so a hidden graph cannot grow back. The layers are ARCHITECTURE.md's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pyacemaker

PKG = Path(pyacemaker.__file__).parent

# lowest first; a module may import its own layer's and lower layers' modules
LAYERS: list[tuple[str, ...]] = [
    (
        "pyacemaker",
        "pyacemaker.allocation",
        "pyacemaker.elements",
        "pyacemaker.plugins",
        "pyacemaker.proc",
        "pyacemaker.fw_ids",
        "pyacemaker.lammps_plugin",
    ),
    ("pyacemaker.config",),
    ("pyacemaker.schemas", "pyacemaker.structures"),
    (
        "pyacemaker.oracle",
        "pyacemaker.train",
        "pyacemaker.select",
        "pyacemaker.explore",
        "pyacemaker.validate",
    ),
    ("pyacemaker.server", "pyacemaker.db", "pyacemaker.imports"),
    ("pyacemaker.campaign",),
    ("pyacemaker.app",),
]
MAX_UPWARD = 3  # ARCHITECTURE.md names each one


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    best, depth = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > depth and p != "pyacemaker":
                best, depth = i, len(p)
    if best < 0 and module == "pyacemaker":
        return 0
    assert best >= 0, f"{module} is in no layer: add its package to LAYERS and ARCHITECTURE.md"
    return best


def import_graph() -> dict[str, set[str]]:
    """module -> the pyacemaker modules it imports (a ``from pkg import name`` of a submodule counts as that)."""
    modules = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]  # fmt: skip
            for t in targets:
                if t.startswith("pyacemaker"):
                    while t not in modules and "." in t:
                        t = t.rsplit(".", 1)[0]
                    if t != mod:
                        graph[mod].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def package_inits_import_nothing_upward(graph):  # helper for the message below
    return graph


def test_no_import_circle():
    found = cycles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_arrows_point_down():
    graph = import_graph()
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a))
    assert len(upward) <= MAX_UPWARD, "imports from a lower layer to a higher one:\n" + "\n".join(upward)
