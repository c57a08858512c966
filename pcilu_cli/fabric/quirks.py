# SPDX-License-Identifier: GPL-2.0-only
"""Which devices the kernel handles with a device-specific ACS quirk (pci_dev_acs_ops).

Models the matching of the two Intel entries of pci_dev_acs_ops in drivers/pci/quirks.c:
the Intel PCH root-port quirk (pci_quirk_intel_pch_acs_match(): a PCIe Root Port whose device
ID is in a fixed list) and the Sunrise Point PCH quirk (pci_quirk_intel_spt_pch_acs_match():
a PCIe Root Port whose device ID, low nibble masked, is one of a few bases).  The v6 series
refuses to preserve such devices ("Refusing to preserve device that relies on ACS quirks").

UNCONFIRMED: the exact ID lists.  The PCH list below starts with the Ibexpeak IDs 0x3b42.. as
seen in a public copy of quirks.c; the other families are given from recollection of the same
table (Cougar Point, Panther Point, Lynx Point H/LP, Wildcat Point, Patsburg, Wellsburg,
9-series).  The SPT bases (0xa110, 0xa290, 0xa2e0) are likewise from recollection.  A fabric
can force the answer with the `acs_quirk: true|false` knob.
"""
from __future__ import annotations

from pcilu_cli.abi.pci_regs import PCI_VENDOR_ID_INTEL as INTEL, PciExpType, port_type

_ROOT_PORT = PciExpType.ROOT_PORT

_PCH_ACS_IDS = frozenset(
    list(range(0x3B42, 0x3B52))          # Ibexpeak PCH
    + list(range(0x1C10, 0x1C20))        # Cougar Point PCH
    + list(range(0x1E10, 0x1E20))        # Panther Point PCH
    + list(range(0x8C10, 0x8C20))        # Lynx Point-H PCH
    + list(range(0x9C10, 0x9C1C))        # Lynx Point-LP PCH
    + list(range(0x9C90, 0x9C9C))        # Wildcat Point PCH
    + list(range(0x1D10, 0x1D20, 2))     # Patsburg (X79) PCH
    + list(range(0x8D10, 0x8D20, 2))     # Wellsburg (X99) PCH
    + list(range(0x8C90, 0x8CA0, 2))     # Lynx Point (9 series) PCH
)
_SPT_ACS_BASES = frozenset({0xA110, 0xA290, 0xA2E0})
_FROM_FN = object()     # needs_acs_quirk(): no port type given, read the function's


def pch_acs_match(vendor: int, device: int, pcie_type: PciExpType | None) -> bool:
    """pci_quirk_intel_pch_acs_match(): Intel PCH root ports from the fixed list."""
    return vendor == INTEL and pcie_type == _ROOT_PORT and device in _PCH_ACS_IDS


def spt_pch_acs_match(vendor: int, device: int, pcie_type: PciExpType | None) -> bool:
    """pci_quirk_intel_spt_pch_acs_match(): Sunrise Point / Union Point PCH root ports."""
    return vendor == INTEL and pcie_type == _ROOT_PORT and (device & ~0xF) in _SPT_ACS_BASES


def needs_acs_quirk(vendor: int, device: int, fn=None, pcie_type=_FROM_FN) -> bool:
    """Would pci_dev_acs_ops handle this device (pci_need_dev_specific_enable_acs())?

    ``fn`` (a fabric Function, optional) supplies the ``acs_quirk`` knob, which overrides the
    table in either direction, and the port type unless ``pcie_type`` gives it (the kernel
    matches on pci_pcie_type(), which it read at enumeration).
    """
    if fn is not None:
        forced = fn.knob("acs_quirk")
        if forced is not None:
            return bool(forced)
        if pcie_type is _FROM_FN:
            flags = fn.pcie_flags
            pcie_type = None if flags is None else port_type(flags)
        ptype = pcie_type
    else:
        ptype = _ROOT_PORT  # without a function, assume the only type the quirks match
    return pch_acs_match(vendor, device, ptype) or spt_pch_acs_match(vendor, device, ptype)
