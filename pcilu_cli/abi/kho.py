# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/*.h``: the KHO hand-over layouts and constants (``kho-luo-abi.md`` §1).

    kexec_handover.h   root FDT compatible strings and property names, radix-tree constants
    kexec_metadata.h   struct kho_kexec_metadata (packed, 73 bytes)
    memory tracker     gen A: khoser_mem_chunk (per-order bitmaps); gen B+: radix tree
    vmalloc.h          struct kho_vmalloc / kho_vmalloc_chunk
    x86 setup_data     struct kho_data (SETUP_KEXEC_KHO = 10); struct kho_scratch

Pure: constants, folio order and the radix key arithmetic. Little-endian throughout (KHO
exists on x86_64 and arm64 only). The Construct declarations are in
:mod:`pcilu_cli.abi.kho_layouts` (re-exported here, imported on first use); the fast codecs
below are derived from them through the codec cache, so that identifying a file does not
import Construct.
"""
from __future__ import annotations

from pcilu_cli.abi import fdt as _fdt
from pcilu_cli.abi.codec import cached, lazy_layouts, scalar

_LAYOUTS = "pcilu_cli.abi.kho_layouts"


__getattr__ = lazy_layouts(__name__, _LAYOUTS)   # the declarations, on first use

from pcilu_cli.abi.page import PAGE_SHIFT, PAGE_SIZE

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

KHO_KEXEC_METADATA = cached(_LAYOUTS, "kho_kexec_metadata")[0]  # (version, release, count)
KHO_KEXEC_METADATA_SIZE = KHO_KEXEC_METADATA.size   # 73


def kexec_metadata_to_json(data: bytes, *, file=None) -> dict:
    """The ``inspect`` document of a ``struct kho_kexec_metadata`` blob."""
    from pcilu_cli.abi.codec import unpack_from
    version, release, count = unpack_from(__getattr__("kho_kexec_metadata"), data, file=file,
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

KHO_RADIX_NODE = cached(_LAYOUTS, "kho_radix_node")[0]      # the 512 entries of one node


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

KHOSER_MEM_CHUNK_HDR = cached(_LAYOUTS, "khoser_mem_chunk_hdr")[0]      # (next, order, num_elms)
KHOSER_MEM_BITMAP_PTR = cached(_LAYOUTS, "khoser_mem_bitmap_ptr")[0]    # (phys_start, bitmap)

# ---- vmalloc preservation (vmalloc.h) -----------------------------------------------------------
KHO_VMALLOC_ALLOC = 0x0001
KHO_VMALLOC_HUGE_VMAP = 0x0002

# ---- boot protocol --------------------------------------------------------------------------------
SETUP_KEXEC_KHO = 10                       # x86 setup_data type

# ---- libfdt magic (the page scan of real dumps, the FDT header check) ----------------------------
FDT_MAGIC = _fdt.FDT_MAGIC
FDT_MAGIC_BYTES = FDT_MAGIC.to_bytes(4, "big")


# A KHO u64 property (``preserved-memory-map``, ``fdt``, a LUO ``data`` ...) is 8 raw
# little-endian bytes, not two big-endian FDT cells; physical memory words are the same.
KHO_U64 = scalar("<Q")
