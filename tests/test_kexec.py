# SPDX-License-Identifier: GPL-2.0-only
"""Kexec: ``device_shutdown()``/``pci_device_shutdown()`` with v6 patches 10 and 11 (Bus Master
kept on exactly the preserved path, freeze, the "unstable" warning; pci-liveupdate-v6.md §9,
§10), and the generation after it (no panic on unfinished devices in v6, a kernel that
continues identically after a state round trip).
"""
from __future__ import annotations


from pcilu_cli.state import kernel_note

from pcilu_cli.kernel import Kernel, liveupdate as lu, shutdown as kshutdown
from tests.inmemory_kexec import next_kernel
from tests.kernel_fabrics import RP, USP, DSP0, DSP1, EP0, EP1, switch_fabric, four_endpoint_fabric


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


# -- kexec and the next kernel ---------------------------------------------------------------
def test_bus_master_kept_on_exactly_the_preserved_path():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    h = k.kexec()
    bme = {fn.uid: fn.bus_master for fn in h.fabric.functions()}
    assert bme == {"0000:00:00.0": False, "0000:00:01.0": True, "0000:01:00.0": True,
                   "0000:02:00.0": True, "0000:03:00.0": True,
                   "0000:02:01.0": False, "0000:04:00.0": False}


def test_d3cold_device_keeps_bus_master_at_kexec():
    fab = four_endpoint_fabric(d3cold_ep="0000:04:00.0")
    k = Kernel.boot(fab)
    # a D3cold function does not answer config cycles: it is not even enumerated
    assert "0000:04:00.0" not in k.by_uid
    h = k.kexec()
    bme = {fn.uid: fn.bus_master for fn in h.fabric.functions()}
    assert bme["0000:04:00.0"] is True and bme["0000:03:00.0"] is False


def test_v6_does_not_panic_on_unfinished_devices():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k1 = next_kernel(k, k.kexec())
    k2 = next_kernel(k1, k1.kexec())          # nothing finished, nothing preserved again
    assert k2.panic is None and k2.phase == "running"
    assert not k1.pci_flb.finished


def test_state_round_trip_continues_identically():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k1 = next_kernel(k, k.kexec())
    # the state layer's checkpoint (kernel_note); the incoming hand-over is the Machine's to
    # keep (in memory): the kernel's own state only holds what it made of it
    note = kernel_note.encode(k1)
    k2, _kept = kernel_note.decode(note, k1.fabric, incoming=k1.luo.incoming,
                                   read=kernel_note.pages_reader(k1.outgoing_pages()))
    assert k2.report() == k1.report()
    k1.finish("03:00.0")
    k2.finish("03:00.0")
    assert k2.report() == k1.report() and k2.pci_flb.finished


def test_report_and_shutdown_name_every_device_as_dev_name_does():
    """The report and the shutdown's list of cleared devices name 65,536 devices in one pass
    each (every bus's part formatted once): the names are still dev_name() of each pci_dev,
    VFs on their own buses and a second domain included."""
    from pcilu_cli.fabric.build import small_fabric
    from pcilu_cli.fabric.synth import synth_fabric
    fabs = (small_fabric("sriov"), synth_fabric(2000, shape="sriov", sriov_pfs=2, vfs_per_pf=8))
    for fab in fabs:
        k = Kernel.boot(fab)
        names = [d.name for d in k.devices.values()]
        assert any(d.is_virtfn for d in k.devices.values())
        assert [d["bdf"] for d in k.report()["devices"] if d["enumerated"]] == names
        cleared = kshutdown.device_shutdown(k, kexec_in_progress=True)
        name_of_uid = {d.fn.uid: d.name for d in k.devices.values()}
        assert cleared and all(name_of_uid[uid] == n for n, uid in cleared)
    assert len({n.split(":")[0] for n in names}) > 1       # the synthetic one: two domains+
