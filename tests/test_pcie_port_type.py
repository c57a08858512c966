# SPDX-License-Identifier: GPL-2.0-only
"""The kernel's view of a function's PCI Express capability (``set_pcie_port_type()``): the
port type as a ``PciExpType`` (``pci_pcie_type()``), the capability offset and flags read once
at enumeration (``dev->pcie_cap`` / ``dev->pcie_flags_reg``), and what later reaches the
capability through them (``pci_configure_ari()``), also in a kernel read back from its state.
"""
from __future__ import annotations

from pcilu_cli.abi.pci_regs import PciExpType
from pcilu_cli.fabric.build import FabricBuilder
from pcilu_cli.kernel import Kernel
from pcilu_cli.state import kernel_note
from tests.kernel_fabrics import RP, USP, DSP0, EP0, record_config_reads, switch_fabric


def test_each_device_knows_its_port_type_as_a_pci_exp_type():
    k = Kernel.boot(switch_fabric())
    assert k.dev(RP).pcie_type is PciExpType.ROOT_PORT
    assert k.dev(USP).pcie_type is PciExpType.UPSTREAM
    assert k.dev(DSP0).pcie_type is PciExpType.DOWNSTREAM
    assert k.dev(EP0).pcie_type is PciExpType.ENDPOINT
    kinds = {d["bdf"]: d["kind"] for d in k.report()["devices"]}
    assert (kinds[RP], kinds[USP], kinds[DSP0], kinds[EP0]) == (
        "root_port", "switch_upstream", "switch_downstream", "endpoint")


def _two_downstream_ports():
    b = FabricBuilder("misdirected")
    b.add_function("0000:00:01.0", kind="root_port")
    # a switch whose upstream port claims to be a downstream port (seen on real systems)
    b.add_function("0000:01:00.0", "0000:00:01.0", kind="downstream")
    b.add_function("0000:02:00.0", "0000:01:00.0", kind="downstream")
    return b.build()


def test_a_misdirected_switch_port_is_corrected_in_type_and_flags():
    k = Kernel.boot(_two_downstream_ports())
    usp = k.dev("01:00.0")
    assert usp.pcie_type is PciExpType.UPSTREAM
    assert (usp.pcie_flags_reg >> 4) & 0xF == 0x5          # PCI_EXP_TYPE_UPSTREAM
    assert (usp.fn.pcie_flags >> 4) & 0xF == 0x6           # the hardware still says downstream
    assert "pci 0000:01:00.0: claims to be downstream port but is acting as upstream port, " \
           "correcting type" in k.log.lines()
    assert k.dev("02:00.0").pcie_type is PciExpType.DOWNSTREAM


def test_a_reserved_port_type_is_still_a_pci_exp_type():
    reserved = PciExpType(3)
    assert isinstance(reserved, PciExpType) and reserved == 3
    assert reserved is PciExpType(3) and reserved.word == "type0x3"
    assert PciExpType.RC_EC.word == "rcec"
    assert 3 not in {int(t) for t in PciExpType}      # not one of the named members


def _ari_fabric():
    b = FabricBuilder("ari")
    b.add_function("0000:00:01.0", kind="root_port", ari_forwarding=(True, False))
    b.add_function("0000:01:00.0", "0000:00:01.0", ari_next_function=0)
    return b.build()


def test_ari_configuration_reads_the_bridge_flags_only_at_its_own_setup(monkeypatch):
    fab = _ari_fabric()
    reads = record_config_reads(monkeypatch, fab.by_uid("0000:00:01.0").cfg)
    k = Kernel.boot(fab)
    monkeypatch.undo()
    rp = k.dev("00:01.0")
    assert rp.ari_enabled and rp.fn.ari_forwarding
    # PCI_EXP_FLAGS once (set_pcie_port_type()); DevCap2 and DevCtl2 through dev->pcie_cap
    assert reads.count(rp.pcie_cap + 0x02) == 1
    assert rp.pcie_cap + 0x24 in reads and rp.pcie_cap + 0x28 in reads


def test_a_kernel_read_back_from_its_state_configures_ari_below_its_bridges():
    k = Kernel.boot(_ari_fabric())
    k2, _kept = kernel_note.decode(kernel_note.encode(k), k.fabric,
                                   read=kernel_note.pages_reader(k.outgoing_pages()))
    assert k2.dev("00:01.0").pcie_type is PciExpType.ROOT_PORT
    k2.hot_remove("01:00.0")
    rp = k2.dev("00:01.0")
    rp.fn.ari_forwarding = False                  # firmware / a reset cleared the bit
    assert k2.rescan()["added"] == ["0000:01:00.0"]
    assert rp.ari_enabled and rp.fn.ari_forwarding
