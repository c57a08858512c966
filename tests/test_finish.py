# SPDX-License-Identifier: GPL-2.0-only
"""Finish: ``pci_liveupdate_finish()`` in the next kernel (pci-liveupdate-v6.md §3.6, §5.2): the
walk up the path, the refcounts written into the incoming blob, and the FLB references that
keep the incoming data alive until the last device and file are finished.
"""
from __future__ import annotations

import struct

from pcilu_cli.kernel import Kernel, liveupdate as lu
from tests.inmemory_kexec import next_kernel
from tests.kernel_fabrics import (
    RP, USP, DSP0, DSP1, EP0, EP1, slots, hdr, new_lines, two_ep_next_kernel, switch_fabric)


def test_s3_6_incoming_reference_held_per_incoming_pci_dev():
    """§3.6: refs = files + one per incoming pci_dev; pci_flb_finish runs only when both
    are gone."""
    k, k1 = two_ep_next_kernel()
    flb = k1.pci_flb
    incoming = [d for d in k1.devices.values() if d.incoming is not None]
    assert len(incoming) == 6                         # 2 EPs, 2 DSPs, USP, RP
    assert flb.in_count == 2 + 6                      # 2 files + 6 devices
    lu.pci_liveupdate_finish(k1, k1.dev(EP0))         # direct: the files still hold refs
    assert flb.in_count == 2 + 4 and not flb.finished
    lu.pci_liveupdate_finish(k1, k1.dev(EP1))
    assert flb.in_count == 2 and not flb.finished and not k1.incoming_freed
    for _name, files in k1.luo.in_sessions.items():
        for f in list(files):
            k1.luo.finish_file(f)                     # each: "Cannot finish ..." + put
    assert flb.finished and k1.incoming_freed


def test_s3_6_unfinished_bridge_keeps_the_flb_alive():
    """§3.6: every dependent file finished, but a bridge whose preserved child was never
    enumerated stays incoming and keeps its reference: no pci_flb_finish (v6 leaks)."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    k.preserve(EP1)
    h = k.kexec()
    h.fabric.by_uid(EP1).knobs = {"power_state": "D3cold"}   # EP1 does not answer
    k1 = next_kernel(k, h)
    assert EP1 not in {d.name for d in k1.devices.values()}
    k1.finish(EP0)
    _s, f = k1.luo.find_incoming_file(0x0400)         # file of a device that is not there
    k1.luo.finish_file(f)
    assert k1.is_incoming(DSP1) and k1.is_incoming(USP) and k1.is_incoming(RP)
    assert not k1.pci_flb.finished and not k1.incoming_freed
    assert k1.pci_flb.in_count == 3                   # DSP1, USP, RP


def test_s5_2_finish_writes_refcounts_into_the_incoming_blob():
    k, k1 = two_ep_next_kernel()
    before = slots(k1.incoming_blob())
    assert hdr(k1.incoming_blob())[1] == 6
    k1.finish(EP0)
    blob = k1.incoming_blob()
    assert hdr(blob)[1] == 4                          # EP0 and DSP0 reached 0
    after = slots(blob)
    assert (0, 0x300) not in after and (0, 0x200) not in after
    assert after[(0, 0x100)] == (before[(0, 0x100)][0], 1)
    assert after[(0, 0x008)] == (before[(0, 0x008)][0], 1)
    # the finished entries keep domain/bdf: only the refcount is written
    i = before[(0, 0x300)][0]
    assert struct.unpack_from("<IHH", blob, 8 + 8 * i) == (0, 0x300, 0)
    # and the pages the Machine writes back carry the same bytes
    assert bytes(k1.incoming_pages()[0][1]) == blob


def test_s5_2_finish_on_unpreserved_device_and_zero_refcount():
    k, k1 = two_ep_next_kernel()
    start = len(k1.log)
    lu.pci_liveupdate_finish(k1, k1.dev("00:00.0"))   # host bridge: not incoming
    assert new_lines(k1, start) == [
        "pci 0000:00:00.0: Cannot finish preserving an unpreserved device"]
    ser = k1.pci_flb.in_obj.ser
    ser.set_refcount(k1.dev(DSP0).incoming, 0)
    start = len(k1.log)
    lu.pci_liveupdate_finish(k1, k1.dev(EP0))
    assert new_lines(k1, start) == [
        f"pci {EP0}: Device is finished participating in Live Update",
        f"WARNING: pci {DSP0}: Preserved device has a 0 refcount!"]
    assert ser.refcount(k1.dev(USP).incoming) == 2    # walk stopped


def test_finish_walks_up_and_flb_freed_last():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k.preserve("04:00.0")
    k1 = next_kernel(k, k.kexec())
    assert sum(d.incoming is not None for d in k1.devices.values()) == 6
    r = k1.finish("03:00.0")
    assert r["messages"] == [
        "pci 0000:03:00.0: Device is finished participating in Live Update",
        "pci 0000:02:00.0: Device is finished participating in Live Update"]
    assert k1.is_incoming("01:00.0") and not k1.pci_flb.finished
    r = k1.finish("04:00.0")
    assert r["messages"][-2:] == [
        "pci 0000:01:00.0: Device is finished participating in Live Update",
        "pci 0000:00:01.0: Device is finished participating in Live Update"]
    assert k1.pci_flb.finished and k1.incoming_freed


def test_the_incoming_file_of_a_device_is_the_first_unfinished_in_session_order():
    """The incoming file of a device: a device key met in two sessions resolves to the first session's
    file until that one is finished, then to the second's; a key with no file, to none; and
    after a state reload (the sessions replaced) the lookup sees the reloaded files."""
    from types import SimpleNamespace
    from pcilu_cli.kernel.luo import Luo
    key = 0x0003_0400
    incoming = SimpleNamespace(sessions=[
        ("vm-a", [("pci-v6", 11, key), ("pci-v6", 12, 0x0003_0500)]),
        ("vm-b", [("pci-v6", 21, key)])])
    luo = Luo(True, incoming=incoming)
    name, f = luo.find_incoming_file(key)
    assert (name, f.data) == ("vm-a", 11)
    f.finished = True
    name, f = luo.find_incoming_file(key)
    assert (name, f.data) == ("vm-b", 21)
    f.finished = True
    assert luo.find_incoming_file(key) == (None, None)
    assert luo.find_incoming_file(0x0003_0600) == (None, None)
    state = luo.to_state()
    state["in_sessions"][1][1][0][5] = False          # vm-b's file unfinished in the file
    luo.load_state(state)
    name, f = luo.find_incoming_file(key)
    assert (name, f.data, f.finished) == ("vm-b", 21, False)
