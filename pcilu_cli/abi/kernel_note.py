# SPDX-License-Identifier: GPL-2.0-only
"""``PCILUKN2``: the kernel note of a pcilu state file (since state format 2), pcilu's own layout.
No kernel header mirrors it; it is declared like the kernel's layouts so that its bytes have
one written form (:mod:`pcilu_cli.abi.kernel_note_layouts`, re-exported here and imported on
first use) and :mod:`pcilu_cli.state.kernel_note` reads and writes it through the derived
codecs.

    pcilu_kernel_note_header  magic, rows per chunk, device rows, chunks
    pcilu_kernel_note_len     one u32 per section: head, buses, keys, chunk 0, chunk 1 ...
    pcilu_kernel_note_key     u64 device key (the keys section; a chunk's first column)
    pcilu_kernel_note_row     the rest of a device row (a chunk's second column)
    pcilu_kernel_note_bus     one bus of the bus rows section (after BUS_ROWS_MAGIC)

All little-endian.
"""
from __future__ import annotations

from pcilu_cli.abi.codec import cached, lazy_layouts
from pcilu_cli.abi.pci_regs import PciExpType

KERNEL_NOTE_MAGIC = b"PCILUKN2"

_LAYOUTS = "pcilu_cli.abi.kernel_note_layouts"

__getattr__ = lazy_layouts(__name__, _LAYOUTS)   # the declarations, on first use

NOTE_HEADER = cached(_LAYOUTS, "pcilu_kernel_note_header")[0]
NOTE_LEN = cached(_LAYOUTS, "pcilu_kernel_note_len")[0]
NOTE_KEY = cached(_LAYOUTS, "pcilu_kernel_note_key")[0]
NOTE_ROW = cached(_LAYOUTS, "pcilu_kernel_note_row")[0]
NOTE_BUS = cached(_LAYOUTS, "pcilu_kernel_note_bus")[0]
# the bus rows section: this magic, then one pcilu_kernel_note_bus per bus (registration
# order); a section that opens with "[" is the JSON list earlier pcilu versions wrote
BUS_ROWS_MAGIC = b"PCILUBR1"

# one step per row of a 262,144-device note: a tuple index and an addition, no Enum call
# (code 0: no PCIe capability; code t + 1: PCI_EXP_TYPE t, reserved values included)
_TYPE_BY_CODE = (None, *(PciExpType(t) for t in range(16)))


def port_type_code(t: PciExpType | None) -> int:
    """The row's ``pcie_type`` for a pci_dev's port type (``None``: 0): its PCI_EXP_TYPE
    number + 1. A reserved type (``PciExpType(3)``) keeps its number."""
    return 0 if t is None else t + 1


def port_type_of_code(code: int) -> PciExpType | None:
    """The port type of a row's ``pcie_type``; ValueError past the 4-bit field."""
    if not 0 <= code < len(_TYPE_BY_CODE):
        raise ValueError(f"port type code {code} is past the 4-bit Device/Port Type field")
    return _TYPE_BY_CODE[code]
