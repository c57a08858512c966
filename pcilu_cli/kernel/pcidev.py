# SPDX-License-Identifier: GPL-2.0-only
"""``struct pci_dev`` / ``struct pci_bus``: what the simulated kernel knows about each function.

Only the fields the Live Update paths use. ``key`` is the kernel's xarray key
``(domain << 16) | pci_dev_id(dev)`` (``pci_ser_xa_key()``), used for every dict in the kernel.
``fn`` is the fabric Function found at enumeration (a shortcut for config accesses; the kernel
itself only knows the address).
"""
from __future__ import annotations

from pcilu_cli.abi.bdf import device_key, format_bdf, key_dev_id
from pcilu_cli.abi.pci_regs import BRIDGE_HEADER_TYPES


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
        "is_virtfn", "physfn", "pcie_type", "subordinate", "acs_cap", "ari_enabled",
        # struct pci_liveupdate (final v6)
        "outgoing", "incoming", "acs_ctrl", "inherit_buses", "was_preserved", "frozen",
        # simulator bookkeeping for the report
        "acs_inherited", "ari_inherited", "was_incoming",
    )

    def __init__(self, bus: PciBus, devfn: int, fn):
        self.domain = bus.domain
        self.bus = bus
        self.devfn = devfn
        self.key = device_key(bus.domain, bus.number, devfn)
        self.fn = fn
        self.vendor = 0
        self.device = 0
        self.hdr_type = 0
        self.multifunction = False
        self.is_virtfn = False
        self.physfn = None
        self.pcie_type = None
        self.subordinate = None
        self.acs_cap = None
        self.ari_enabled = False
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

    @property
    def upstream(self):
        """pci_upstream_bridge(): a VF's is its PF's."""
        d = self.physfn if self.is_virtfn and self.physfn is not None else self
        return d.bus.self

    def __repr__(self):
        return f"<pci_dev {self.name}>"
