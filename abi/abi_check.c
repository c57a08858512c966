/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * abi_check - the C side of pcilu's ABI contract.
 *
 * The Python package describes every hand-over struct with Construct; this program describes
 * the same structs with C (the headers in include/pcilu_abi/, our own transcription of the spec) and lets
 * gcc, not us, compute the layout. The tests compare the two and exchange blobs both ways.
 *
 *   abi_check layout       one line per struct and per field, machine-readable:
 *                            struct <name> size <n>
 *                            field <struct>.<field>[.<sub>] offset <o> size <s>
 *                          (size 0 = flexible array member)
 *   abi_check golden DIR   write the golden blobs, built with the C structs, and
 *                          DIR/manifest.json describing what each blob contains
 *   abi_check read FILE    read a v6 (flex) struct pci_ser with the C struct and print
 *                            max_nr_devices N / nr_devices N /
 *                            slot S domain D bdf B refcount R   (in-use entries only)
 *
 * All numbers are printed in decimal. Exit status: 0 ok, 1 bad input or I/O error, 2 usage.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "pcilu_abi/fdt.h"
#include "pcilu_abi/kexec_metadata.h"
#include "pcilu_abi/kho.h"
#include "pcilu_abi/kho_block.h"
#include "pcilu_abi/luo.h"
#include "pcilu_abi/pci.h"

/* ------------------------------------------------------------------------------------------ */
/* layout                                                                                     */

#define FIELD_SIZE(type, member) sizeof(((type *)0)->member)

#define STRUCT(name) printf("struct %s size %zu\n", #name, sizeof(struct name))
#define FIELD(name, member)                                                            \
	printf("field %s.%s offset %zu size %zu\n", #name, #member,                   \
	       offsetof(struct name, member), FIELD_SIZE(struct name, member))
/* sizeof() cannot be applied to a flexible array member: it occupies no bytes. */
#define FLEX_FIELD(name, member)                                                       \
	printf("field %s.%s offset %zu size 0\n", #name, #member,                      \
	       offsetof(struct name, member))
/* The same for a typedef'd struct (the ELF headers of the system's <elf.h>). */
#define TSTRUCT(name) printf("struct %s size %zu\n", #name, sizeof(name))
#define TFIELD(name, member)                                                           \
	printf("field %s.%s offset %zu size %zu\n", #name, #member,                  \
	       offsetof(name, member), FIELD_SIZE(name, member))

static void print_layout(void)
{
	STRUCT(pci_dev_ser_v1);
	FIELD(pci_dev_ser_v1, domain);
	FIELD(pci_dev_ser_v1, bdf);
	FIELD(pci_dev_ser_v1, padding);

	STRUCT(pci_dev_ser);
	FIELD(pci_dev_ser, domain);
	FIELD(pci_dev_ser, bdf);
	FIELD(pci_dev_ser, refcount);

	STRUCT(pci_ser_flex);
	FIELD(pci_ser_flex, max_nr_devices);
	FIELD(pci_ser_flex, nr_devices);
	FLEX_FIELD(pci_ser_flex, devices);

	STRUCT(pci_ser_flex_v1);
	FIELD(pci_ser_flex_v1, max_nr_devices);
	FIELD(pci_ser_flex_v1, nr_devices);
	FLEX_FIELD(pci_ser_flex_v1, devices);

	STRUCT(pci_dev_ser_v3);
	FIELD(pci_dev_ser_v3, domain);
	FIELD(pci_dev_ser_v3, bdf);
	FIELD(pci_dev_ser_v3, reserved);

	STRUCT(pci_ser_u64);
	FIELD(pci_ser_u64, max_nr_devices);
	FIELD(pci_ser_u64, nr_devices);
	FLEX_FIELD(pci_ser_u64, devices);

	STRUCT(pci_ser_v7);
	FIELD(pci_ser_v7, nr_devices);
	FIELD(pci_ser_v7, devices);

	STRUCT(pci_ser_version);
	FIELD(pci_ser_version, version);
	FIELD(pci_ser_version, nr_devices);
	FIELD(pci_ser_version, devices);

	STRUCT(kho_block_header_ser);
	FIELD(kho_block_header_ser, next);
	FIELD(kho_block_header_ser, count);

	STRUCT(luo_ser);
	FIELD(luo_ser, compatible);
	FIELD(luo_ser, liveupdate_num);
	FIELD(luo_ser, sessions_pa);
	FIELD(luo_ser, flbs_pa);

	STRUCT(luo_file_set_ser);
	FIELD(luo_file_set_ser, files);
	FIELD(luo_file_set_ser, count);

	STRUCT(luo_session_ser);
	FIELD(luo_session_ser, name);
	FIELD(luo_session_ser, file_set_ser);
	FIELD(luo_session_ser, file_set_ser.files);
	FIELD(luo_session_ser, file_set_ser.count);

	STRUCT(luo_file_ser);
	FIELD(luo_file_ser, compatible);
	FIELD(luo_file_ser, data);
	FIELD(luo_file_ser, token);

	STRUCT(luo_session_header_ser);
	FIELD(luo_session_header_ser, count);

	STRUCT(luo_flb_header_ser);
	FIELD(luo_flb_header_ser, pgcnt);
	FIELD(luo_flb_header_ser, count);

	STRUCT(luo_flb_ser);
	FIELD(luo_flb_ser, name);
	FIELD(luo_flb_ser, data);
	FIELD(luo_flb_ser, count);

	STRUCT(kho_kexec_metadata);
	FIELD(kho_kexec_metadata, version);
	FIELD(kho_kexec_metadata, previous_release);
	FIELD(kho_kexec_metadata, kexec_count);

	STRUCT(khoser_mem_chunk_hdr);
	FIELD(khoser_mem_chunk_hdr, next);
	FIELD(khoser_mem_chunk_hdr, order);
	FIELD(khoser_mem_chunk_hdr, num_elms);

	STRUCT(khoser_mem_bitmap_ptr);
	FIELD(khoser_mem_bitmap_ptr, phys_start);
	FIELD(khoser_mem_bitmap_ptr, bitmap);

	STRUCT(khoser_mem_chunk);
	FIELD(khoser_mem_chunk, hdr);
	FIELD(khoser_mem_chunk, hdr.next);
	FIELD(khoser_mem_chunk, hdr.order);
	FIELD(khoser_mem_chunk, hdr.num_elms);
	FIELD(khoser_mem_chunk, bitmaps);

	STRUCT(kho_radix_node);
	FIELD(kho_radix_node, table);

	STRUCT(fdt_header);
	FIELD(fdt_header, magic);
	FIELD(fdt_header, totalsize);
	FIELD(fdt_header, off_dt_struct);
	FIELD(fdt_header, off_dt_strings);
	FIELD(fdt_header, off_mem_rsvmap);
	FIELD(fdt_header, version);
	FIELD(fdt_header, last_comp_version);
	FIELD(fdt_header, boot_cpuid_phys);
	FIELD(fdt_header, size_dt_strings);
	FIELD(fdt_header, size_dt_struct);

	STRUCT(fdt_property);
	FIELD(fdt_property, tag);
	FIELD(fdt_property, len);
	FIELD(fdt_property, nameoff);
	FLEX_FIELD(fdt_property, data);

	STRUCT(fdt_reserve_entry);
	FIELD(fdt_reserve_entry, address);
	FIELD(fdt_reserve_entry, size);

	STRUCT(kho_vmalloc_hdr);
	FIELD(kho_vmalloc_hdr, next);

	STRUCT(kho_vmalloc_chunk);
	FIELD(kho_vmalloc_chunk, hdr);
	FIELD(kho_vmalloc_chunk, hdr.next);
	FIELD(kho_vmalloc_chunk, phys);

	STRUCT(kho_vmalloc);
	FIELD(kho_vmalloc, first);
	FIELD(kho_vmalloc, total_pages);
	FIELD(kho_vmalloc, flags);
	FIELD(kho_vmalloc, order);

	STRUCT(kho_scratch);
	FIELD(kho_scratch, addr);
	FIELD(kho_scratch, size);

	STRUCT(kho_data);
	FIELD(kho_data, fdt_addr);
	FIELD(kho_data, fdt_size);
	FIELD(kho_data, scratch_addr);
	FIELD(kho_data, scratch_size);

	/* the ELF64 core headers of a state file: the system's own <elf.h> */
	TSTRUCT(Elf64_Ehdr);
	TFIELD(Elf64_Ehdr, e_ident);
	TFIELD(Elf64_Ehdr, e_type);
	TFIELD(Elf64_Ehdr, e_machine);
	TFIELD(Elf64_Ehdr, e_version);
	TFIELD(Elf64_Ehdr, e_entry);
	TFIELD(Elf64_Ehdr, e_phoff);
	TFIELD(Elf64_Ehdr, e_shoff);
	TFIELD(Elf64_Ehdr, e_flags);
	TFIELD(Elf64_Ehdr, e_ehsize);
	TFIELD(Elf64_Ehdr, e_phentsize);
	TFIELD(Elf64_Ehdr, e_phnum);
	TFIELD(Elf64_Ehdr, e_shentsize);
	TFIELD(Elf64_Ehdr, e_shnum);
	TFIELD(Elf64_Ehdr, e_shstrndx);

	TSTRUCT(Elf64_Phdr);
	TFIELD(Elf64_Phdr, p_type);
	TFIELD(Elf64_Phdr, p_flags);
	TFIELD(Elf64_Phdr, p_offset);
	TFIELD(Elf64_Phdr, p_vaddr);
	TFIELD(Elf64_Phdr, p_paddr);
	TFIELD(Elf64_Phdr, p_filesz);
	TFIELD(Elf64_Phdr, p_memsz);
	TFIELD(Elf64_Phdr, p_align);

	TSTRUCT(Elf64_Shdr);
	TFIELD(Elf64_Shdr, sh_name);
	TFIELD(Elf64_Shdr, sh_type);
	TFIELD(Elf64_Shdr, sh_flags);
	TFIELD(Elf64_Shdr, sh_addr);
	TFIELD(Elf64_Shdr, sh_offset);
	TFIELD(Elf64_Shdr, sh_size);
	TFIELD(Elf64_Shdr, sh_link);
	TFIELD(Elf64_Shdr, sh_info);
	TFIELD(Elf64_Shdr, sh_addralign);
	TFIELD(Elf64_Shdr, sh_entsize);

	TSTRUCT(Elf64_Nhdr);
	TFIELD(Elf64_Nhdr, n_namesz);
	TFIELD(Elf64_Nhdr, n_descsz);
	TFIELD(Elf64_Nhdr, n_type);
}

/* ------------------------------------------------------------------------------------------ */
/* golden blobs                                                                               */

struct dev_entry {
	u32 slot;
	u32 domain;
	u16 bdf;
	u16 refcount;		/* 0 = free (the slot stays all-zero) */
};

static const char *out_dir;
static FILE *manifest;
static int manifest_first_blob = 1;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("abi_check: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *zalloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	if (!p)
		die("out of memory");
	return p;
}

static void write_blob(const char *file, const void *data, size_t size)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, file);
	f = fopen(path, "wb");
	if (!f)
		die("%s: %s", path, strerror(errno));
	if (size && fwrite(data, 1, size, f) != size)
		die("%s: short write", path);
	if (fclose(f))
		die("%s: %s", path, strerror(errno));
}

/* Manifest: one JSON object per blob, written here so the expectation never comes from the
 * Python decoder under test. Bus/device/function are split from bdf by C shifts. */
static void manifest_begin_blob(const char *file, const char *kind, size_t size)
{
	fprintf(manifest, "%s\n    {\"file\": \"%s\", \"kind\": \"%s\", \"size\": %zu",
		manifest_first_blob ? "" : ",", file, kind, size);
	manifest_first_blob = 0;
}

static void manifest_devices(const struct dev_entry *e, size_t n)
{
	int first = 1;

	fputs(", \"devices\": [", manifest);
	for (size_t i = 0; i < n; i++) {
		if (!e[i].refcount)
			continue;
		fprintf(manifest,
			"%s\n        {\"slot\": %" PRIu32 ", \"domain\": %" PRIu32
			", \"bdf\": %u, \"bus\": %u, \"device\": %u, \"function\": %u"
			", \"refcount\": %u, \"name\": \"%04" PRIx32 ":%02x:%02x.%x\"}",
			first ? "" : ",", e[i].slot, e[i].domain, e[i].bdf, e[i].bdf >> 8,
			(e[i].bdf >> 3) & 0x1f, e[i].bdf & 7, e[i].refcount, e[i].domain,
			e[i].bdf >> 8, (e[i].bdf >> 3) & 0x1f, e[i].bdf & 7);
		first = 0;
	}
	fputs(first ? "]" : "\n      ]", manifest);
}

static void manifest_end_blob(void)
{
	fputs("}", manifest);
}

static u32 count_in_use(const struct dev_entry *e, size_t n)
{
	u32 nr = 0;

	for (size_t i = 0; i < n; i++)
		nr += e[i].refcount != 0;
	return nr;
}

/*
 * A v6 struct pci_ser as pci_flb_preserve() allocates it (kho_alloc_preserve: zero-filled)
 * after the listed slots were claimed. alloc_size >= PCI_SER_FLEX_SIZE(max) models the rest
 * of the preserved folio.
 */
static void golden_pci_ser_flex(const char *file, const char *profile, const char *compatible,
				u32 max_nr_devices, const struct dev_entry *e, size_t n,
				size_t alloc_size)
{
	size_t size = alloc_size ? alloc_size : PCI_SER_FLEX_SIZE(max_nr_devices);
	struct pci_ser_flex *ser;

	if (size < PCI_SER_FLEX_SIZE(max_nr_devices))
		die("%s: allocation smaller than struct_size", file);
	ser = zalloc(size);
	ser->max_nr_devices = max_nr_devices;
	ser->nr_devices = count_in_use(e, n);
	for (size_t i = 0; i < n; i++) {
		if (e[i].slot >= max_nr_devices)
			die("%s: slot %u out of range", file, e[i].slot);
		if (!e[i].refcount)
			continue;	/* freed entries are zeroed entirely */
		ser->devices[e[i].slot].domain = e[i].domain;
		ser->devices[e[i].slot].bdf = e[i].bdf;
		ser->devices[e[i].slot].refcount = e[i].refcount;
	}
	write_blob(file, ser, size);

	manifest_begin_blob(file, "pci_ser", size);
	fprintf(manifest,
		", \"layout\": \"flex\", \"profile\": \"%s\", \"compatible\": \"%s\""
		", \"max_nr_devices\": %" PRIu32 ", \"nr_devices\": %" PRIu32
		", \"struct_size\": %zu",
		profile, compatible, ser->max_nr_devices, ser->nr_devices,
		PCI_SER_FLEX_SIZE(max_nr_devices));
	manifest_devices(e, n);
	manifest_end_blob();
	free(ser);
}

static void golden_pci_ser_v7(const char *file, u32 nr_devices, u64 devices_pa)
{
	struct pci_ser_v7 ser;

	memset(&ser, 0, sizeof(ser));
	ser.nr_devices = nr_devices;
	ser.devices = devices_pa;
	write_blob(file, &ser, sizeof(ser));

	manifest_begin_blob(file, "pci_ser", sizeof(ser));
	fprintf(manifest,
		", \"layout\": \"block\", \"profile\": \"v7\", \"compatible\": \"%s\""
		", \"nr_devices\": %" PRIu32 ", \"devices_pa\": %" PRIu64,
		PCI_LUO_FLB_COMPATIBLE_V7, ser.nr_devices, (u64)ser.devices);
	manifest_end_blob();
}

static void golden_pci_ser_version(const char *file, const char *profile, u32 version,
				   u32 nr_devices, u64 devices_pa)
{
	struct pci_ser_version ser;

	memset(&ser, 0, sizeof(ser));
	ser.version = version;
	ser.nr_devices = nr_devices;
	ser.devices = devices_pa;
	write_blob(file, &ser, sizeof(ser));

	manifest_begin_blob(file, "pci_ser", sizeof(ser));
	fprintf(manifest,
		", \"layout\": \"version\", \"profile\": \"%s\", \"compatible\": \"%s\""
		", \"version\": %" PRIu32 ", \"nr_devices\": %" PRIu32
		", \"devices_pa\": %" PRIu64,
		profile, PCI_LUO_FLB_COMPATIBLE_VER, ser.version, ser.nr_devices,
		(u64)ser.devices);
	manifest_end_blob();
}

/* One kho_block page of pci_dev_ser entries (v7 and later); block count includes holes. */
static void golden_pci_dev_block(const char *file, u64 next, const struct dev_entry *e,
				 size_t n)
{
	u8 *page = zalloc(KHO_BLOCK_SIZE);
	struct kho_block_header_ser *hdr = (struct kho_block_header_ser *)page;
	struct pci_dev_ser *devs = (struct pci_dev_ser *)(page + sizeof(*hdr));
	u32 used = 0;

	for (size_t i = 0; i < n; i++) {
		if (e[i].slot >= KHO_BLOCK_COUNT_PER_BLOCK(sizeof(struct pci_dev_ser)))
			die("%s: slot %u out of range", file, e[i].slot);
		if (e[i].slot + 1 > used)
			used = e[i].slot + 1;
		if (!e[i].refcount)
			continue;
		devs[e[i].slot].domain = e[i].domain;
		devs[e[i].slot].bdf = e[i].bdf;
		devs[e[i].slot].refcount = e[i].refcount;
	}
	hdr->next = next;
	hdr->count = used;
	write_blob(file, page, KHO_BLOCK_SIZE);

	manifest_begin_blob(file, "kho_block", KHO_BLOCK_SIZE);
	fprintf(manifest,
		", \"entry_size\": %zu, \"count_per_block\": %zu, \"next\": %" PRIu64
		", \"count\": %" PRIu64,
		sizeof(struct pci_dev_ser), KHO_BLOCK_COUNT_PER_BLOCK(sizeof(struct pci_dev_ser)),
		(u64)hdr->next, (u64)hdr->count);
	manifest_devices(e, n);
	manifest_end_blob();
	free(page);
}

struct flb_record {
	const char *name;
	u64 data;
	u64 count;
};

/* The FLB page as luo_flb_serialize() leaves it (kho-luo-abi.md sec. 2.4). */
static void golden_flb_page(const char *file, const struct flb_record *r, size_t n)
{
	u8 *page = zalloc(LUO_FLB_PGCNT * PCILU_PAGE_SIZE);
	struct luo_flb_header_ser *hdr = (struct luo_flb_header_ser *)page;
	struct luo_flb_ser *flb = (struct luo_flb_ser *)(page + sizeof(*hdr));

	if (n > LUO_FLB_MAX)
		die("%s: too many FLB records", file);
	hdr->pgcnt = LUO_FLB_PGCNT;
	hdr->count = n;
	for (size_t i = 0; i < n; i++) {
		if (strlen(r[i].name) >= LIVEUPDATE_FLB_COMPAT_LENGTH)
			die("%s: FLB name too long", file);
		/* strscpy into zeroed memory: NUL padded to 48 bytes */
		memcpy(flb[i].name, r[i].name, strlen(r[i].name));
		flb[i].data = r[i].data;
		flb[i].count = r[i].count;
	}
	write_blob(file, page, LUO_FLB_PGCNT * PCILU_PAGE_SIZE);

	manifest_begin_blob(file, "luo_flb_page", (size_t)LUO_FLB_PGCNT * PCILU_PAGE_SIZE);
	fprintf(manifest, ", \"pgcnt\": %" PRIu64 ", \"count\": %" PRIu64 ", \"flbs\": [",
		(u64)hdr->pgcnt, (u64)hdr->count);
	for (size_t i = 0; i < n; i++)
		fprintf(manifest,
			"%s\n        {\"index\": %zu, \"offset\": %zu, \"name\": \"%s\""
			", \"data\": %" PRIu64 ", \"count\": %" PRIu64 "}",
			i ? "," : "", i,
			sizeof(*hdr) + i * sizeof(struct luo_flb_ser), r[i].name,
			(u64)flb[i].data, (u64)flb[i].count);
	fputs(n ? "\n      ]" : "]", manifest);
	manifest_end_blob();
	free(page);
}

static int write_golden(const char *dir)
{
	char path[4096];

	/* pci-liveupdate-v6.md sec. 1.6: 6 functions, EP 0000:01:00.0 preserved once; the
	 * endpoint claims slot 0, its root port 0000:00:02.0 (devfn 0x10) slot 1. */
	static const struct dev_entry example[] = {
		{ .slot = 0, .domain = 0, .bdf = 0x0100, .refcount = 1 },
		{ .slot = 1, .domain = 0, .bdf = 0x0010, .refcount = 1 },
	};
	/* Edges of every field: domains >= 0x10000 (the v5 xa-key truncation), 0xffffffff,
	 * bus 0xfe, device 31, function 7, bdf 0, refcount 65535, the same bdf in two domains,
	 * free slots in the middle and an in-use last slot. Refcounts are not a consistent
	 * hierarchy on purpose: the kernel does not check them when it decodes. */
	static const struct dev_entry rich[] = {
		{ .slot = 0, .domain = 0x10000, .bdf = 0x0100, .refcount = 1 },
		{ .slot = 2, .domain = 0xffffffffu, .bdf = 0xfeff, .refcount = 65535 },
		{ .slot = 3, .domain = 0, .bdf = 0x0100, .refcount = 1 },
		{ .slot = 6, .domain = 0x10000, .bdf = 0xfe07, .refcount = 2 },
		{ .slot = 7, .domain = 0, .bdf = 0x0010, .refcount = 1 },
		{ .slot = 9, .domain = 0xffff, .bdf = 0x0000, .refcount = 3 },
		{ .slot = 11, .domain = 0x12345678, .bdf = 0x2a0d, .refcount = 4 },
	};
	/* A v7 block: the endpoint and its root port, a hole left by a finished device, and a
	 * device in a high domain. */
	static const struct dev_entry block[] = {
		{ .slot = 0, .domain = 0, .bdf = 0x0100, .refcount = 1 },
		{ .slot = 1, .domain = 0, .bdf = 0, .refcount = 0 },
		{ .slot = 2, .domain = 0, .bdf = 0x0010, .refcount = 1 },
		{ .slot = 3, .domain = 0x10000, .bdf = 0xfe07, .refcount = 65535 },
	};
	static const struct flb_record flbs[] = {
		{ .name = PCI_LUO_FLB_COMPATIBLE_V6, .data = 0x0000000123456000ull, .count = 2 },
	};

	out_dir = dir;
	if (mkdir(dir, 0755) && errno != EEXIST)
		die("%s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	manifest = fopen(path, "w");
	if (!manifest)
		die("%s: %s", path, strerror(errno));
	fputs("{\n  \"generator\": \"abi/abi_check.c (gcc, include/pcilu_abi)\",\n"
	      "  \"byte_order\": \"little\",\n  \"blobs\": [", manifest);

	golden_pci_ser_flex("pci_ser_v6_example.bin", "v6", PCI_LUO_FLB_COMPATIBLE_V6, 6,
			    example, 2, 0);
	golden_pci_ser_flex("pci_ser_v6_example_page.bin", "v6", PCI_LUO_FLB_COMPATIBLE_V6, 6,
			    example, 2, PCILU_PAGE_SIZE);
	golden_pci_ser_flex("pci_ser_v6_rich.bin", "v6", PCI_LUO_FLB_COMPATIBLE_V6, 12, rich,
			    sizeof(rich) / sizeof(rich[0]), 0);
	golden_pci_ser_flex("pci_ser_v6_empty.bin", "v6", PCI_LUO_FLB_COMPATIBLE_V6, 3, NULL, 0,
			    0);
	golden_pci_ser_v7("pci_ser_v7.bin", 3, 0x0000000100002000ull);
	golden_pci_ser_version("pci_ser_v8.bin", "v8", PCI_LUO_FLB_VERSION_V8, 3,
			       0x0000000100002000ull);
	golden_pci_ser_version("pci_ser_v9.bin", "v9", PCI_LUO_FLB_VERSION_V9, 3,
			       0x0000000100002000ull);
	golden_pci_dev_block("pci_dev_block.bin", 0, block, sizeof(block) / sizeof(block[0]));
	golden_flb_page("luo_flb_page_pci_v3.bin", flbs, 1);

	fputs("\n  ]\n}\n", manifest);
	if (fclose(manifest))
		die("%s: %s", path, strerror(errno));
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* read                                                                                       */

/* Mirrors the walk of pci_flb_retrieve(): every slot up to max_nr_devices, skip refcount 0.
 * Unlike the kernel we bound max_nr_devices by the file length. */
static int read_pci_ser(const char *file)
{
	struct pci_ser_flex *ser;
	long len;
	FILE *f = fopen(file, "rb");

	if (!f)
		die("%s: %s", file, strerror(errno));
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		die("%s: cannot size file", file);
	ser = zalloc((size_t)len);
	if (len && fread(ser, 1, (size_t)len, f) != (size_t)len)
		die("%s: short read", file);
	fclose(f);
	if ((size_t)len < sizeof(*ser))
		die("%s: %ld bytes, shorter than the %zu-byte pci_ser header", file, len,
		    sizeof(*ser));
	if ((size_t)len < PCI_SER_FLEX_SIZE(ser->max_nr_devices))
		die("%s: max_nr_devices %" PRIu32 " needs %zu bytes, file has %ld", file,
		    ser->max_nr_devices, PCI_SER_FLEX_SIZE(ser->max_nr_devices), len);

	printf("max_nr_devices %" PRIu32 "\n", ser->max_nr_devices);
	printf("nr_devices %" PRIu32 "\n", ser->nr_devices);
	for (u32 i = 0; i < ser->max_nr_devices; i++) {
		u32 domain = ser->devices[i].domain;
		u16 bdf = ser->devices[i].bdf, refcount = ser->devices[i].refcount;

		if (!refcount)
			continue;
		printf("slot %" PRIu32 " domain %" PRIu32 " bdf %u refcount %u\n", i, domain,
		       bdf, refcount);
	}
	free(ser);
	return 0;
}

static int usage(void)
{
	fputs("usage: abi_check layout\n"
	      "       abi_check golden DIR\n"
	      "       abi_check read FILE\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "layout")) {
		print_layout();
		return fflush(stdout) ? 1 : 0;
	}
	if (argc == 3 && !strcmp(argv[1], "golden"))
		return write_golden(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "read")) {
		read_pci_ser(argv[2]);
		return fflush(stdout) ? 1 : 0;
	}
	return usage();
}
