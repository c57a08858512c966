# SPDX-License-Identifier: GPL-2.0-only
"""Enumeration of the next kernel (``drivers/pci/probe.c``; pci-liveupdate-v6.md §5.1, §6):
``pci_liveupdate_setup_device()`` marking devices incoming, the two-pass bridge scan with
inherited bus numbers, insane bridges, and ``pci=assign-busses``.
"""
from __future__ import annotations

import struct

from pcilu_cli.fabric.build import FabricBuilder
from pcilu_cli.kernel import Kernel, liveupdate as lu
from tests.inmemory_kexec import InMemoryIncoming, next_kernel
from tests.kernel_fabrics import (
    RP, USP, DSP0, DSP1, EP0, EP1, entry, two_ep_next_kernel, devs, switch_fabric)


# == §5.1 setup_device, §5.2 finish ===========================================================
def test_s5_1_refcount_zero_entries_are_not_incoming():
    """§5.1 step 4: an entry found with refcount 0 (finished before, e.g. hotplug) does not
    make the device incoming."""
    fab = switch_fabric()
    blob = (struct.pack("<II", 6, 4) + entry(0, 0x300, 0) + entry(0, 0x200, 0)
            + entry(0, 0x400, 1) + entry(0, 0x208, 1) + entry(0, 0x100, 1) + entry(0, 0x8, 1))
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3"))
    assert not k.is_incoming(EP0) and not k.dev(EP0).was_preserved
    assert not k.is_incoming(DSP0)
    assert all(k.is_incoming(x) and k.dev(x).was_preserved for x in (EP1, DSP1, USP, RP))
    assert [m for m in k.log.lines() if "preserved by previous" in m] == [
        f"pci {x}: Device was preserved by previous kernel across Live Update"
        for x in (RP, USP, DSP1, EP1)]


def test_s4_4_unknown_header_type_finishes_a_just_marked_incoming_device():
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    h = k.kexec()
    h.fabric.by_uid(EP0).cfg.write(0x0E, 1, 0x03)
    k1 = next_kernel(k, h)
    lines = k1.log.lines()
    i = lines.index(f"pci {EP0}: Device was preserved by previous kernel across Live Update")
    assert lines[i + 1:i + 4] == [
        f"pci {EP0}: unknown header type 03, ignoring device",
        f"WARNING: pci {EP0}: Destroying incoming-preserved device!",
        f"pci {EP0}: Device is finished participating in Live Update"]
    assert EP0 not in {d.name for d in k1.devices.values()}
    assert not k1.is_incoming(DSP0) and not k1.is_incoming(RP)


# == §6 bus numbers ===========================================================================
def test_s6_1_pass_1_reuses_pass_0_and_end_clears():
    k, k1 = two_ep_next_kernel()
    dsp0 = k1.dev(DSP0)
    assert not any(d.inherit_buses for d in k1.devices.values())   # cleared after pass 1
    dsp0.inherit_buses = True
    assert lu.pci_liveupdate_scan_bridge_begin(k1, dsp0.bus, dsp0, 1) is True
    lu.pci_liveupdate_scan_bridge_end(k1, dsp0, 0)
    assert dsp0.inherit_buses                          # pass 0 end keeps it
    lu.pci_liveupdate_scan_bridge_end(k1, dsp0, 1)
    assert not dsp0.inherit_buses
    assert lu.pci_liveupdate_scan_bridge_begin(k1, dsp0.bus, dsp0, 1) is False


def test_s6_1_parent_inheritance_without_flb_lookup():
    k = Kernel.boot(switch_fabric())                  # no incoming FLB at all
    usp, dsp0 = k.dev(USP), k.dev(DSP0)
    assert lu.pci_liveupdate_scan_bridge_begin(k, dsp0.bus, dsp0, 0) is False
    usp.inherit_buses = True
    assert lu.pci_liveupdate_scan_bridge_begin(k, dsp0.bus, dsp0, 0) is True
    assert dsp0.inherit_buses


def test_s6_1_only_incoming_devices_force_inheritance():
    """§6.1: outgoing-only preservation does not force inheritance; unfinished incoming
    devices do; once all finished (nr_devices 0) scans are normal again."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)                                   # outgoing only
    rp = k.dev(RP)
    assert lu.pci_liveupdate_scan_bridge_begin(k, rp.bus, rp, 0) is False
    k, k1 = two_ep_next_kernel()
    rp = k1.dev(RP)
    assert lu.pci_liveupdate_scan_bridge_begin(k1, rp.bus, rp, 0) is True
    lu.pci_liveupdate_scan_bridge_end(k1, rp, 1)
    k1.finish(EP0)
    k1.finish(EP1)
    assert lu.pci_liveupdate_scan_bridge_begin(k1, rp.bus, rp, 0) is False


def test_s6_1_inheritance_follows_nr_devices_not_the_entries():
    """§6.1: the sample is incoming.ser.nr_devices (never validated, §1.5)."""
    fab = switch_fabric()
    blob = struct.pack("<II", 1, 0) + entry(0, 0x300, 1)
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3"),
                    params="pci=assign-busses")
    assert k.is_incoming(EP0)
    rp = k.dev(RP)
    assert lu.pci_liveupdate_scan_bridge_begin(k, rp.bus, rp, 0) is False


def test_s6_2_insane_bridge_is_cleared_at_pass_0_and_skipped_at_pass_1():
    """§6.2: broken bridge under Live Update: M-info at pass 0, 0x18 bus bytes zeroed
    (latency byte kept), pci_err M25 at pass 1, no child bus."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    h = k.kexec()
    dsp1 = h.fabric.by_uid(DSP1)
    dsp1.cfg.write(0x18, 4, 0x40030502)               # latency 0x40, sub 03 < sec 05
    k1 = next_kernel(k, h)
    lines = k1.log.lines()
    i = lines.index(f"pci {DSP1}: bridge configuration invalid ([bus 05-03]), reconfiguring")
    assert f"pci {DSP1}: Cannot reconfigure bridge during Live Update, skipping" in lines[i:]
    assert k1.log.entries[[t for _l, t in k1.log.entries].index(
        f"pci {DSP1}: Cannot reconfigure bridge during Live Update, skipping")][0] == "err"
    assert dsp1.cfg.read(0x18, 4) == 0x40000000
    assert k1.dev(DSP1).subordinate is None
    # v5's pair of messages must not appear
    assert not any("Downstream devices will not be enumerated" in m for m in lines)


def test_s6_2_primary_hard_wired_to_zero():
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    h = k.kexec()
    h.fabric.by_uid(DSP0).cfg.write(0x18, 1, 0)       # primary reads 0 on bus 2
    k1 = next_kernel(k, h)
    assert f"pci {DSP0}: Primary bus is hard wired to 0" in k1.log.lines()
    assert k1.is_incoming(EP0)                         # treated as sane and inherited


def renumber_fabric():
    b = FabricBuilder("odd-numbers")
    b.add_function("0000:00:01.0", kind="root_port", bus=(0, 5, 5))
    b.add_function("0000:05:00.0", "0000:00:01.0")
    b.add_function("0000:00:02.0", kind="root_port", bus=(0, 1, 1))
    b.add_function("0000:01:00.0", "0000:00:02.0")
    return b.build(assign=False)


def test_assign_busses_renumbers_without_live_update():
    k = Kernel.boot(renumber_fabric(), params="pci=assign-busses")
    assert {d.name for d in k.devices.values()} == {
        "0000:00:01.0", "0000:01:00.0", "0000:00:02.0", "0000:02:00.0"}


def test_bus_numbers_inherited_despite_assign_busses():
    k = Kernel.boot(renumber_fabric())
    k.preserve("05:00.0")
    k1 = next_kernel(k, k.kexec(), params="pci=assign-busses")
    d = devs(k1)
    assert d["0000:05:00.0"]["incoming"] and d["0000:00:01.0"]["secondary"] == 5
    assert d["0000:00:02.0"]["secondary"] == 1          # every bridge inherits (global)


def test_reset_bridge_is_skipped_and_hides_its_subtree():
    k = Kernel.boot(switch_fabric(dsp1={"reset_on_kexec": True}))
    k.preserve("03:00.0")
    k1 = next_kernel(k, k.kexec())
    lines = k1.log.lines()
    assert "pci 0000:02:01.0: bridge configuration invalid ([bus 00-00]), reconfiguring" in lines
    assert "pci 0000:02:01.0: Cannot reconfigure bridge during Live Update, skipping" in lines
    rep = {d["uid"]: d for d in k1.report()["devices"]}
    assert rep["0000:04:00.0"]["enumerated"] is False
    assert rep["0000:03:00.0"]["incoming"] is True
    # once everything is finished a rescan numbers the bridge normally
    k1.finish("03:00.0")
    k1.rescan()
    assert "0000:04:00.0" in k1.by_uid
