/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pcilu_abi/compiler.h - fixed-width types and attributes for our transcription of the
 * Live Update hand-over structs.
 *
 * Written by the pcilu project from its specification notes (pci-liveupdate-v6.md,
 * kho-luo-abi.md); no kernel source is copied. The names follow the kernel's vocabulary so
 * that a reader can hold them next to the headers in include/linux/kho/abi/.
 */
#ifndef PCILU_ABI_COMPILER_H
#define PCILU_ABI_COMPILER_H

#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* The kernel's __packed: no padding anywhere in the struct. */
#define __packed __attribute__((packed))

/*
 * Live Update / KHO exists only on x86_64 and arm64, both little-endian; the golden blobs
 * this project commits are little-endian, so refuse to build them on anything else.
 */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pcilu ABI headers model little-endian (x86_64/arm64) kernels only"
#endif

#define PCILU_PAGE_SIZE 4096

#endif /* PCILU_ABI_COMPILER_H */
