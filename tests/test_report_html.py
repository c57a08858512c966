# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu report`: the HTML page a reviewer opens, checked against the JSON documents it is
drawn from (`fabric show --json`, `enumerate --json`, `rehearse --json`) and, where Debian's
chromium is installed, in a real headless browser."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

import pcilu
from tests.conftest import ROOT
from tests.pcilu_run import run

SCEN = ROOT / "fixtures/scenarios"
VOID = {"br", "meta", "img", "input", "hr", "link", "wbr", "source"}


class Page(HTMLParser):
    """Tags, text, and the fabric rows: data-bdf -> (row classes, [(cell classes, text)])."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list = []
        self.attrs: list = []
        self.text: list = []
        self.rows: dict = {}
        self.stack: list = []         # (tag, role) role: "row", "cell" or None
        self._row = None
        self._cell = None
        self.feed(text)
        self.close()
        self.all_text = "".join(self.text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag in VOID:
            return
        role = None
        cls = (a.get("class") or "").split()
        if a.get("data-bdf") is not None:
            self._row = self.rows.setdefault(a["data-bdf"], {"classes": set(cls), "cells": []})
            role = "row"
        elif self._row is not None and tag == "span" and "g" in cls and \
                self.stack and self.stack[-1][1] == "row":
            self._cell = [set(cls), ""]
            self._row["cells"].append(self._cell)
            role = "cell"
        self.stack.append((tag, role))

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self.stack:
            t, role = self.stack.pop()
            if role == "row":
                self._row = None
            elif role == "cell":
                self._cell = None
            if t == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell[1] += data


def report(tmp_path, *sources, name="report.html", exit_code=0):
    out = tmp_path / name
    r = run(["report", *sources, "-o", out], exit_code=exit_code)
    return r, out


def rehearse_keep(scenario, tmp_path):
    keep = tmp_path / "keep"
    assert pcilu.rehearse(SCEN / scenario, keep=keep)["passed"]
    return sorted(keep.glob("gen*.elf"))


def enum_doc(state):
    return pcilu.load(state).enumerate()


def fabric_doc(state):
    return run(["fabric", "show", state, "--json"]).json()


def assert_self_contained(html: str, page: Page):
    """No script, nothing the browser would fetch, a policy that forbids both."""
    assert "script" not in {t.lower() for t in page.tags}
    for k, v in page.attrs:
        assert not (k in ("src", "href", "srcset", "action", "poster") and v), (k, v)
        assert not k.startswith("on"), k
    assert "url(" not in html and "@import" not in html
    assert "default-src 'none'" in html


def test_emr_scenario_page_shows_the_preserved_path_across_the_kexec(tmp_path):
    _r, out = report(tmp_path, SCEN / "emr-dsa-nvme.yaml")
    html = out.read_text()
    page = Page(html)
    assert_self_contained(html, page)
    # the same run, kept as state files: the documents the page must agree with
    g0, g1 = rehearse_keep("emr-dsa-nvme.yaml", tmp_path)
    e0, e1 = enum_doc(g0), enum_doc(g1)
    for f in fabric_doc(g1)["functions"]:
        assert f["bdf"] in page.all_text
    outgoing0 = {d["bdf"]: d["outgoing_refcount"] for d in e0["devices"] if d["outgoing"]}
    assert len(outgoing0) == 10
    for bdf, rc in outgoing0.items():
        row = page.rows[bdf]
        assert "lu-out" in row["classes"]
        gen0_cell, gen1_cell = row["cells"]
        assert "lu-out" in gen0_cell[0] and f"\u00d7{rc}" in gen0_cell[1]
    # after the kexec: the DSAs are still incoming, the finished NVMe path is not
    for d in e1["devices"]:
        if d["bdf"] not in page.rows:          # folded away: nothing happened to it
            assert not (d["incoming"] or d["was_incoming"] or d["outgoing"]), d["bdf"]
            continue
        cell_cls, cell_text = page.rows[d["bdf"]]["cells"][1]
        assert ("lu-in" in cell_cls) == d["incoming"], d["bdf"]
        assert ("lu-fin" in cell_cls) == (d["was_incoming"] and not d["incoming"]), d["bdf"]
    # host bridges nobody preserved: their root buses are collapsed (closed <details>)
    assert html.count("<details open") < html.count("<details")
    # the steps: every expectation of the scenario with its result, and the kernel log
    reh = pcilu.rehearse(SCEN / "emr-dsa-nvme.yaml")
    for s in reh["steps"]:
        for x in s["expectations"]:
            assert x["expected"] in page.all_text
        for ln in s["messages"]:
            assert ln in page.all_text
    assert page.all_text.count("\u2713") >= reh["expectations"] - reh["expectations_failed"]


def test_state_files_give_one_column_per_generation_in_generation_order(tmp_path):
    g0, g1 = rehearse_keep("bridge-reset.yaml", tmp_path)
    _r, out = report(tmp_path, g1, g0)               # given newest first
    page = Page(out.read_text())
    e0, e1 = enum_doc(g0), enum_doc(g1)
    columns = [v for k, v in page.attrs if k == "data-generation"]
    assert columns == [str(e0["generation"]), str(e1["generation"])] == ["0", "1"]
    # the downstream port that lost its bus registers: skipped by the next kernel, its old
    # range shown against its new one, and the devices behind it not enumerated
    skipped = "0000:02:01.0"
    assert any(skipped in ln and "skipping" in ln for ln in e1["messages"])
    row = page.rows[skipped]
    assert {"lu-skipped", "lu-reconf"} <= row["classes"]
    before = next(d for d in e0["devices"] if d["bdf"] == skipped)
    after = next(d for d in e1["devices"] if d["bdf"] == skipped)
    # buses 04-04 in generation 0 (fixtures/scenarios/bridge-reset.yaml), 06-06 once the next
    # kernel has numbered the reset port anew
    assert (before["secondary"], before["subordinate"]) == (4, 4)
    assert (after["secondary"], after["subordinate"]) == (6, 6)
    assert "04-04" in row["cells"][1][1] and "06-06" in row["cells"][1][1]
    for d in e1["devices"]:
        if not d["enumerated"]:
            assert "lu-noenum" in page.rows[d["uid"]]["cells"][1][0]
    # Bus Master: exactly the devices the kexec says it cleared are marked in generation 1
    cleared = {c["uid"] for c in e1["bus_master_cleared"]}
    assert cleared
    for uid, row in page.rows.items():
        assert ("lu-bm-lost" in row["cells"][1][0]) == (uid in cleared), uid


def test_refusals_show_the_errno_on_the_device(tmp_path):
    _r, out = report(tmp_path, SCEN / "refusal-vf-ebusy.yaml")
    page = Page(out.read_text())
    reh = pcilu.rehearse(SCEN / "refusal-vf-ebusy.yaml")
    refused = [s for s in reh["steps"] if s["result"] == "refused"]
    assert len(refused) == 2
    for s in refused:
        row = page.rows[s["bdf"]]
        assert "lu-refused" in row["classes"]
        assert f"-{s['errno']}" in row["cells"][0][1]


HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'


def test_hostile_names_and_log_lines_are_text_not_markup(tmp_path):
    fab = (ROOT / "fixtures/fabrics/qemu-virtio-net.yaml").read_text()
    (tmp_path / "f.yaml").write_text(fab)
    sc = (SCEN / "qemu-virtio-net.yaml").read_text()
    sc = sc.replace("fabric: ../fabrics/qemu-virtio-net.yaml", "fabric: f.yaml")
    sc = "\n".join(ln for ln in sc.splitlines()
                   if not ln.startswith(("name:", "description:")))
    sc += f"\nname: {json.dumps(HOSTILE)}\ndescription: {json.dumps(HOSTILE)}\n"
    (tmp_path / "s.yaml").write_text(sc)
    _r, out = report(tmp_path, tmp_path / "s.yaml", name="s.html")
    html = out.read_text()
    page = Page(html)
    assert_self_contained(html, page)
    assert "img" not in page.tags and HOSTILE in page.all_text
    # a hand-written enumerate document: a BDF and a log line that try to break out
    g0 = tmp_path / "g0.elf"
    pcilu.init(tmp_path / "f.yaml").save(g0)
    doc = enum_doc(g0)
    doc["devices"][0]["bdf"] = doc["devices"][0]["uid"] = HOSTILE
    doc["messages"].append(HOSTILE + "</pre></details><script>x()</script>")
    (tmp_path / "e.json").write_text(json.dumps(doc))
    _r, out = report(tmp_path, tmp_path / "e.json", name="e.html")
    html = out.read_text()
    page = Page(html)
    assert_self_contained(html, page)
    assert "img" not in page.tags
    assert page.all_text.count(HOSTILE) >= 2           # the device and the log line


@pytest.mark.parametrize("content,what", [
    (b"\x00\x01garbage", "not a state file"),
    (b'{"kind": "enumerate", "devices": "many"}', "'devices' must be a list"),
    (b'{"kind": "enumerate", "devices": [{"bdf": 7}]}', "devices[0].bdf"),
    (b'{"kind": "enumerate", "devices": [], "messages": [1]}', "messages[0]"),
    (b'{"kind": "profiles"}', "kind 'profiles'"),
    (b'[1, 2', "not JSON"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 20, "e_"),
])
def test_bad_sources_exit_3_with_one_line_and_write_nothing(tmp_path, content, what):
    src = tmp_path / "src.bin"
    src.write_bytes(content)
    r, out = report(tmp_path, src, exit_code=3)
    assert what in r.stderr and "src.bin" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.bin"]


def test_a_fabric_document_nested_absurdly_deep_is_bad_input(tmp_path):
    fns = [{"uid": f"f{i}", "bdf": None, "parent": f"f{i - 1}" if i else None,
            "kind": "bridge"} for i in range(5000)]
    src = tmp_path / "deep.json"
    src.write_text(json.dumps({"kind": "fabric", "functions": fns}))
    r, _out = report(tmp_path, src, exit_code=3)
    assert "deep.json" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.json"]


def test_unwritable_output_exits_3(tmp_path):
    r = run(["report", SCEN / "switch.yaml", "-o", tmp_path / "no/such/dir/r.html"],
            exit_code=3)
    assert "r.html" in r.stderr


def test_an_existing_report_is_replaced_whole(tmp_path):
    out = tmp_path / "r.html"
    out.write_text("old")
    run(["report", SCEN / "switch.yaml", "-o", out])
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert out.read_text().rstrip().endswith("</html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


# -- a 4,096-function host ---------------------------------------------------------------------

def size_bound(functions: int, affected: int, generations: int) -> int:
    """The README's bound (section "HTML report")."""
    return 64 * 1024 + 96 * functions + 640 * affected * generations


@pytest.fixture(scope="module")
def big_host(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    fab, g0, g1 = d / "host.fab", d / "g0.elf", d / "g1.elf"
    run(["generate", "--functions", 4096, "-o", fab])
    m = pcilu.init(fab)
    m.save(g0)
    doc = fabric_doc(g0)
    eps = [f["bdf"] for f in doc["functions"] if f["kind"] == "endpoint"]
    picks = [eps[0], eps[len(eps) // 2], eps[-1]]
    m.preserve(*picks)
    m.save(g0)
    m.kexec().save(g1)
    return d, doc, picks, g0, g1


def test_4096_functions_page_is_small_and_holds_every_bdf(big_host, tmp_path):
    d, doc, picks, g0, g1 = big_host
    t = time.perf_counter()
    _r, out = report(tmp_path, g0, g1)
    took = time.perf_counter() - t
    html = out.read_text()
    page = Page(html)
    e0 = enum_doc(g0)
    affected = sum(1 for x in e0["devices"] if x["outgoing"])
    assert affected == 12                        # three endpoints, each with 3 bridges
    assert len(html.encode()) <= size_bound(4096, affected, 2), len(html)
    missing = [f["bdf"] for f in doc["functions"] if f["bdf"] not in page.all_text]
    assert not missing, missing[:5]
    for bdf in picks:
        assert {"lu-out", "lu-in"} <= page.rows[bdf]["classes"]
    # most of the host is folded away: far fewer full rows than functions
    assert len(page.rows) < 200
    assert took < 15, took


def test_4096_functions_one_generation(big_host, tmp_path):
    d, doc, picks, g0, g1 = big_host
    _r, out = report(tmp_path, g0)
    assert len(out.read_bytes()) <= size_bound(4096, 12, 1)


# -- a real browser --------------------------------------------------------------------------

def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (make setup installs Debian's chromium)")


def browse(html_file: Path, shot: Path, size=(1400, 1000)):
    """Load the page in headless chromium: (DOM after load, console lines, screenshot)."""
    exe = chromium()
    with tempfile.TemporaryDirectory(prefix="pcilu-chromium-") as profile:
        cmd = [exe, "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
               "--enable-logging=stderr", "--v=0", f"--window-size={size[0]},{size[1]}",
               f"--screenshot={shot}", "--dump-dom", html_file.resolve().as_uri()]
        if os.geteuid() == 0:
            cmd.insert(2, "--no-sandbox")
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
        except subprocess.TimeoutExpired:
            pytest.skip("chromium did not finish within 90 s on this machine")
    if p.returncode != 0 and not p.stdout:
        pytest.skip(f"chromium cannot run here: {p.stderr.strip().splitlines()[-1:]}")
    console = [ln for ln in p.stderr.splitlines() if ":CONSOLE" in ln]
    return p.stdout, console, shot


def png_facts(path: Path):
    """(width, height, distinct scanlines) of a PNG, read with zlib only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        if typ == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = len(raw) // h
    return w, h, len({raw[i * stride + 1:(i + 1) * stride] for i in range(h)})


@pytest.mark.slow
def test_browser_console_check_catches_a_script_error(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<p>x</p><script>throw new Error('boom')</script>")
    _dom, console, _shot = browse(bad, tmp_path / "bad.png", size=(400, 300))
    assert any("boom" in ln for ln in console)


@pytest.mark.slow
def test_browser_renders_the_emr_report(tmp_path):
    _r, out = report(tmp_path, SCEN / "emr-dsa-nvme.yaml")
    dom, console, shot = browse(out, tmp_path / "emr.png")
    assert console == []
    g = Page(dom)
    e = pcilu.rehearse(SCEN / "emr-dsa-nvme.yaml")
    assert e["passed"]
    fab = run(["fabric", "show", ROOT / "fixtures/fabrics/emr-dsa-nvme.yaml", "--json"]).json()
    for f in fab["functions"]:
        assert f["bdf"] in g.all_text
    classes = {c for row in g.rows.values() for c in row["classes"]}
    assert {"lu-out", "lu-in", "lu-fin"} <= classes
    w, h, distinct = png_facts(shot)
    assert (w, h) == (1400, 1000) and distinct > 100     # text, badges, lines: not blank


@pytest.mark.slow
def test_browser_renders_the_4096_function_report(big_host, tmp_path):
    d, doc, picks, g0, g1 = big_host
    _r, out = report(tmp_path, g0, g1)
    dom, console, shot = browse(out, tmp_path / "big.png")
    assert console == []
    g = Page(dom)
    missing = [f["bdf"] for f in doc["functions"] if f["bdf"] not in g.all_text]
    assert not missing, missing[:5]
    for bdf in picks:
        assert {"lu-out", "lu-in"} <= g.rows[bdf]["classes"]
    assert png_facts(shot)[2] > 100


def test_a_verify_result_marks_the_divergent_devices(tmp_path):
    """A `verify --json` document (the issue-13 shape: divergences / unmodelled / not_compared
    rows of device, field, predicted, actual) next to the predicted state file."""
    g0, g1 = rehearse_keep("switch.yaml", tmp_path)
    e1 = enum_doc(g1)
    kept = next(d["bdf"] for d in e1["devices"] if d["was_incoming"] or d["incoming"])
    doc = {"kind": "verify", "predicted": str(g1), "actual": ["host-after.lspci"],
           "generation": e1["generation"], "profile": e1["profile"], "passed": False,
           "divergences": [{"device": kept, "field": "bus_master", "predicted": True,
                            "actual": False,
                            "message": f"{kept}: bus_master: predicted true, actual false"}],
           "unmodelled": [{"device": "0000:02:02.0", "field": "bus_master",
                           "predicted": False, "actual": True, "reason": HOSTILE}],
           "not_compared": [],
           "log": {"compared": True, "predicted": 4, "matched": 3, "missing": ["x"],
                   "unexpected": []}}
    v = tmp_path / "verify.json"
    v.write_text(json.dumps(doc))
    _r, out = report(tmp_path, g0, g1, v)
    html = out.read_text()
    page = Page(html)
    assert_self_contained(html, page)
    cls, text = page.rows[kept]["cells"][1]
    assert "lu-diverged" in cls and "bus_master" in text
    assert "lu-diverged" not in page.rows[kept]["cells"][0][0]     # generation 0 was not verified
    assert HOSTILE in page.all_text and "img" not in page.tags
    assert "FAILED" in page.all_text and "host-after.lspci" in page.all_text
