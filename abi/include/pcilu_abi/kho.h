/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pcilu_abi/kho.h - KHO's own hand-over records (kho-luo-abi.md sec. 1.1, 1.3, 1.4): the
 * gen A bitmap-chunk tracker, vmalloc preservation, and the boot-protocol structs.
 *
 * Unlike the LUO/PCI records most of these are NOT __packed in the kernel: their layout is
 * the natural one, so here gcc's alignment rules (not ours) decide the offsets.
 */
#ifndef PCILU_ABI_KHO_H
#define PCILU_ABI_KHO_H

#include "compiler.h"

/* ---- gen A ("kho-v1") preserved-memory map: a linked list of one-page chunks ---- */
#define KHOSER_BITMAP_SIZE 255

struct khoser_mem_chunk_hdr {
	u64 next;		/* DECLARE_KHOSER_PTR: PA of the next chunk, 0 = end */
	unsigned int order;
	unsigned int num_elms;
};

struct khoser_mem_bitmap_ptr {
	u64 phys_start;		/* phys_addr_t */
	u64 bitmap;		/* PA of a PAGE_SIZE bitmap */
};

struct khoser_mem_chunk {
	struct khoser_mem_chunk_hdr hdr;
	struct khoser_mem_bitmap_ptr bitmaps[KHOSER_BITMAP_SIZE];
};

/* ---- radix tree of preserved memory (gen B+): one page per node ---- */
struct kho_radix_node {
	u64 table[512];		/* PAs of the next level's pages, 0 = empty */
};
_Static_assert(sizeof(struct kho_radix_node) == PCILU_PAGE_SIZE, "a radix node is one page");

/* ---- vmalloc preservation (vmalloc.h) ---- */
struct kho_vmalloc_hdr {
	u64 next;		/* PA of the next chunk */
};

struct kho_vmalloc_chunk {
	struct kho_vmalloc_hdr hdr;
	u64 phys[(PCILU_PAGE_SIZE - sizeof(struct kho_vmalloc_hdr)) / sizeof(u64)];
};

struct kho_vmalloc {
	u64 first;		/* PA of the first chunk */
	unsigned int total_pages;
	unsigned short flags;	/* KHO_VMALLOC_ALLOC 0x1, KHO_VMALLOC_HUGE_VMAP 0x2 */
	unsigned short order;
};

/* ---- boot protocol ---- */
/* One entry of the scratch array handed to the next kernel (not packed, 16 bytes). */
struct kho_scratch {
	u64 addr;		/* phys_addr_t */
	u64 size;		/* phys_addr_t */
};

/* x86 setup_data payload of type SETUP_KEXEC_KHO (10), packed. */
struct kho_data {
	u64 fdt_addr;
	u64 fdt_size;		/* PAGE_SIZE */
	u64 scratch_addr;
	u64 scratch_size;	/* bytes of the kho_scratch array */
} __packed;

_Static_assert(sizeof(struct khoser_mem_chunk) == PCILU_PAGE_SIZE, "a chunk is one page");
_Static_assert(sizeof(struct kho_vmalloc_chunk) == PCILU_PAGE_SIZE, "a chunk is one page");
_Static_assert(sizeof(struct kho_vmalloc) == 16, "kho_vmalloc is 16 bytes");
_Static_assert(sizeof(struct kho_data) == 32, "kho_data is 32 bytes");

#endif /* PCILU_ABI_KHO_H */
