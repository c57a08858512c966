# SPDX-License-Identifier: GPL-2.0-only
"""The ELF64 core container: pcilu's state file, and the reader for real memory dumps.

Our file (``design.md`` "The state file"): ``ET_CORE``, ``EM_X86_64``, little-endian; the first
program header is one ``PT_NOTE`` holding notes named ``PCILU``, then one ``PT_LOAD`` per
contiguous run of present pages, ``p_paddr`` = physical address, ``p_vaddr = 0`` (as QEMU's
``dump-guest-memory`` writes a non-paging dump: a physical image has no virtual mapping),
``p_flags = RWX``, file offsets page-aligned. Note types (ours; all descriptors are bytes). The
values carry a "PCL" prefix so that ``readelf -n`` prints "Unknown note type" instead of
mislabelling them as core types (NT_PRSTATUS = 1 ...), which it does for owner-agnostic numbers:

    NT_PCILU_METADATA = 0x50434c01   the generation's metadata, JSON (UTF-8)
    NT_PCILU_FABRIC   = 0x50434c02   the fabric (config space of every function), owner-defined
    NT_PCILU_KERNEL   = 0x50434c03   the simulated kernel's state, owner-defined bytes
    NT_PCILU_LOG      = 0x50434c04   the kernel log, UTF-8 text
    NT_PCILU_REPORT   = 0x50434c05   optional: the generation's enumerate document as written
                                     with it (zlib-compressed UTF-8 JSON)

The reader also accepts QEMU ``dump-guest-memory`` ELF files and kdump vmcores: every
``PT_LOAD`` is mapped at ``p_paddr`` (zero-copy: memory is a view of the file's bytes); foreign
notes are returned as they are for the caller to ignore. Overlapping ``PT_LOAD``s are an error
in our files; in foreign dumps (kdump repeats the kernel text inside the RAM ranges) a segment
already covered is dropped and a partial overlap is trimmed.
"""
from __future__ import annotations

from pcilu_cli.abi.elf import (
    EHDR as _EHDR, EI_CLASS, EI_DATA, ELF_MAGIC, ELFCLASS64, ELFDATA2LSB, EM_AARCH64, EM_X86_64,
    ET_CORE, EV_CURRENT, NHDR as _NHDR, PF_R, PF_W, PF_X, PHDR as _PHDR, PN_XNUM, PT_LOAD,
    PT_NOTE, SHDR as _SHDR,
)
from pcilu_cli.errors import BadInput
from pcilu_cli.memory.physmem import PAGE_SIZE, PhysMem

NOTE_NAME = "PCILU"
NT_PCILU_METADATA, NT_PCILU_FABRIC, NT_PCILU_KERNEL, NT_PCILU_LOG = (0x50434C01, 0x50434C02,
                                                                    0x50434C03, 0x50434C04)
NT_PCILU_REPORT = 0x50434C05

MAX_NOTES = 1 << 20
MAX_PHNUM = 1 << 20



def _align(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)


def _note_parts(notes) -> list:
    """The PT_NOTE area of ``notes`` (``(name, type, desc)`` each, 4-byte aligned as Linux
    core notes are) as pieces: each note's header and name, its descriptor as given (not
    copied) and its padding."""
    out = []
    for name, ntype, desc in notes:
        nb = name.encode() + b"\0"
        out.append(_NHDR.pack(len(nb), len(desc), ntype) + nb
                   + bytes(_align(len(nb), 4) - len(nb)))
        out.append(desc)
        out.append(bytes(_align(len(desc), 4) - len(desc)))
    return out


def write_elf_core(mem: PhysMem, notes, *, machine: int = EM_X86_64) -> bytes:
    """The state file's bytes: ``notes`` as ``(name, type, desc)``; memory as PT_LOADs."""
    return b"".join(elf_core_parts(mem, notes, machine=machine))


def elf_core_parts(mem: PhysMem, notes, *, machine: int = EM_X86_64) -> list:
    """:func:`write_elf_core`'s bytes as the pieces they are joined from, for a writer that
    writes them one after the other: the notes (a state's fabric and kernel notes, ~1 MB at
    65,536 functions) and memory are not copied into one buffer first (on these machines each
    fresh MiB a command touches costs it ~1.5 ms of page faults)."""
    note_parts = _note_parts(notes)
    note_len = sum(map(len, note_parts))
    runs = list(mem.runs())
    nph = 1 + len(runs)
    use_xnum = nph >= PN_XNUM
    phoff = _EHDR.size
    shoff = phoff + nph * _PHDR.size if use_xnum else 0
    note_off = (shoff + _SHDR.size) if use_xnum else phoff + nph * _PHDR.size
    data_off = _align(note_off + note_len, PAGE_SIZE)
    ident = ELF_MAGIC + bytes([ELFCLASS64, ELFDATA2LSB, EV_CURRENT]) + bytes(9)
    parts = [_EHDR.pack(ident, ET_CORE, machine, EV_CURRENT, 0, phoff, shoff, 0, _EHDR.size,
                        _PHDR.size, PN_XNUM if use_xnum else nph,
                        _SHDR.size if use_xnum else 0, 1 if use_xnum else 0, 0)]
    parts.append(_PHDR.pack(PT_NOTE, 0, note_off, 0, 0, note_len, note_len, 4))
    off = data_off
    for pa, chunks in runs:
        size = sum(len(c) for c in chunks)
        parts.append(_PHDR.pack(PT_LOAD, PF_R | PF_W | PF_X, off, 0, pa, size, size, PAGE_SIZE))
        off += size
    if use_xnum:   # section 0 carries the real program header count (ELF gABI)
        parts.append(_SHDR.pack(0, 0, 0, 0, 0, 0, 0, nph, 0, 0))
    head = b"".join(parts)
    out = [head, *note_parts, bytes(data_off - note_off - note_len)]
    for _pa, chunks in runs:
        # a run's pages are joined: a few hundred 4 KiB writes cost more than one copy
        out.append(chunks[0] if len(chunks) == 1 else b"".join(chunks))
    return out


def read_notes(data, off: int, size: int, *, align: int = 4, file=None) -> list:
    """Parse a PT_NOTE area; ``(name, type, desc)`` with every length bounds-checked."""
    notes = []
    end = off + size
    pos = off
    while pos < end:
        if end - pos < _NHDR.size:
            raise BadInput(f"truncated note header ({end - pos} bytes left)", file=file,
                           offset=pos, field="note")
        namesz, descsz, ntype = _NHDR.unpack_from(data, pos)
        name_off = pos + _NHDR.size
        desc_off = name_off + _align(namesz, align)
        nxt = desc_off + _align(descsz, align)
        if desc_off + descsz > end or nxt > end + (align - 1):
            raise BadInput(f"note of name size {namesz} and descriptor size {descsz} runs past "
                           "its PT_NOTE segment", file=file, offset=pos, field="note")
        name = bytes(data[name_off:name_off + namesz]).split(b"\0", 1)[0].decode("latin-1")
        notes.append((name, ntype, bytes(data[desc_off:desc_off + descsz])))
        if len(notes) > MAX_NOTES:
            raise BadInput(f"more than {MAX_NOTES} notes", file=file, offset=pos, field="note")
        pos = nxt
    return notes


def read_elf_core(data, *, file=None) -> tuple[PhysMem, list]:
    """Read an ELF64 core (ours, QEMU ``dump-guest-memory``, kdump vmcore).

    Returns ``(mem, notes)``; ``mem`` references ``data`` (keep it alive and unchanged).
    """
    mv = memoryview(data).cast("B")
    n = len(mv)

    def bad(msg, offset=None, fld=None):
        raise BadInput(msg, file=file, offset=offset, field=fld)

    if n < _EHDR.size:
        bad(f"too short for an ELF header ({n} bytes)", 0, "e_ident")
    (ident, e_type, e_machine, _ver, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
     shentsize, shnum, _shstrndx) = _EHDR.unpack_from(mv, 0)
    if ident[:4] != ELF_MAGIC:
        bad("not an ELF file (bad magic)", 0, "e_ident")
    if ident[EI_CLASS] != ELFCLASS64:
        bad(f"ELF class {ident[EI_CLASS]} is not ELFCLASS64 (only 64-bit dumps are "
            "supported)", EI_CLASS, "e_ident[EI_CLASS]")
    if ident[EI_DATA] != ELFDATA2LSB:
        bad("big-endian ELF files are not supported (KHO exists on little-endian machines "
            "only)", 5, "e_ident[EI_DATA]")
    if e_type != ET_CORE:
        bad(f"e_type {e_type} is not ET_CORE (4)", 16, "e_type")
    if e_machine not in (EM_X86_64, EM_AARCH64):
        bad(f"e_machine {e_machine} is neither x86_64 nor aarch64", 18, "e_machine")
    if phentsize != _PHDR.size:
        bad(f"e_phentsize {phentsize} is not {_PHDR.size}", 54, "e_phentsize")
    if phnum == PN_XNUM:
        if shentsize != _SHDR.size or not shnum or shoff + _SHDR.size > n:
            bad("e_phnum is PN_XNUM but section header 0 is missing", 56, "e_phnum")
        phnum = _SHDR.unpack_from(mv, shoff)[7]
    if phnum > MAX_PHNUM or phoff + phnum * _PHDR.size > n:
        bad(f"{phnum} program headers at {phoff:#x} do not fit in the file ({n} bytes)", 32,
            "e_phoff")
    loads, notes = [], []
    for i in range(phnum):
        ph_at = phoff + i * _PHDR.size
        p_type, _pf, p_off, _pv, p_paddr, p_filesz, p_memsz, p_align = _PHDR.unpack_from(mv,
                                                                                       ph_at)
        if p_type not in (PT_LOAD, PT_NOTE):
            continue
        if p_off + p_filesz > n:
            bad(f"program header {i} data [{p_off:#x}, +{p_filesz:#x}) runs past the end of the "
                f"file ({n} bytes)", ph_at, f"phdr[{i}].p_filesz")
        if p_type == PT_NOTE:
            notes.extend(read_notes(mv, p_off, p_filesz, align=8 if p_align == 8 else 4,
                                    file=file))
            continue
        if p_filesz > p_memsz:
            bad(f"program header {i}: p_filesz {p_filesz:#x} > p_memsz {p_memsz:#x}", ph_at,
                f"phdr[{i}].p_filesz")
        if p_paddr + p_filesz > 1 << 64:
            bad(f"program header {i}: p_paddr {p_paddr:#x} + size wraps", ph_at,
                f"phdr[{i}].p_paddr")
        if p_filesz:
            loads.append((p_paddr, p_off, p_filesz, i, ph_at))
    ours = any(name == NOTE_NAME for name, _t, _d in notes)
    _check_partial_pages(loads, n, file)
    loads.sort()
    mem = PhysMem()
    covered_end = 0
    for paddr, off, size, i, ph_at in loads:
        end = paddr + size
        if paddr < covered_end:
            if ours:
                bad(f"PT_LOAD {i} at {paddr:#x} overlaps the previous segment (ends at "
                    f"{covered_end:#x})", ph_at, f"phdr[{i}].p_paddr")
            if end <= covered_end:
                continue                      # kdump's kernel-text copy: already mapped
            off += covered_end - paddr
            paddr = covered_end
        mem.add_segment(paddr, mv[off:off + (end - paddr)])
        covered_end = end
    return mem, notes


# A PT_LOAD edge that is not page aligned is copied into a whole 4 KiB page (PhysMem keeps
# pages); 500k one-byte segments would make 2 GB of pages from a 28 MB file. Dumps from QEMU,
# kdump and pcilu have page-aligned segments, so partial-page edges are allowed up to the
# size of the file itself (+ 1 MiB): memory stays within a small multiple of the input.
PARTIAL_PAGE_ALLOWANCE = 1 << 20


def _check_partial_pages(loads, file_size: int, file) -> None:
    budget = file_size + PARTIAL_PAGE_ALLOWANCE
    cost = 0
    for paddr, _off, size, i, ph_at in loads:
        end = paddr + size
        cost += PAGE_SIZE * ((paddr & (PAGE_SIZE - 1) != 0) + (end & (PAGE_SIZE - 1) != 0))
        if cost > budget:
            raise BadInput(f"too many PT_LOAD segments that do not start or end on a page "
                           f"boundary (each costs a {PAGE_SIZE}-byte page: more than "
                           f"{budget} bytes for a {file_size}-byte file)", file=file,
                           offset=ph_at, field=f"phdr[{i}].p_paddr")


def pcilu_notes(notes) -> dict:
    """Our notes by type (the last one of a type wins); foreign notes are ignored."""
    return {t: d for name, t, d in notes if name == NOTE_NAME}
