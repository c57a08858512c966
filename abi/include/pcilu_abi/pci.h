/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pcilu_abi/pci.h - the PCI core's FLB payload (include/linux/kho/abi/pci.h), one struct per
 * layout a pcilu profile can speak (pci-liveupdate-v6.md sec. 1.1 and 1.3, kho-luo-abi.md
 * sec. 4).
 *
 *   profile  compat    struct pci_dev_ser         struct pci_ser
 *   v6-p01   "pci-v1"  u32 domain; u16 bdf; u16 padding   flex (max_nr_devices, nr_devices, [])
 *   v6-p02   "pci-v2"  ... u16 refcount (1 = in use)     flex
 *   v6       "pci-v3"  ... u16 refcount (# at or below)  flex
 *   v7       "pci-v2"  same                              u32 nr_devices; u64 devices (12)
 *   v8/v9    "pci"     same                              u32 version; u32 nr_devices;
 *                                                       u64 devices (16)
 *
 * The kernel only ever has one struct pci_ser at a time; the suffixes (_v1, _flex, _v7,
 * _version) are ours, so that every era can be compiled side by side.
 */
#ifndef PCILU_ABI_PCI_H
#define PCILU_ABI_PCI_H

#include "compiler.h"

#define PCI_LUO_FLB_COMPATIBLE_V6_P01 "pci-v1"
#define PCI_LUO_FLB_COMPATIBLE_V6_P02 "pci-v2"
#define PCI_LUO_FLB_COMPATIBLE_V6     "pci-v3"
#define PCI_LUO_FLB_COMPATIBLE_V7     "pci-v2"
#define PCI_LUO_FLB_COMPATIBLE_VER    "pci"
/*
 * PCI_LUO_FLB_VERSION: 1 at the first version-field patch, 2 in the latest stored copy
 * (kho-luo-abi.md sec. 8 marks the final value UNCONFIRMED). Profiles v8 and v9.
 */
#define PCI_LUO_FLB_VERSION_V8 1
#define PCI_LUO_FLB_VERSION_V9 2

/* v6 patch 01 ("pci-v1"): the last u16 is still padding. */
struct pci_dev_ser_v1 {
	u32 domain;		/* pci_domain_nr(dev->bus), the PCI segment */
	u16 bdf;		/* pci_dev_id(dev) = bus << 8 | devfn */
	u16 padding;
} __packed;

/* v6 patch 02 onwards, v7, version-field era. */
struct pci_dev_ser {
	u32 domain;		/* pci_domain_nr(dev->bus) */
	u16 bdf;		/* pci_dev_id(dev) = bus << 8 | devfn */
	u16 refcount;		/* 0 = free slot; else preserved devices at or below this one */
} __packed;

/* v6 (all patches): header + flexible array sized at the first preserve. */
struct pci_ser_flex {
	u32 max_nr_devices;	/* length of devices[] */
	u32 nr_devices;		/* in-use entries (refcount != 0) */
	struct pci_dev_ser devices[];
} __packed;

/* Same header with the patch-01 element, for the v6-p01 profile. */
struct pci_ser_flex_v1 {
	u32 max_nr_devices;
	u32 nr_devices;
	struct pci_dev_ser_v1 devices[];
} __packed;

/* v7: devices live in a kho_block chain of 8-byte entries (510 per block). */
struct pci_ser_v7 {
	u32 nr_devices;
	u64 devices;		/* PA of the first kho_block_header_ser, 0 = none */
} __packed;

/* v8/v9: a version field that "must never be deleted, moved or resized". */
struct pci_ser_version {
	u32 version;		/* PCI_LUO_FLB_VERSION */
	u32 nr_devices;
	u64 devices;		/* PA of the first kho_block_header_ser, 0 = none */
} __packed;

/*
 * Before v4 (the v3 posting, PATCH v3 02/24, 23 Mar 2026): a u64 header, entries sorted
 * ascending by domain and bdf, and a reserved u16 where v6 keeps the refcount. pcilu decodes
 * these (abi/pre_v6.py) but no profile writes them.
 */
struct pci_dev_ser_v3 {
	u32 domain;
	u16 bdf;
	u16 reserved;		/* naturally aligns the entry */
} __packed;

struct pci_ser_u64 {
	u64 max_nr_devices;
	u64 nr_devices;
	struct pci_dev_ser_v3 devices[];	/* sorted by (domain, bdf) */
} __packed;

_Static_assert(sizeof(struct pci_ser_u64) == 16, "pre-v4 pci_ser header is 16 bytes");
_Static_assert(sizeof(struct pci_dev_ser_v3) == 8, "pre-v4 pci_dev_ser is 8 bytes");
_Static_assert(offsetof(struct pci_ser_u64, devices) % sizeof(unsigned long) == 0,
	       "pre-v4 pci_ser.devices must be naturally aligned");

/*
 * The two static_asserts of the v6 header: with an 8-byte header and 8-byte elements every
 * element stays naturally aligned on 64-bit (the author wants this to fail on 32-bit).
 */
_Static_assert(offsetof(struct pci_ser_flex, devices) % sizeof(unsigned long) == 0,
	       "pci_ser.devices must be naturally aligned");
_Static_assert(sizeof(struct pci_dev_ser) % sizeof(unsigned long) == 0,
	       "pci_dev_ser must be a multiple of unsigned long");
_Static_assert(offsetof(struct pci_ser_flex_v1, devices) % sizeof(unsigned long) == 0,
	       "pci_ser.devices must be naturally aligned (pci-v1)");
_Static_assert(sizeof(struct pci_dev_ser_v1) % sizeof(unsigned long) == 0,
	       "pci_dev_ser must be a multiple of unsigned long (pci-v1)");

/* Sizes the spec states outright. */
_Static_assert(sizeof(struct pci_dev_ser) == 8, "pci_dev_ser is 8 bytes");
_Static_assert(sizeof(struct pci_ser_flex) == 8, "v6 pci_ser header is 8 bytes");
_Static_assert(sizeof(struct pci_ser_v7) == 12, "v7 pci_ser is 12 bytes (packed)");
_Static_assert(sizeof(struct pci_ser_version) == 16, "version-era pci_ser is 16 bytes");

/* struct_size_t(struct pci_ser, devices, n) for the v6 layout. */
#define PCI_SER_FLEX_SIZE(n) (sizeof(struct pci_ser_flex) + (size_t)(n) * sizeof(struct pci_dev_ser))

#endif /* PCILU_ABI_PCI_H */
