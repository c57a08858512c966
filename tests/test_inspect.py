# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu inspect` / `pcilu encode` on raw struct pci_ser blobs: people, scripts and bad input."""
import json
import struct

import pytest

from pcilu_cli.abi import pci
from tests.pcilu_run import run

# pci-liveupdate-v6.md §1.6: 6 functions, EP 0000:01:00.0 behind RP 0000:00:02.0, EP preserved.
WORKED = bytes.fromhex(
    "06000000" "02000000"
    "00000000" "0001" "0100"
    "00000000" "1000" "0100") + bytes(32)


@pytest.fixture
def worked(tmp_path):
    p = tmp_path / "pci-v3.bin"
    p.write_bytes(WORKED + bytes(4096 - len(WORKED)))
    return p


def test_json_of_the_worked_example(worked):
    doc = run(["inspect", worked, "--profile", "v6", "--json"]).json()
    assert doc["kind"] == "pci_ser" and doc["compatible"] == "pci-v3"
    assert (doc["max_nr_devices"], doc["nr_devices"], doc["free_slots"]) == (6, 2, 4)
    assert [(d["slot"], d["bdf"], d["refcount"]) for d in doc["devices"]] == [
        (0, "0000:01:00.0", 1), (1, "0000:00:02.0", 1)]
    assert doc["devices"][1]["device"] == 2 and doc["devices"][1]["bus"] == 0


def test_people_see_a_table_with_free_slots_summarised(worked):
    r = run(["inspect", worked, "--profile", "v6"], env={"COLUMNS": "120"})
    assert "0000:01:00.0" in r.stdout and "free (4 slots)" in r.stdout
    assert "\x1b[" not in r.stdout  # not a TTY: no escape codes


def test_hex_labels_every_field_at_its_offset(worked):
    r = run(["inspect", worked, "--profile", "v6", "--hex"])
    lines = r.stdout.splitlines()
    assert lines[0].startswith("00000000  06 00 00 00") and "max_nr_devices = 6" in lines[0]
    assert any(ln.startswith("0000000c  00 01") and "devices[0].bdf = 0x0100" in ln
               for ln in lines)
    assert any("devices[2..5] free" in ln for ln in lines)


def test_detection_without_profile_says_what_it_assumed(worked):
    r = run(["inspect", worked, "--json"])
    assert r.json()["profile"] == "v6"
    assert "assumed pci-v3" in r.stderr


def test_version_field_blob_is_detected_by_its_version(tmp_path):
    p = tmp_path / "v.bin"
    p.write_bytes(struct.pack("<IIQ", 2, 3, 0x100004000))
    doc = run(["inspect", p, "--json"]).json()
    assert (doc["profile"], doc["version"], doc["nr_devices"], doc["devices_pa"]) == (
        "v9", 2, 3, 0x100004000)


def test_unknown_version_is_bad_input_naming_the_field(tmp_path):
    p = tmp_path / "v.bin"
    p.write_bytes(struct.pack("<IIQ", 7, 3, 0x100004000))
    r = run(["inspect", p, "--profile", "v9"], exit_code=3)
    assert "field version" in r.stderr and "offset 0x0" in r.stderr and str(p) in r.stderr


@pytest.mark.parametrize("cut", [0, 3, 7, 8, 20, 55])
def test_truncated_blob_is_one_line_exit_3(worked, tmp_path, cut):
    p = tmp_path / "t.bin"
    p.write_bytes(WORKED[:cut])
    r = run(["inspect", p, "--profile", "v6"], exit_code=3)
    assert str(p) in r.stderr


def test_max_nr_devices_larger_than_file(tmp_path):
    p = tmp_path / "big.bin"
    p.write_bytes(struct.pack("<II", 0xFFFFFFFF, 0) + bytes(64))
    r = run(["inspect", p, "--profile", "v6", "--json"], exit_code=3)
    assert "field max_nr_devices" in r.stderr
    assert r.json()["kind"] == "error" and r.json()["exit_code"] == 3


def test_nr_devices_disagreeing_is_a_warning_the_kernel_accepts_and_strict_fails(tmp_path):
    p = tmp_path / "nr.bin"
    p.write_bytes(pci.encode_pci_ser("v6", [(0, 0, 0x100, 1)], max_nr_devices=4, nr_devices=3))
    r = run(["inspect", p, "--profile", "v6", "--json"])
    assert "nr_devices is 3 but 1 entries" in r.stderr and "kernel would accept" in r.stderr
    assert r.json()["warnings"][0]["field"] == "nr_devices"
    run(["--strict", "inspect", p, "--profile", "v6", "--json"], exit_code=3)


def test_duplicate_entries_are_refused_with_the_slot(tmp_path):
    p = tmp_path / "dup.bin"
    p.write_bytes(pci.encode_pci_ser("v6", [(0, 1, 0x100, 1), (3, 1, 0x100, 1)],
                                     max_nr_devices=5))
    r = run(["inspect", p, "--profile", "v6"], exit_code=3)
    assert "devices[3]" in r.stderr and "offset 0x20" in r.stderr and "-EBUSY" in r.stderr


def test_missing_file_is_bad_input(tmp_path):
    r = run(["inspect", tmp_path / "nope.bin"], exit_code=3)
    assert "nope.bin" in r.stderr


def test_inspect_then_encode_round_trips(worked, tmp_path):
    doc = run(["inspect", worked, "--profile", "v6", "--json"]).stdout
    spec = tmp_path / "spec.json"
    spec.write_text(doc)
    out = tmp_path / "again.bin"
    run(["encode", spec, "-o", out, "--folio"])
    assert out.read_bytes() == worked.read_bytes()


def test_encode_from_stdin_with_bdf_strings(tmp_path):
    out = tmp_path / "b.bin"
    spec = {"max_nr_devices": 6, "devices": [{"slot": 0, "bdf": "0000:01:00.0", "refcount": 1},
                                             {"slot": 1, "bdf": "00:02.0", "refcount": 1}]}
    run(["encode", "-", "-o", out], input=json.dumps(spec))
    assert out.read_bytes() == WORKED


@pytest.mark.parametrize("bad,field", [
    ('{"devices": [{"slot": 0, "bdf": "0000:01:00.0", "refcount": 70000}]}', "refcount"),
    ('{"devices": [{"slot": 0, "domain": 0, "bus": 1, "device": 32, "function": 0}]}', "device"),
    ('{"devices": [{"slot": 0}]}', "devices[0]"),
    ('{"devices": 5}', "devices"),
])
def test_encode_names_the_bad_field(tmp_path, bad, field):
    spec = tmp_path / "s.json"
    spec.write_text(bad)
    r = run(["encode", spec, "-o", tmp_path / "o.bin"], exit_code=3)
    assert field in r.stderr
    assert not (tmp_path / "o.bin").exists()


def test_encode_bad_json_names_the_line(tmp_path):
    spec = tmp_path / "s.json"
    spec.write_text('{\n "devices": [\n  {,}\n]}')
    r = run(["encode", spec, "-o", tmp_path / "o.bin"], exit_code=3)
    assert "s.json:3" in r.stderr


def test_every_command_explains_itself():
    r = run(["--help"])
    for name in ("inspect", "encode", "init", "preserve", "kexec", "enumerate", "finish"):
        assert name in r.stdout
    assert "Exit codes" in r.stdout
    h = run(["inspect", "--help"]).stdout
    assert "--profile" in h and "Example" in h


def test_every_subcommand_has_help_with_a_description():
    from pcilu_cli.cli import COMMANDS
    for name in COMMANDS:
        r = run([name, "--help"])
        assert "Usage: pcilu " + name in r.stdout
        assert "Not implemented yet" not in r.stdout, f"{name} is still a stub"
        assert len(r.stdout.splitlines()) > 4, name


@pytest.mark.parametrize("case", ["clean", "nr_devices off", "duplicate"])
def test_a_large_blob_streams_the_document_the_api_builds(tmp_path, case):
    # more entries than one streamed chunk, free slots between them, several domains
    entries = [(s, s >> 14, (s * 7) & 0xFFFF, 1 + s % 3) for s in range(0, 60000, 3)]
    nr = len(entries) + (5 if case == "nr_devices off" else 0)
    if case == "duplicate":
        entries.append((59999, entries[100][1], entries[100][2], 1))
    blob = tmp_path / "big.bin"
    blob.write_bytes(pci.encode_pci_ser("v6", entries, max_nr_devices=60000, nr_devices=nr))
    if case == "duplicate":                     # the kernel refuses it: no document at all
        r = run(["inspect", blob, "--profile", "v6", "--json"], exit_code=3)
        assert "duplicate entry" in r.stderr and "slots 300 and 59999" in r.stderr
        assert r.stdout.strip().startswith('{"kind":"error"')
        return
    from pcilu_cli.api.decoder import examine
    from pcilu_cli.cli.context import json_text
    want = json_text(examine(blob.read_bytes(), str(blob), profile="v6").doc) + "\n"
    got = run(["inspect", blob, "--profile", "v6", "--json"]).stdout
    assert got == want
    assert json.loads(got)["warnings"] == ([] if case == "clean" else
                                           json.loads(want)["warnings"]) and len(want) > 10 ** 6
