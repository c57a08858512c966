# SPDX-License-Identifier: GPL-2.0-only
"""Crafted hostile inputs, generated in memory: one builder per class of attack.

Each builder returns ``(argv, data, suffix)``: the pcilu command (``{file}`` = the input's path)
and the bytes. Shared by tests/test_hostile_input.py (memory budget, exit 3) and
bench/bench_hostile.py (time growth with input size, via ``scale``). Also here: the README's
generation 1 that the state-file classes start from, and the walk that replaces one value of
a document at a time (:func:`leaves`, :func:`replaced`).
"""
from __future__ import annotations

import copy
import functools
import io
import json
import os
import struct
import tarfile
import zlib
from pathlib import Path

from pcilu_cli.memory import elfcore
from pcilu_cli.memory.physmem import PhysMem

QEMU_FABRIC = Path(__file__).resolve().parents[1] / "fixtures/fabrics/qemu-virtio-net.yaml"


@functools.lru_cache(maxsize=None)
def generation_1() -> bytes:
    """The README's generation 1: the qemu NIC preserved, kexec'd (an incoming FLB, a
    hand-over started, a stored enumerate document)."""
    import tempfile

    from tests.pcilu_run import run
    with tempfile.TemporaryDirectory() as d:
        g0, g1 = os.path.join(d, "g0.elf"), os.path.join(d, "g1.elf")
        run(["init", QEMU_FABRIC, "-o", g0])
        run(["preserve", g0, "0000:01:00.0"])
        run(["kexec", g0, "-o", g1])
        with open(g1, "rb") as f:
            return f.read()


def leaves(doc, path=()):
    """Every path to a value of a JSON or YAML document (a list is a value and holds values)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from leaves(v, path + (k,))
        return
    yield path
    if isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from leaves(v, path + (i,))


def replaced(doc, path: tuple, value):
    """A copy of ``doc`` with the value at ``path`` replaced by ``value``."""
    d = copy.deepcopy(doc)
    cur = d
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return d


FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_END = 1, 2, 3, 9


def _zeros_deflated(n: int, prefix: bytes = b"") -> bytes:
    c = zlib.compressobj(1)
    out = [c.compress(prefix)]
    chunk = bytes(1 << 20)
    left = n
    while left > 0:
        out.append(c.compress(chunk[:min(left, len(chunk))]))
        left -= len(chunk)
    out.append(c.flush())
    return b"".join(out)


def fabric_bomb(scale: int = 1, version: int = 1):
    """A serialized fabric that declares one function and inflates to 128 MiB x scale
    (version 1: the uids in the meta; version 2: in the uid column)."""
    uid = b"0000:00:00.0"
    meta = {"name": "bomb", "source": {}, "platform": {}, "roots": [[0, 0]], "knobs": {},
            "blob_lengths": [64]}
    if version == 1:
        meta["uids"] = [uid.decode()]
    meta = json.dumps(meta).encode()
    table = struct.pack("<iHBBHBBI", -1, 0, 0, 0, 0, 0, 0, 0)
    if version == 1:
        head = struct.pack("<III", len(meta), len(table), 1) + meta + table + bytes(64)
    else:
        head = struct.pack("<IIII", len(meta), len(table), 1, len(uid)) + meta + table \
            + struct.pack("<II", len(uid), 0) + uid + bytes(64)
    body = _zeros_deflated((128 << 20) * scale, head)
    return ["fabric", "show", "{file}", "--json"], \
        b"PCILUFAB" + struct.pack("<H", version) + body, ".fab"


def _fabric_declaring(functions: int, extra: int = 0) -> bytes:
    """A version-2 serialized fabric whose header declares ``functions`` functions and whose
    body after the meta is zeros: the record table, the uid column and ``extra`` bytes."""
    meta = json.dumps({"name": "many", "source": {}, "platform": {}, "roots": [], "knobs": {},
                       "blob_lengths": []}).encode()
    head = struct.pack("<IIII", len(meta), functions * 16, functions, 0) + meta
    return b"PCILUFAB" + struct.pack("<H", 2) \
        + _zeros_deflated(functions * 24 + extra, head)


def fabric_least_uid_text(functions: int = 600_000):
    """A serialized fabric of ~50 KB whose uid column has just the text ``functions`` distinct
    uids need, all of it in the last uid (every other uid empty), zeros elsewhere: within the
    file's inflate budget, so it is refused only by the full build's check of the uid order,
    after the uid and end lists that check reads are built."""
    from pcilu_cli.fabric.uid_column import least_text
    text = least_text(functions)
    meta = json.dumps({"name": "least", "source": {}, "platform": {}, "roots": [],
                       "knobs": {}, "blob_lengths": []}).encode()
    c = zlib.compressobj(1)
    out = [c.compress(struct.pack("<IIII", len(meta), functions * 16, functions, text) + meta)]
    chunk = bytes(1 << 20)
    for part in (functions * 16 + 4 * (functions - 1), struct.pack("<I", text),
                 4 * functions + text):
        if isinstance(part, bytes):
            out.append(c.compress(part))
            continue
        for at in range(0, part, len(chunk)):
            out.append(c.compress(chunk[:min(len(chunk), part - at)]))
    out.append(c.flush())
    return ["fabric", "show", "{file}", "--json"], \
        b"PCILUFAB" + struct.pack("<H", 2) + b"".join(out), ".fab"


def fabric_million_functions(scale: int = 1, extra: int = 0):
    """A serialized fabric of ~100 KB x scale that declares a million functions x scale (so
    its declared sizes allow gigabytes of config space) and inflates to 24 MB x scale plus
    ``extra`` bytes of zeros."""
    return ["fabric", "show", "{file}", "--json"], \
        _fabric_declaring(1_000_000 * scale, extra), ".fab"


def state_report_bomb(base: bytes, scale: int = 1):
    """A state whose fabric note declares a million functions (a lazy load reads none of
    them), so that its stored enumerate document may inflate to 2 GiB by the fabric's count;
    the document is 256 MiB x scale of zeros."""
    return ["enumerate", "{file}", "--json"], _state_with_notes(base, {
        elfcore.NT_PCILU_FABRIC: _fabric_declaring(1_000_000),
        elfcore.NT_PCILU_REPORT: _zeros_deflated((256 << 20) * scale)}), ".elf"


def _state_with_notes(base: bytes, replace: dict) -> bytes:
    """A copy of state file ``base`` with some PCILU notes replaced (type -> bytes)."""
    mem, notes = elfcore.read_elf_core(base)
    new = [(n, t, replace.get(t, d) if n == elfcore.NOTE_NAME else d) for n, t, d in notes]
    m2 = PhysMem()
    for pa, chunks in mem.runs():
        m2.write(pa, b"".join(bytes(c) for c in chunks))
    return elfcore.write_elf_core(m2, new)


def kernel_note_bomb(base: bytes, scale: int = 1):
    """A state whose kernel note (zlib JSON) inflates to 128 MiB x scale of ``[],`` lists."""
    c = zlib.compressobj(1)
    parts = [c.compress(b"[")]
    unit = b"[]," * (1 << 18)
    for _ in range(((128 << 20) * scale) // len(unit)):
        parts.append(c.compress(unit))
    parts.append(c.compress(b"[]]") + c.flush())
    return ["inspect", "{file}", "--json"], \
        _state_with_notes(base, {elfcore.NT_PCILU_KERNEL: b"".join(parts)}), ".elf"


def deep_json_note(base: bytes, scale: int = 1):
    """A state whose metadata note is 200k x scale nested JSON arrays."""
    n = 200_000 * scale
    return ["enumerate", "{file}", "--json"], \
        _state_with_notes(base, {elfcore.NT_PCILU_METADATA: b"[" * n + b"]" * n}), ".elf"


def deep_yaml_fabric(scale: int = 1):
    n = 100_000 * scale
    return ["fabric", "show", "{file}", "--json"], \
        b"pcilu_fabric: 1\nx: " + b"[" * n + b"]" * n + b"\n", ".yaml"


def yaml_laughs(kind: str = "fabric", scale: int = 1):
    """"Billion laughs": 9 levels of 9 aliases each (9**9 strings once walked)."""
    head = b"pcilu_fabric: 1\n" if kind == "fabric" else b"pcilu_scenario: 1\n"
    lines = [head, b"a0: &a0 [" + b",".join([b'"lol"'] * 9) + b"]\n"]
    for i in range(1, 9 + scale):
        refs = b",".join([b"*a%d" % (i - 1)] * 9)
        lines.append(b"a%d: &a%d [%s]\n" % (i, i, refs))
    argv = ["fabric", "show", "{file}", "--json"] if kind == "fabric" else \
        ["rehearse", "{file}", "--json"]
    return argv, b"".join(lines), ".yaml"


def fdt_siblings(scale: int = 1, *, nodes: int | None = None, compatible: bytes = b"kho-v1"):
    """An FDT whose root has 25k x scale sibling nodes (about 0.4 MB per 25k), or ``nodes``
    of them; the root's ``compatible`` says which reader takes it (``kho-v1``: the KHO root
    FDT's, which refuses it for its missing property after reading the whole tree; anything
    else: a plain device tree, decoded node by node)."""
    n = 25_000 * scale if nodes is None else nodes
    strings = b"compatible\0"
    st = bytearray(struct.pack(">I", FDT_BEGIN_NODE) + b"\0\0\0\0")
    val = compatible + b"\0"
    st += struct.pack(">III", FDT_PROP, len(val), 0) + val + bytes(-len(val) % 4)
    for i in range(n):
        name = b"n%d\0" % i
        st += struct.pack(">I", FDT_BEGIN_NODE) + name + bytes(-len(name) % 4)
        st += struct.pack(">I", FDT_END_NODE)
    st += struct.pack(">II", FDT_END_NODE, FDT_END)
    off_rsv = 40
    off_struct = off_rsv + 16
    off_strings = off_struct + len(st)
    total = off_strings + len(strings)
    hdr = struct.pack(">10I", FDT_MAGIC, total, off_struct, off_strings, off_rsv, 17, 16, 0,
                      len(strings), len(st))
    return ["inspect", "{file}", "--json"], hdr + bytes(16) + bytes(st) + strings, ".dtb"


def pci_ser_duplicates(n: int = 1_000_000):
    """A flex ``struct pci_ser`` of ``n`` entries (8 MB) that all name one device."""
    from pcilu_cli.abi import pci
    return ["inspect", "{file}", "--json"], pci.encode_pci_ser(
        "v6", [(slot, 0, 0x0100, 1) for slot in range(n)], max_nr_devices=n), ".bin"


def elf_tiny_segments(scale: int = 1):
    """An ELF core with 500k x scale one-byte PT_LOAD segments, each on its own page."""
    n = 500_000 * scale
    phoff = 64
    data_off = phoff + 56 * (n + 1)
    # e_phnum is 16 bits: PN_XNUM and section header 0 carry the real count
    shoff = data_off + n
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", ident, 4, 62, 1, 0, phoff, shoff, 0, 64, 56,
                       0xFFFF, 64, 1, 0)
    ph = struct.Struct("<IIQQQQQQ")
    parts = [ehdr, ph.pack(4, 0, data_off, 0, 0, 0, 0, 4)]
    parts.extend(ph.pack(1, 7, data_off + i, 0, 0x1_0000_0000 + (i << 12), 1, 1, 4096)
                 for i in range(n))
    parts.append(bytes(n))
    parts.append(struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, n + 1, 0, 0))
    return ["inspect", "{file}", "--json"], b"".join(parts), ".elf"


def sysfs_big_config(size: int = 256 << 20):
    """A sysfs snapshot (tar.gz) whose one config member declares ``size`` bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tf:
        ti = tarfile.TarInfo("snap/sys/bus/pci/devices/0000:00:00.0/config")
        ti.size = size
        tf.addfile(ti, _ZeroReader(size))
    return ["fabric", "show", "{file}", "--json"], raw.getvalue(), ".tar.gz"


class _ZeroReader:
    def __init__(self, n):
        self.left = n

    def read(self, k=-1):
        k = self.left if k < 0 else min(k, self.left)
        self.left -= k
        return bytes(k)


__all__ = ["fabric_bomb", "kernel_note_bomb", "deep_json_note", "deep_yaml_fabric",
           "yaml_laughs", "fdt_siblings", "pci_ser_duplicates", "elf_tiny_segments", "sysfs_big_config"]
