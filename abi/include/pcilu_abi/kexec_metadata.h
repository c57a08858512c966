/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pcilu_abi/kexec_metadata.h - the "kexec-metadata" KHO subtree blob
 * (include/linux/kho/abi/kexec_metadata.h, kho-luo-abi.md sec. 1.2).
 */
#ifndef PCILU_ABI_KEXEC_METADATA_H
#define PCILU_ABI_KEXEC_METADATA_H

#include "compiler.h"

#define KHO_METADATA_NODE_NAME "kexec-metadata"
#define KHO_KEXEC_METADATA_VERSION 1
#define PCILU_NEW_UTS_LEN 64	/* __NEW_UTS_LEN */

struct kho_kexec_metadata {
	u32 version;		/* KHO_KEXEC_METADATA_VERSION */
	char previous_release[PCILU_NEW_UTS_LEN + 1];	/* uname -r of the previous kernel */
	u32 kexec_count;
} __packed;

_Static_assert(sizeof(struct kho_kexec_metadata) == 73, "kho_kexec_metadata is 73 bytes");

#endif /* PCILU_ABI_KEXEC_METADATA_H */
