/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pcilu_abi/kho_block.h - one page of a kho_block chain (include/linux/kho/abi/block.h,
 * kho-luo-abi.md sec. 3). No magic, no entry size: the consumer knows entry_size.
 */
#ifndef PCILU_ABI_KHO_BLOCK_H
#define PCILU_ABI_KHO_BLOCK_H

#include "compiler.h"

#define KHO_BLOCK_SIZE PCILU_PAGE_SIZE
#define KHO_MAX_BLOCKS 10000

struct kho_block_header_ser {
	u64 next;		/* PA of the next block header; 0 ends the chain */
	u64 count;		/* valid entries in this block */
} __packed;

_Static_assert(sizeof(struct kho_block_header_ser) == 16, "kho_block header is 16 bytes");

#define KHO_BLOCK_COUNT_PER_BLOCK(entry_size) \
	((KHO_BLOCK_SIZE - sizeof(struct kho_block_header_ser)) / (entry_size))

#endif /* PCILU_ABI_KHO_BLOCK_H */
