# SPDX-License-Identifier: GPL-2.0-only
"""`inspect` of whole images: a memory dump with the KHO root somewhere in it, and the broken
images a real machine can leave (truncated, cyclic block chains, dangling pointers)."""
import struct

import pytest

import pcilu
from pcilu_cli.fabric import load_fabric
from pcilu_cli.memory.elfcore import write_elf_core
from pcilu_cli.memory.handover import read_handover
from pcilu_cli.state import Machine
from tests.conftest import ROOT
from tests.pcilu_run import run

QEMU = ROOT / "fixtures/fabrics/qemu-virtio-net.yaml"


def handed_over(profile):
    """The physical memory a kernel of ``profile`` leaves at kexec, the NIC preserved."""
    m = Machine.boot(load_fabric(QEMU), profile=profile)
    m.preserve("0000:01:00.0")
    m.kexec()
    return m.mem, read_handover(m.mem)


@pytest.mark.parametrize("profile", ["v6", "v7", "v9"])
def test_a_memory_dump_shows_the_whole_chain(profile, tmp_path):
    mem, doc = handed_over(profile)
    dump = tmp_path / "vmcore"
    dump.write_bytes(write_elf_core(mem, []))       # no PCILU notes: a plain memory image
    got = pcilu.inspect(dump)
    assert got["kind"] == "handover" and got["profile"] == profile
    pci = got["pci"][0]
    assert [d["bdf"] for d in pci["devices"]] == ["0000:01:00.0", "0000:00:01.0"]
    assert got["luo"]["sessions"][0]["files"][0]["token"] == 0x100
    text = run(["inspect", dump]).stdout
    assert "struct pci_ser" in text and "0000:01:00.0" in text


def test_a_cyclic_device_chain_is_one_line_naming_the_link(tmp_path):
    mem, doc = handed_over("v7")
    head = doc["pci"][0]["devices_pa"]
    mem.write(head, struct.pack("<Q", head))        # block.next = itself
    dump = tmp_path / "vmcore"
    dump.write_bytes(write_elf_core(mem, []))
    r = run(["inspect", dump], exit_code=3)
    assert "cycle" in r.stderr.lower() or "loop" in r.stderr.lower()
    assert f"{head:#x}" in r.stderr


def test_a_dangling_flb_pointer_names_the_flb(tmp_path):
    mem, doc = handed_over("v6")
    flbs_pa = doc["luo"]["flbs_pa"]
    mem.write(flbs_pa + 16 + 48, struct.pack("<Q", 0x7_0000_0000))   # luo_flb_ser.data
    dump = tmp_path / "vmcore"
    dump.write_bytes(write_elf_core(mem, []))
    r = run(["inspect", dump], exit_code=3)
    assert "pci-v3" in r.stderr and "0x700000000" in r.stderr


@pytest.mark.parametrize("cut", [10, 64, 200, 5000])
def test_a_truncated_image_is_one_line(cut, tmp_path):
    mem, _ = handed_over("v6")
    dump = tmp_path / "vmcore"
    dump.write_bytes(write_elf_core(mem, [])[:cut])
    run(["inspect", dump], exit_code=3)
