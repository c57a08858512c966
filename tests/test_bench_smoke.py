# SPDX-License-Identifier: GPL-2.0-only
"""`make bench` must keep working: a smoke run with small sizes (timings are not checked —
targets are measured by the benchmark itself, never by tests)."""
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_bench_quick_runs_and_writes_its_table(tmp_path):
    out = tmp_path / "latest.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench/run.py"), "--quick", "--output",
                        str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["rows"] and all("status" in row for row in doc["rows"])
