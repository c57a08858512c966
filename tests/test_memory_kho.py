# SPDX-License-Identifier: GPL-2.0-only
"""PhysMem, the kho_alloc_preserve() allocator and the preserved-memory trackers."""
import struct

import pytest
from hypothesis import given, settings, strategies as st

from pcilu_cli.abi.kho import radix_decode_key, radix_indices, radix_key
from pcilu_cli.errors import BadInput, KernelRefusal
from pcilu_cli.memory.kho import (
    RAM_BASE, TRACKER_BASE, KhoAllocator, decode_bitmap_chunks, decode_radix_tree,
    encode_bitmap_chunks, get_order,
)
from pcilu_cli.memory.physmem import PhysMem


# ---- PhysMem ---------------------------------------------------------------------------------

def test_physmem_cross_page_write_read_and_holes():
    m = PhysMem()
    m.write(0x1FFE, b"abcdef")
    assert m.read(0x1FFE, 6) == b"abcdef"
    assert sorted(m.pfns()) == [1, 2]
    with pytest.raises(BadInput, match="not in memory"):
        m.read(0x2FFE, 4)
    m.write_u64(0x5000, 0x1122334455667788)
    assert m.read(0x5000, 8) == bytes.fromhex("8877665544332211")
    m.discard(0x1000, 0x2000)
    assert list(m.pfns()) == [5]


def test_physmem_segment_is_copy_on_write_and_runs_are_merged():
    backing = bytes(range(256)) * 48            # 3 pages, read-only
    m = PhysMem()
    m.add_segment(0x10000, backing)
    assert m.read(0x10FFF, 2) == backing[0xFFF:0x1001]
    m.write(0x11000, b"XY")
    assert backing[0x1000:0x1002] != b"XY"      # the file bytes are untouched
    (pa, chunks), = list(m.runs())
    content = b"".join(bytes(c) for c in chunks)
    assert pa == 0x10000 and len(content) == 3 * 4096 and content[0x1000:0x1002] == b"XY"


def test_physmem_refuses_absurd_reads():
    m = PhysMem()
    with pytest.raises(BadInput):
        m.read(0, 1 << 40)


# ---- allocator -----------------------------------------------------------------------------------

def test_get_order_matches_kernel_rounding():
    assert [get_order(s) for s in (1, 4096, 4097, 8192, 8193, 4096 << 10)] == [0, 0, 1, 1, 2, 10]


def test_alloc_preserve_is_lowest_fit_naturally_aligned_and_zeroed():
    m = PhysMem()
    m.write(RAM_BASE, b"\xff" * 4096)           # stale data must be zeroed by the allocation
    a = KhoAllocator(m)
    assert a.root_pa == TRACKER_BASE
    p0 = a.alloc_preserve(4096)
    p1 = a.alloc_preserve(100)
    p2 = a.alloc_preserve(3 * 4096)              # order 2: aligned to 16 KiB
    p3 = a.alloc_preserve(1)
    assert (p0, p1, p2, p3) == (RAM_BASE, RAM_BASE + 0x1000, RAM_BASE + 0x4000,
                                RAM_BASE + 0x2000)
    assert m.read(p0, 4096) == bytes(4096)
    a.unpreserve_free(p1)
    assert a.alloc_preserve(10) == p1            # lowest fitting again
    assert a.preserved_blocks() == [(p0, 0), (p1, 0), (p3, 0), (p2, 2)]


def test_alloc_preserve_errors_are_the_kernels():
    a = KhoAllocator(PhysMem())
    with pytest.raises(KernelRefusal) as e:
        a.alloc_preserve(0)
    assert e.value.errno_name == "EINVAL"
    with pytest.raises(KernelRefusal) as e:
        a.alloc_preserve((4096 << 10) + 1)
    assert e.value.errno_name == "E2BIG"
    with pytest.raises(KernelRefusal) as e:
        a.unpreserve_free(RAM_BASE)
    assert e.value.errno_name == "EINVAL"


def test_same_calls_same_addresses():
    def run():
        a = KhoAllocator(PhysMem())
        pas = [a.alloc_preserve(s) for s in (4096, 9000, 1, 70000, 4096)]
        a.unpreserve_free(pas[2])
        pas.append(a.alloc_preserve(5000))
        return pas, a.tracker_pages
    assert run() == run()


def test_incoming_blocks_are_not_reused_until_restore_free():
    a = KhoAllocator(PhysMem(), incoming=[(RAM_BASE, 0), (RAM_BASE + 0x2000, 1)])
    assert a.alloc_preserve(1) == RAM_BASE + 0x1000
    assert a.alloc_preserve(1) == RAM_BASE + 0x4000
    a.restore_free(RAM_BASE)
    assert a.alloc_preserve(1) == RAM_BASE
    with pytest.raises(KernelRefusal):
        a.restore_free(RAM_BASE)


def test_allocator_state_round_trip_continues_identically():
    m = PhysMem()
    a = KhoAllocator(m)
    for s in (4096, 20000, 1):
        a.alloc_preserve(s)
    b = KhoAllocator.from_state(m.copy(), a.to_state())
    assert a.alloc_preserve(8192) == b.alloc_preserve(8192)
    assert a.preserved_blocks() == b.preserved_blocks()


# ---- radix tree -----------------------------------------------------------------------------------

def test_spec_worked_key_example():
    key = radix_key(0x116BE4000, 0)
    assert key == 0x10000000116BE4
    assert radix_indices(key) == ([2, 0, 0, 0, 34], 27620)
    assert radix_decode_key(key) == (0x116BE4000, 0)


def test_radix_tree_bytes_for_the_worked_example():
    m = PhysMem()
    a = KhoAllocator(m, ram_base=0x116BE4000, ram_size=1 << 20)
    assert a.alloc_preserve(4096) == 0x116BE4000
    node = a.root_pa
    for idx in (2, 0, 0, 0, 34):                 # L5..L1, as the spec computes them
        nxt = m.read_u64(node + 8 * idx)
        assert nxt and nxt not in a.preserved
        node = nxt
    leaf = m.read(node, 4096)
    assert leaf[27620 // 8] == 1 << (27620 % 8)
    assert sum(bin(b).count("1") for b in leaf) == 1
    assert decode_radix_tree(m, a.root_pa)[0] == [(0x116BE4000, 0)]


# Folios the caller preserves are its own memory, never the tracker's get_zeroed_page()
# window [TRACKER_BASE, +TRACKER_SIZE): the largest folio (order 10) ends below it.
MAX_ORDER = 10
blocks_strategy = st.lists(
    st.tuples(st.integers(0, (TRACKER_BASE >> 12) - (1 << MAX_ORDER)), st.integers(0, MAX_ORDER)),
    min_size=0, max_size=40)


@settings(max_examples=40, deadline=None)
@given(blocks_strategy)
def test_radix_round_trip_finds_every_block_and_nothing_else(raw):
    m = PhysMem()
    a = KhoAllocator(m)
    want = {}
    t0 = a.tracker_region.base
    t1 = t0 + (a.tracker_region.npages << 12)
    for pfn, order in raw:
        pa = (pfn << 12) & ~((4096 << order) - 1)
        if pa in want or (pa < t1 and pa + (4096 << order) > t0):
            continue        # tracker pages come from get_zeroed_page(), never from a folio
        a.preserve_folio(pa, order)
        want[pa] = order
    # unpreserve a third of them: the tree must forget exactly those
    for pa in list(want)[::3]:
        a.unpreserve_folio(pa)
        del want[pa]
    got, nodes = decode_radix_tree(m, a.root_pa)
    assert sorted(got) == sorted(want.items())
    keys = [radix_key(pa, o) for pa, o in got]
    assert keys == sorted(keys)                  # walk order: increasing key
    assert not set(nodes) & set(want)


@settings(max_examples=25, deadline=None)
@given(blocks_strategy)
def test_gen_a_bitmap_chunks_round_trip(raw):
    m = PhysMem()
    a = KhoAllocator(m, tracker="bitmap")
    want = {}
    for pfn, order in raw:
        pa = (pfn << 12) & ~((4096 << order) - 1)
        want.setdefault(pa, order)
    first = encode_bitmap_chunks(m, list(want.items()), a.get_zeroed_page)
    got, _ = decode_bitmap_chunks(m, first)
    assert sorted(got) == sorted(want.items())


def test_radix_corruption_is_bad_input_naming_the_node():
    m = PhysMem()
    a = KhoAllocator(m)
    a.alloc_preserve(4096)
    l5 = a.root_pa
    l4 = m.read_u64(l5 + 8 * 2)
    m.write_u64(l4 + 8 * 5, l5)                  # loop back to the root
    with pytest.raises(BadInput, match="already visited"):
        decode_radix_tree(m, l5)
    m.write_u64(l4 + 8 * 5, 0x7777_0000_0000)    # outside memory
    with pytest.raises(BadInput, match="points outside memory") as e:
        decode_radix_tree(m, l5)
    assert f"{l4:#x}" in str(e.value)
    m.write_u64(l4 + 8 * 5, 0x1234)              # misaligned
    with pytest.raises(BadInput, match="not page aligned"):
        decode_radix_tree(m, l5)
    m.write_u64(l4 + 8 * 5, 0)
    m.write_u64(l5 + 8 * 7, l4)                  # L5 index 7 → order bit above 52
    with pytest.raises(BadInput):
        decode_radix_tree(m, l5)


def test_radix_refuses_absurd_block_counts():
    m = PhysMem()
    a = KhoAllocator(m)
    a.alloc_preserve(4096)
    node = a.root_pa
    for idx in radix_indices(radix_key(RAM_BASE, 0))[0]:
        node = m.read_u64(node + 8 * idx)
    m.write(node, b"\xff" * 4096)
    with pytest.raises(BadInput, match="more than"):
        decode_radix_tree(m, a.root_pa, max_blocks=1000)
    assert len(decode_radix_tree(m, a.root_pa)[0]) == 32768
    assert struct.calcsize("<Q") == 8
