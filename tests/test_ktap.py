# SPDX-License-Identifier: GPL-2.0-only
"""KTAP output of `rehearse --ktap` and `verify --ktap`, read back by a strict KTAP version 1
checker written from the documented format (Documentation/dev-tools/ktap.rst): a version line,
a plan ``1..N``, N results numbered 1..N (``ok``/``not ok`` N description, optionally
``# SKIP reason``), nested tests indented two spaces a level starting with their own version
line and plan and followed by the parent's result line, diagnostic lines ``# ...`` anywhere,
and a parent whose subtest failed must not be ``ok``."""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field

import pytest

from tests.conftest import ROOT
from tests.pcilu_run import run

SCENARIOS = ROOT / "fixtures" / "scenarios"
RESULT = re.compile(r"^(ok|not ok) ([1-9][0-9]*)(?: ([^#]*?))?\s*(?:# (SKIP)(?: (.*))?)?$")


class KtapError(AssertionError):
    pass


@dataclass
class Node:
    name: str = ""
    ok: bool = True
    skipped: bool = False
    reason: str | None = None
    diagnostics: list = field(default_factory=list)
    subtests: list = field(default_factory=list)


def parse_ktap(text: str) -> list[Node]:
    """The top-level tests of a KTAP v1 document; raises KtapError naming the line."""
    lines = text.splitlines()
    pos = 0

    def fail(msg):
        raise KtapError(f"line {pos + 1}: {msg}: {lines[pos] if pos < len(lines) else '<end>'!r}")

    def indent_of(ln):
        return len(ln) - len(ln.lstrip(" "))

    def block(depth: int) -> list[Node]:
        nonlocal pos
        pad = "  " * depth
        if pos >= len(lines) or lines[pos] != f"{pad}KTAP version 1":
            fail(f"expected the version line at indent {len(pad)}")
        pos += 1
        while pos < len(lines) and lines[pos].startswith(f"{pad}# "):
            pos += 1                                    # "# Subtest: NAME" and the like
        m = re.fullmatch(rf"{pad}1\.\.([0-9]+)", lines[pos]) if pos < len(lines) else None
        if not m:
            fail("expected a plan line 1..N")
        planned = int(m.group(1))
        pos += 1
        tests, diags = [], []
        while len(tests) < planned:
            if pos >= len(lines):
                fail(f"plan said {planned} tests, found {len(tests)}")
            ln = lines[pos]
            ind = indent_of(ln)
            if ind == len(pad) and ln[ind:].startswith("#"):
                diags.append(ln[ind:].lstrip("# "))
                pos += 1
                continue
            if ind == len(pad) + 2 and ln.strip() == "KTAP version 1":
                subs = block(depth + 1)
                while pos < len(lines) and lines[pos].startswith(f"{pad}# "):
                    diags.append(lines[pos][len(pad) + 2:])     # the parent's diagnostics
                    pos += 1
                node = result(depth, len(tests) + 1)
                node.subtests = subs
                if any(not s.ok for s in subs) and node.ok and not node.skipped:
                    fail("a parent test is ok although one of its subtests is not ok")
            elif ind == len(pad):
                node = result(depth, len(tests) + 1)
            else:
                fail("line at an unexpected indentation")
            node.diagnostics, diags = diags, []
            tests.append(node)
        return tests

    def result(depth: int, number: int) -> Node:
        nonlocal pos
        pad = "  " * depth
        ln = lines[pos] if pos < len(lines) else ""
        if not ln.startswith(pad):
            fail("expected a result line")
        m = RESULT.match(ln[len(pad):])
        if not m:
            fail("not a KTAP result line")
        if int(m.group(2)) != number:
            fail(f"test number {m.group(2)}, expected {number}")
        pos += 1
        return Node(name=(m.group(3) or "").strip(), ok=m.group(1) == "ok",
                    skipped=m.group(4) == "SKIP", reason=m.group(5))

    tests = block(0)
    for rest in lines[pos:]:
        if rest.strip() and not rest.startswith("#"):
            raise KtapError(f"trailing line after the last test: {rest!r}")
    return tests


# a scenario whose first step expects what v6 does not do (the root port is preserved too)
WRONG_EXPECTATION = """\
pcilu_scenario: 1
name: wrong-expectation
fabric: ../fabrics/qemu-virtio-net.yaml
steps:
  - preserve: 0000:01:00.0
    expect:
      - outgoing: [0000:01:00.0]
      - not-outgoing: 0000:00:01.0
  - kexec:
"""

# a kernel of the next FLB version panics at kexec: the step after it cannot run
PANIC_THEN_FINISH = """\
pcilu_scenario: 1
name: panic-then-finish
fabric: ../fabrics/qemu-virtio-net.yaml
profile: v8
steps:
  - preserve: 0000:01:00.0
  - kexec: {profile: v9}
    expect:
      - panic: "incompatible"
  - finish: 0000:01:00.0
    expect:
      - not-incoming: 0000:01:00.0
"""


def _scenario(tmp_path, name, text):
    shutil.copytree(ROOT / "fixtures" / "fabrics", tmp_path / "fabrics", dirs_exist_ok=True)
    d = tmp_path / "scenarios"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    return d / name


# ---- the checker is strict (so that the tests below can fail) ----------------------------

@pytest.mark.parametrize("doc, why", [
    ("KTAP version 1\nok 1 a\n", "plan"),
    ("KTAP version 1\n1..2\nok 1 a\nok 3 b\n", "number"),
    ("KTAP version 1\n1..2\nok 1 a\n", "plan said"),
    ("KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  not ok 1 s\nok 1 parent\n", "parent"),
    ("KTAP version 1\n1..1\nfine 1 a\n", "result line"),
])
def test_the_checker_rejects_malformed_ktap(doc, why):
    with pytest.raises(KtapError, match=why):
        parse_ktap(doc)


# ---- rehearse --ktap -------------------------------------------------------------------

def test_the_scenario_library_as_ktap_one_test_per_scenario_steps_as_subtests():
    r = run(["rehearse", SCENARIOS, "--ktap"])
    tests = parse_ktap(r.stdout)
    names = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
    assert sorted(t.name for t in tests) == names
    assert all(t.ok and t.subtests for t in tests)
    qemu = next(t for t in tests if t.name == "qemu-virtio-net")
    assert [s.name for s in qemu.subtests][:2] == ["step 1 (preserve 0000:01:00.0)",
                                                   "step 2 (kexec)"]
    assert r.stdout.rstrip().splitlines()[-1] == f"# {len(names)} passed, 0 failed"


def test_a_failed_expectation_is_not_ok_in_the_stream_and_exit_6(tmp_path):
    sc = _scenario(tmp_path, "wrong.yaml", WRONG_EXPECTATION)
    r = run(["rehearse", sc, SCENARIOS / "switch.yaml", "--ktap"], exit_code=6)
    tests = parse_ktap(r.stdout)
    bad, good = tests
    assert not bad.ok and good.ok
    assert [s.ok for s in bad.subtests] == [False, True]
    assert any("0000:00:01.0" in d for d in bad.subtests[0].diagnostics)
    assert r.stdout.rstrip().splitlines()[-1] == "# 1 passed, 1 failed"


def test_steps_after_a_panic_are_skipped(tmp_path):
    sc = _scenario(tmp_path, "panic.yaml", PANIC_THEN_FINISH)
    tests = parse_ktap(run(["rehearse", sc, "--ktap"]).stdout)
    (t,) = tests
    assert t.ok
    assert [(s.ok, s.skipped) for s in t.subtests] == [(True, False), (True, False),
                                                       (True, True)]
    assert "panicked" in t.subtests[2].reason


def test_ktap_and_json_together_is_a_usage_error():
    run(["rehearse", SCENARIOS, "--ktap", "--json"], exit_code=2)


# ---- verify --ktap ---------------------------------------------------------------------

def test_verify_ktap_names_the_device_and_field_that_diverged(tmp_path):
    from tests.test_verify import after_kexec, set_command
    gen1, dump, _log = after_kexec(tmp_path)
    ok = parse_ktap(run(["verify", gen1, dump, "--ktap"]).stdout)
    assert all(t.ok for t in ok)
    assert ok[-1].name == "kernel log" and ok[-1].skipped     # no log given
    bad = tmp_path / "bm-off.txt"
    bad.write_text(set_command(dump.read_text(), "0000:03:00.0", bus_master=False))
    tests = parse_ktap(run(["verify", gen1, bad, "--ktap"], exit_code=6).stdout)
    failed = [t for t in tests if not t.ok]
    assert [t.name for t in failed] == ["0000:03:00.0"]
    assert [s.name for s in failed[0].subtests if not s.ok] == ["bus_master"]


# ---- the kernel's own KTAP parser --------------------------------------------------------
# tools/testing/kunit/kunit_parser.py of Linux 6.1 (`make kunit` extracts it from Debian's
# linux-source-6.1 into .cache/kunit; it is not part of this repository). It is the parser
# `kunit.py parse` runs on a kernel's KTAP output.
KUNIT = ROOT / ".cache" / "kunit"


@dataclass
class Parsed:
    root: object            # kunit_parser.Test
    status: object          # kunit_parser.TestStatus
    printed: str            # what the parser printed (its [ERROR] lines among them)


@pytest.fixture(scope="module")
def kunit_parse():
    if not (KUNIT / "kunit_parser.py").is_file():
        pytest.skip(f"{KUNIT.relative_to(ROOT)} is missing (`make kunit` fetches the kernel's "
                    "KTAP parser; it needs apt)")
    import importlib
    import io
    import sys
    sys.path.insert(0, str(KUNIT))
    try:
        kunit_printer = importlib.import_module("kunit_printer")
        kunit_parser = importlib.import_module("kunit_parser")
    finally:
        sys.path.remove(str(KUNIT))

    def parse(text: str) -> Parsed:
        out = io.StringIO()
        kunit_printer.stdout._output = out
        root = kunit_parser.parse_run_tests(text.splitlines(keepends=True))
        return Parsed(root, kunit_parser.TestStatus, out.getvalue())
    return parse


def _counts(test):
    c = test.counts
    return {"passed": c.passed, "failed": c.failed, "skipped": c.skipped,
            "crashed": c.crashed, "errors": c.errors}


def test_the_kernel_parser_reads_the_scenario_library(kunit_parse):
    r = run(["rehearse", SCENARIOS, "--ktap"])
    p = kunit_parse(r.stdout)
    names = sorted(s.stem for s in SCENARIOS.glob("*.yaml"))
    assert "[ERROR]" not in p.printed, p.printed
    assert p.root.status == p.status.SUCCESS
    assert [t.name for t in p.root.subtests] == names
    assert all(t.status == p.status.SUCCESS and t.subtests for t in p.root.subtests)
    qemu = next(t for t in p.root.subtests if t.name == "qemu-virtio-net")
    assert [s.name for s in qemu.subtests] == ["step 1 (preserve 0000:01:00.0)",
                                               "step 2 (kexec)", "step 3 (finish 0000:01:00.0)"]
    steps = sum(len(t.subtests) for t in p.root.subtests)
    assert _counts(p.root) == {"passed": steps, "failed": 0, "skipped": 0, "crashed": 0,
                               "errors": 0}


def test_the_kernel_parser_sees_the_failed_step_and_the_skipped_ones(kunit_parse, tmp_path):
    wrong = _scenario(tmp_path, "wrong.yaml", WRONG_EXPECTATION)
    panic = _scenario(tmp_path, "panic.yaml", PANIC_THEN_FINISH)
    r = run(["rehearse", wrong, panic, SCENARIOS / "switch.yaml", "--ktap"], exit_code=6)
    p = kunit_parse(r.stdout)
    assert "[ERROR]" not in p.printed, p.printed
    assert [(t.name, t.status) for t in p.root.subtests] == [
        ("wrong-expectation", p.status.FAILURE), ("panic-then-finish", p.status.SUCCESS),
        ("switch", p.status.SUCCESS)]
    assert p.root.status == p.status.FAILURE
    bad, panicked, _switch = p.root.subtests
    assert [(s.name, s.status) for s in bad.subtests] == [
        ("step 1 (preserve 0000:01:00.0)", p.status.FAILURE),
        ("step 2 (kexec)", p.status.SUCCESS)]
    assert [s.status for s in panicked.subtests] == [
        p.status.SUCCESS, p.status.SUCCESS, p.status.SKIPPED]
    # wrong: 1 passed 1 failed; panic: 2 passed 1 skipped; switch: 5 passed
    assert _counts(p.root) == {"passed": 8, "failed": 1, "skipped": 1, "crashed": 0,
                               "errors": 0}


def test_the_kernel_parser_reads_verify(kunit_parse, tmp_path):
    from tests.test_verify import after_kexec, set_command
    gen1, dump, log = after_kexec(tmp_path)
    same = kunit_parse(run(["verify", gen1, dump, "--ktap"]).stdout)
    assert "[ERROR]" not in same.printed, same.printed
    assert same.root.status == same.status.SUCCESS
    assert same.root.subtests[-1].name == "kernel log"
    assert same.root.subtests[-1].status == same.status.SKIPPED      # no log given
    assert same.root.counts.failed == 0 and same.root.counts.errors == 0
    bad = tmp_path / "bm-off.txt"
    bad.write_text(set_command(dump.read_text(), "0000:03:00.0", bus_master=False))
    p = kunit_parse(run(["verify", gen1, bad, log, "--ktap"], exit_code=6).stdout)
    assert "[ERROR]" not in p.printed, p.printed
    assert p.root.status == p.status.FAILURE
    failed = [t for t in p.root.subtests if t.status == p.status.FAILURE]
    assert [t.name for t in failed] == ["0000:03:00.0"]
    assert [s.name for s in failed[0].subtests if s.status == p.status.FAILURE] == ["bus_master"]
    assert p.root.counts.failed == 1 and p.root.counts.errors == 0
    assert p.root.subtests[-1].name == "kernel log"
    assert p.root.subtests[-1].status == p.status.SUCCESS


def test_the_kernel_parser_would_report_a_broken_stream(kunit_parse):
    """The checks above can fail: a plan that promises more tests than follow, and a result
    number out of order, are parser errors."""
    p = kunit_parse("KTAP version 1\n1..3\nok 1 a\nok 3 b\n")
    assert p.root.counts.errors >= 1 and "[ERROR]" in p.printed
