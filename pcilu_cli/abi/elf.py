# SPDX-License-Identifier: GPL-2.0-only
"""``include/uapi/linux/elf.h``: the ELF64 headers of a core file (pcilu's state file, QEMU
``dump-guest-memory`` images, kdump vmcores), little-endian as on every KHO machine.

    Elf64_Ehdr  the file header (64 bytes)      Elf64_Phdr  a program header (56 bytes)
    Elf64_Shdr  a section header (64 bytes; a core file has one only for PN_XNUM)
    Elf64_Nhdr  a note header (12 bytes), followed by the name and the descriptor
"""
from __future__ import annotations

from construct import Bytes, Int16ul, Int32ul, Int64ul, Struct

from pcilu_cli.abi.codec import fast

ELF_MAGIC = b"\x7fELF"
ELFCLASS64, ELFDATA2LSB, EV_CURRENT = 2, 1, 1
EI_CLASS, EI_DATA = 4, 5
ET_CORE, EM_X86_64, EM_AARCH64 = 4, 62, 183
PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
PN_XNUM = 0xFFFF

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

EHDR = fast(Elf64_Ehdr)
PHDR = fast(Elf64_Phdr)
SHDR = fast(Elf64_Shdr)
NHDR = fast(Elf64_Nhdr)
