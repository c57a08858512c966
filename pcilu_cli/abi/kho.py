# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/*.h``: the KHO hand-over layouts and constants (``kho-luo-abi.md`` §1).

    kexec_handover.h   root FDT compatible strings and property names, radix-tree constants
    kexec_metadata.h   struct kho_kexec_metadata (packed, 73 bytes)
    memory tracker     gen A: khoser_mem_chunk (per-order bitmaps); gen B+: radix tree
    vmalloc.h          struct kho_vmalloc / kho_vmalloc_chunk
    x86 setup_data     struct kho_data (SETUP_KEXEC_KHO = 10); struct kho_scratch

Pure: constants, Construct layouts, folio order and the radix key arithmetic. Little-endian
throughout (KHO exists on x86_64 and arm64 only).
"""
from __future__ import annotations

from construct import Array, Int16ul, Int32ul, Int64ul, PaddedString, Struct

from pcilu_cli.abi import fdt as _fdt
from pcilu_cli.abi.codec import fast, scalar

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_PAGE_ORDER = 10                       # MAX_PAGE_ORDER on x86_64 / arm64 4K pages


def get_order(size: int) -> int:
    """get_order(): smallest order whose folio holds ``size`` bytes (one page at least)."""
    pages = max(1, (size + PAGE_SIZE - 1) >> PAGE_SHIFT)
    return (pages - 1).bit_length()

# ---- root FDT (kexec_handover.h) ---------------------------------------------------------------
KHO_FDT_COMPATIBLE = {"A": "kho-v1", "B": "kho-v2", "C": "kho-v3", "D": "kho-v4"}
GEN_OF_KHO_COMPATIBLE = {v: k for k, v in KHO_FDT_COMPATIBLE.items()}
PROP_PRESERVED_MEMORY_MAP = "preserved-memory-map"
PROP_SUB_FDT_GEN_A = "fdt"                 # gen A: u64 PA of a sub-FDT
PROP_SUB_TREE = "preserved-data"           # gen B+: u64 PA of the blob
PROP_SUB_TREE_SIZE = "blob-size"           # gen C+: u64 size of the blob


def sub_tree_prop(gen: str) -> str:
    return PROP_SUB_FDT_GEN_A if gen == "A" else PROP_SUB_TREE


def has_blob_size(gen: str) -> bool:
    return gen not in ("A", "B")


def is_radix(gen: str) -> bool:
    """Gen B+ track preserved memory in a radix tree; gen A in per-order bitmap chunks."""
    return gen != "A"


# ---- kexec metadata (kexec_metadata.h, gen C+) -------------------------------------------------
KHO_METADATA_NODE_NAME = "kexec-metadata"
KHO_KEXEC_METADATA_VERSION = 1
NEW_UTS_LEN = 64

kho_kexec_metadata = Struct(               # __packed, 73 bytes
    "version" / Int32ul,                   # KHO_KEXEC_METADATA_VERSION
    "previous_release" / PaddedString(NEW_UTS_LEN + 1, "ascii"),
    "kexec_count" / Int32ul,
)
KHO_KEXEC_METADATA_SIZE = kho_kexec_metadata.sizeof()   # 73
KHO_KEXEC_METADATA = fast(kho_kexec_metadata)  # (version, previous_release bytes, kexec_count)


def kexec_metadata_to_json(data: bytes, *, file=None) -> dict:
    """The ``inspect`` document of a ``struct kho_kexec_metadata`` blob."""
    from pcilu_cli.abi.codec import unpack_from
    version, release, count = unpack_from(kho_kexec_metadata, data, file=file,
                                          what="kho_kexec_metadata")
    return {"kind": "kho_kexec_metadata", "version": version,
            "previous_release": release.split(b"\0", 1)[0].decode("latin-1"),
            "kexec_count": count, "size": len(data)}

# ---- radix tree (gen B-D: kexec_handover.h; gen E: radix_tree.h "radix-v1") --------------------
KHO_ORDER_0_LOG2 = 64 - PAGE_SHIFT         # 52
KHO_TABLE_SIZE_LOG2 = 9                    # 512 u64 entries per node page
KHO_BITMAP_SIZE_LOG2 = PAGE_SHIFT + 3      # 15: 32768 bits per leaf page
KHO_TREE_MAX_DEPTH = 6                     # root = level 5 ... leaf = level 0
KHO_TABLE_ENTRIES = 1 << KHO_TABLE_SIZE_LOG2
KHO_BITMAP_BITS = 1 << KHO_BITMAP_SIZE_LOG2

kho_radix_node = Struct(                   # one page: a table of PAs of the next level, 0 = empty
    "table" / Array(KHO_TABLE_ENTRIES, Int64ul),
)
KHO_RADIX_NODE = fast(kho_radix_node)      # the 512 entries of one node


def radix_key(pa: int, order: int) -> int:
    """kho_radix_encode_key(): one order bit above the block's index at that order."""
    return (1 << (KHO_ORDER_0_LOG2 - order)) | (pa >> (PAGE_SHIFT + order))


def radix_decode_key(key: int) -> tuple[int, int]:
    """kho_radix_decode_key(): (pa, order); the order bit falls off the top of the u64."""
    order = KHO_ORDER_0_LOG2 - (key.bit_length() - 1)
    pa = (key << (PAGE_SHIFT + order)) & 0xFFFF_FFFF_FFFF_FFFF
    return pa, order


def radix_indices(key: int) -> tuple[list[int], int]:
    """Table indices for levels 5..1 (root first) and the leaf bit index."""
    idx = [(key >> (KHO_BITMAP_SIZE_LOG2 + KHO_TABLE_SIZE_LOG2 * (lvl - 1))) & 0x1FF
           for lvl in range(KHO_TREE_MAX_DEPTH - 1, 0, -1)]
    return idx, key & (KHO_BITMAP_BITS - 1)


def radix_key_from_indices(idx: list[int], bit: int) -> int:
    key = bit
    for lvl, i in zip(range(KHO_TREE_MAX_DEPTH - 1, 0, -1), idx):
        key |= i << (KHO_BITMAP_SIZE_LOG2 + KHO_TABLE_SIZE_LOG2 * (lvl - 1))
    return key


# ---- gen A bitmap chunks (kho-v1) ---------------------------------------------------------------
KHOSER_BITMAP_SIZE = 255                   # bitmap pointers per chunk
PRESERVE_BITS = PAGE_SIZE * 8              # 32768 blocks per bitmap page

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
KHOSER_MEM_CHUNK_HDR = fast(khoser_mem_chunk_hdr)      # (next, order, num_elms)
KHOSER_MEM_BITMAP_PTR = fast(khoser_mem_bitmap_ptr)    # (phys_start, bitmap)

# ---- vmalloc preservation (vmalloc.h) -----------------------------------------------------------
KHO_VMALLOC_ALLOC = 0x0001
KHO_VMALLOC_HUGE_VMAP = 0x0002
kho_vmalloc_hdr = Struct("next" / Int64ul)
kho_vmalloc_chunk = Struct("hdr" / kho_vmalloc_hdr, "phys" / Array(511, Int64ul))
kho_vmalloc = Struct(
    "first" / Int64ul,
    "total_pages" / Int32ul,
    "flags" / Int16ul,
    "order" / Int16ul,
)

# ---- boot protocol --------------------------------------------------------------------------------
SETUP_KEXEC_KHO = 10                       # x86 setup_data type
kho_data = Struct(                         # x86 setup_data payload, packed, 32 bytes
    "fdt_addr" / Int64ul,
    "fdt_size" / Int64ul,                  # PAGE_SIZE
    "scratch_addr" / Int64ul,
    "scratch_size" / Int64ul,              # bytes of the kho_scratch array
)
kho_scratch = Struct("addr" / Int64ul, "size" / Int64ul)   # 16 bytes

# ---- libfdt magic (the page scan of real dumps, the FDT header check) ----------------------------
FDT_MAGIC = _fdt.FDT_MAGIC
FDT_MAGIC_BYTES = FDT_MAGIC.to_bytes(4, "big")


# A KHO u64 property (``preserved-memory-map``, ``fdt``, a LUO ``data`` ...) is 8 raw
# little-endian bytes, not two big-endian FDT cells; physical memory words are the same.
KHO_U64 = scalar("<Q")
