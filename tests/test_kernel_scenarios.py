# SPDX-License-Identifier: GPL-2.0-only
"""Scenario tests of the simulated v6 kernel: a small fabric, a sequence of operations, the
expected state, bytes and kernel messages (pci-liveupdate-v6.md sections cited per test)."""
from __future__ import annotations

import json
import struct

import pytest

from pcilu_cli.errors import KernelRefusal
from pcilu_cli.fabric.build import FabricBuilder, small_fabric
from pcilu_cli.kernel import Kernel, parse_cmdline
from tests.inmemory_kexec import InMemoryIncoming, next_kernel
from tests.kernel_fabrics import switch_fabric


def entry(domain, bdf, rc):
    return struct.pack("<IHH", domain, bdf, rc)


def devs(k):
    return {d["bdf"]: d for d in k.report()["devices"] if d["bdf"]}




# -- §1.6 and §4.3: byte-exact blobs ---------------------------------------------------------
def test_worked_byte_example_section_1_6():
    b = FabricBuilder("six")
    b.add_function("0000:00:00.0", kind="host_bridge")
    b.add_function("0000:00:02.0", kind="root_port")
    b.add_function("0000:01:00.0", "0000:00:02.0")
    b.add_function("0000:00:03.0")
    b.add_function("0000:00:1f.0", multifunction=True)
    b.add_function("0000:00:1f.2")
    k = Kernel.boot(b.build())
    assert len(k.devices) == 6
    k.preserve("0000:01:00.0")
    blob = k.outgoing_blob()
    expected = bytes.fromhex("06000000" "02000000"
                             "0000000000010100" "0000000010000100") + bytes(32)
    assert blob == expected
    assert k.log.lines()[-2:] == [
        "pci 0000:01:00.0: Device will be preserved across next Live Update",
        "pci 0000:00:02.0: Device will be preserved across next Live Update"]


def test_slot_search_section_4_3():
    # two conventional PCI bridges (no only-one-child rule) so R can hold A and B
    b = FabricBuilder("slots")
    b.add_function("0000:00:00.0", kind="host_bridge")
    b.add_function("0000:00:01.0", kind="pci_bridge")      # R
    b.add_function("0000:01:00.0", "0000:00:01.0", kind="pci_endpoint")   # A
    b.add_function("0000:01:01.0", "0000:00:01.0", kind="pci_endpoint")   # B
    b.add_function("0000:00:02.0", kind="pci_bridge")      # R2
    b.add_function("0000:02:00.0", "0000:00:02.0", kind="pci_endpoint")   # C
    k = Kernel.boot(b.build())
    k.preserve("01:00.0")
    k.preserve("01:01.0")
    k.unpreserve("01:00.0")
    k.preserve("02:00.0")
    want = (struct.pack("<II", 6, 4) + bytes(8) + entry(0, 0x0008, 1) + entry(0, 0x0108, 1)
            + entry(0, 0x0200, 1) + entry(0, 0x0010, 1) + bytes(8))
    assert k.outgoing_blob() == want


# -- refusals and exact rollback -------------------------------------------------------------
def snapshot(k):
    return (k.outgoing_blob(), json.dumps(k.luo.to_state(), sort_keys=True),
            {d.key: (d.outgoing, d.frozen) for d in k.devices.values()})


def test_second_endpoint_preserve_is_ebusy_and_leaves_no_trace():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    before = snapshot(k)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("03:00.0")                 # same session: new token, PCI core says busy
    assert ei.value.errno_name == "EBUSY" and ei.value.kernel_message is None
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("03:00.0", session="other")
    assert ei.value.errno_name == "EBUSY"
    assert snapshot(k) == before


def test_bridge_preserved_twice_just_counts():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k.preserve("02:00.0")                     # a bridge with a child bus: no -EBUSY
    d = devs(k)
    assert d["0000:02:00.0"]["outgoing_refcount"] == 2
    assert d["0000:00:01.0"]["outgoing_refcount"] == 2


def test_vf_refused_with_einval_before_anything():
    k = Kernel.boot(small_fabric("sriov"))
    vfs = [d for d in k.devices.values() if d.is_virtfn]
    assert len(vfs) == 4 and all(v.physfn.name == "0000:01:00.0" for v in vfs)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve(vfs[0].name)
    assert ei.value.errno_name == "EINVAL"
    assert k.outgoing_blob() is None and k._allocator.used == {}
    assert k.luo.sessions == {}


def test_acs_quirk_refusal_rolls_back_the_path():
    k = Kernel.boot(switch_fabric(usp={"acs_quirk": True}))
    k.preserve("00:00.0")                    # the host bridge: blob exists, root bus only
    before = snapshot(k)
    start = len(k.log)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("04:00.0")
    assert ei.value.errno_name == "EINVAL"
    assert ei.value.kernel_message == \
        "pci 0000:01:00.0: Refusing to preserve device that relies on ACS quirks"
    assert k.log.lines(start) == [
        "pci 0000:04:00.0: Device will be preserved across next Live Update",
        "pci 0000:02:01.0: Device will be preserved across next Live Update",
        "pci 0000:01:00.0: Refusing to preserve device that relies on ACS quirks",
        "pci 0000:04:00.0: Device will no longer be preserved across next Live Update",
        "pci 0000:02:01.0: Device will no longer be preserved across next Live Update"]
    assert snapshot(k) == before


def test_enospc_when_devices_appear_after_first_preserve():
    k = Kernel.boot(switch_fabric())
    k.hot_remove("04:00.0")                  # 6 pci_devs left when the blob is sized
    k.preserve("03:00.0")                    # EP0, DSP0, USP, RP
    k.preserve("00:00.0")                    # 5 of 6
    k.rescan()
    assert "0000:04:00.0" in devs(k)
    before = snapshot(k)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("04:00.0")                # EP1 takes slot 6/6, DSP1 finds no room
    assert ei.value.errno_name == "ENOSPC"
    assert snapshot(k) == before
    assert struct.unpack_from("<II", k.outgoing_blob()) == (6, 5)


def test_freeze_refusals():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k.freeze()
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("04:00.0")
    assert ei.value.errno_name == "EINVAL"
    assert ei.value.kernel_message == \
        "pci 0000:04:00.0: Cannot preserve device after it is frozen!"
    blob = k.outgoing_blob()
    r = k.unpreserve("03:00.0")
    # the file goes away, the PCI core refuses, and LUO then frees a blob with nr != 0
    assert "pci 0000:03:00.0: Cannot unpreserve device after it is frozen!" in r["messages"]
    assert any(m.startswith("WARNING: ") and "nr_devices" in m for m in r["messages"])
    assert struct.unpack_from("<II", blob) == (7, 4)


# -- kexec and the next kernel ---------------------------------------------------------------
def test_bus_master_kept_on_exactly_the_preserved_path():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    h = k.kexec()
    bme = {fn.uid: fn.bus_master for fn in h.fabric.functions()}
    assert bme == {"0000:00:00.0": False, "0000:00:01.0": True, "0000:01:00.0": True,
                   "0000:02:00.0": True, "0000:03:00.0": True,
                   "0000:02:01.0": False, "0000:04:00.0": False}


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


def test_ari_inherited_despite_noari():
    fresh = Kernel.boot(small_fabric("sriov"), params="pci=noari")
    assert devs(fresh)["0000:00:01.0"]["ari_forwarding"] is False
    k = Kernel.boot(small_fabric("sriov"))
    assert devs(k)["0000:00:01.0"]["ari_forwarding"] is True
    k.preserve("01:00.0")
    k1 = next_kernel(k, k.kexec(), params="pci=noari")
    rp = devs(k1)["0000:00:01.0"]
    assert rp["ari_forwarding"] is True and rp["ari_inherited"] is True


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


def test_duplicate_entries_warn_and_nothing_is_incoming():
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 3, 2) + entry(0, 0x100, 1) + entry(0, 0x100, 1) + bytes(8)
    inc = InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3")
    k = Kernel.boot(fab, incoming=inc)
    assert k.log.lines().count("WARNING: Failed to retrieve incoming FLB data") == 1
    assert not any(d.incoming is not None for d in k.devices.values())
    k.rescan()                               # retried (not cached), but WARN_ONCE
    assert k.log.lines().count("WARNING: Failed to retrieve incoming FLB data") == 1


def test_other_compat_string_means_no_incoming_flb():
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 3, 2) + entry(0, 0x100, 1) + entry(0, 0x8, 1) + bytes(8)
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, blob, "pci-v2"))
    assert k.log.lines() == ["PCI: liveupdate: No incoming FLB matched pci-v3"]


def test_raw_blob_boot_counts_endpoint_files():
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 3, 2) + entry(0, 0x100, 1) + entry(0, 0x8, 1) + bytes(8)
    inc = InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3")
    assert inc.flb("pci-v3")[1] == 1
    k = Kernel.boot(fab, incoming=inc)
    assert k.is_incoming("01:00.0") and k.is_incoming("00:01.0")
    k.finish("01:00.0")
    assert k.pci_flb.finished


def test_hot_remove_and_re_add_section_5_5():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k.preserve("04:00.0")
    k1 = next_kernel(k, k.kexec())
    k1.finish("03:00.0")
    r = k1.hot_remove("03:00.0")
    assert not any(m.startswith("WARNING") for m in r["messages"])
    r = k1.rescan()
    assert r["added"] == ["0000:03:00.0"]
    assert not k1.is_incoming("03:00.0") and not k1.dev("03:00.0").was_preserved
    # removing an unfinished incoming device finishes its path with a WARN
    r = k1.hot_remove("04:00.0")
    assert r["messages"][0] == "WARNING: pci 0000:04:00.0: Destroying incoming-preserved device!"
    assert not any(d.incoming is not None for d in k1.devices.values())
    # ...but its LUO file still holds an FLB reference until userspace finishes the session
    assert not k1.pci_flb.finished


def test_v6_does_not_panic_on_unfinished_devices():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k1 = next_kernel(k, k.kexec())
    k2 = next_kernel(k1, k1.kexec())          # nothing finished, nothing preserved again
    assert k2.panic is None and k2.phase == "running"
    assert not k1.pci_flb.finished


def test_unpreserve_bridge_directly_is_allowed_and_reported():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    r = k.unpreserve("02:00.0")
    assert r["direct"] and r["corrupts_counts"]
    d = devs(k)
    assert not d["0000:02:00.0"]["outgoing"] and d["0000:03:00.0"]["outgoing"]
    assert not d["0000:00:01.0"]["outgoing"]


def test_state_round_trip_continues_identically():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k1 = next_kernel(k, k.kexec())
    st = json.loads(json.dumps(k1.to_state()))
    # the incoming hand-over is the Machine's to keep (in memory); the kernel's own state
    # only holds what it made of it
    k2 = Kernel.from_state(k1.fabric, st, incoming=k1.luo.incoming)
    assert k2.report() == k1.report()
    k1.finish("03:00.0")
    k2.finish("03:00.0")
    assert k2.report() == k1.report() and k2.pci_flb.finished


def test_cmdline_parsing():
    p = parse_cmdline("quiet pci=assign-busses,noari,config_acs=1x0@pci:8086:0 "
                      "liveupdate=off kho=on")
    assert p.assign_busses and p.noari and p.config_acs == "1x0@pci:8086:0"
    assert not p.liveupdate and p.kho and not p.luo_enabled
    assert "quiet" in p.ignored


def test_liveupdate_off_refuses_with_eopnotsupp():
    k = Kernel.boot(small_fabric("virtio"), params="liveupdate=off")
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("01:00.0")
    assert ei.value.errno_name == "EOPNOTSUPP"
