# SPDX-License-Identifier: GPL-2.0-only
"""Every file-taking command goes through one front door: a file is recognised for what it
is, and a command given the wrong kind of file refuses it in one line that says what it looks
like (exit 3) instead of decoding garbage."""
from __future__ import annotations

import random

import pytest

import pcilu
from pcilu_cli.abi.formats import FORMATS, UNKNOWN, Format, identify, register
from tests.conftest import ROOT
from tests.pcilu_run import run

QEMU = ROOT / "fixtures/fabrics/qemu-virtio-net.yaml"


@pytest.fixture
def exported(tmp_path):
    """A generation with a preserved device, exported as debugfs would show it."""
    state = tmp_path / "gen0.elf"
    m = pcilu.init(QEMU)
    m.preserve("01:00.0")
    m.save(state)
    m.export(tmp_path / "out")
    return state, tmp_path / "out"


def test_exported_kexec_metadata_is_recognised_as_kho_kexec_metadata(exported):
    _state, out = exported
    doc = run(["inspect", out / "kho/sub_fdts/kexec-metadata", "--json"]).json()
    assert doc["kind"] == "kho_kexec_metadata"
    assert doc["version"] == 1                          # KHO_KEXEC_METADATA_VERSION
    assert doc["previous_release"] == "pcilu-v6-gen0"     # the release the kernel wrote
    assert doc["kexec_count"] == 0
    text = run(["inspect", out / "kho/sub_fdts/kexec-metadata"]).stdout
    assert "struct kho_kexec_metadata" in text and "pcilu-v6-gen0" in text


def test_a_file_of_no_known_format_is_refused_saying_what_it_looks_like(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(random.Random(7).randbytes(100) + b"\xff" * 28)
    res = run(["inspect", junk], exit_code=3)
    assert "no known format" in res.stderr and "--profile" in res.stderr
    assert res.stdout == ""
    doc = run(["inspect", junk, "--json"], exit_code=3).json()
    assert doc["kind"] == "error" and doc["file"] == str(junk)


def test_profile_forces_a_layout_on_an_unknown_file(tmp_path):
    junk = tmp_path / "junk.bin"
    # max_nr_devices 1, nr_devices 0, one entry with refcount 0, then non-zero bytes the
    # kernel's zero-filled folio would not have: no layout fits cleanly
    junk.write_bytes(bytes.fromhex("01000000 00000000 0000000000000000") + b"\x55" * 9)
    run(["inspect", junk], exit_code=3)
    doc = run(["inspect", junk, "--profile", "v6", "--json"]).json()
    assert doc["kind"] == "pci_ser" and doc["max_nr_devices"] == 1


def test_kexec_flb_refuses_a_state_file(exported, tmp_path):
    state, _out = exported
    res = run(["kexec", "--fabric", QEMU, "--flb", state, "-o", tmp_path / "next.elf"],
              exit_code=3)
    assert "state file" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "next.elf").exists()


def test_kexec_flb_takes_the_exported_blob(exported, tmp_path):
    _state, out = exported
    run(["kexec", "--fabric", QEMU, "--flb", out / "flb/pci-v3.bin", "-o", tmp_path / "n.elf"])


def test_state_commands_say_what_a_wrong_file_is(exported, tmp_path):
    _state, out = exported
    res = run(["enumerate", out / "flb/pci-v3.bin"], exit_code=3)
    assert "struct pci_ser" in res.stderr and "not a pcilu state file" in res.stderr


def test_diff_refuses_what_it_cannot_compare(exported):
    _state, out = exported
    res = run(["diff", out / "kho/sub_fdts/kexec-metadata", out / "flb/pci-v3.bin"],
              exit_code=3)
    assert "kho_kexec_metadata" in res.stderr


def test_the_table_recognises_each_kind_by_its_bytes(exported):
    state, out = exported
    assert identify(state.read_bytes()).kind == "elf"
    assert identify((out / "kho/fdt").read_bytes()).kind == "fdt"
    assert identify((out / "flb/pci-v3.bin").read_bytes()).kind == "pci_ser"
    assert identify((out / "kho/sub_fdts/kexec-metadata").read_bytes()).kind == \
        "kho_kexec_metadata"
    assert identify(QEMU.read_bytes()).kind == "text"
    assert identify(b"\x01\x02\x03").kind == UNKNOWN


def test_a_new_row_is_tried_before_the_shape_rows(monkeypatch):
    monkeypatch.setattr("pcilu_cli.abi.formats.FORMATS", list(FORMATS))
    register(Format("demo", "a demo file", "nobody",
                    lambda data, _n: "" if data.startswith(b"DEMO") else None))
    assert identify(b"DEMO" + bytes(60)).kind == "demo"


def test_a_capture_is_a_row_of_the_table_and_a_plain_gzip_is_not_a_capture(tmp_path):
    import gzip
    cap = next((ROOT / "fixtures/captures").glob("*.tar.gz"))
    assert identify(cap.read_bytes()[:1 << 16]).kind == "pcilu_capture"
    other = tmp_path / "other.gz"
    other.write_bytes(gzip.compress(b"pcilu-capture.jsonX" + bytes(600)))
    assert identify(other.read_bytes()).kind == "gzip"
    # a sysfs snapshot compressed another way is still recognised, so `init` is not refused
    assert identify(b"BZh91AY&SY" + bytes(40)).kind == "compressed"


@pytest.mark.parametrize("member", ["kho/fdt", "kho/sub_fdts/kexec-metadata", "lspci.txt"])
def test_kexec_flb_refuses_every_known_file_that_is_no_blob(exported, tmp_path, member):
    _state, out = exported
    ident = identify((out / member).read_bytes())
    assert ident.kind not in (UNKNOWN, "pci_ser")      # the table knows what it is
    res = run(["kexec", "--fabric", QEMU, "--flb", out / member, "-o", tmp_path / "n.elf"],
              exit_code=3)
    assert ident.title in res.stderr and "not a raw struct pci_ser blob" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "n.elf").exists()
