# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu diff`: identical inputs have no changes, a kexec shows the hand-over, raw pci_ser
blobs compare entry by entry, mixed inputs are bad input, --exit-code turns a difference
into exit 6."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

import pcilu
from tests.pcilu_run import run

ROOT = Path(__file__).resolve().parents[1]
SCEN = ROOT / "fixtures" / "scenarios" / "qemu-virtio-net.yaml"


@pytest.fixture(scope="module")
def gens(tmp_path_factory):
    d = tmp_path_factory.mktemp("gens")
    fab = ROOT / "fixtures" / "fabrics" / "qemu-virtio-net.yaml"
    g0 = pcilu.init(fab)
    g0.preserve("0000:01:00.0")
    g0.kexec().save(d / "g1.elf")
    g0.save(d / "g0.elf")
    return d


def test_identical_state_files_have_no_changes(gens):
    doc = run(["diff", gens / "g0.elf", gens / "g0.elf", "--json", "--exit-code"]).json()
    assert doc["kind"] == "diff" and doc["changed"] == 0 and doc["changes"] == []


def test_kexec_shows_outgoing_becoming_incoming(gens):
    doc = run(["diff", gens / "g0.elf", gens / "g1.elf", "--json"]).json()
    ch = {(c["device"], c["field"]): (c["a"], c["b"]) for c in doc["changes"]}
    assert ch[(None, "generation")] == (0, 1)
    for bdf in ("0000:01:00.0", "0000:00:01.0"):
        assert ch[(bdf, "outgoing")] == (True, False)
        assert ch[(bdf, "incoming")] == (False, True)
    assert ch[("0000:00:01.0", "acs_inherited")] == (False, True)
    # bus numbers and Bus Master are what Live Update keeps: no change reported
    assert not any(c["field"] in ("secondary", "subordinate", "bus_master", "bdf")
                   for c in doc["changes"] if c["device"] in ("0000:01:00.0", "0000:00:01.0"))
    assert doc["changed"] == len(doc["changes"])


def test_exit_code_flag(gens):
    r = run(["diff", gens / "g0.elf", gens / "g1.elf", "--exit-code"], exit_code=6)
    assert "changes between" in r.stdout
    run(["diff", gens / "g0.elf", gens / "g1.elf"])          # default: 0 even when different


def _pci_ser(max_nr, entries):
    blob = bytearray(struct.pack("<II", max_nr, len(entries)) + bytes(8 * max_nr))
    for slot, dom, bdf, rc in entries:
        struct.pack_into("<IHH", blob, 8 + 8 * slot, dom, bdf, rc)
    return bytes(blob)


def test_raw_pci_ser_blobs(tmp_path):
    a = tmp_path / "a.bin"
    b = tmp_path / "b.bin"
    a.write_bytes(_pci_ser(4, [(0, 0, 0x0100, 1), (1, 0, 0x0008, 1)]))
    b.write_bytes(_pci_ser(4, [(0, 0, 0x0100, 1), (1, 0, 0x0008, 2), (2, 0, 0x0200, 1)]))
    doc = run(["diff", a, b, "--json", "--profile", "v6"]).json()
    assert doc["a_kind"] == "pci_ser"
    ch = {(c["device"], c["field"]): (c["a"], c["b"]) for c in doc["changes"]}
    assert ch == {(None, "nr_devices"): (2, 3),
                  ("0000:00:01.0", "refcount"): (1, 2),
                  ("0000:02:00.0", "preserved"): (False, True)}
    assert run(["diff", a, a, "--json"]).json()["changed"] == 0


def test_state_against_blob_is_bad_input(gens, tmp_path):
    b = tmp_path / "b.bin"
    b.write_bytes(_pci_ser(2, [(0, 0, 0x0100, 1)]))
    r = run(["diff", gens / "g0.elf", b], exit_code=3)
    assert "cannot compare a state" in r.stderr


def test_rehearsal_keep_then_diff(tmp_path):
    assert pcilu.rehearse(SCEN, keep=tmp_path)["passed"]
    r = run(["diff", tmp_path / "gen0.elf", tmp_path / "gen1.elf"])
    assert "was_incoming" in r.stdout and "generation" in r.stdout
