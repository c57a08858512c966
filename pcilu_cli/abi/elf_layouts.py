# SPDX-License-Identifier: GPL-2.0-only
"""``include/uapi/linux/elf.h`` as Construct declarations: the ELF64 headers of a core file
(the C check holds them against the system's ``<elf.h>``). :mod:`pcilu_cli.abi.elf` holds the
constants and the fast codecs derived from these (kept in :mod:`pcilu_cli.abi.codec_cache`)
and re-exports every name below.
"""
from construct import Bytes, Int16ul, Int32ul, Int64ul, Struct

Elf64_Ehdr = Struct(
    "e_ident" / Bytes(16),
    "e_type" / Int16ul,
    "e_machine" / Int16ul,
    "e_version" / Int32ul,
    "e_entry" / Int64ul,
    "e_phoff" / Int64ul,
    "e_shoff" / Int64ul,
    "e_flags" / Int32ul,
    "e_ehsize" / Int16ul,
    "e_phentsize" / Int16ul,
    "e_phnum" / Int16ul,
    "e_shentsize" / Int16ul,
    "e_shnum" / Int16ul,
    "e_shstrndx" / Int16ul,
)

Elf64_Phdr = Struct(
    "p_type" / Int32ul,
    "p_flags" / Int32ul,
    "p_offset" / Int64ul,
    "p_vaddr" / Int64ul,
    "p_paddr" / Int64ul,
    "p_filesz" / Int64ul,
    "p_memsz" / Int64ul,
    "p_align" / Int64ul,
)

Elf64_Shdr = Struct(
    "sh_name" / Int32ul,
    "sh_type" / Int32ul,
    "sh_flags" / Int64ul,
    "sh_addr" / Int64ul,
    "sh_offset" / Int64ul,
    "sh_size" / Int64ul,
    "sh_link" / Int32ul,               # section 0 of a PN_XNUM file: the real e_shstrndx
    "sh_info" / Int32ul,               # section 0 of a PN_XNUM file: the real e_phnum
    "sh_addralign" / Int64ul,
    "sh_entsize" / Int64ul,
)

Elf64_Nhdr = Struct(
    "n_namesz" / Int32ul,
    "n_descsz" / Int32ul,
    "n_type" / Int32ul,
)

LAYOUTS = ("Elf64_Ehdr", "Elf64_Phdr", "Elf64_Shdr", "Elf64_Nhdr")
