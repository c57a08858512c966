# SPDX-License-Identifier: GPL-2.0-only
"""How the fabric decodes a config cycle's bus number (``Fabric.route`` / ``answering``) when
bridge windows are unusual, and what a capability lookup returns when an ID repeats.

The decode finds the bridge by bisection when a link's windows are disjoint and in increasing
order, and walks them in link order (the first claim wins) otherwise; both must find what a
walk of every bridge in order finds. A config space keeps an index of its capability lists:
a lookup must return the first capability with that ID, as the list walk does.
"""
from __future__ import annotations

from pcilu_cli.fabric.build import small_fabric
from pcilu_cli.fabric.config import ConfigSpace


def _switch():
    """Root port → switch USP (bus 1) → DSPs 02:00.0 and 02:01.0, an NVMe below each; the
    root port and the USP forward buses up to 8, so the DSPs' windows can move."""
    fab = small_fabric("switch")
    fab.by_uid("0000:00:01.0").set_bus_numbers(0, 1, 8)
    fab.by_uid("0000:01:00.0").set_bus_numbers(1, 2, 8)
    first, second = fab.by_uid("0000:02:00.0"), fab.by_uid("0000:02:01.0")
    nvme_first, nvme_second = fab.by_uid("0000:03:00.0"), fab.by_uid("0000:04:00.0")
    return fab, first, second, nvme_first, nvme_second


def test_a_bus_in_the_gap_between_two_windows_reaches_nobody():
    fab, first, second, nvme_first, nvme_second = _switch()
    second.set_bus_numbers(2, 6, 6)                       # a gap: buses 4 and 5
    assert fab.route(0, 3, 0) is nvme_first
    assert fab.route(0, 4, 0) is None and fab.route(0, 5, 0) is None
    assert fab.route(0, 6, 0) is nvme_second
    assert fab.route(0, 7, 0) is None                     # beyond the last window too
    assert fab.answering(0, 5) == {}


def test_overlapping_windows_the_first_bridge_in_link_order_claims_the_bus():
    fab, first, second, nvme_first, nvme_second = _switch()
    first.set_bus_numbers(2, 3, 4)                        # claims bus 4 as well
    # bus 4 goes below 02:00.0, where nobody sits on bus 4: the NVMe behind 02:01.0 is hidden
    assert fab.route(0, 4, 0) is None
    assert fab.config_read(0, 4, 0, 0, 4) == 0xFFFFFFFF
    assert fab.current_bdf(nvme_second) is None
    assert fab.route(0, 3, 0) is nvme_first
    second.set_bus_numbers(2, 5, 5)                       # moved out of the overlap
    assert fab.route(0, 5, 0) is nvme_second


def test_windows_in_decreasing_order_still_reach_both_sides():
    fab, first, second, nvme_first, nvme_second = _switch()
    second.set_bus_numbers(2, 3, 3)
    first.set_bus_numbers(2, 4, 4)                        # link order: 4-4 before 3-3
    assert fab.route(0, 3, 0) is nvme_second
    assert fab.route(0, 4, 0) is nvme_first
    assert fab.current_bdf(nvme_first) == (0, 4, 0)
    assert fab.answering(0, 3) == {0: nvme_second}


def test_a_repeated_capability_id_finds_the_first_one_in_the_list():
    # standard list: 0x40 (ID 0x09) -> 0x50 (ID 0x10) -> 0x60 (ID 0x09 again) -> end;
    # extended list: 0x100 (ID 0x0B) -> 0x140 (ID 0x0D) -> 0x180 (ID 0x0B again)
    data = bytearray(0x190)
    data[0x06] = 0x10
    data[0x2E] = 0xA7                                    # bytes no other test shares
    data[0x34] = 0x40
    data[0x40:0x42] = bytes([0x09, 0x50])
    data[0x50:0x52] = bytes([0x10, 0x60])
    data[0x60:0x62] = bytes([0x09, 0x00])
    data[0x100:0x104] = (0x000B | 1 << 16 | 0x140 << 20).to_bytes(4, "little")
    data[0x140:0x144] = (0x000D | 1 << 16 | 0x180 << 20).to_bytes(4, "little")
    data[0x180:0x184] = (0x000B | 1 << 16).to_bytes(4, "little")
    for cfg in (ConfigSpace(4096, bytes(data)), ConfigSpace(4096, bytes(data))):
        assert cfg.find_capability(0x09) == 0x40
        assert cfg.find_capability(0x10) == 0x50
        assert cfg.find_capability(0x05) is None
        assert cfg.find_ext_capability(0x0B) == 0x100
        assert cfg.find_ext_capability(0x0D) == 0x140
        assert cfg.capabilities() == [(0x09, 0x40), (0x10, 0x50), (0x09, 0x60)]
        assert cfg.ext_capabilities() == [(0x0B, 0x100), (0x0D, 0x140), (0x0B, 0x180)]
    writable = ConfigSpace(4096, bytes(data))
    writable.write(0x2C, 2, 0x1234)                      # its own bytes: walked on its own
    assert writable.find_capability(0x09) == 0x40
    assert writable.find_ext_capability(0x0B) == 0x100
    writable.write(0x40, 1, 0x05)                        # the first 0x09 becomes MSI
    assert writable.find_capability(0x09) == 0x60
    assert writable.find_capability(0x05) == 0x40
