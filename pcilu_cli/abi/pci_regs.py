# SPDX-License-Identifier: GPL-2.0-only
"""``include/uapi/linux/pci_regs.h``: the config-space registers, capability IDs and bits that
pcilu reads and writes, under the kernel's names. The one set of names for the fabric model,
its synthesis, and the simulated kernel's enumeration (probe, ACS, ARI, shutdown).

Offsets inside a capability are relative to the capability's own offset, as in the header.
The PCIe port type (``PCI_EXP_FLAGS_TYPE``) is :class:`PciExpType`; pcilu's documents name it
with the lower-case words of :data:`PORT_TYPE_NAMES` (``root_port``, ``upstream``, ...).
"""
from __future__ import annotations

from enum import IntEnum

from pcilu_cli.abi.codec import scalar

# config space is little-endian (PCI Local Bus Spec.): the register accessors' codecs
PCI_CFG_U16 = scalar("<H")
PCI_CFG_U32 = scalar("<I")

# ---- type 0/1 header (common part) -----------------------------------------------------------
PCI_VENDOR_ID = 0x00
PCI_DEVICE_ID = 0x02
PCI_COMMAND = 0x04
PCI_COMMAND_IO = 0x0001
PCI_COMMAND_MEMORY = 0x0002
PCI_COMMAND_MASTER = 0x0004         # bus master enable
PCI_COMMAND_SPECIAL = 0x0008
PCI_COMMAND_INVALIDATE = 0x0010     # memory write and invalidate
PCI_COMMAND_VGA_PALETTE = 0x0020
PCI_COMMAND_PARITY = 0x0040
PCI_COMMAND_SERR = 0x0100
PCI_COMMAND_FAST_BACK = 0x0200
PCI_COMMAND_INTX_DISABLE = 0x0400
PCI_STATUS = 0x06
PCI_STATUS_CAP_LIST = 0x0010
PCI_REVISION_ID = 0x08              # the dword at 0x08 is revision | class << 8
PCI_CLASS_PROG = 0x09
PCI_CLASS_DEVICE = 0x0A
PCI_HEADER_TYPE = 0x0E
PCI_HEADER_TYPE_MASK = 0x7F
PCI_HEADER_TYPE_MFD = 0x80          # multi-function device
PCI_HEADER_TYPE_NORMAL = 0
PCI_HEADER_TYPE_BRIDGE = 1
PCI_HEADER_TYPE_CARDBUS = 2
# pci_is_bridge(): header type 1 or 2; and every header layout the kernel knows (a set built
# once, so hot membership tests don't build a tuple from module globals on every call)
BRIDGE_HEADER_TYPES = frozenset({PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS})
KNOWN_HEADER_TYPES = frozenset({PCI_HEADER_TYPE_NORMAL, PCI_HEADER_TYPE_BRIDGE,
                                PCI_HEADER_TYPE_CARDBUS})
PCI_SUBSYSTEM_VENDOR_ID = 0x2C
PCI_SUBSYSTEM_ID = 0x2E
PCI_CAPABILITY_LIST = 0x34
PCI_CB_CAPABILITY_LIST = 0x14       # CardBus bridges keep the pointer here
PCI_STD_HEADER_SIZEOF = 0x40        # the first byte a capability may sit at

# ---- type 1 (bridge) header ------------------------------------------------------------------
PCI_PRIMARY_BUS = 0x18              # the dword: primary | secondary << 8 | subordinate << 16
PCI_SECONDARY_BUS = 0x19            #            | secondary latency timer << 24
PCI_SUBORDINATE_BUS = 0x1A
PCI_SEC_LATENCY_TIMER = 0x1B
PCI_BRIDGE_CONTROL = 0x3E

PCI_CLASS_BRIDGE_HOST = 0x0600      # class_code >> 8
PCI_CLASS_BRIDGE_PCI = 0x0604

# ---- capability list -------------------------------------------------------------------------
PCI_CAP_LIST_ID = 0
PCI_CAP_LIST_NEXT = 1
PCI_CAP_ID_PM = 0x01
PCI_CAP_ID_EXP = 0x10

PCI_PM_PMC = 2
PCI_PM_CTRL = 4
PCI_PM_CTRL_STATE_MASK = 0x0003     # D0..D3hot

PCI_EXP_FLAGS = 0x02
PCI_EXP_FLAGS_VERS = 0x000F
PCI_EXP_FLAGS_TYPE = 0x00F0
PCI_EXP_FLAGS_TYPE_SHIFT = 4
PCI_EXP_FLAGS_SLOT = 0x0100
PCI_EXP_DEVCAP2 = 0x24
PCI_EXP_DEVCAP2_ARI = 0x00000020    # ARI Forwarding Supported
PCI_EXP_DEVCTL2 = 0x28
PCI_EXP_DEVCTL2_ARI = 0x0020        # ARI Forwarding Enable

# ---- extended capabilities (from 0x100) ------------------------------------------------------
PCI_CFG_SPACE_SIZE = 256
PCI_CFG_SPACE_EXP_SIZE = 4096
PCI_EXT_CAP_ID_ACS = 0x000D
PCI_EXT_CAP_ID_ARI = 0x000E
PCI_EXT_CAP_ID_SRIOV = 0x0010


def PCI_EXT_CAP_ID(header: int) -> int:          # noqa: N802  (the kernel's macro names)
    return header & 0x0000FFFF


def PCI_EXT_CAP_VER(header: int) -> int:         # noqa: N802
    return (header >> 16) & 0xF


def PCI_EXT_CAP_NEXT(header: int) -> int:        # noqa: N802
    return (header >> 20) & 0xFFC


PCI_ACS_CAP = 0x04
PCI_ACS_CTRL = 0x06
PCI_ACS_SV = 0x0001                 # Source Validation
PCI_ACS_TB = 0x0002                 # Translation Blocking
PCI_ACS_RR = 0x0004                 # P2P Request Redirect
PCI_ACS_CR = 0x0008                 # P2P Completion Redirect
PCI_ACS_UF = 0x0010                 # Upstream Forwarding
PCI_ACS_EC = 0x0020                 # P2P Egress Control
PCI_ACS_DT = 0x0040                 # Direct Translated P2P

PCI_ARI_CAP = 0x04
PCI_ARI_CAP_NFN_SHIFT = 8           # Next Function Number, bits 15:8

PCI_SRIOV_CAP = 0x04
PCI_SRIOV_CTRL = 0x08
PCI_SRIOV_CTRL_VFE = 0x0001         # VF Enable
PCI_SRIOV_CTRL_MSE = 0x0008         # VF Memory Space Enable
PCI_SRIOV_CTRL_ARI = 0x0010         # ARI Capable Hierarchy
PCI_SRIOV_INITIAL_VF = 0x0C
PCI_SRIOV_TOTAL_VF = 0x0E
PCI_SRIOV_NUM_VF = 0x10
PCI_SRIOV_VF_OFFSET = 0x14
PCI_SRIOV_VF_STRIDE = 0x16
PCI_SRIOV_VF_DID = 0x1A


class PciExpType(IntEnum):
    """``PCI_EXP_TYPE_*``: the Device/Port Type field of the PCIe Capabilities register."""
    ENDPOINT = 0x0                  # Express Endpoint
    LEG_END = 0x1                   # Legacy Endpoint
    ROOT_PORT = 0x4
    UPSTREAM = 0x5                  # switch upstream port
    DOWNSTREAM = 0x6                # switch downstream port
    PCI_BRIDGE = 0x7                # PCIe-to-PCI/PCI-X bridge
    PCIE_BRIDGE = 0x8               # PCI/PCI-X-to-PCIe bridge
    RC_END = 0x9                    # Root Complex Integrated Endpoint
    RC_EC = 0xA                     # Root Complex Event Collector

    @classmethod
    def _missing_(cls, value):
        # A reserved value of the 4-bit field (0x2, 0x3, 0xb-0xf) still is what the hardware
        # says: a pseudo-member named as pcilu's documents name it ("type0x3"), made once, so
        # that a port type read from a register is always a PciExpType.
        if type(value) is int and 0 <= value <= PCI_EXP_FLAGS_TYPE >> PCI_EXP_FLAGS_TYPE_SHIFT:
            m = int.__new__(cls, value)
            m._name_, m._value_ = f"type{value:#x}", value
            return cls._value2member_map_.setdefault(value, m)
        return None

    @property
    def word(self) -> str:
        """The name pcilu's fabric files and documents use (``type0xN`` when reserved)."""
        return PORT_TYPE_NAMES.get(self) or self._name_


PORT_TYPE_NAMES = {
    PciExpType.ENDPOINT: "endpoint", PciExpType.LEG_END: "legacy_endpoint",
    PciExpType.ROOT_PORT: "root_port", PciExpType.UPSTREAM: "upstream",
    PciExpType.DOWNSTREAM: "downstream", PciExpType.PCI_BRIDGE: "pcie_pci_bridge",
    PciExpType.PCIE_BRIDGE: "pci_pcie_bridge", PciExpType.RC_END: "rciep",
    PciExpType.RC_EC: "rcec",
}
PORT_TYPE_BY_NAME = {w: t for t, w in PORT_TYPE_NAMES.items()}
# the same table keyed by plain ints: the per-function decode below looks a field value up
# directly instead of constructing an enum member (PciExpType(t) costs an Enum.__call__)
_PORT_TYPE_WORD_BY_VALUE = {int(t): w for t, w in PORT_TYPE_NAMES.items()}


# the port type of each value of the field, members made once: a per-function decode is a
# tuple index (no Enum.__call__ per function)
PORT_TYPE_BY_FIELD = tuple(PciExpType(v) for v in
                           range((PCI_EXP_FLAGS_TYPE >> PCI_EXP_FLAGS_TYPE_SHIFT) + 1))


def port_type(flags: int) -> PciExpType:
    """pci_pcie_type(): the port type of a PCIe Capabilities register value."""
    return PORT_TYPE_BY_FIELD[(flags & PCI_EXP_FLAGS_TYPE) >> PCI_EXP_FLAGS_TYPE_SHIFT]


def port_type_word(flags: int) -> str:
    """The port type of a PCIe Capabilities register value, by name (``type0xN`` when the
    value is reserved)."""
    t = (flags & PCI_EXP_FLAGS_TYPE) >> PCI_EXP_FLAGS_TYPE_SHIFT
    w = _PORT_TYPE_WORD_BY_VALUE.get(t)
    return w if w is not None else f"type{t:#x}"


def pcie_flags(version: int, port_type: PciExpType, slot: bool = False) -> int:
    """A PCIe Capabilities register value."""
    return (version & PCI_EXP_FLAGS_VERS) | (int(port_type) << PCI_EXP_FLAGS_TYPE_SHIFT) \
        | (PCI_EXP_FLAGS_SLOT if slot else 0)


# the downstream-facing ports (pcie_downstream_port())
DOWNSTREAM_PORTS = frozenset({PciExpType.ROOT_PORT, PciExpType.DOWNSTREAM,
                              PciExpType.PCIE_BRIDGE})


def split_bus_numbers(dword: int) -> tuple[int, int, int]:
    """(primary, secondary, subordinate) of the dword at PCI_PRIMARY_BUS."""
    return dword & 0xFF, (dword >> 8) & 0xFF, (dword >> 16) & 0xFF


def with_bus_numbers(dword: int, primary: int, secondary: int, subordinate: int) -> int:
    """The dword at PCI_PRIMARY_BUS with new bus numbers, keeping the secondary latency timer
    (the kernel writes it as one dword, as pci_scan_bridge_extend() does)."""
    return (dword & 0xFF000000) | (primary & 0xFF) | (secondary & 0xFF) << 8 \
        | (subordinate & 0xFF) << 16


# PCI_PM_CTRL's power state field names D0..D3hot; D3cold (power removed) has no register value
POWER_STATES = ("D0", "D1", "D2", "D3hot", "D3cold")

PCI_VENDOR_ID_INTEL = 0x8086        # include/linux/pci_ids.h (the ACS quirks match on it)
