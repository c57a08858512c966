# SPDX-License-Identifier: GPL-2.0-only
"""ARI Forwarding (``pci_configure_ari()``; pci-liveupdate-v6.md §8): kept from hardware on an
incoming bridge, normal logic again once the path is finished, and ``pci=noari``.
"""
from __future__ import annotations

from pcilu_cli.fabric.build import FabricBuilder, small_fabric
from pcilu_cli.kernel import Kernel
from tests.inmemory_kexec import next_kernel
from tests.kernel_fabrics import devs


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


def test_ari_inherited_despite_noari():
    fresh = Kernel.boot(small_fabric("sriov"), params="pci=noari")
    assert devs(fresh)["0000:00:01.0"]["ari_forwarding"] is False
    k = Kernel.boot(small_fabric("sriov"))
    assert devs(k)["0000:00:01.0"]["ari_forwarding"] is True
    k.preserve("01:00.0")
    k1 = next_kernel(k, k.kexec(), params="pci=noari")
    rp = devs(k1)["0000:00:01.0"]
    assert rp["ari_forwarding"] is True and rp["ari_inherited"] is True
