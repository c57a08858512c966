# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/block.h``: the header of one ``kho_block`` (one page, linked by PA).

Entry ``i`` of a block lives at ``block_pa + 16 + i * entry_size``; a block holds
``(KHO_BLOCK_SIZE - 16) // entry_size`` entries. The header has no magic and no entry size:
the reader must know ``entry_size`` out of band (``kho-luo-abi.md`` §3).

The Construct declaration is in :mod:`pcilu_cli.abi.kho_block_layouts` (re-exported here,
imported on first use); its size comes from the codec cache.
"""
from pcilu_cli.abi.codec import cached, lazy_layouts

KHO_BLOCK_SIZE = 4096          # PAGE_SIZE
KHO_MAX_BLOCKS = 10000         # safety limit per set (kho_block_set_restore)

_LAYOUTS = "pcilu_cli.abi.kho_block_layouts"


__getattr__ = lazy_layouts(__name__, _LAYOUTS)

KHO_BLOCK_HEADER_SIZE = cached(_LAYOUTS, "kho_block_header_ser")[0].size  # 16


def count_per_block(entry_size: int) -> int:
    return (KHO_BLOCK_SIZE - KHO_BLOCK_HEADER_SIZE) // entry_size
