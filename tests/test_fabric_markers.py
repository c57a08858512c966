# SPDX-License-Identifier: GPL-2.0-only
"""The Live Update path in the terminal (`fabric show STATE`) and as Graphviz
(`fabric show --format dot`), checked against what `enumerate --json` says of the same
generation."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections import Counter

import pytest

import pcilu
from tests.conftest import ROOT
from tests.pcilu_run import run

FAB = ROOT / "fixtures/fabrics"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def switch_gens(tmp_path):
    """The switch fabric: NVMe and NIC preserved behind two ports (gen0), then kexec'd (gen1)
    with the NIC's downstream port losing its bus registers on the way."""
    g0, g1 = tmp_path / "g0.elf", tmp_path / "g1.elf"
    m = pcilu.init(FAB / "switch-pcie.yaml")
    m.preserve("0000:03:00.0", "0000:04:00.0")
    m.save(g0)
    return g0, g1


def enum(state):
    return pcilu.load(state).enumerate()


def test_outgoing_path_carries_each_refcount(switch_gens):
    g0, _ = switch_gens
    out = run(["fabric", "show", g0]).stdout
    rep = enum(g0)
    want = Counter(d["outgoing_refcount"] for d in rep["devices"] if d["outgoing"])
    got = Counter(int(n) for n in re.findall(r"\[out=(\d+)\]", out))
    assert got == want and want[2] == 2          # the shared root port and upstream port
    assert ANSI.search(out) is None
    assert "markers: [out=N]" in out


def test_after_kexec_incoming_lost_bus_master_and_skipped_bridge(tmp_path):
    keep = tmp_path / "keep"
    assert pcilu.rehearse(ROOT / "fixtures/scenarios/bridge-reset.yaml", keep=keep)["passed"]
    g1 = keep / "gen1.elf"
    rep = enum(g1)
    out = run(["fabric", "show", g1], env={"COLUMNS": "80"}).stdout
    lines = out.splitlines()
    legend = lines[-1]
    assert legend.startswith("markers:")
    out = "\n".join(lines[:-1])
    assert len(re.findall(r"\[BM-lost\]", out)) == len(rep["bus_master_cleared"]) == 3
    skipped = [ln for ln in rep["messages"] if "Cannot reconfigure bridge" in ln]
    assert out.count("[SKIPPED]") == len(skipped) == 1
    assert out.count("[not-enumerated]") == sum(1 for d in rep["devices"]
                                                if not d["enumerated"])
    # the skipped port's line carries both marks and is not wrapped at 80 columns
    sk = next(ln for ln in lines if "[SKIPPED]" in ln)
    assert "[BM-lost]" in sk
    assert any(len(ln) > 80 for ln in lines)
    fab = run(["fabric", "show", g1, "--json"]).json()
    assert len(lines) == 1 + len(fab["roots"]) + len(fab["functions"]) + 1   # + legend


def test_colour_on_a_terminal_and_none_with_no_color(switch_gens):
    g0, _ = switch_gens
    coloured = run(["--color", "always", "fabric", "show", g0]).stdout
    assert re.search(r"\x1b\[[0-9;]*m\[out=2\]", coloured)
    assert len(re.findall(r"\[out=\d\]", ANSI.sub("", coloured))) == 6
    plain = run(["--color", "never", "fabric", "show", g0]).stdout
    assert ANSI.search(plain) is None and len(re.findall(r"\[out=\d\]", plain)) == 6


def test_a_fabric_file_has_no_marks():
    out = run(["fabric", "show", FAB / "switch-pcie.yaml"]).stdout
    assert "[out=" not in out and "markers:" not in out


def test_enumerate_tree_marks_the_same_path_and_prunes_a_big_host(tmp_path):
    fab, g1 = tmp_path / "h.fab", tmp_path / "g1.elf"
    run(["generate", "--functions", 512, "-o", fab])
    m = pcilu.init(fab)
    eps = [d["bdf"] for d in m.enumerate()["devices"] if d["kind"] == "endpoint"]
    m.preserve(eps[0], eps[-1])
    gen1 = m.kexec()
    gen1.save(g1)
    rep = gen1.enumerate()
    incoming = [d for d in rep["devices"] if d["incoming"]]
    out = run(["enumerate", g1, "--tree"]).stdout
    tree, legend = out.split("\nmarkers: ", 1)
    assert "[in]" in legend and "[BM-lost]" not in legend     # nothing drawn lost it
    assert tree.count("[in]") == len(incoming) and len(incoming) >= 4
    # only the two preserved paths are drawn: their functions plus the root bus lines
    drawn = [ln for ln in tree.splitlines()[1:] if ln.startswith("    ")]
    assert len(drawn) == len(incoming)
    assert f"{512 - len(incoming)} other functions not shown" in out
    for ln in rep["messages"]:
        assert ln in out
    full = run(["enumerate", g1, "--tree", "--all"]).stdout
    full_tree = full.split("\nmarkers: ", 1)[0]
    assert len([ln for ln in full_tree.splitlines() if ln.startswith("    ")]) == 512
    assert full_tree.count("[BM-lost]") == len(rep["bus_master_cleared"])


def _dot():
    exe = shutil.which("dot")
    if exe is None:
        pytest.skip("Graphviz `dot` is not installed (make setup installs graphviz)")
    return exe


def test_dot_output_is_read_by_graphviz_with_every_function(switch_gens):
    g0, g1 = switch_gens
    pcilu.load(g0).kexec().save(g1)
    text = run(["fabric", "show", g1, "--format", "dot"]).stdout
    p = subprocess.run([_dot(), "-Tplain"], input=text, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    fab = run(["fabric", "show", g1, "--json"]).json()
    # -Tplain: node NAME X Y W H LABEL STYLE SHAPE COLOR FILL (quoted where needed)
    nodes = [shlex.split(ln) for ln in p.stdout.splitlines() if ln.startswith("node ")]
    labels = " ".join(n[6] for n in nodes)
    for f in fab["functions"]:
        assert f["bdf"] in labels
    edges = [ln for ln in p.stdout.splitlines() if ln.startswith("edge ")]
    assert len(edges) == len(fab["functions"])           # every function hangs below something
    rep = enum(g1)
    incoming = [d["bdf"] for d in rep["devices"] if d["incoming"]]
    assert len(incoming) == 6
    blue = [n for n in nodes if n[9] == "#0b57d0"]     # the incoming border colour
    assert len(blue) == len(incoming)


def test_dot_survives_hostile_names(tmp_path):
    text = (FAB / "switch.yaml").read_text().replace(
        "name: switch", 'name: "evil\\" -> x; } digraph { \\\\ \\n <b>"')
    f = tmp_path / "evil.yaml"
    f.write_text(text)
    dot = run(["fabric", "show", f, "--format", "dot"]).stdout
    p = subprocess.run([_dot(), "-Tplain"], input=dot, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    # one graph: the name stayed inside its quoted string
    assert sum(1 for ln in p.stdout.splitlines() if ln.startswith("graph ")) == 1
