# SPDX-License-Identifier: GPL-2.0-only
"""The architecture's one rule, checked: imports flow up the layer list, never down
(abi → memory/fabric → kernel → state → rehearsal → api → cli; `pcilu` = api)."""
import ast
from pathlib import Path

from tests.conftest import ROOT

PKG = ROOT / "pcilu_cli"
# what each layer may import from pcilu_cli (besides itself)
ALLOWED = {
    "abi": {"errors"},
    "memory": {"errors", "abi"},
    "fabric": {"errors", "abi"},
    "kernel": {"errors", "abi", "memory", "fabric"},
    "state": {"errors", "abi", "memory", "fabric", "kernel"},
    "rehearsal": {"errors", "abi", "memory", "fabric", "kernel", "state"},
    # the Python API (`import pcilu` is its public name): above rehearsal, below the CLI
    "api": {"errors", "abi", "memory", "fabric", "kernel", "state", "rehearsal", ""},
    "cli": {"errors", "abi", "memory", "fabric", "kernel", "state", "rehearsal", "api", ""},
}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level:
            continue                    # relative: inside the same layer
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno


def test_no_layer_imports_a_higher_one():
    bad = []
    for layer, allowed in ALLOWED.items():
        for f in sorted((PKG / layer).rglob("*.py")):
            for mod, line in _imports(f):
                if not mod.startswith("pcilu_cli"):
                    continue
                parts = mod.split(".")
                target = parts[1] if len(parts) > 1 else ""
                if target in (layer,) or target in allowed:
                    continue
                if target == "" and layer != "cli":     # `import pcilu_cli` for __version__
                    continue
                bad.append(f"{f.relative_to(ROOT)}:{line} ({layer}) imports {mod}")
    assert not bad, "\n".join(bad)



def test_only_the_public_name_imports_the_api_package():
    """``pcilu`` re-exports ``pcilu_cli.api``; nothing inside pcilu_cli imports ``pcilu``
    (the command line must work where only pcilu_cli is importable)."""
    bad = [f"{f.relative_to(ROOT)}:{line} imports {mod}"
           for f in sorted(PKG.rglob("*.py")) for mod, line in _imports(f)
           if mod == "pcilu" or mod.startswith("pcilu.")]
    assert not bad, "\n".join(bad)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, modules: set):
    """The pcilu_cli modules ``path`` imports, at the top or inside a function (an import in
    an ``if TYPE_CHECKING:`` block is for annotations only and never runs)."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]

    def targets(node):
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
            base = ".".join(up + ([node.module] if node.module else []))
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                for a in node.names]

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.orelse:
                    yield from walk(sub)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for t in targets(child):
                    if t in modules and t != me:
                        yield t, child.lineno
            yield from walk(child)

    yield from walk(ast.parse(path.read_text()))


def test_no_module_imports_one_that_imports_it_back():
    """Inside a layer the modules form a hierarchy too: no circle of imports, not even one
    hidden in a function (``model`` importing from ``build`` inside a method was one)."""
    files = {_module_name(f): f for f in PKG.rglob("*.py")}
    graph = {m: list(_imported_modules(f, set(files))) for m, f in files.items()}
    state, circles = {}, []

    def visit(m, path):
        state[m] = 1
        for t, line in graph[m]:
            if state.get(t) == 1:
                i = next(i for i, (n, _) in enumerate(path) if n == t)
                circles.append(" -> ".join(f"{n}:{ln}" for n, ln in path[i:] + [(m, line)])
                               + f" -> {t}")
            elif t not in state:
                visit(t, path + [(m, line)])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not circles, "\n".join(circles)
