# SPDX-License-Identifier: GPL-2.0-only
"""Hot remove and re-add (``pci_stop_and_remove_bus_device()``, rescan; pci-liveupdate-v6.md §4.4,
§5.5): what removing an outgoing or incoming device logs and releases, the release order of a
subtree, and what a re-added device is.
"""
from __future__ import annotations

from pcilu_cli.fabric.build import small_fabric
from pcilu_cli.kernel import Kernel
from tests.inmemory_kexec import next_kernel
from tests.kernel_fabrics import (
    RP, USP, DSP0, DSP1, EP0, EP1, hdr, two_ep_next_kernel, switch_fabric)


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


def test_vf_buses_are_reserved_alike_by_a_kernel_read_back_from_its_state_file():
    """pci_iov_init() keeps what a PF's VFs need (dev->sriov) at enumeration; a pci_dev
    rebuilt from a state file finds it again from the capability, so a rescan of a PF's
    bus reserves the same bus numbers either way."""
    from pcilu_cli.state import Machine
    fresh = Machine.boot(small_fabric("sriov"))
    assert any(d.sriov_buses for d in fresh.kernel.devices.values())
    loaded = Machine.from_bytes(fresh.to_bytes())
    assert all(d.sriov_buses == -1 for d in loaded.kernel.devices.values() if d.is_virtfn
               or d.fn.cfg.find_ext_capability(0x10) is not None)
    for m in (fresh, loaded):
        m.rescan()                    # every bus scanned again, its PF kept: read back
    assert fresh.report()["devices"] == loaded.report()["devices"]
    assert any(d.sriov_buses for d in loaded.kernel.devices.values())
    for m in (fresh, loaded):
        m.hot_remove("00:01.0")
        m.rescan()
    assert fresh.report()["devices"] == loaded.report()["devices"]
    assert {d.name: d.sriov_buses for d in fresh.kernel.devices.values()} == \
        {d.name: d.sriov_buses for d in loaded.kernel.devices.values()}
