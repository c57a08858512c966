# SPDX-License-Identifier: GPL-2.0-only
"""Field descriptions of decoded hand-over structs for the annotated hex view (as
pyelftools' ``describe_*`` helpers do for ELF): ``(offset, size, label)`` per field, every
offset taken from the layout declarations.
"""
from __future__ import annotations

from collections.abc import Iterator

from pcilu_cli.abi import pci
from pcilu_cli.abi.bdf import format_dev_id
from pcilu_cli.abi.codec import fields
from pcilu_cli.abi.profiles import FLEX, PADDING, VERSION


def pci_ser_fields(ser: pci.PciSer) -> Iterator[tuple[int, int, str]]:
    """The fields of a decoded ``struct pci_ser``: header, then each in-use entry field by
    field and each run of free slots as one row (flex era)."""
    hdr = {n: (o, s) for n, o, s in fields(pci.header_layout(ser.profile))}
    if ser.layout == FLEX:
        yield (*hdr["max_nr_devices"], f"max_nr_devices = {ser.max_nr_devices}")
        yield (*hdr["nr_devices"], f"nr_devices = {ser.nr_devices}")
        ent = {n: (o, s) for n, o, s in fields(pci.entry_layout(ser.profile))}
        last = "padding" if ser.profile.refcount == PADDING else "refcount"
        nxt = 0                         # the first slot not yet described
        for slot, dom, bdf, ref in pci.in_use_entries(ser):
            if slot > nxt:
                yield free_slots_field(nxt, slot - 1)
            nxt = slot + 1
            base = pci.entry_offset(slot)
            o, s = ent["domain"]
            yield base + o, s, f"devices[{slot}].domain = {dom:#x}"
            o, s = ent["bdf"]
            yield base + o, s, f"devices[{slot}].bdf = {bdf:#06x} ({format_dev_id(dom, bdf)})"
            o, s = ent[last]
            yield base + o, s, f"devices[{slot}].{last} = {ref}"
        if nxt < ser.max_nr_devices:
            yield free_slots_field(nxt, ser.max_nr_devices - 1)
    else:
        if ser.layout == VERSION:
            yield (*hdr["version"], f"version = {ser.version}")
        yield (*hdr["nr_devices"], f"nr_devices = {ser.nr_devices}")
        yield (*hdr["devices"], f"devices = {ser.devices_pa:#x} (PA of the first kho_block)")


def free_slots_field(a: int, b: int) -> tuple[int, int, str]:
    """One row for the free flex-era slots ``a..b``."""
    size = pci.PCI_DEV_SER_SIZE
    if a == b:
        return pci.entry_offset(a), size, f"devices[{a}] free"
    return pci.entry_offset(a), size * (b - a + 1), f"devices[{a}..{b}] free ({b - a + 1} slots)"
