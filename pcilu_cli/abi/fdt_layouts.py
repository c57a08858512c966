# SPDX-License-Identifier: GPL-2.0-only
"""libfdt's ``fdt.h`` as Construct declarations (big-endian): the one written form of the FDT
records; :mod:`pcilu_cli.abi.fdt` holds the constants and the fast codecs derived from these
(kept in :mod:`pcilu_cli.abi.codec_cache`) and re-exports every name below.
"""
from construct import Int32ub, Int64ub, Struct

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

fdt_property = Struct(                     # at an FDT_PROP token; the value follows it
    "tag" / Int32ub,                       # FDT_PROP
    "len" / Int32ub,
    "nameoff" / Int32ub,                   # offset of the name in the strings block
)

fdt_reserve_entry = Struct(
    "address" / Int64ub,
    "size" / Int64ub,
)

LAYOUTS = ("fdt_header", "fdt_property", "fdt_reserve_entry")
