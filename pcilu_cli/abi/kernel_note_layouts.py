# SPDX-License-Identifier: GPL-2.0-only
"""The kernel note of a state file (``PCILUKN2``) as Construct declarations.
:mod:`pcilu_cli.abi.kernel_note` holds the constants and the fast codecs derived from these
(kept in :mod:`pcilu_cli.abi.codec_cache`) and re-exports every name below.
"""
from construct import Bytes, Int8ul, Int16ul, Int32sl, Int32ul, Int64sl, Int64ul, Struct

pcilu_kernel_note_header = Struct(
    "magic" / Bytes(8),                # KERNEL_NOTE_MAGIC
    "chunk_rows" / Int32ul,            # device rows per chunk
    "nr_devices" / Int32ul,
    "nr_chunks" / Int32ul,
)   # then one pcilu_kernel_note_len per section: head, buses, keys, chunk 0, chunk 1 ...

pcilu_kernel_note_len = Struct(
    "length" / Int32ul,                # compressed bytes of one section
)

pcilu_kernel_note_key = Struct(
    "key" / Int64ul,                   # pci_ser_xa_key() of a device: the keys section and
)                                      # the first column of a chunk are arrays of these

pcilu_kernel_note_row = Struct(        # the rest of a device row (a chunk's second column)
    "hdr_type" / Int8ul,
    "pcie_type" / Int8ul,              # PCI_EXP_TYPE_* + 1; 0: no PCIe capability
    "acs_cap" / Int16ul,               # offset of the ACS capability; 0: none
    "flags" / Int16ul,                 # bit 0 multifunction, 1 was_preserved, 2 frozen,
                                       # 3 ari_enabled, 4 acs_inherited, 5 ari_inherited,
                                       # 6 was_incoming, 7 is_virtfn
    "outgoing" / Int32sl,              # slot in the outgoing pci_ser; -1: none
    "incoming" / Int32sl,              # slot in the incoming pci_ser; -1: none
    "acs_ctrl" / Int16ul,
    "physfn" / Int64sl,                # device key of a VF's PF; -1: not a VF
    "vendor" / Int16ul,
    "device" / Int16ul,
)

pcilu_kernel_note_bus = Struct(        # one pci_bus of the bus rows section (after its magic)
    "bus" / Int64ul,                   # domain << 8 | bus number
    "self" / Int64sl,                  # device key of the bridge leading to it; -1: none
    "parent" / Int64sl,                # the parent bus, as "bus"; -1: none (a root bus)
    "start" / Int16ul,                 # busn_res: the bus numbers below it
    "end" / Int16ul,
    "flags" / Int8ul,                  # bit 0 virtual (SR-IOV VF bus), 1 root bus
)

LAYOUTS = ("pcilu_kernel_note_header", "pcilu_kernel_note_len", "pcilu_kernel_note_key",
           "pcilu_kernel_note_row", "pcilu_kernel_note_bus")
