# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/block.h``: the header of one ``kho_block`` (one page, linked by PA).

Entry ``i`` of a block lives at ``block_pa + 16 + i * entry_size``; a block holds
``(KHO_BLOCK_SIZE - 16) // entry_size`` entries. The header has no magic and no entry size:
the reader must know ``entry_size`` out of band (``kho-luo-abi.md`` §3).
"""
from construct import Int64ul, Struct

KHO_BLOCK_SIZE = 4096          # PAGE_SIZE
KHO_MAX_BLOCKS = 10000         # safety limit per set (kho_block_set_restore)

kho_block_header_ser = Struct(
    "next" / Int64ul,          # PA of the next block header; 0 ends the chain
    "count" / Int64ul,         # valid entries in THIS block (1..count_per_block when restored)
)
KHO_BLOCK_HEADER_SIZE = kho_block_header_ser.sizeof()  # 16


def count_per_block(entry_size: int) -> int:
    return (KHO_BLOCK_SIZE - KHO_BLOCK_HEADER_SIZE) // entry_size
