# SPDX-License-Identifier: GPL-2.0-only
"""Audit of the simulated v6 kernel against pci-liveupdate-v6.md, rule by rule.

Each test names the spec section it pins (``pci-liveupdate-v6.md`` unless said otherwise;
``fabric §2.x`` is pci-fabric.md, ``luo §2.4`` is kho-luo-abi.md). The expected values are
worked out from the spec text, not read back from the simulator.
"""
from __future__ import annotations

import struct

import pytest

from pcilu_cli.errors import KernelRefusal
from pcilu_cli.fabric.build import FabricBuilder, small_fabric
from pcilu_cli.kernel import Kernel
from tests.inmemory_kexec import InMemoryIncoming, next_kernel
from pcilu_cli.kernel import acs as kacs
from pcilu_cli.kernel import liveupdate as lu
from pcilu_cli.kernel import shutdown as kshutdown
from tests.kernel_fabrics import switch_fabric

EINVAL, EBUSY, ENOSPC, ENOENT, EOPNOTSUPP = -22, -16, -28, -2, -95

# switch_fabric(): RP 00:01.0 → USP 01:00.0 → DSP0 02:00.0 → EP0 03:00.0
#                                          → DSP1 02:01.0 → EP1 04:00.0   (+ host bridge)
RP, USP, DSP0, DSP1, EP0, EP1 = ("0000:00:01.0", "0000:01:00.0", "0000:02:00.0",
                                 "0000:02:01.0", "0000:03:00.0", "0000:04:00.0")


def entry(domain, bdf, rc):
    return struct.pack("<IHH", domain, bdf, rc)


def slots(blob):
    """{bdf: (slot, refcount)} of the in-use entries of a flex-era blob."""
    max_nr = struct.unpack_from("<I", blob, 0)[0]
    out = {}
    for i in range(max_nr):
        d, b, rc = struct.unpack_from("<IHH", blob, 8 + 8 * i)
        if rc:
            out[(d, b)] = (i, rc)
    return out


def hdr(blob):
    return struct.unpack_from("<II", blob, 0)


def new_lines(k, start):
    return k.log.lines(start)


def two_ep_next_kernel(**knobs):
    k = Kernel.boot(switch_fabric(**knobs))
    k.preserve(EP0)
    k.preserve(EP1)
    return k, next_kernel(k, k.kexec())


# == §4.1 pci_liveupdate_preserve(): order of checks and errnos ===============================
def test_s4_1_vf_einval_is_checked_before_the_flb_lookup():
    """§4.1 step 1: a VF gets -EINVAL even with LUO disabled or no outgoing blob."""
    for params in ("liveupdate=off", None):
        k = Kernel.boot(small_fabric("sriov"), params=params)
        vf = next(d for d in k.devices.values() if d.is_virtfn)
        pf = vf.physfn
        assert lu.pci_liveupdate_preserve(k, vf) == EINVAL
        # the non-VF start device reaches the FLB lookup
        assert lu.pci_liveupdate_preserve(k, pf) == (EOPNOTSUPP if params else ENOENT)
        assert not any("Virtual" in m for m in k.log.lines())     # v6: silent refusal


def test_s4_1_frozen_ancestor_rolls_back_only_devices_below_it():
    """§4.1 step 4.1 + step 5: frozen bridge → -EINVAL, M13 on the bridge, the devices below
    it are unpreserved once (M7), the frozen device and those above are untouched."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    before = k.outgoing_blob()
    lu.pci_liveupdate_freeze(k, k.dev(USP))
    start = len(k.log)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve(EP1)
    assert ei.value.errno_name == "EINVAL"
    assert new_lines(k, start) == [
        f"pci {EP1}: Device will be preserved across next Live Update",
        f"pci {DSP1}: Device will be preserved across next Live Update",
        f"pci {USP}: Cannot preserve device after it is frozen!",
        f"pci {EP1}: Device will no longer be preserved across next Live Update",
        f"pci {DSP1}: Device will no longer be preserved across next Live Update"]
    assert k.outgoing_blob() == before
    assert k.dev(USP).outgoing is not None and k.dev(DSP1).outgoing is None


def test_s4_1_preserve_again_with_zero_refcount_warns_m10():
    """§4.1 step 4.2: an outgoing device whose entry reads refcount 0 → pci_WARN M10,
    -EINVAL, rollback of the devices below it."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    ser = k.pci_flb.out_obj
    ser.set_refcount(k.dev(USP).outgoing, 0)          # corruption
    start = len(k.log)
    assert lu.pci_liveupdate_preserve(k, k.dev(EP1)) == EINVAL
    lines = new_lines(k, start)
    assert lines[2] == f"WARNING: pci {USP}: Preserved device with 0 refcount!"
    assert lines[3:] == [
        f"pci {EP1}: Device will no longer be preserved across next Live Update",
        f"pci {DSP1}: Device will no longer be preserved across next Live Update"]


def test_s4_1_bridge_without_child_bus_is_ebusy_like_an_endpoint():
    """§4.1 step 4.2: -EBUSY whenever d.subordinate is NULL, bridges included (a bridge
    skipped for lack of bus numbers has no child bus); no message."""
    k0 = Kernel.boot(switch_fabric(dsp1={"reset_on_kexec": True}))
    k0.preserve(EP0)
    k = next_kernel(k0, k0.kexec())
    dsp1 = k.dev(DSP1)
    assert dsp1.subordinate is None
    k.preserve(EP0)                                   # outgoing blob exists
    assert lu.pci_liveupdate_preserve(k, dsp1) == 0
    start = len(k.log)
    assert lu.pci_liveupdate_preserve(k, dsp1) == EBUSY
    assert new_lines(k, start) == []
    # a bridge with a child bus just counts (and so do its ancestors)
    ser = k.pci_flb.out_obj
    rc_rp = ser.refcount(k.dev(RP).outgoing)
    assert lu.pci_liveupdate_preserve(k, k.dev(DSP0)) == 0
    assert ser.refcount(k.dev(DSP0).outgoing) == 2
    assert ser.refcount(k.dev(RP).outgoing) == rc_rp + 1


def test_s4_1_acs_quirk_checked_only_at_first_preservation():
    """§4.1 step 4.3 / §7.2: the quirk check guards only the first entry; a device already
    outgoing is counted up even if it would now need a quirk."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    k._quirk_cache[k.dev(USP).key] = True             # USP "needs" a quirk from now on
    k.preserve(EP1)                                   # USP already outgoing: no refusal
    assert k.pci_flb.out_obj.refcount(k.dev(USP).outgoing) == 2


def test_s4_1_enospc_before_slot_search_and_after_quirk_check():
    """§4.1 step 4.3: quirk refusal comes before the -ENOSPC guard."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    ser = k.pci_flb.out_obj
    ser.nr_devices = ser.max_nr                       # "full"
    k._quirk_cache[k.dev(EP1).key] = True
    start = len(k.log)
    assert lu.pci_liveupdate_preserve(k, k.dev(EP1)) == EINVAL
    assert new_lines(k, start) == [
        f"pci {EP1}: Refusing to preserve device that relies on ACS quirks"]
    k._quirk_cache[k.dev(EP1).key] = False
    assert lu.pci_liveupdate_preserve(k, k.dev(EP1)) == ENOSPC


# == §4.3 slot search, §1.4 freed entries zeroed ==============================================
def test_s4_3_slot_search_wraps_and_s1_4_freed_entries_are_all_zero():
    b = FabricBuilder("wrap")
    for i in range(4):
        b.add_function(f"0000:00:{i + 1:02x}.0", kind="pci_endpoint", vendor=0x1234)
    k = Kernel.boot(b.build())                        # max_nr_devices = 4, no bridges
    for i in range(4):
        k.preserve(f"00:{i + 1:02x}.0")
    assert hdr(k.outgoing_blob()) == (4, 4)
    k.unpreserve("00:02.0")                           # slot 1 freed
    blob = k.outgoing_blob()
    assert blob[16:24] == bytes(8)                    # domain, bdf and refcount all zero
    assert hdr(blob) == (4, 3)
    k.unpreserve("00:01.0")                           # slot 0 freed, nr 2
    k.preserve("00:01.0")                             # start 2 (busy), 3 (busy), 0 → free
    assert slots(k.outgoing_blob())[(0, 0x08)] == (0, 1)
    k.preserve("00:02.0")                             # start 3, 0 busy, → 1
    assert slots(k.outgoing_blob())[(0, 0x10)] == (1, 1)
    with pytest.raises(KernelRefusal) as ei:
        k.unpreserve("00:02.0")
        k.preserve("00:02.0")
        k.preserve("00:02.0")
    assert ei.value.errno_name == "EBUSY"


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


# == §3 FLB lifecycle =========================================================================
def test_s3_2_max_nr_devices_counts_every_pci_dev_including_vfs():
    k = Kernel.boot(small_fabric("sriov"), params="dyndbg=+p")
    n = len(k.devices)
    assert sum(d.is_virtfn for d in k.devices.values()) == 4 and n == 7
    k.preserve("01:00.0")
    assert hdr(k.outgoing_blob()) == (n, 2)
    assert f"PCI: liveupdate: Preserved struct pci_ser with room for {n} devices" \
        in k.log.lines(debug=True)
    k.unpreserve("01:00.0")
    assert k.outgoing_blob() is None
    assert k.log.lines(debug=True)[-1] == "PCI: liveupdate: Unpreserved struct pci_ser"


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


# == §1.5 / §3.4 retrieve =====================================================================
def test_s1_5_domain_is_shifted_in_64_bits_so_no_collision():
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 2, 2) + entry(0x10000, 0x100, 1) + entry(0, 0x100, 1)
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3"))
    assert set(k.pci_flb.in_obj.xa) == {0x1_0000_0100, 0x100}
    assert k.is_incoming("01:00.0")


def test_s3_4_duplicate_is_retried_on_every_lookup_and_warns_once():
    """liveupdate_flb_get_incoming() reruns luo_flb_retrieve_one() while no object is cached
    (a failure is not remembered): every lookup — pci_liveupdate_setup_device() of each
    function, pci_liveupdate_scan_bridge_begin() pass 0 of each bridge scan,
    pci_liveupdate_finish() — calls pci_flb_retrieve() again, which kho_restore_free()s the
    same blob each time; WARN_ONCE prints once."""
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 3, 1) + entry(0, 0x100, 1) + bytes(8) + entry(0, 0x100, 1)
    inc = InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3")
    calls = []
    orig = lu.pci_flb_retrieve

    def counting(k, data):
        calls.append(data)
        return orig(k, data)
    lu.pci_flb_retrieve = counting
    try:
        k = Kernel.boot(fab, incoming=inc)
        at_boot = len(calls)
        k.rescan()
        after_rescan = len(calls)
        lu.pci_liveupdate_finish(k, k.dev("01:00.0"))
    finally:
        lu.pci_flb_retrieve = orig
    bridges = sum(1 for d in k.devices.values() if d.is_bridge)
    assert at_boot == len(k.devices) + bridges        # one per setup_device, one per bridge
    assert after_rescan == at_boot + bridges          # known devices: only the bridge scans
    assert len(calls) == after_rescan + 1             # and the finish
    assert k.incoming_free_calls == len(calls) > 1    # the same blob freed every time
    assert k.incoming_freed_pages == [inc.flb("pci-v3")[0]]
    assert "double free" in k.findings()[0] and f"{len(calls)} times" in k.findings()[0]
    lines = k.log.lines()
    assert lines.count("WARNING: Failed to retrieve incoming FLB data") == 1
    assert "No incoming FLB matched pci-v3" not in " ".join(lines)
    assert lines[-1] == "pci 0000:01:00.0: Cannot finish preserving device without incoming FLB"


def test_s3_4_no_match_is_pr_info_once_with_pr_fmt():
    fab = small_fabric("switch")
    blob = struct.pack("<II", 1, 1) + entry(0, 0x300, 1)
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, blob, "pci-v2"))
    k.rescan()
    lu.pci_liveupdate_finish(k, k.dev("03:00.0"))
    assert k.log.lines().count("PCI: liveupdate: No incoming FLB matched pci-v3") == 1
    assert k.log.entries[0][0] == "info"


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


# == §4.4 / §5.5 removal and re-add ===========================================================
def test_s4_4_removing_an_outgoing_device_warns_and_unpreserves_its_path():
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    r = k.hot_remove(EP0)
    assert r["messages"] == [
        f"WARNING: pci {EP0}: Destroying outgoing-preserved device!",
        f"pci {EP0}: Device will no longer be preserved across next Live Update",
        f"pci {DSP0}: Device will no longer be preserved across next Live Update",
        f"pci {USP}: Device will no longer be preserved across next Live Update",
        f"pci {RP}: Device will no longer be preserved across next Live Update"]
    assert hdr(k.outgoing_blob())[1] == 0


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


def test_s5_5_t58_bridge_with_unenumerated_descendants_is_incoming_again():
    """§5.5 / T58: USP lost its bus numbers, so nothing below it was enumerated; its
    refcount is 2. Removing it performs one path finish (2→1): it stays incoming, its FLB
    reference leaks, and the re-added USP is incoming again with a new reference."""
    k, k1 = two_ep_next_kernel(usp={"reset_on_kexec": True})
    usp = k1.dev(USP)
    assert usp.subordinate is None and k1.pci_flb.in_obj.ser.refcount(usp.incoming) == 2
    refs = k1.pci_flb.in_count
    r = k1.hot_remove(USP)
    assert r["messages"] == [f"WARNING: pci {USP}: Destroying incoming-preserved device!"]
    assert usp.incoming is not None                   # dying pci_dev keeps it
    assert k1.pci_flb.in_count == refs                # its reference leaked
    assert k1.pci_flb.in_obj.ser.refcount(usp.incoming) == 1
    r = k1.rescan()
    assert r["added"] == [USP]
    new = k1.dev(USP)
    assert new is not usp and new.incoming is not None and new.was_preserved
    assert f"pci {USP}: Device was preserved by previous kernel across Live Update" \
        in r["messages"]
    assert k1.pci_flb.in_count == refs + 1


def test_s5_5_re_added_finished_device_is_not_incoming_and_not_was_preserved():
    k, k1 = two_ep_next_kernel()
    k1.finish(EP0)
    k1.hot_remove(EP0)
    r = k1.rescan()
    assert r["added"] == [EP0]
    assert r["messages"] == []
    assert not k1.is_incoming(EP0) and not k1.dev(EP0).was_preserved


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


# == §8 ARI ===================================================================================
def ari_fabric(child_ari: bool):
    b = FabricBuilder("ari")
    b.add_function("0000:00:01.0", kind="root_port", ari_forwarding=(True, True))
    b.add_function("0000:01:00.0", "0000:00:01.0",
                   ari_next_function=0 if child_ari else None)
    return b.build()


def test_s8_incoming_bridge_keeps_hardware_ari_bit_regardless_of_child():
    k = Kernel.boot(ari_fabric(child_ari=True))
    assert k.dev("00:01.0").ari_enabled
    k.preserve("01:00.0")
    h = k.kexec()
    # the child lost its ARI capability view: normal logic would clear the bit
    k1 = next_kernel(k, h)
    rp = k1.dev("00:01.0")
    assert rp.ari_enabled and rp.fn.ari_forwarding
    # bit lost during kexec: ari_enabled follows hardware (False), even with an ARI child
    k2 = Kernel.boot(ari_fabric(child_ari=True))
    k2.preserve("01:00.0")
    h2 = k2.kexec()
    h2.fabric.by_uid("0000:00:01.0").ari_forwarding = False
    k3 = next_kernel(k2, h2)
    assert not k3.dev("00:01.0").ari_enabled and not k3.dev("00:01.0").fn.ari_forwarding


def test_s8_ari_keyed_on_incoming_not_was_preserved():
    k = Kernel.boot(ari_fabric(child_ari=False))
    k.dev("00:01.0").fn.ari_forwarding = True
    k.preserve("01:00.0")
    h = k.kexec()
    h.fabric.by_uid("0000:00:01.0").ari_forwarding = True
    k1 = next_kernel(k, h)
    rp = k1.dev("00:01.0")
    assert rp.ari_enabled                              # inherited, child has no ARI cap
    k1.finish("01:00.0")
    k1.hot_remove("01:00.0")
    k1.rescan()                                        # normal logic now: clear
    assert rp.was_preserved and not rp.ari_enabled and not rp.fn.ari_forwarding


# == §9 freeze, §10 BME =======================================================================
def test_s9_is_outgoing_warns_once_when_not_frozen():
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    assert lu.pci_liveupdate_is_outgoing(k, k.dev(EP0)) is True
    assert lu.pci_liveupdate_is_outgoing(k, k.dev(EP1)) is False
    warns = [m for m in k.log.lines() if "unstable" in m]
    assert warns == [f"WARNING: pci {EP0}: Preservation status is unstable!"]


def test_s10_bme_not_touched_without_kexec_and_no_unstable_warn():
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    kshutdown.device_shutdown(k, kexec_in_progress=False)
    assert all(d.fn.bus_master for d in k.devices.values() if d.name != "0000:00:00.0")
    assert all(d.frozen for d in k.devices.values())
    assert not any("unstable" in m for m in k.log.lines())


def test_s10_bme_kept_for_d3cold_and_outgoing_cleared_for_others_on_kexec():
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    k.dev(EP1).fn.knobs = {"power_state": "D3cold"}
    kshutdown.device_shutdown(k, kexec_in_progress=True)
    bme = {d.name: d.fn.bus_master for d in k.devices.values()}
    assert bme[EP1] and bme[EP0] and bme[DSP0] and bme[USP] and bme[RP]
    assert not bme[DSP1]
    assert not any("unstable" in m for m in k.log.lines())


# == §12 catalogue details ====================================================================
def test_s12_register_flb_debug_line_and_levels():
    k = Kernel.boot(small_fabric("virtio"), params="dyndbg=+p")
    assert k.log.entries[0] == ("debug",
                                'PCI: liveupdate: Registering file handler "vfio-pci-v1"')
    k.preserve("01:00.0")
    levels = {t: l for l, t in k.log.entries}
    assert levels["pci 0000:01:00.0: Device will be preserved across next Live Update"] \
        == "info"


# == §4.4 release order of a removed subtree (remove.c) =======================================
def test_s4_4_subtree_released_in_list_order_children_before_bridge():
    """pci_remove_bus_device() walks each bus in list order, depth first: EP0's release
    unpreserves its path before EP1's; the bridges reach 0 on the last child."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    k.preserve(EP1)
    r = k.hot_remove(USP)
    assert r["removed"] == [EP0, DSP0, EP1, DSP1, USP]
    assert r["messages"] == [
        f"WARNING: pci {EP0}: Destroying outgoing-preserved device!",
        f"pci {EP0}: Device will no longer be preserved across next Live Update",
        f"pci {DSP0}: Device will no longer be preserved across next Live Update",
        f"WARNING: pci {EP1}: Destroying outgoing-preserved device!",
        f"pci {EP1}: Device will no longer be preserved across next Live Update",
        f"pci {DSP1}: Device will no longer be preserved across next Live Update",
        f"pci {USP}: Device will no longer be preserved across next Live Update",
        f"pci {RP}: Device will no longer be preserved across next Live Update"]


def test_s4_4_vfs_released_in_the_stop_phase_before_their_pf():
    k = Kernel.boot(small_fabric("sriov"))
    vfs = sorted(d.name for d in k.devices.values() if d.is_virtfn)
    r = k.hot_remove("00:01.0")
    assert r["removed"] == vfs + ["0000:01:00.0", "0000:00:01.0"]
    k.rescan()
    assert sorted(d.name for d in k.devices.values() if d.is_virtfn) == vfs


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
