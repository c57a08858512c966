/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pcilu_abi/luo.h - LUO hand-over records (include/linux/kho/abi/luo.h, kho-luo-abi.md
 * sec. 2.1 and 2.3): gen D "luo-v5" struct luo_ser, the session and file records (also used
 * by gen A-C), the gen A-C session array header, and the FLB page (identical in gen A-D).
 */
#ifndef PCILU_ABI_LUO_H
#define PCILU_ABI_LUO_H

#include "compiler.h"

#define LUO_KHO_ENTRY_NAME "LUO"
#define LUO_ABI_COMPATIBLE "luo-v5"
/* ALIGN(sizeof(LUO_ABI_COMPATIBLE), 8): derived from the string, 8 for "luo-v5". */
#define LUO_ABI_COMPAT_LEN ((sizeof(LUO_ABI_COMPATIBLE) + 7) & ~(size_t)7)
#define LIVEUPDATE_HNDL_COMPAT_LENGTH 48
#define LIVEUPDATE_FLB_COMPAT_LENGTH 48
#define LIVEUPDATE_SESSION_NAME_LENGTH 64
#define LUO_FLB_PGCNT 1

/* Gen D root blob: subtree "LUO", blob-size = sizeof(struct luo_ser). */
struct luo_ser {
	char compatible[LUO_ABI_COMPAT_LEN];	/* "luo-v5", zero padded */
	u64 liveupdate_num;	/* previous kernel's number + 1 */
	u64 sessions_pa;	/* first block of the session chain, 0 = no sessions */
	u64 flbs_pa;		/* the FLB page */
} __packed;

struct luo_file_set_ser {
	u64 files;		/* PA of the file chain (gen D) / array (gen A-C), 0 = none */
	u64 count;		/* files in this session */
} __packed;

struct luo_session_ser {
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	struct luo_file_set_ser file_set_ser;
} __packed;

struct luo_file_ser {
	char compatible[LIVEUPDATE_HNDL_COMPAT_LENGTH];	/* file handler, e.g. "memfd-v2" */
	u64 data;		/* handler's serialized_data (by convention a PA) */
	u64 token;		/* user token from LIVEUPDATE_SESSION_PRESERVE_FD */
} __packed;

/* Gen A-C: "luo-session-header" points at this, followed by count luo_session_ser. */
struct luo_session_header_ser {
	u64 count;
} __packed;

/* The FLB page: header at offset 0, luo_flb_ser records from offset 16. */
struct luo_flb_header_ser {
	u64 pgcnt;		/* LUO_FLB_PGCNT */
	u64 count;		/* records that follow */
} __packed;

struct luo_flb_ser {
	char name[LIVEUPDATE_FLB_COMPAT_LENGTH];	/* FLB compatible, e.g. "pci-v3" */
	u64 data;		/* FLB's data, e.g. PA of struct pci_ser */
	u64 count;		/* preserved files whose handler depends on this FLB */
} __packed;

#define LUO_FLB_MAX \
	(((LUO_FLB_PGCNT * PCILU_PAGE_SIZE) - sizeof(struct luo_flb_header_ser)) / \
	 sizeof(struct luo_flb_ser))

_Static_assert(sizeof(struct luo_ser) == 32, "luo-v5 luo_ser is 32 bytes");
_Static_assert(sizeof(struct luo_session_ser) == 80, "luo_session_ser is 80 bytes");
_Static_assert(sizeof(struct luo_file_ser) == 64, "luo_file_ser is 64 bytes");
_Static_assert(sizeof(struct luo_flb_header_ser) == 16, "luo_flb_header_ser is 16 bytes");
_Static_assert(sizeof(struct luo_flb_ser) == 64, "luo_flb_ser is 64 bytes");
_Static_assert(LUO_FLB_MAX == 63, "63 FLB records fit the FLB page");

#endif /* PCILU_ABI_LUO_H */
