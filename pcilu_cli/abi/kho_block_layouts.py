# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/block.h`` as a Construct declaration (the one written form; the C
check holds it against gcc); :mod:`pcilu_cli.abi.kho_block` re-exports it."""
from construct import Int64ul, Struct

kho_block_header_ser = Struct(
    "next" / Int64ul,          # PA of the next block header; 0 ends the chain
    "count" / Int64ul,         # valid entries in THIS block (1..count_per_block when restored)
)

LAYOUTS = ("kho_block_header_ser",)
