# SPDX-License-Identifier: GPL-2.0-only
"""``include/uapi/linux/elf.h``: the ELF64 headers of a core file (pcilu's state file, QEMU
``dump-guest-memory`` images, kdump vmcores), little-endian as on every KHO machine.

    Elf64_Ehdr  the file header (64 bytes)      Elf64_Phdr  a program header (56 bytes)
    Elf64_Shdr  a section header (64 bytes; a core file has one only for PN_XNUM)
    Elf64_Nhdr  a note header (12 bytes), followed by the name and the descriptor

The Construct declarations are in :mod:`pcilu_cli.abi.elf_layouts` (re-exported here,
imported on first use); the fast codecs are derived from them through the codec cache.
"""
from __future__ import annotations

from pcilu_cli.abi.codec import cached, lazy_layouts

ELF_MAGIC = b"\x7fELF"
ELFCLASS64, ELFDATA2LSB, EV_CURRENT = 2, 1, 1
EI_CLASS, EI_DATA = 4, 5
ET_CORE, EM_X86_64, EM_AARCH64 = 4, 62, 183
PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
PN_XNUM = 0xFFFF

_LAYOUTS = "pcilu_cli.abi.elf_layouts"


__getattr__ = lazy_layouts(__name__, _LAYOUTS)   # the declarations, on first use


EHDR = cached(_LAYOUTS, "Elf64_Ehdr")[0]
PHDR = cached(_LAYOUTS, "Elf64_Phdr")[0]
SHDR = cached(_LAYOUTS, "Elf64_Shdr")[0]
NHDR = cached(_LAYOUTS, "Elf64_Nhdr")[0]
