# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/*.h`` as Construct declarations: the KHO layouts (the one written
form; the C check holds them against gcc). :mod:`pcilu_cli.abi.kho` holds the constants and the
fast codecs derived from these (kept in :mod:`pcilu_cli.abi.codec_cache`) and re-exports every
name below.
"""
from construct import Array, Int16ul, Int32ul, Int64ul, PaddedString, Struct

from pcilu_cli.abi.kho import KHO_TABLE_ENTRIES, KHOSER_BITMAP_SIZE, NEW_UTS_LEN, PAGE_SIZE

# kexec_metadata.h (gen C+)
kho_kexec_metadata = Struct(               # __packed, 73 bytes
    "version" / Int32ul,                   # KHO_KEXEC_METADATA_VERSION
    "previous_release" / PaddedString(NEW_UTS_LEN + 1, "ascii"),
    "kexec_count" / Int32ul,
)

# kexec_handover.h radix tree (gen B-D; gen E: radix_tree.h "radix-v1")
kho_radix_node = Struct(                   # one page: a table of PAs of the next level, 0 = empty
    "table" / Array(KHO_TABLE_ENTRIES, Int64ul),
)

# gen A bitmap chunks (kho-v1)
khoser_mem_chunk_hdr = Struct(
    "next" / Int64ul,                      # PA of the next chunk, 0 = end
    "order" / Int32ul,
    "num_elms" / Int32ul,
)
khoser_mem_bitmap_ptr = Struct(
    "phys_start" / Int64ul,
    "bitmap" / Int64ul,                    # PA of a PAGE_SIZE bitmap
)
khoser_mem_chunk = Struct(
    "hdr" / khoser_mem_chunk_hdr,
    "bitmaps" / Array(KHOSER_BITMAP_SIZE, khoser_mem_bitmap_ptr),
)
assert khoser_mem_chunk.sizeof() == PAGE_SIZE

# vmalloc.h
kho_vmalloc_hdr = Struct("next" / Int64ul)
kho_vmalloc_chunk = Struct("hdr" / kho_vmalloc_hdr, "phys" / Array(511, Int64ul))
kho_vmalloc = Struct(
    "first" / Int64ul,
    "total_pages" / Int32ul,
    "flags" / Int16ul,
    "order" / Int16ul,
)

# x86 boot protocol
kho_data = Struct(                         # x86 setup_data payload, packed, 32 bytes
    "fdt_addr" / Int64ul,
    "fdt_size" / Int64ul,                  # PAGE_SIZE
    "scratch_addr" / Int64ul,
    "scratch_size" / Int64ul,              # bytes of the kho_scratch array
)
kho_scratch = Struct("addr" / Int64ul, "size" / Int64ul)   # 16 bytes

LAYOUTS = ("kho_kexec_metadata", "kho_radix_node", "khoser_mem_chunk_hdr",
           "khoser_mem_bitmap_ptr", "khoser_mem_chunk", "kho_vmalloc_hdr", "kho_vmalloc_chunk",
           "kho_vmalloc", "kho_data", "kho_scratch")
