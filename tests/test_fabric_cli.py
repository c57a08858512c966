# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu fabric show/export` as people and scripts use them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EMR = REPO / "fixtures/fabrics/emr-dsa-nvme.yaml"


def run(*args):
    return subprocess.run([sys.executable, "-m", "pcilu_cli", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def test_show_renders_the_emr_fixture_tree():
    r = run("--color", "never", "fabric", "show", EMR)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("8086:0b25") == 8
    assert "[16-16]" in r.stdout and "144d:a80a" in r.stdout and "BusMaster+" in r.stdout


def test_show_json_is_one_document_with_the_facts():
    r = run("fabric", "show", "--json", REPO / "fixtures/fabrics/sriov.yaml")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    by = {f["uid"]: f for f in doc["functions"]}
    assert by["0000:00:01.0"]["ari_forwarding"] is True
    assert by["0000:00:01.0"]["acs_ctrl"] == "001d"
    assert by["0000:02:10.2"]["is_virtfn"] and by["0000:02:10.2"]["physfn"] == "0000:01:00.0"
    assert by["0000:01:00.0"]["sriov"]["num_vfs"] == 4


def test_bad_yaml_exits_3_with_one_line_and_json_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(EMR.read_text().replace("    vendor: 0x144d", "    vendr: 0x144d"))
    r = run("fabric", "show", "--json", bad)
    assert r.returncode == 3
    err = [l for l in r.stderr.splitlines() if l.startswith("pcilu: error:")]
    assert len(err) == 1 and "bad.yaml:" in err[0] and "did you mean 'vendor'" in err[0]
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout)["kind"] == "error"


def test_export_then_show_the_dump(tmp_path):
    out = tmp_path / "switch.txt"
    r = run("fabric", "export", REPO / "fixtures/fabrics/switch.yaml", "-o", out)
    assert r.returncode == 0, r.stderr
    r = run("fabric", "show", "--json", out)
    doc = json.loads(r.stdout)
    assert [f["bdf"] for f in doc["functions"] if f["kind"] == "downstream"] == \
        ["0000:02:00.0", "0000:02:01.0", "0000:02:02.0"]


@pytest.mark.parametrize("content", ["00:01.0 x\n00: 86 80\n", "\x00\x01binary"])
def test_garbage_files_exit_3(tmp_path, content):
    p = tmp_path / "junk"
    p.write_text(content)
    r = run("fabric", "show", p)
    assert r.returncode == 3 and "Traceback" not in r.stderr
