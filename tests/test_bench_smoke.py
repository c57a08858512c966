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


def test_start_floor_children_record_a_commands_imports_and_replay_them(tmp_path):
    """Row 2's start floor: the modules a real command imported are listed, and a fresh
    interpreter imports those (and only reports, never fails on, a name that does not import
    on its own)."""
    mods = tmp_path / "mods.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench/cli_modules_child.py"), str(mods),
                        "profiles", "--json"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)                      # the command itself ran and printed
    names = json.loads(mods.read_text())
    assert "click" in names and "pcilu_cli.cli" in names
    assert names.index("pcilu_cli.cli") < names.index("pcilu_cli.abi.profiles")

    names.append("no_such_module_for_the_floor")
    mods.write_text(json.dumps(names))
    probe = ("import runpy, sys; "
             f"runpy.run_path({str(ROOT / 'bench/start_floor_child.py')!r}, run_name='__main__'); "
             "print('pcilu_cli.abi.profiles' in sys.modules, 'pcilu_cli.kernel.probe' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", probe, str(mods)], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stderr.strip().splitlines()[-1]) == ["no_such_module_for_the_floor"]
    # what the command imported is loaded; what it never needed (the kernel) is not
    assert "pcilu_cli.kernel.probe" not in names
    assert r.stdout.split() == ["True", "False"]
