# SPDX-License-Identifier: GPL-2.0-only
"""Unpreserve: the walk of ``pci_liveupdate_unpreserve()`` up a device's path
(pci-liveupdate-v6.md §4.2): where it stops, what it logs, and a bridge unpreserved directly.
"""
from __future__ import annotations

from pcilu_cli.kernel import Kernel, liveupdate as lu
from tests.kernel_fabrics import RP, USP, DSP0, EP0, new_lines, devs, switch_fabric


# == §4.2 unpreserve walk =====================================================================
def test_s4_2_unpreserve_stops_at_first_error_not_preserved():
    """§4.2: M8 on the first device that is not outgoing; the walk stops, ancestors keep
    their counts."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    ser = k.pci_flb.out_obj
    dsp0 = k.dev(DSP0)
    ser.zero_entry(dsp0.outgoing)
    ser.nr_devices = ser.nr_devices - 1
    dsp0.outgoing = None                              # corruption: DSP0 lost its entry
    start = len(k.log)
    lu.pci_liveupdate_unpreserve(k, k.dev(EP0))
    assert new_lines(k, start) == [
        f"pci {EP0}: Device will no longer be preserved across next Live Update",
        f"pci {DSP0}: Cannot unpreserve device that is not preserved"]
    assert ser.refcount(k.dev(USP).outgoing) == 1 and ser.refcount(k.dev(RP).outgoing) == 1


def test_s4_2_unpreserve_zero_refcount_and_frozen_and_no_state():
    k = Kernel.boot(switch_fabric())
    # M11: no outgoing blob
    start = len(k.log)
    lu.pci_liveupdate_unpreserve(k, k.dev(EP0))
    assert new_lines(k, start) == [
        f"pci {EP0}: Cannot unpreserve device without outgoing Live Update state"]
    k.preserve(EP0)
    ser = k.pci_flb.out_obj
    ser.set_refcount(k.dev(USP).outgoing, 0)
    start = len(k.log)
    lu.pci_liveupdate_unpreserve(k, k.dev(EP0))
    assert new_lines(k, start)[-1] == f"WARNING: pci {USP}: Preserved device has a 0 refcount!"
    assert ser.refcount(k.dev(RP).outgoing) == 1      # not reached
    # M14: frozen stops the walk at that device
    k2 = Kernel.boot(switch_fabric())
    k2.preserve(EP0)
    lu.pci_liveupdate_freeze(k2, k2.dev(DSP0))
    start = len(k2.log)
    lu.pci_liveupdate_unpreserve(k2, k2.dev(EP0))
    assert new_lines(k2, start) == [
        f"pci {EP0}: Device will no longer be preserved across next Live Update",
        f"pci {DSP0}: Cannot unpreserve device after it is frozen!"]


def test_unpreserve_bridge_directly_is_allowed_and_reported():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    r = k.unpreserve("02:00.0")
    assert r["direct"] and r["corrupts_counts"]
    d = devs(k)
    assert not d["0000:02:00.0"]["outgoing"] and d["0000:03:00.0"]["outgoing"]
    assert not d["0000:00:01.0"]["outgoing"]
