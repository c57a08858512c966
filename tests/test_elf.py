# SPDX-License-Identifier: GPL-2.0-only
"""The ELF64 core headers (pcilu_cli/abi/elf.py): a state file pcilu writes reads back through
the Construct declarations as readelf reads it."""
from pcilu_cli.abi import elf
from pcilu_cli.abi.codec import parse
from pcilu_cli.memory.elfcore import NOTE_NAME, read_elf_core, write_elf_core
from pcilu_cli.memory.physmem import PhysMem


def test_a_written_core_reads_back_through_the_declared_headers():
    mem = PhysMem()
    mem.write(0x1000, b"\xaa" * 4096)
    data = write_elf_core(mem, [(NOTE_NAME, 0x50434C01, b'{"generation": 0}')])
    eh = parse(elf.Elf64_Ehdr, data, what="Elf64_Ehdr")
    assert eh.e_ident[:4] == elf.ELF_MAGIC and eh.e_ident[elf.EI_CLASS] == elf.ELFCLASS64
    assert (eh.e_type, eh.e_machine) == (elf.ET_CORE, elf.EM_X86_64)
    assert (eh.e_ehsize, eh.e_phentsize) == (elf.Elf64_Ehdr.sizeof(), elf.Elf64_Phdr.sizeof())
    assert eh.e_phnum == 2                                   # the notes, one run of pages
    note = parse(elf.Elf64_Phdr, data, eh.e_phoff)
    load = parse(elf.Elf64_Phdr, data, eh.e_phoff + eh.e_phentsize)
    assert (note.p_type, load.p_type) == (elf.PT_NOTE, elf.PT_LOAD)
    assert (load.p_paddr, load.p_filesz) == (0x1000, 4096)
    assert data[load.p_offset:load.p_offset + 4] == b"\xaa" * 4
    nh = parse(elf.Elf64_Nhdr, data, note.p_offset)
    assert nh.n_namesz == len(NOTE_NAME) + 1 and nh.n_descsz == len(b'{"generation": 0}')
    back, notes = read_elf_core(data)
    assert back.read(0x1000, 4) == b"\xaa" * 4 and notes[0][0] == NOTE_NAME
