# SPDX-License-Identifier: GPL-2.0-only
"""``struct pci_dev`` / ``struct pci_bus``: what the simulated kernel knows about each function.

Only the fields the Live Update paths use. ``key`` is the kernel's xarray key
``(domain << 16) | pci_dev_id(dev)`` (``pci_ser_xa_key()``), used for every dict in the kernel.
``fn`` is the fabric Function found at enumeration (a shortcut for config accesses; the kernel
itself only knows the address).
"""
from __future__ import annotations

from pcilu_cli.abi.bdf import device_key, format_bdf, key_dev_id
from pcilu_cli.abi.pci_regs import (
    BRIDGE_HEADER_TYPES, PCI_EXP_FLAGS, PCI_EXP_FLAGS_TYPE, PCI_EXP_FLAGS_TYPE_SHIFT,
    PCI_EXP_FLAGS_VERS, PciExpType,
)

# dev.pcie_cap of a pci_dev rebuilt from a saved kernel: the offset was not saved, it is found
# again (as set_pcie_port_type() found it) on first use
PCIE_CAP_UNREAD = -1
# dev.sriov_buses of a pci_dev rebuilt from a saved kernel: found again from its SR-IOV
# capability on first use (pci_iov_init() found it at enumeration)
SRIOV_UNREAD = -1


class PciBus:
    __slots__ = ("domain", "number", "self", "parent", "start", "end", "devices", "children",
                 "virtual")

    def __init__(self, domain: int, number: int, self_dev=None, parent=None, start=None,
                 end=0xFF, virtual=False):
        self.domain = domain
        self.number = number
        self.self = self_dev          # upstream bridge, None for a root bus (or a VF bus)
        self.parent = parent
        self.start = number if start is None else start   # busn_res
        self.end = end
        self.devices: list = []
        self.children: list = []
        self.virtual = virtual        # virtfn_add_bus(): VFs beyond the PF's bus

    @property
    def key(self):
        return (self.domain, self.number)


class PciDev:
    __slots__ = (
        "domain", "bus", "devfn", "key", "fn", "vendor", "device", "hdr_type", "multifunction",
        "is_virtfn", "physfn", "pcie_type", "pcie_cap", "pcie_flags_reg", "subordinate",
        "acs_cap", "ari_enabled",
        # pci_iov_init(): the bus numbers past its own that the PF's VFs need (None: no
        # SR-IOV capability, or TotalVFs 0) — what pci_iov_bus_range() reads of dev->sriov
        "sriov_buses",
        # struct pci_liveupdate (final v6)
        "outgoing", "incoming", "acs_ctrl", "inherit_buses", "was_preserved", "frozen",
        # simulator bookkeeping for the report
        "acs_inherited", "ari_inherited", "was_incoming",
    )

    def __init__(self, bus: PciBus, devfn: int, fn, key: int | None = None, vendor: int = 0,
                 device: int = 0):
        # ``key``: the caller's device_key() of (bus, devfn) when it has it (enumeration),
        # as ``vendor`` / ``device`` (the IDs its first config read found)
        self.domain = bus.domain
        self.bus = bus
        self.devfn = devfn
        self.key = device_key(bus.domain, bus.number, devfn) if key is None else key
        self.fn = fn
        self.vendor = vendor
        self.device = device
        self.hdr_type = 0
        self.multifunction = False
        self.is_virtfn = False
        self.physfn = None
        # set_pcie_port_type(): pci_pcie_type() (None: no PCIe capability, !pci_is_pcie()),
        # dev->pcie_cap and dev->pcie_flags_reg (its port type corrected like pcie_type)
        self.pcie_type: PciExpType | None = None
        self.pcie_cap: int | None = PCIE_CAP_UNREAD
        self.pcie_flags_reg = 0
        self.subordinate = None
        self.acs_cap = None
        self.ari_enabled = False
        self.sriov_buses = SRIOV_UNREAD
        self.outgoing = None        # slot index in the outgoing pci_ser, or None
        self.incoming = None        # slot index in the incoming pci_ser, or None
        self.acs_ctrl = 0
        self.inherit_buses = False
        self.was_preserved = False
        self.frozen = False
        self.acs_inherited = False
        self.ari_inherited = False
        self.was_incoming = False

    @property
    def bdf(self) -> int:
        return key_dev_id(self.key)

    @property
    def name(self) -> str:
        return format_bdf(self.domain, self.bus.number, self.devfn)

    @property
    def is_bridge(self) -> bool:
        # pci_is_bridge(): header type 1 or 2
        return self.hdr_type in BRIDGE_HEADER_TYPES

    def pcie_cap_v2(self) -> int | None:
        """pci_pcie_cap() where pcie_capability_reg_implemented() holds for the registers from
        Device Capabilities 2 on (a version 2 capability), else None: what the kernel checks
        against the cached dev->pcie_flags_reg before a pcie_capability_*() access there."""
        pos = self.pcie_cap
        if pos == PCIE_CAP_UNREAD:
            pos = self.pcie_cap = self.fn.pcie_cap
            if pos is not None:
                flags = self.fn.cfg.read(pos + PCI_EXP_FLAGS, 2) & ~PCI_EXP_FLAGS_TYPE
                t = 0 if self.pcie_type is None else int(self.pcie_type)
                self.pcie_flags_reg = flags | t << PCI_EXP_FLAGS_TYPE_SHIFT
        if pos is None or (self.pcie_flags_reg & PCI_EXP_FLAGS_VERS) < 2:
            return None
        return pos

    @property
    def upstream(self):
        """pci_upstream_bridge(): a VF's is its PF's."""
        d = self.physfn if self.is_virtfn and self.physfn is not None else self
        return d.bus.self

    def __repr__(self):
        return f"<pci_dev {self.name}>"
