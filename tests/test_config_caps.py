# SPDX-License-Identifier: GPL-2.0-only
"""A config space's capability lists (``ConfigSpace.find_capability`` /
``find_ext_capability``): walked once and kept until a write that may change the list, so
that the kernel's several lookups of one function cost one walk, and a changed list is seen at
once.
"""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from pcilu_cli.fabric.config import ConfigSpace
from tests.kernel_fabrics import record_config_reads


def _space():
    # status: capability list; pointer 0x40; PM at 0x40 -> PCIe at 0x50 -> end; one ACS
    # extended capability at 0x100; a distinct subsystem ID so no other test shares the bytes
    data = bytearray(0x110)
    data[0x06] = 0x10
    data[0x2E] = 0x5A
    data[0x34] = 0x40
    data[0x40:0x42] = bytes([0x01, 0x50])
    data[0x50:0x52] = bytes([0x10, 0x00])
    data[0x100:0x104] = (0x000D | 1 << 16).to_bytes(4, "little")
    return ConfigSpace(4096, bytes(data))


def test_lookups_of_one_function_walk_its_lists_once(monkeypatch):
    cfg = _space()
    cfg.write(0x2C, 2, 0x1234)                   # written: its bytes are its own now
    reads = record_config_reads(monkeypatch, cfg)
    assert cfg.find_capability(0x10) == 0x50 and cfg.find_ext_capability(0x0D) == 0x100
    walked = len(reads)
    assert cfg.find_capability(0x01) == 0x40 and cfg.find_ext_capability(0x10) is None
    assert cfg.find_capability(0x10) == 0x50
    assert len(reads) == walked


def test_a_write_that_changes_the_list_is_seen_at_the_next_lookup():
    cfg = _space()
    assert cfg.find_capability(0x10) == 0x50 and cfg.find_ext_capability(0x0E) is None
    cfg.write(0x06, 2, 0x10)                     # the same value: nothing changes
    assert cfg.find_capability(0x10) == 0x50
    cfg.write(0x41, 1, 0x00)                     # PM is now the last capability
    assert cfg.find_capability(0x10) is None and cfg.find_capability(0x01) == 0x40
    cfg.write(0x100, 4, 0x000E | 1 << 16)        # the extended capability is ARI now
    assert cfg.find_ext_capability(0x0E) == 0x100 and cfg.find_ext_capability(0x0D) is None


def test_a_copy_keeps_the_lists_and_its_own_writes_are_its_own():
    cfg = _space()
    assert cfg.find_capability(0x10) == 0x50
    twin = cfg.copy()
    twin.write(0x41, 1, 0x00)
    assert twin.find_capability(0x10) is None
    assert cfg.find_capability(0x10) == 0x50


def test_a_write_outside_the_lists_keeps_them_walked(monkeypatch):
    # what a shutdown (Command: Bus Master off) and an enumeration (bus numbers, BARs) write
    # into every function of a loaded state: the next boot's lookups walk nothing again
    cfg, twin = _space(), _space()
    assert cfg.find_capability(0x10) == 0x50            # the shared bytes' walk, once
    reads = record_config_reads(monkeypatch, cfg)
    cfg.write(0x04, 2, 0x0002)                           # Command
    cfg.write(0x18, 4, 0x00050403)                       # bus numbers
    cfg.write(0x10, 4, 0xFE000000)                       # BAR0
    cfg.write(0x3C, 1, 0x0B)                             # Interrupt Line
    assert cfg.find_capability(0x10) == 0x50 and cfg.find_ext_capability(0x0D) == 0x100
    assert cfg.find_capability(0x01) == 0x40
    assert reads == []
    twin.write(0x04, 2, 0x0006)                          # never looked up before its write
    reads = record_config_reads(monkeypatch, twin)
    assert twin.find_capability(0x10) == 0x50 and twin.find_ext_capability(0x0D) == 0x100
    assert reads == []


def test_a_write_to_what_the_walk_reads_is_seen_after_one_that_kept_the_lists():
    cfg = _space()
    cfg.write(0x04, 2, 0x0002)                           # kept the lists
    cfg.write(0x06, 2, 0x0000)                           # Status: no capability list
    assert cfg.find_capability(0x10) is None and cfg.find_ext_capability(0x0D) == 0x100
    cfg.write(0x06, 2, 0x0010)
    cfg.write(0x34, 1, 0x50)                             # the list starts at PCIe now
    assert cfg.find_capability(0x01) is None and cfg.find_capability(0x10) == 0x50
    cfg.write(0x0E, 1, 0x02)                             # CardBus: the head is at 0x14
    assert cfg.find_capability(0x10) is None
    cfg.write(0x104, 2, 0x0000)                          # a write inside the ACS capability
    assert cfg.find_ext_capability(0x0D) == 0x100


_WRITE = st.tuples(st.integers(0, 0x10F), st.sampled_from((1, 2, 4)), st.integers(0, 2**32 - 1))


@settings(max_examples=200, deadline=None)
@given(st.lists(_WRITE, max_size=12), st.lists(st.booleans(), min_size=12, max_size=12))
def test_lookups_after_any_writes_are_those_of_the_same_bytes_walked_afresh(writes, looks):
    cfg = _space()
    for (off, width, value), look in zip(writes, looks):
        cfg.write(off, width, value & (1 << 8 * width) - 1)
        if look:                                         # lookups in between keep an index
            cfg.find_capability(0x10), cfg.find_ext_capability(0x0D)
        fresh = ConfigSpace(cfg.size, cfg.to_bytes())     # the same bytes, walked as they are
        for cid in (0x01, 0x05, 0x10, 0x11):
            assert cfg.find_capability(cid) == fresh.find_capability(cid)
        for cid in (0x0D, 0x0E, 0x10):
            assert cfg.find_ext_capability(cid) == fresh.find_ext_capability(cid)


def test_a_write_across_0x100_changes_both_lists():
    # the last standard capability at 0xFC; one 4-byte write at 0xFD sets its next pointer
    # (0xFD) and the first bytes of the extended list (0x100)
    data = bytearray(_space().to_bytes())
    data[0x41] = 0xFC
    data[0xFC:0xFE] = bytes([0x10, 0x00])
    data[0x60:0x62] = bytes([0x05, 0x00])
    cfg = ConfigSpace(4096, bytes(data))
    assert cfg.find_capability(0x10) == 0xFC and cfg.find_capability(0x05) is None
    assert cfg.find_ext_capability(0x0D) == 0x100
    cfg.write(0xFD, 4, 0x000E0060)           # next -> 0x60 (MSI); the ext ID 0x0D -> 0x00
    assert cfg.find_capability(0x05) == 0x60
    assert cfg.find_ext_capability(0x0D) is None
