# SPDX-License-Identifier: GPL-2.0-only
"""lspci hex dumps (`lspci -x`, `-xxx`, `-xxxx`, with or without `-D`/`-vvv`): import/export.

Import follows the rules of pciutils' lib/dump.c (what `lspci -F FILE` reads), but stricter:
a function digit > 7, a hex line that is short or holds a non-hex byte, a gap in the offsets,
a hex line before any device line and a duplicate address are errors naming file:line.
Verbose text lines (indented, or anything else) are ignored, as lspci does.

Export writes the same format, one block per reachable function at its current address, so
real `lspci -F exported.txt -vvv` / `-tv` decodes our fabric.

API:
    parse_dump(text, file="<dump>") -> Fabric
    export_dump(fabric, include_virtfns=False, include_unreachable=False) -> str
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: keep start-up light
    from pcilu_cli.fabric import model

import re

from pcilu_cli.errors import BadInput
from pcilu_cli.fabric import format_bdf, parse_bdf
from pcilu_cli.fabric.config import VALID_SIZES
from pcilu_cli.fabric.importer import RawFunction, fabric_from_raw

_DEV_RE = re.compile(r"^(?:([0-9a-fA-F]{4,6}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-9a-fA-F])"
                     r"(?:\s|$)")
_HEX_RE = re.compile(r"^([0-9a-fA-F]{2,3}):(?:\s|$)")
_BYTE_RE = re.compile(r"^[0-9a-fA-F]{2}$")


def parse_dump(text: str, file: str = "<dump>") -> "model.Fabric":
    raws: list[RawFunction] = []
    cur = None          # [RawFunction, bytearray, next expected offset]
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            cur = _close(cur, raws, file)
            continue
        if line[0] in " \t":
            continue                              # -v text
        m = _DEV_RE.match(line)
        if m and not _HEX_RE.match(line):
            cur = _close(cur, raws, file)
            dom = int(m.group(1), 16) if m.group(1) else 0
            bus, dev, fn = int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16)
            if fn > 7:
                raise BadInput(f"function number {fn:x} > 7", file=file, line=lineno,
                               field="address")
            if dev > 0x1F:
                raise BadInput(f"device number {dev:#x} > 0x1f", file=file, line=lineno,
                               field="address")
            cur = [RawFunction(dom, bus, dev << 3 | fn, b"", file, lineno), bytearray(), 0]
            continue
        h = _HEX_RE.match(line)
        if h:
            if cur is None:
                raise BadInput("hex data line without a device line before it", file=file,
                               line=lineno, field="data")
            off = int(h.group(1), 16)
            toks = line[h.end():].split()
            if off != cur[2]:
                raise BadInput(f"offset {off:#x} out of sequence (expected {cur[2]:#x})",
                               file=file, line=lineno, field=f"{cur[0].bdf}@{off:#x}")
            if len(toks) != 16:
                raise BadInput(f"short hex line: {len(toks)} bytes instead of 16",
                               file=file, line=lineno, field=f"{cur[0].bdf}@{off:#x}")
            for i, t in enumerate(toks):
                if not _BYTE_RE.match(t):
                    raise BadInput(f"non-hex byte {t!r}", file=file, line=lineno,
                                   field=f"{cur[0].bdf}@{off + i:#x}")
            if off + 16 > 4096:
                raise BadInput("config data beyond 4096 bytes", file=file, line=lineno,
                               field=f"{cur[0].bdf}@{off:#x}")
            cur[1] += bytes(int(t, 16) for t in toks)
            cur[2] = off + 16
            continue
        # anything else (a stray header line of another tool): lspci ignores it too
    _close(cur, raws, file)
    if not raws:
        raise BadInput("no functions found (expected `lspci -xxxx` output)", file=file)
    return fabric_from_raw(raws, file, _name(file), {"kind": "lspci-dump", "file": file})


def _close(cur, raws, file):
    if cur is None:
        return None
    rf, data, _ = cur
    if not data:
        raise BadInput(f"{rf.bdf} has no hex data lines (dump made without -x?)", file=file,
                       line=rf.line, field=rf.bdf)
    if len(data) not in VALID_SIZES:
        raise BadInput(f"{rf.bdf} has {len(data)} bytes of config data (expected 64, 256 or "
                       "4096)", file=file, line=rf.line, field=rf.bdf)
    rf.data = bytes(data)
    raws.append(rf)
    return None


def _name(file: str) -> str:
    import os
    return os.path.basename(str(file)) or "dump"


def export_dump(fabric, include_virtfns: bool = False, include_unreachable: bool = False) -> str:
    """`lspci -xxxx`-style text (with domains) that `lspci -F` reads back."""
    out = []
    rows = []
    for fn in fabric.functions(include_virtfns=include_virtfns):
        cur = fabric.current_bdf(fn)
        if cur is None:
            if not include_unreachable:
                continue
            try:
                cur = parse_bdf(fn.uid)
            except ValueError:
                continue
        rows.append((cur, fn))
    rows.sort(key=lambda r: r[0])
    for (dom, bus, devfn), fn in rows:
        out.append(f"{format_bdf(dom, bus, devfn)} Class {fn.class_code >> 8:04x}: "
                   f"Device {fn.vendor:04x}:{fn.device:04x}")
        data = fn.cfg.to_bytes()
        for off in range(0, len(data), 16):
            out.append(f"{off:02x}: " + " ".join(f"{b:02x}" for b in data[off:off + 16]))
        out.append("")
    return "\n".join(out) + ("\n" if out else "")
