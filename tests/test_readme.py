# SPDX-License-Identifier: GPL-2.0-only
"""The README's first screen is a promise: its commands must work as written."""
import os
import re
import shutil
import subprocess
import sys

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_the_first_two_commands_are_setup_and_tests():
    first = re.search(r"```sh\n(.*?)```", README, re.S).group(1).splitlines()
    assert first[0].startswith("make setup demo")
    assert first[1].startswith("make test")
    mk = (ROOT / "Makefile").read_text()
    assert "demo:" in mk and "fixtures/scenarios/qemu-virtio-net.yaml" in mk
    assert (ROOT / "fixtures/scenarios/qemu-virtio-net.yaml").exists()
    ci = (ROOT / ".ci/run").read_text()
    assert "make setup" in ci and "make test" in ci


def test_the_three_command_rehearsal_runs_as_written(tmp_path):
    block = README.split("A three-command rehearsal", 1)[1]
    cmds = re.search(r"```sh\n(.*?)```", block, re.S).group(1)
    lines = [ln.split("#", 1)[0].strip() for ln in cmds.splitlines()]
    lines = [ln for ln in lines if ln]
    assert len(lines) == 3 and all(ln.startswith("pcilu ") for ln in lines)
    os.symlink(ROOT / "fixtures", tmp_path / "fixtures")
    bindir = os.path.dirname(sys.executable)
    if not os.path.exists(os.path.join(bindir, "pcilu")):
        bindir = os.path.dirname(shutil.which("pcilu") or sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    out = ""
    for ln in lines:
        r = subprocess.run(["bash", "-c", ln], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, f"{ln}: {r.stderr}"
        out += r.stdout
    assert "incoming" in out and "0000:01:00.0" in out


def test_the_tests_readme_names_every_test_module():
    """tests/README.md is how a newcomer finds the tests of a module: a new test module must
    get its row (product module -> test module)."""
    index = (ROOT / "tests" / "README.md").read_text()
    named = set(re.findall(r"`(test_[a-z0-9_]+\.py)`", index))
    present = {p.name for p in (ROOT / "tests").glob("test_*.py")}
    assert present - named == set(), "add a row to tests/README.md for these"
    assert named - present == set(), "tests/README.md names modules that do not exist"
