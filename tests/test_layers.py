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
