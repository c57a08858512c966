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
from pcilu_cli.abi.bdf import format_bdf, parse_bdf
from pcilu_cli.fabric.config import VALID_SIZES
from pcilu_cli.fabric.importer import RawFunction, fabric_from_raw

_DEV_RE = re.compile(r"^(?:([0-9a-fA-F]{4,6}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-9a-fA-F])"
                     r"(?:\s|$)")
_HEX_RE = re.compile(r"^([0-9a-fA-F]{2,3}):(?:\s|$)")
_BYTE_RE = re.compile(r"^[0-9a-fA-F]{2}$")


def parse_dump(text, file: str = "<dump>") -> "model.Fabric":
    """``text``: the dump as one string, or any iterable of its lines (a text file object:
    then the dump is never held whole in memory)."""
    raws: list[RawFunction] = []
    cur = None          # [RawFunction, bytearray, next expected offset]
    lines = text.splitlines() if isinstance(text, str) else text
    hex_match, dev_match, fromhex = _HEX_RE.match, _DEV_RE.match, bytes.fromhex
    for lineno, line in enumerate(lines, 1):
        if line[-1:] == "\n":
            line = line.rstrip("\r\n")
        if not line.strip():
            cur = _close(cur, raws, file)
            continue
        if line[0] in " \t":
            continue                              # -v text
        h = hex_match(line)
        if h:
            if cur is None:
                raise BadInput("hex data line without a device line before it", file=file,
                               line=lineno, field="data")
            off = int(h.group(1), 16)
            rest = line[h.end():].rstrip()
            # fast path: exactly 16 two-digit tokens; anything else is checked token by token
            # below, so that the message names the offending byte
            if off == cur[2] and off + 16 <= 4096 and len(rest) == 47 and \
                    rest[2::3] == "               ":
                try:
                    cur[1] += fromhex(rest)
                    cur[2] = off + 16
                    continue
                except ValueError:
                    pass
            toks = rest.split()
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
        m = dev_match(line)
        if m:
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
    return "".join(iter_dump(fabric, include_virtfns, include_unreachable))


def write_dump(fabric, f, include_virtfns: bool = False,
               include_unreachable: bool = False) -> None:
    """:func:`export_dump` written into the text file ``f`` piece by piece (memory stays at a
    few MiB whatever the fabric's size: a 65,536-function dump is ~890 MB of text)."""
    for chunk in iter_dump(fabric, include_virtfns, include_unreachable):
        f.write(chunk)


_OFFSETS = [f"{off:02x}: " for off in range(0, 4096, 16)]


def _hex_block(data: bytes) -> str:
    """The `NN: xx xx ...` lines of ``data`` (a multiple of 16 bytes), newline-terminated."""
    h = data.hex(" ")
    return "\n".join([_OFFSETS[i] + h[i * 48:i * 48 + 47]
                      for i in range(len(data) >> 4)]) + "\n"


def iter_dump(fabric, include_virtfns: bool = False, include_unreachable: bool = False,
              per_chunk: int = 64):
    """The text of :func:`export_dump` in pieces of ``per_chunk`` functions."""
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
    # functions built from one template share their bytes: format each distinct block once
    # (a small cache: bridges, whose bus registers differ, are each formatted once anyway)
    blocks: dict = {}
    out = []
    for (dom, bus, devfn), fn in rows:
        data = fn.cfg.to_bytes()
        text = blocks.get(data)
        if text is None:
            if len(blocks) >= 256:
                blocks.clear()
            text = blocks[data] = _hex_block(data)
        out.append(f"{format_bdf(dom, bus, devfn)} Class {fn.class_code >> 8:04x}: "
                   f"Device {fn.vendor:04x}:{fn.device:04x}\n")
        out.append(text)
        out.append("\n")
        if len(out) >= 3 * per_chunk:
            yield "".join(out)
            out = []
    if out:
        yield "".join(out)
