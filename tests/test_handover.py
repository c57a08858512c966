# SPDX-License-Identifier: GPL-2.0-only
"""The hand-over image: outgoing writer, incoming boot policy, inspect walk, golden bytes.

Golden files (fixtures/golden/kho/) are regenerated with PCILU_REGEN_GOLDEN=1; the tests check
them against dtc and against struct.pack-built expectations, not against our own decoder.
"""
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pcilu_cli.abi import pci
from pcilu_cli.abi.profiles import get_profile
from pcilu_cli.errors import BadInput, KernelPanic
from pcilu_cli.memory.blocks import KhoBlockSet
from pcilu_cli.memory.elfcore import read_elf_core, write_elf_core
from pcilu_cli.memory.handover import HandoverIn, HandoverOut, find_kho_root, read_handover
from pcilu_cli.memory.kho import RAM_BASE, KhoAllocator
from pcilu_cli.memory.physmem import PhysMem

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "kho"
SESSIONS = [("pcilu", [("vfio-pci-v1", 0, 0x0100)])]


def build(profile):
    """§1.6 scenario: EP 0000:01:00.0 behind RP 0000:00:02.0, one vfio file, one session."""
    p = get_profile(profile)
    m = PhysMem()
    a = KhoAllocator(m)
    h = HandoverOut(p, m, a, liveupdate_num=1, release="6.20.0-pcilu", kexec_count=0)
    if p.pci_layout == "flex":
        blob = pci.encode_pci_ser(p, [(0, 0, 0x0100, 1), (1, 0, 0x0010, 1)], max_nr_devices=6)
        data_pa = a.alloc_preserve(len(blob))
    else:
        bs = KhoBlockSet(a, 8)
        bs.write_entry(0, struct.pack("<IHH", 0, 0x0100, 1))
        bs.write_entry(1, struct.pack("<IHH", 0, 0x0010, 1))
        blob = pci.encode_pci_ser(p, [], nr_devices=2, devices_pa=bs.head_pa)
        data_pa = a.alloc_preserve(len(blob))
    root = h.finalize(SESSIONS, [(p.pci_compatible, data_pa, 1, blob), ("unused-flb", 0, 0)])
    return m, a, h, root, data_pa


def _golden(name, data):
    path = GOLDEN / name
    if os.environ.get("PCILU_REGEN_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.read_bytes() == data, f"{name} differs from the golden file"


@pytest.mark.parametrize("profile", ["v6", "v7"])
def test_golden_bytes_are_stable(profile):
    m, a, h, root, _ = build(profile)
    _golden(f"{profile}-root.dtb", h.root_fdt())
    _golden(f"{profile}-flb-page.bin", m.read(h.flbs_pa, 4096))
    if profile == "v6":
        size = struct.unpack(">I", m.read(h.luo_pa + 4, 4))[0]
        _golden("v6-luo.dtb", m.read(h.luo_pa, size))
    else:
        _golden("v7-luo_ser.bin", m.read(h.luo_pa, 32))


def test_golden_flb_page_and_luo_ser_match_struct_pack():
    m, a, h, root, data_pa = build("v7")
    flb = (GOLDEN / "v7-flb-page.bin").read_bytes()
    want = struct.pack("<QQ", 1, 1) + struct.pack("<48sQQ", b"pci-v2", data_pa, 1)
    assert flb == want + bytes(4096 - len(want))
    sessions_pa = m.read_u64(h.luo_pa + 16)
    assert (GOLDEN / "v7-luo_ser.bin").read_bytes() == struct.pack(
        "<8sQQQ", b"luo-v5", 1, sessions_pa, h.flbs_pa)
    # the session block: header then one luo_session_ser
    nxt, cnt = struct.unpack("<QQ", m.read(sessions_pa, 16))
    name, files, nfiles = struct.unpack("<64sQQ", m.read(sessions_pa + 16, 80))
    assert (nxt, cnt, name.rstrip(b"\0"), nfiles) == (0, 1, b"pcilu", 1)
    assert m.read(files + 16, 64) == struct.pack("<48sQQ", b"vfio-pci-v1", 0, 0x100)


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc missing")
@pytest.mark.parametrize("profile, compat", [("v6", "kho-v3"), ("v7", "kho-v4")])
def test_golden_root_fdt_decodes_with_dtc(profile, compat):
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(GOLDEN / f"{profile}-root.dtb")],
                         capture_output=True, text=True, check=True).stdout
    assert f'compatible = "{compat}";' in dts
    assert "LUO {" in dts and "kexec-metadata {" in dts
    assert "blob-size = <0x49000000 0x00>;" in dts          # 73, raw little-endian
    # the tracker at PA 0x10_0000_0000, a raw little-endian u64 read as two big-endian cells
    assert "preserved-memory-map = <0x00 0x10000000>;" in dts


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc missing")
def test_golden_luo_fdt_decodes_with_dtc():
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(GOLDEN / "v6-luo.dtb")],
                         capture_output=True, text=True, check=True).stdout
    for s in ('compatible = "luo-v1";', "luo-session {", 'compatible = "luo-session-v2";',
              "luo-flb {", 'compatible = "luo-flb-v1";', "liveupdate-number = <0x1000000 0x00>;"):
        assert s in dts


@pytest.mark.parametrize("profile", ["v6", "v7", "v9"])
def test_incoming_kernel_sees_what_was_handed_over(profile):
    p = get_profile(profile)
    m, a, h, root, data_pa = build(profile)
    hin = HandoverIn.boot(profile, m, root)
    assert hin.status == "kho" and hin.luo_status == "incoming"
    assert "KHO: exec from: 6.20.0-pcilu (count 0)" in hin.messages
    rec = hin.flb(p.pci_compatible)
    assert (rec.data, rec.count) == (data_pa, 1)
    assert hin.flb(p.pci_compatible + "x") is None and hin.flb("unused-flb") is None
    assert [(s.name, s.files) for s in hin.sessions] == SESSIONS
    assert sorted(hin.preserved) == a.preserved_blocks()
    new_mem, incoming = hin.carry_over()
    a2 = KhoAllocator(new_mem, incoming=incoming)
    assert a2.alloc_preserve(1) not in dict(incoming)


@pytest.mark.parametrize("profile", ["v6", "v7", "v9"])
def test_inspect_walk_through_an_elf_state_file(profile):
    m, a, h, root, data_pa = build(profile)
    mem, _ = read_elf_core(write_elf_core(m, [("PCILU", 1, b"{}")]))
    assert find_kho_root(mem) == root
    doc = read_handover(mem, file="state.elf")
    assert doc["profile"] == profile and doc["warnings"] == []
    devs = doc["pci"][0]["devices"]
    assert [(d["bdf"], d["refcount"]) for d in devs] == [("0000:01:00.0", 1), ("0000:00:02.0", 1)]
    assert doc["luo"]["sessions"][0]["files"][0]["token"] == 0x100


def test_kho_compatible_mismatch_is_a_non_kho_boot():
    m, a, h, root, _ = build("v6")                            # kho-v3
    hin = HandoverIn.boot("v7", m, root)                      # expects kho-v4
    assert hin.status == "no-kho" and hin.flb("pci-v2") is None
    assert hin.messages == [f"KHO: setup: handover FDT ({root:#x}) is incompatible with "
                            "'kho-v4': 1"]
    m.write(root, b"\0\0\0\0")
    hin = HandoverIn.boot("v6", m, root)
    assert hin.status == "no-kho" and "is invalid: -9" in hin.messages[0]


def test_luo_compat_mismatch_panics():
    m, a, h, root, _ = build("v7")
    m.write(h.luo_pa, b"luo-v4\0\0")
    with pytest.raises(KernelPanic, match="failed to initialize properly") as e:
        HandoverIn.boot("v7", m, root)
    assert any("luo-v4" in line for line in e.value.messages)
    with pytest.raises(BadInput, match="luo_ser.compatible"):
        read_handover(m, root)


def test_corrupt_session_chain_panics_and_inspect_names_the_block():
    m, a, h, root, _ = build("v7")
    sessions_pa = m.read_u64(h.luo_pa + 16)
    m.write_u64(sessions_pa, sessions_pa)                     # next -> itself
    with pytest.raises(KernelPanic):
        HandoverIn.boot("v7", m, root)
    with pytest.raises(BadInput, match="loops") as e:
        read_handover(m, root)
    assert f"{sessions_pa:#x}" in str(e.value)


def test_pci_data_outside_memory_is_named():
    m, a, h, root, data_pa = build("v6")
    flb_entry = h.flbs_pa + 16
    m.write_u64(flb_entry + 48, 0x7000_0000_0000)
    with pytest.raises(BadInput, match=r"FLB 'pci-v3' data 0x700000000000 points outside"):
        read_handover(m, root)


def test_unpreserved_object_is_a_warning():
    m, a, h, root, data_pa = build("v6")
    a.unpreserve_folio(data_pa)                               # still in memory, not tracked
    doc = read_handover(m, root)
    assert any("FLB 'pci-v3' data" in w["message"] for w in doc["warnings"])


@pytest.mark.parametrize("cut", [0, 100, 4096, 20000])
def test_truncated_or_garbage_memory_is_bad_input_or_policy(cut):
    m, a, h, root, _ = build("v7")
    data = write_elf_core(m, [("PCILU", 1, b"{}")])
    try:
        mem, _ = read_elf_core(data[:len(data) - cut] if cut else data)
        read_handover(mem, root)
        HandoverIn.boot("v7", mem, root)
    except (BadInput, KernelPanic):
        pass


def test_no_root_in_memory_is_bad_input():
    m = PhysMem()
    m.write(RAM_BASE, b"nothing here")
    with pytest.raises(BadInput, match="no KHO root"):
        read_handover(m)
