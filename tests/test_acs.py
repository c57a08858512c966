# SPDX-License-Identifier: GPL-2.0-only
"""ACS (``pci_enable_acs()`` and the v6 liveupdate short-circuit; pci-liveupdate-v6.md §7,
pci-fabric.md §2.2): normal ACS bits, ``config_acs``/``disable_acs_redir``, and ACS Control
captured and re-imposed on preserved bridges.
"""
from __future__ import annotations

from pcilu_cli.fabric.build import FabricBuilder, small_fabric
from pcilu_cli.kernel import Kernel, acs as kacs, liveupdate as lu
from tests.inmemory_kexec import next_kernel
from tests.kernel_fabrics import EINVAL, new_lines, devs


# == §7 ACS ===================================================================================
def acs_fabric():
    b = FabricBuilder("acs")
    b.add_function("0000:00:01.0", kind="root_port", acs=(0x7F, 0x60))   # EC|DT only
    b.add_function("0000:01:00.0", "0000:00:01.0")
    b.add_function("0000:00:02.0", kind="root_port", acs=(0x7F, 0x60))   # sibling
    b.add_function("0000:02:00.0", "0000:00:02.0")
    return b.build()


def test_fabric_2_2_normal_acs_bits():
    """fabric §2.2: SV|RR|CR|UF when an IOMMU asked; TB only with ATS off; EC/DT kept
    from firmware, never set."""
    k = Kernel.boot(acs_fabric())
    assert k.dev("00:01.0").fn.acs_ctrl == 0x60 | 0x1D
    k = Kernel.boot(acs_fabric(), params="pci=noats")
    assert k.dev("00:01.0").fn.acs_ctrl == 0x60 | 0x1F
    k = Kernel.boot(acs_fabric(), params="iommu=off")
    assert k.dev("00:01.0").fn.acs_ctrl == 0x60


def test_s7_3_whole_acs_ctrl_captured_and_reimposed_after_finish():
    k = Kernel.boot(acs_fabric())
    k.preserve("01:00.0")
    h = k.kexec()
    h.fabric.by_uid("0000:00:01.0").acs_ctrl = 0x6A     # as found after kexec: EC|DT|CR|TB
    h.fabric.by_uid("0000:00:02.0").acs_ctrl = 0x6A
    k1 = next_kernel(k, h, params="pci=noats,disable_acs_redir=0000:00:01.0")
    rp, sib = k1.dev("00:01.0"), k1.dev("00:02.0")
    assert rp.acs_ctrl == 0x6A and rp.fn.acs_ctrl == 0x6A        # verbatim, no policy
    # the non-preserved sibling gets the normal path (+SV|RR|CR|UF|TB)
    assert sib.fn.acs_ctrl == 0x6A | 0x1F
    k1.finish("01:00.0")
    assert not k1.is_incoming("00:01.0")
    rp.fn.acs_ctrl = 0                                 # e.g. a reset; pci_restore_state()
    kacs.pci_enable_acs(k1, rp)
    assert rp.fn.acs_ctrl == 0x6A


def test_s7_3_was_preserved_device_that_now_needs_a_quirk():
    k = Kernel.boot(acs_fabric())
    k.preserve("01:00.0")
    k1 = next_kernel(k, k.kexec())
    rp = k1.dev("00:01.0")
    k1._quirk_cache[rp.key] = True
    start = len(k1.log)
    assert lu.pci_liveupdate_enable_acs(k1, rp) == EINVAL
    assert lu.pci_liveupdate_enable_acs(k1, rp) == EINVAL
    lines = new_lines(k1, start)
    assert lines.count("pci 0000:00:01.0: Device-specific quirk required to enable ACS!") == 2
    assert sum(m.startswith("WARNING: ") for m in lines) == 1     # WARN_ON_ONCE


def test_s7_3_init_acs_only_for_incoming_devices():
    k = Kernel.boot(acs_fabric())
    k.preserve("01:00.0")
    k1 = next_kernel(k, k.kexec())
    assert k1.dev("00:01.0").acs_ctrl != 0
    assert k1.dev("00:02.0").acs_ctrl == 0 and not k1.dev("00:02.0").was_preserved


# == fabric §2.2: the command-line ACS overrides ==============================================
def test_fabric_2_2_config_acs_skipped_when_a_disable_acs_redir_quirk_handles_the_device():
    """fabric §2.2 step 5: __pci_config_acs() stops when pci_dev_specific_disable_acs_redir()
    returns 0 (the Sunrise Point PCH entry); other devices get the override."""
    b = FabricBuilder("spt")
    b.add_function("0000:00:1c.0", vendor=0x8086, device=0xA110, kind="root_port",
                   acs=(0x1F, 0x00))
    b.add_function("0000:00:1d.0", vendor=0x8086, device=0x7075, kind="root_port",
                   acs=(0x1F, 0x00))
    k = Kernel.boot(b.build(), params="pci=config_acs=1@0000:00:1c.0;1@0000:00:1d.0")
    assert k.dev("00:1c.0").fn.acs_ctrl == 0x00
    assert k.dev("00:1d.0").fn.acs_ctrl == 0x01         # from fw_ctrl: SV|RR|CR|UF dropped
    assert [m for m in k.log.lines() if "Configured ACS" in m] == [
        "pci 0000:00:1d.0: Configured ACS to 0x0001"]


def test_fabric_2_2_invalid_flag_character_message():
    k = Kernel.boot(small_fabric("virtio"), params="pci=config_acs=1z@0000:00:01.0")
    assert "pci 0000:00:01.0: Invalid ACS flags... Ignoring" in k.log.lines()


def test_acs_inherited_despite_config_acs():
    cmd = "pci=config_acs=0000000@0000:00:01.0,disable_acs_redir=0000:00:01.0"
    fresh = Kernel.boot(small_fabric("virtio"), params=cmd)
    assert devs(fresh)["0000:00:01.0"]["acs_ctrl"] == 0
    assert "pci 0000:00:01.0: Configured ACS to 0x0000" in fresh.log.lines()
    k = Kernel.boot(small_fabric("virtio"))
    k.preserve("01:00.0")
    k1 = next_kernel(k, k.kexec(), params=cmd)
    rp = devs(k1)["0000:00:01.0"]
    assert rp["acs_ctrl"] == 0x1D and rp["acs_inherited"]
    k1.finish("01:00.0")                     # inheritance outlives finish (was_preserved)
    assert k1.devices[0x0008].was_preserved and not k1.devices[0x0008].incoming
