# SPDX-License-Identifier: GPL-2.0-only
"""Rehearsal scenarios: every shipped scenario passes; wrong expectations fail with exit 6 and
name the step and the expectation; JUnit output is valid and counts right; invalid scenario
files exit 3 with file:line."""
from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import pcilu
from tests.pcilu_run import run

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "fixtures" / "scenarios").glob("*.yaml"))
FABRICS = ROOT / "fixtures" / "fabrics"


def write(tmp_path, body: str, name="s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body).replace("@FABRICS@", str(FABRICS)))
    return p


BASE = """\
    pcilu_scenario: 1
    name: t
    fabric: @FABRICS@/qemu-virtio-net.yaml
    steps:
      - preserve: 0000:01:00.0
      - kexec:
        expect:
          - incoming: 0000:01:00.0
"""


def test_library_has_the_makefile_demo_and_a_comment_header_each():
    names = {p.name for p in SCENARIOS}
    assert {"qemu-virtio-net.yaml", "emr-dsa-nvme.yaml"} <= names
    assert len(SCENARIOS) >= 8
    for p in SCENARIOS:
        first = p.read_text().splitlines()[0]
        assert first.startswith("# "), f"{p.name} lacks its comment header"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_passes(path):
    doc = pcilu.rehearse(path)
    assert doc["kind"] == "rehearsal" and doc["passed"] is True, doc["failures"]
    assert doc["expectations"] > 0 and doc["expectations_failed"] == 0
    assert all(s["status"] == "passed" for s in doc["steps"])


def test_wrong_expectation_exits_6_naming_step_and_expectation(tmp_path):
    p = write(tmp_path, BASE.replace("incoming: 0000:01:00.0", "not-incoming: 0000:01:00.0"))
    r = run(["rehearse", p], exit_code=6)
    assert "step 2 (kexec): expected 0000:01:00.0 not incoming, but it is" in r.stderr
    assert "FAIL step 2 (kexec)" in r.stdout


def test_wrong_bus_numbers_and_log_messages_say_what_was_found(tmp_path):
    p = write(tmp_path, BASE + """\
          - buses: {0000:00:01.0: "02-02"}
          - log: "no such line"
          - no-log: "Device was preserved"
    """)
    doc = pcilu.rehearse(p)
    msgs = doc["failures"]
    assert msgs[0] == "step 2 (kexec): expected 0000:00:01.0 bus numbers 02-02, but they are 01-01"
    assert msgs[1].startswith("step 2 (kexec): expected a log line containing 'no such line', "
                              "but none of the")
    assert "printed 'pci 0000:0" in msgs[2]
    assert doc["passed"] is False and doc["expectations_failed"] == 3


def test_unexpected_refusal_fails_and_expected_refusal_passes(tmp_path):
    twice = """\
    pcilu_scenario: 1
    fabric: @FABRICS@/qemu-virtio-net.yaml
    steps:
      - preserve: 0000:01:00.0
      - preserve: 0000:01:00.0
    """
    r = run(["rehearse", write(tmp_path, twice)], exit_code=6)
    assert "step 2 (preserve 0000:01:00.0): refused: 0000:01:00.0: -EBUSY" in r.stderr
    ok = twice + "    expect: [{refused: EBUSY}]\n"
    run(["rehearse", write(tmp_path, ok, "ok.yaml")])
    wrong = twice + "    expect: [{refused: ENOSPC}]\n"
    r = run(["rehearse", write(tmp_path, wrong, "w.yaml")], exit_code=6)
    assert "expected refused with -ENOSPC, but it was refused with -EBUSY" in r.stderr


def test_panic_expectation_and_skipped_steps(tmp_path):
    # a panic that does not happen is a failure
    p = write(tmp_path, BASE + """\
          - panic: "anything"
      - finish: 0000:01:00.0
    """)
    doc = pcilu.rehearse(p)
    assert doc["failures"] == ["step 2 (kexec): expected the kernel panics with containing "
                               "'anything', but the kernel did not panic"]


HOT = """\
    pcilu_scenario: 1
    fabric: @FABRICS@/switch-pcie.yaml
    steps:
      - preserve: 0000:03:00.0
      - kexec:
      - hot-add: {bdf: 0000:05:00.0, parent: 0000:02:02.0, @KIND@}
        expect:
          - not-incoming: 0000:05:00.0
"""


def test_hot_added_endpoint_is_enumerated_during_live_update(tmp_path):
    p = write(tmp_path, HOT.replace("@KIND@", "vendor: 0x8086, device: 0x1234") +
              "          - enumerated: 0000:05:00.0\n")
    assert pcilu.rehearse(p)["passed"]


def test_hot_added_bridge_without_numbers_is_skipped_during_live_update(tmp_path):
    # §6.2: a bridge with no bus numbers while devices are incoming is not configured
    p = write(tmp_path, HOT.replace("@KIND@", "kind: upstream") + """\
          - log: "pci 0000:05:00.0: Cannot reconfigure bridge during Live Update, skipping"
          - buses: {0000:05:00.0: "00-00"}
    """)
    assert pcilu.rehearse(p)["passed"]


def test_power_and_reset_steps_change_the_hardware(tmp_path):
    p = write(tmp_path, """\
    pcilu_scenario: 1
    fabric: @FABRICS@/switch-pcie.yaml
    steps:
      - preserve: 0000:03:00.0
      - reset: 0000:02:00.0
        expect:
          - buses: {0000:02:00.0: "00-00"}
          - no-bus-master: 0000:02:00.0
      - power: {0000:04:00.0: D3hot}
    """)
    assert pcilu.rehearse(p)["passed"]


def test_junit_is_valid_and_counts(tmp_path):
    # one wrong expectation (the device is incoming, not outgoing) and two right ones
    p = write(tmp_path, BASE + """\
          - outgoing: 0000:01:00.0
          - bus-master: 0000:01:00.0
      - finish: 0000:01:00.0
    """)
    out = tmp_path / "junit.xml"
    run(["rehearse", p, "--junit", out, "--no-log"], exit_code=6)
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    s = suites[0]
    for attr in ("name", "tests", "failures", "errors", "skipped", "time"):
        assert attr in s.attrib, attr
    cases = s.findall("testcase")
    # 3 steps + 3 expectations
    assert len(cases) == int(s.get("tests")) == int(root.get("tests")) == 6
    for c in cases:
        assert c.get("name") and c.get("classname") and c.get("time") is not None
        float(c.get("time"))
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(s.get("failures")) == len(failed) == 1
    assert failed[0].get("name") == "step 2 (kexec): 0000:01:00.0 outgoing"
    assert failed[0].find("failure").get("message") == \
        "expected 0000:01:00.0 outgoing, but it is not"
    assert s.get("errors") == "0" and s.get("skipped") == "0"


def test_junit_for_a_passing_library_run(tmp_path):
    out = tmp_path / "all.xml"
    run(["rehearse", *SCENARIOS[:3], "--junit", out, "--json"])
    root = ET.parse(out).getroot()
    assert len(root.findall("testsuite")) == 3
    assert root.get("failures") == "0" and int(root.get("tests")) > 10


def test_keep_writes_each_generation_and_diff_sees_the_hand_over(tmp_path):
    scen = ROOT / "fixtures" / "scenarios" / "three-generations.yaml"
    assert pcilu.rehearse(scen, keep=tmp_path / "k")["passed"]
    files = sorted(p.name for p in (tmp_path / "k").iterdir())
    assert files == ["gen0.elf", "gen1.elf", "gen2.elf"]
    assert pcilu.load(tmp_path / "k" / "gen2.elf").enumerate()["generation"] == 2


def test_no_files_written_without_keep(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(["rehearse", ROOT / "fixtures" / "scenarios" / "qemu-virtio-net.yaml", "--json"])
    assert list(tmp_path.iterdir()) == []


def test_json_mode_prints_exactly_one_document_on_failure(tmp_path):
    p = write(tmp_path, BASE.replace("incoming: 0000:01:00.0", "outgoing: 0000:01:00.0"))
    r = run(["rehearse", p, "--json"], exit_code=6)
    json.loads(r.stdout)                      # one document, nothing else
    assert r.stdout.count("\n") == 1


def test_inline_fabric_and_inline_fabric_errors_keep_line_numbers(tmp_path):
    fab = (FABRICS / "qemu-virtio-net.yaml").read_text()
    body = "pcilu_scenario: 1\nfabric:\n" + textwrap.indent(fab, "  ") + \
        "steps:\n  - preserve: 0000:01:00.0\n    expect: [{outgoing: 0000:00:01.0}]\n"
    p = tmp_path / "inline.yaml"
    p.write_text(body)
    run(["rehearse", p])
    bad = body.replace("      vendor: 0x1af4", "      vendor: 0x1af4\n      vendorr: 1")
    p.write_text(bad)
    r = run(["rehearse", p], exit_code=3)
    line = bad.splitlines().index("      vendorr: 1") + 1
    assert f"{p}:{line}" in r.stderr


BAD_CASES = {
    # name: (replacement body, the line the message must name, a fragment of the message)
    "unknown-top-key": ("pcilu_scenario: 1\nfabric: @F@\nstepz: []\n", 3, "unknown key 'stepz'"),
    "unknown-step-key": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - preserve: 01:00.0\n"
                         "  - presrve: 01:00.0\n", 5, "unknown key 'presrve'"),
    "bad-bdf": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - preserve: 01:00.9\n", 4,
                "not a PCI address"),
    "bdf-not-in-fabric": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - finish: 07:00.0\n", 4,
                          "unknown BDF 0000:07:00.0"),
    "wrong-type": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - preserve: 01:00.0\n"
                   "    expect:\n      - refcount: {01:00.0: two}\n", 6, "must be an integer"),
    "unknown-expectation": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - kexec:\n    expect:\n"
                            "      - incomming: 01:00.0\n", 6, "unknown expectation 'incomming'"),
    "refused-on-kexec": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - kexec:\n    expect:\n"
                         "      - refused: EBUSY\n", 6, "not refused by the kernel"),
    "bad-profile": ("pcilu_scenario: 1\nfabric: @F@\nprofile: v99\nsteps: [{kexec: }]\n", 3,
                    "unknown profile 'v99'"),
    "bad-regex": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - kexec:\n    expect:\n"
                  "      - log: {regex: '('}\n", 6, "bad regex"),
    "no-version": ("fabric: @F@\nsteps: [{kexec: }]\n", 1, "pcilu_scenario"),
    "two-actions": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - preserve: 01:00.0\n"
                    "    finish: 01:00.0\n", 5, "one action per step"),
    "yaml-syntax": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - kexec\n    expect: []\n", 5,
                    "YAML syntax"),
    "missing-fabric-file": ("pcilu_scenario: 1\nfabric: nope.yaml\nsteps: [{kexec: }]\n", 2,
                            "cannot read"),
    "power-state": ("pcilu_scenario: 1\nfabric: @F@\nsteps:\n  - power: {01:00.0: D4}\n", 4,
                    "unknown power state"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_scenario_file_exits_3_with_file_and_line(tmp_path, case):
    body, line, fragment = BAD_CASES[case]
    p = tmp_path / f"{case}.yaml"
    p.write_text(body.replace("@F@", str(FABRICS / "qemu-virtio-net.yaml")))
    r = run(["rehearse", p], exit_code=3)
    assert f"{p}:{line}:" in r.stderr, r.stderr
    assert fragment in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_scenario_under_json_gives_an_error_document(tmp_path):
    p = tmp_path / "b.yaml"
    p.write_text("pcilu_scenario: 1\nfabric: x.yaml\nsteps: [{kexec: }]\n")
    doc = run(["rehearse", p, "--json"], exit_code=3).json()
    assert doc["kind"] == "error" and doc["line"] == 2
