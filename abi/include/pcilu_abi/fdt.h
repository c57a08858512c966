/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pcilu_abi/fdt.h - the records of a flattened device tree (Devicetree Specification,
 * chapter 5; the kernel carries them as libfdt's fdt.h). Every field is big-endian in the
 * blob; only offsets and sizes matter here.
 */
#ifndef PCILU_ABI_FDT_H
#define PCILU_ABI_FDT_H

#include "compiler.h"

typedef u32 fdt32_t;		/* big-endian in the blob */
typedef u64 fdt64_t;

struct fdt_header {
	fdt32_t magic;			/* 0xd00dfeed */
	fdt32_t totalsize;
	fdt32_t off_dt_struct;
	fdt32_t off_dt_strings;
	fdt32_t off_mem_rsvmap;
	fdt32_t version;
	fdt32_t last_comp_version;
	fdt32_t boot_cpuid_phys;
	fdt32_t size_dt_strings;
	fdt32_t size_dt_struct;
};

struct fdt_reserve_entry {
	fdt64_t address;
	fdt64_t size;
};

struct fdt_property {
	fdt32_t tag;			/* FDT_PROP */
	fdt32_t len;
	fdt32_t nameoff;
	char data[];
};

_Static_assert(sizeof(struct fdt_header) == 40, "the FDT header is 40 bytes");

#endif /* PCILU_ABI_FDT_H */
