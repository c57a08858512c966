# SPDX-License-Identifier: GPL-2.0-only
"""ELF core container, FDT writer/reader and kho_block sets, checked against independent tools."""
import json
import shutil
import struct
import subprocess
import time

import pytest
from hypothesis import given, settings, strategies as st

from pcilu_cli.abi.kho_block import KHO_MAX_BLOCKS
from pcilu_cli.errors import BadInput, KernelRefusal
from pcilu_cli.memory import fdt as fdtmod
from pcilu_cli.memory.blocks import BlockSetCorrupt, KhoBlockSet, kho_block_set_restore
from pcilu_cli.memory.elfcore import (
    NOTE_NAME, NT_PCILU_LOG, NT_PCILU_METADATA, pcilu_notes, read_elf_core, write_elf_core,
)
from pcilu_cli.memory.kho import KhoAllocator
from pcilu_cli.memory.physmem import PhysMem

needs = lambda tool: pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} missing")


def _sample_mem():
    m = PhysMem()
    m.write(0x1_0000_0000, b"first page")
    m.write(0x1_0000_1000, b"second page, same run")
    m.write(0x2_0000_0000, b"another run")
    return m


# ---- ELF ------------------------------------------------------------------------------------------

def test_elf_round_trip_keeps_memory_and_notes():
    m = _sample_mem()
    notes = [(NOTE_NAME, NT_PCILU_METADATA, b'{"generation": 0}'), (NOTE_NAME, NT_PCILU_LOG, b"x")]
    m2, n2 = read_elf_core(write_elf_core(m, notes))
    assert m2 == m and n2 == notes
    assert pcilu_notes(n2)[NT_PCILU_LOG] == b"x"


@needs("readelf")
def test_readelf_reads_our_core(tmp_path):
    p = tmp_path / "state.elf"
    p.write_bytes(write_elf_core(_sample_mem(), [(NOTE_NAME, NT_PCILU_METADATA, b"{}")]))
    out = subprocess.run(["readelf", "-W", "-h", "-l", "-n", str(p)], capture_output=True,
                         text=True, check=True).stdout
    assert "CORE (Core file)" in out and "X86-64" in out
    loads = [ln.split() for ln in out.splitlines() if ln.strip().startswith("LOAD")]
    assert [(int(x[3], 16), int(x[4], 16)) for x in loads] == [(0x100000000, 0x2000),
                                                               (0x200000000, 0x1000)]
    assert "PCILU" in out


def _foreign_core(segments, notes=b""):
    """A kdump-like ELF built with plain struct.pack (independent of our writer)."""
    phnum = 1 + len(segments)
    off = 64 + 56 * phnum
    ph = [struct.pack("<IIQQQQQQ", 4, 0, off, 0, 0, len(notes), len(notes), 0)]
    body = [notes]
    off += len(notes)
    for vaddr, paddr, data in segments:
        ph.append(struct.pack("<IIQQQQQQ", 1, 7, off, vaddr, paddr, len(data), len(data), 0))
        body.append(data)
        off += len(data)
    eh = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 4, 62, 1, 0, 64, 0,
                     0, 64, 56, phnum, 0, 0, 0)
    return eh + b"".join(ph) + b"".join(body)


def test_reads_kdump_style_dump_with_kernel_text_overlap_and_foreign_notes():
    ram = bytes(range(256)) * 64                  # 16 KiB at 0x100000
    text = ram[0x1000:0x2000]
    note = struct.pack("<III", 5, 4, 1) + b"CORE\0\0\0\0" + b"abcd"
    data = _foreign_core([(0xFFFFFFFF81000000, 0x101000, text), (0xFFFF888000100000, 0x100000,
                                                                 ram)], note)
    mem, notes = read_elf_core(data)
    assert mem.read(0x100000, len(ram)) == ram
    assert notes == [("CORE", 1, b"abcd")] and pcilu_notes(notes) == {}


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b"\x7fELG" + b[4:], "e_ident"),
    (lambda b: b[:4] + b"\x01" + b[5:], "e_ident[EI_CLASS]"),
    (lambda b: b[:16] + b"\x02\x00" + b[18:], "e_type"),
    (lambda b: b[:200], None),
])
def test_bad_elf_is_bad_input(mutate, field):
    good = write_elf_core(_sample_mem(), [(NOTE_NAME, 1, b"{}")])
    with pytest.raises(BadInput) as e:
        read_elf_core(mutate(good), file="x.elf")
    assert "x.elf" in str(e.value)
    if field:
        assert e.value.field == field


def test_overlapping_loads_in_our_file_are_refused():
    note = struct.pack("<III", 6, 0, 1) + b"PCILU\0\0\0"
    data = _foreign_core([(0, 0x1000, b"a" * 4096), (0, 0x1800, b"b" * 4096)], note)
    with pytest.raises(BadInput, match="overlaps"):
        read_elf_core(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise_anything_but_bad_input(blob):
    good = write_elf_core(_sample_mem(), [(NOTE_NAME, 1, b"{}")])
    for data in (blob, good[:len(blob)], blob + good[len(blob):]):
        try:
            read_elf_core(data)
        except BadInput:
            pass


def test_large_state_file_loads_fast():
    m = PhysMem()
    m.zero(0x1_0000_0000, 64 << 20)              # 16,384 pages
    notes = [(NOTE_NAME, 2, bytes(65536 * 256))]  # 16 MiB of "fabric"
    data = write_elf_core(m, notes)
    t = time.perf_counter()
    mem, n = read_elf_core(data)
    assert mem.read(0x1_0000_0000 + (32 << 20), 8) == bytes(8)
    assert time.perf_counter() - t < 0.5
    assert len(n[0][2]) == 65536 * 256


# ---- FDT -------------------------------------------------------------------------------------------

def _root():
    return fdtmod.build_kho_root_fdt("kho-v4", 0x10_0000_0000,
                                     [("kexec-metadata", 0x1_0000_1000, 73),
                                      ("LUO", 0x1_0000_2000, 32)], gen="D")


@needs("dtc")
def test_dtc_decodes_the_root_fdt(tmp_path):
    p = tmp_path / "fdt"
    p.write_bytes(_root())
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(p)], capture_output=True,
                         text=True, check=True).stdout
    assert 'compatible = "kho-v4";' in dts
    # raw little-endian u64 shown as two big-endian cells, like the kernel documentation example
    assert "preserved-memory-map = <0x00 0x10000000>;" in dts
    assert "preserved-data = <0x200000 0x1000000>;" in dts
    assert "blob-size = <0x49000000 0x00>;" in dts


def test_root_fdt_is_packed_and_reads_back():
    blob = _root()
    assert len(blob) <= 4096 and struct.unpack(">I", blob[4:8])[0] == len(blob)
    r = fdtmod.read_kho_root_fdt(blob)
    assert r.compatible == ["kho-v4"] and r.mem_map == 0x10_0000_0000
    assert sorted(r.subtrees) == [("LUO", 0x1_0000_2000, 32), ("kexec-metadata", 0x1_0000_1000, 73)]


def test_duplicate_subtree_is_eexist_and_overflow_is_enomem():
    with pytest.raises(KernelRefusal) as e:
        fdtmod.kho_add_subtree(_root(), "LUO", 1, 1, gen="D")
    assert e.value.errno_name == "EEXIST"
    blob = _root()
    with pytest.raises(KernelRefusal) as e:
        for i in range(200):
            blob = fdtmod.kho_add_subtree(blob, f"subtree-with-a-long-name-{i}", i, i, gen="D")
    assert e.value.errno_name == "ENOMEM"


@needs("dtc")
def test_luo_v1_fdt_matches_dtc_compiled_source(tmp_path):
    src = tmp_path / "luo.dts"
    src.write_text("""/dts-v1/;
/ { compatible = "luo-v1"; liveupdate-number = [02 00 00 00 00 00 00 00];
    luo-session { compatible = "luo-session-v2"; luo-session-header = [00 00 01 00 01 00 00 00]; };
    luo-flb { compatible = "luo-flb-v1"; luo-flb-header = [00 30 00 00 01 00 00 00]; }; };
""")
    ours = fdtmod.build_luo_fdt(2, 0x1_0001_0000, 0x1_0000_3000)
    theirs = subprocess.run(["dtc", "-I", "dts", "-O", "dtb", str(src)], capture_output=True,
                            check=True).stdout
    # same tree (dtc orders strings differently from libfdt's sequential writer)
    a, b = fdtmod.parse_fdt(ours), fdtmod.parse_fdt(theirs)
    assert fdtmod.fdt_to_dict(a) == fdtmod.fdt_to_dict(b)
    got = fdtmod.read_luo_fdt(ours)
    assert (got.liveupdate_num, got.session_header_pa, got.flb_header_pa) == (
        2, 0x1_0001_0000, 0x1_0000_3000)


def test_fdt_reader_names_what_is_wrong():
    blob = bytearray(_root())
    with pytest.raises(BadInput, match="kho-v3"):
        fdtmod.read_kho_root_fdt(bytes(blob), gen="C")
    bad = bytearray(blob)
    bad[0] = 0
    with pytest.raises(fdtmod.FdtError) as e:
        fdtmod.read_kho_root_fdt(bytes(bad))
    assert e.value.fdt_err == -9                       # libfdt's FDT_ERR_BADMAGIC
    # shrink preserved-memory-map to 4 bytes: rebuild with libfdt to stay well-formed
    import libfdt
    f = libfdt.Fdt(bytearray(blob))
    f.resize(4096)
    f.setprop(0, "preserved-memory-map", b"\0" * 4)
    with pytest.raises(BadInput, match="exactly 8") as e:
        fdtmod.read_kho_root_fdt(bytes(f.as_bytearray()))
    assert e.value.field == "/preserved-memory-map"


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 400), st.binary(min_size=1, max_size=8))
def test_corrupted_fdt_never_raises_anything_but_bad_input(pos, junk):
    blob = bytearray(_root())
    pos %= len(blob)
    blob[pos:pos + len(junk)] = junk
    try:
        fdtmod.read_kho_root_fdt(bytes(blob))
    except BadInput:
        pass


# ---- kho_block sets -------------------------------------------------------------------------------

def test_block_set_counts_as_reserve_entry_leaves_them():
    m = PhysMem()
    a = KhoAllocator(m)
    bs = KhoBlockSet(a, 80)                      # luo_session_ser: 51 per block
    entries = [bytes([i]) * 80 for i in range(120)]
    bs.serialize(entries)
    assert bs.nblocks == 3
    hdrs = [struct.unpack("<QQ", m.read(pa, 16)) for pa in bs.blocks]
    assert hdrs == [(bs.blocks[1], 51), (bs.blocks[2], 51), (0, 18)]
    r = kho_block_set_restore(m, bs.head_pa, 80)
    assert r.entries() == entries
    bs.shrink(51)
    assert bs.nblocks == 1 and m.read_u64(bs.head_pa) == 0


def test_block_set_restore_rejects_cycles_and_bad_counts():
    m = PhysMem()
    a = KhoAllocator(m)
    bs = KhoBlockSet(a, 8)
    bs.serialize([b"\1" * 8] * 1200)             # 3 blocks of 510
    m.write_u64(bs.blocks[2], bs.blocks[1])
    with pytest.raises(BlockSetCorrupt, match="loops") as e:
        kho_block_set_restore(m, bs.head_pa, 8, what="FLB 'pci' devices")
    assert e.value.errno_name == "EINVAL"
    m.write_u64(bs.blocks[2], 0)
    m.write_u64(bs.blocks[1] + 8, 0)
    with pytest.raises(BlockSetCorrupt, match="count 0") as e:
        kho_block_set_restore(m, bs.head_pa, 8)
    assert e.value.kernel_message == "Block contains invalid entry count: 0"
    assert f"{bs.blocks[1]:#x}" in str(e.value)
    m.write_u64(bs.blocks[1] + 8, 511)
    with pytest.raises(BlockSetCorrupt):
        kho_block_set_restore(m, bs.head_pa, 8)
    m.write_u64(bs.blocks[0], 0x9999_0000_0000)
    with pytest.raises(BlockSetCorrupt, match="outside memory"):
        kho_block_set_restore(m, bs.head_pa, 8)
    assert kho_block_set_restore(m, 0, 8).count == 0


def test_block_set_chain_longer_than_the_limit_is_refused():
    m = PhysMem()
    pa = 0x1_0000_0000
    n = KHO_MAX_BLOCKS + 2
    for i in range(n):                           # a long acyclic chain, each count 1
        m.write(pa + i * 4096, struct.pack("<QQ", pa + (i + 1) * 4096 if i < n - 1 else 0, 1))
    with pytest.raises(BlockSetCorrupt, match="more than"):
        kho_block_set_restore(m, pa, 8)


# ---- a device tree that is not one of the hand-over's: inspect shows it whole ---------------

PLAIN_DTS = """/dts-v1/;
/ {
	compatible = "vendor,board", "vendor,soc";
	model = "Test";
	#address-cells = <2>;
	empty-prop;
	bytes = [01 02 03];
	chosen {
		bootargs = "console=ttyS0";
		sub { x = <1 2 3>; };
	};
	memory@0 { device_type = "memory"; reg = <0 0x1000>; };
};
"""


def _dtc(tmp_path, dts: str) -> bytes:
    src = tmp_path / "t.dts"
    src.write_text(dts)
    return subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", str(src)], capture_output=True,
                          check=True).stdout


@needs("dtc")
def test_a_plain_device_tree_reads_as_dtc_prints_it(tmp_path):
    from tests.pcilu_run import run
    blob = tmp_path / "board.dtb"
    blob.write_bytes(_dtc(tmp_path, PLAIN_DTS))
    ours = run(["inspect", blob]).stdout.splitlines()
    theirs = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(blob)], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert ours[0] == f"{blob}: a device tree that is not a KHO/LUO FDT"
    assert theirs[:2] == ["/dts-v1/;", ""]
    # the two notations that differ: dtc joins a string list with \0; pcilu adds the u64
    # KHO would read from an 8-byte value
    assert '\tcompatible = "vendor,board", "vendor,soc";' in ours
    assert '\t\treg = <0x00 0x1000>; /* u64 0x10000000000000 */' in ours
    norm = [ln.replace('", "', '\\0').split(" /* u64 ")[0] for ln in ours[1:]]
    assert norm == theirs[2:]


@needs("dtc")
def test_plain_tree_json_is_written_node_by_node_as_the_document(tmp_path):
    import pcilu
    from tests.pcilu_run import run
    blob = tmp_path / "board.dtb"
    blob.write_bytes(_dtc(tmp_path, PLAIN_DTS))
    doc = pcilu.inspect(blob)
    assert doc["kind"] == "fdt" and doc["tree"]["children"][0]["name"] == "chosen"
    assert json.loads(run(["inspect", blob, "--json"]).stdout) == doc


def test_a_node_name_with_control_characters_prints_escaped(tmp_path):
    from tests import hostile_files as H
    from tests.pcilu_run import run
    _, data, _ = H.fdt_siblings(nodes=3, compatible=b"vendor,board")
    p = tmp_path / "esc.dtb"
    p.write_bytes(data.replace(b"n1\0\0", b"\x1b[1\0"))
    out = run(["inspect", p]).stdout
    assert "\x1b" not in out and "\t\\x1b[1 {" in out


def test_an_fdt_over_the_kernel_limit_is_refused_before_it_is_read():
    from tests import hostile_files as H
    _, data, _ = H.fdt_siblings(nodes=140_000, compatible=b"vendor,board")
    assert len(data) > 2 << 20
    with pytest.raises(BadInput, match="over the 2,097,152-byte limit") as e:
        fdtmod.parse_fdt(data)
    assert (e.value.offset, e.value.field) == (4, "fdt_header.totalsize")
