# SPDX-License-Identifier: GPL-2.0-only
"""The flattened device tree's own records (libfdt's ``fdt.h``, Devicetree Specification §5):
the header, a property's header, a memory-reservation entry. Big-endian, unlike the rest of
the hand-over; the KHO root FDT and LUO's gen A-C FDT are made of these.
"""
from construct import Int32ub, Int64ub, Struct

from pcilu_cli.abi.codec import fast, offsetof, scalar

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 1, 2, 3, 4, 9

fdt_header = Struct(                       # 40 bytes
    "magic" / Int32ub,                     # FDT_MAGIC
    "totalsize" / Int32ub,                 # bytes of the whole blob
    "off_dt_struct" / Int32ub,
    "off_dt_strings" / Int32ub,
    "off_mem_rsvmap" / Int32ub,
    "version" / Int32ub,                   # 17
    "last_comp_version" / Int32ub,         # 16
    "boot_cpuid_phys" / Int32ub,
    "size_dt_strings" / Int32ub,
    "size_dt_struct" / Int32ub,
)
FDT_HEADER = fast(fdt_header)
FDT_HEADER_SIZE = FDT_HEADER.size
FDT_TOTALSIZE_OFFSET = offsetof(fdt_header, "totalsize")

fdt_property = Struct(                     # at an FDT_PROP token; the value follows it
    "tag" / Int32ub,                       # FDT_PROP
    "len" / Int32ub,
    "nameoff" / Int32ub,                   # offset of the name in the strings block
)
FDT_PROPERTY = fast(fdt_property)

fdt_reserve_entry = Struct(
    "address" / Int64ub,
    "size" / Int64ub,
)

FDT_TOKEN = scalar(">I")                   # a structure-block token (FDT_BEGIN_NODE ...)
