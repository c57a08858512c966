# SPDX-License-Identifier: GPL-2.0-only
"""The generation commands' command-line contract: what a person reads, exit codes, the state
file left untouched by a refusal, --strict, and `-` for stdin/stdout. What the generations do
is tested through the Python API in test_generations."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import ROOT
from tests.pcilu_run import run

QEMU = ROOT / "fixtures/fabrics/qemu-virtio-net.yaml"


@pytest.fixture
def gen0(tmp_path):
    s = tmp_path / "gen0.elf"
    run(["init", QEMU, "-o", s])
    return s


def test_the_readme_rehearsal_as_a_person_reads_it(gen0, tmp_path):
    r = run(["preserve", gen0, "0000:01:00.0"])
    assert "0000:01:00.0 (1) -> 0000:00:01.0 (1)" in r.stdout
    assert "pci 0000:00:01.0: Device will be preserved across next Live Update" in r.stdout
    g1 = tmp_path / "gen1.elf"
    run(["kexec", gen0, "-o", g1])
    rep = run(["enumerate", g1, "--json"]).json()
    assert rep["generation"] == 1
    assert [d["bdf"] for d in rep["devices"] if d["incoming"]] == ["0000:00:01.0",
                                                                   "0000:01:00.0"]


def test_refusals_exit_4_and_change_nothing(gen0):
    run(["preserve", gen0, "01:00.0"])
    before = gen0.read_bytes()
    r = run(["preserve", gen0, "01:00.0"], exit_code=4)
    assert "-EBUSY" in r.stderr and "0000:01:00.0" in r.stderr
    assert gen0.read_bytes() == before
    r = run(["preserve", gen0, "01:00.0", "--json"], exit_code=4)
    assert r.json()["errno"] == "EBUSY"


def test_all_or_nothing_across_several_bdfs(gen0):
    before = gen0.read_bytes()
    run(["preserve", gen0, "01:00.0", "01:00.0"], exit_code=4)
    assert gen0.read_bytes() == before


def test_unknown_bdf_is_bad_input(gen0):
    r = run(["preserve", gen0, "0000:7f:00.0"], exit_code=3)
    assert "unknown BDF 0000:7f:00.0" in r.stderr
    run(["preserve", gen0, "zz:00.0"], exit_code=3)


def test_a_file_that_is_not_a_state_is_bad_input(tmp_path):
    p = tmp_path / "x.elf"
    p.write_bytes(b"hello")
    r = run(["enumerate", p], exit_code=3)
    assert "not a pcilu state file" in r.stderr


def test_unpreserving_a_bridge_directly_is_allowed_and_flagged(gen0):
    run(["preserve", gen0, "01:00.0"])
    r = run(["unpreserve", gen0, "00:01.0"])
    assert "refcounts of this path no longer match" in r.stderr


def test_kexec_from_a_raw_blob(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"max_nr_devices": 3, "devices": [
        {"slot": 0, "bdf": "0000:01:00.0", "refcount": 1},
        {"slot": 1, "bdf": "0000:00:01.0", "refcount": 1}]}))
    blob = tmp_path / "pci-v3.bin"
    run(["encode", spec, "-o", blob, "--folio"])
    g1 = tmp_path / "g1.elf"
    run(["kexec", "--fabric", QEMU, "--flb", blob, "-o", g1])
    rep = run(["enumerate", g1, "--json"]).json()
    assert [d["bdf"] for d in rep["devices"] if d["incoming"]] == ["0000:00:01.0",
                                                                   "0000:01:00.0"]
    run(["kexec", "--fabric", QEMU, "-o", g1], exit_code=2)          # --fabric needs --flb


def test_strict_turns_the_corrupting_unpreserve_into_a_failure_that_changes_nothing(gen0):
    run(["preserve", gen0, "01:00.0"])
    before = gen0.read_bytes()
    r = run(["unpreserve", gen0, "00:01.0", "--strict"], exit_code=3)
    assert "--strict" in r.stderr
    assert gen0.read_bytes() == before


def test_stdin_and_stdout_stand_in_for_files(tmp_path):
    """`-` works where a file is expected: a fabric on stdin, a state on stdout and stdin."""
    import sys
    env = dict(os.environ)
    fabric = QEMU.read_bytes()
    init = subprocess.run([sys.executable, "-m", "pcilu_cli", "init", "-", "-o", "-", "-q"],
                          input=fabric, capture_output=True, timeout=120, env=env)
    assert init.returncode == 0, init.stderr
    assert init.stdout[:4] == b"\x7fELF"
    rep = subprocess.run([sys.executable, "-m", "pcilu_cli", "enumerate", "-", "--json"],
                         input=init.stdout, capture_output=True, timeout=120, env=env)
    assert rep.returncode == 0 and json.loads(rep.stdout)["kind"] == "enumerate"
