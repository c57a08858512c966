# SPDX-License-Identifier: GPL-2.0-only
"""Structure-aware mutations of a valid input: the operators the fuzz suite applies to seeds.

Each operator is a pure function of the input and explicit parameters, so a failing case is
reproduced from its printed description alone. Binary operators: bit flips, truncation,
extension with junk, overwriting a little-endian integer field with a boundary value. Text
operators (YAML, lspci dumps, JSON specs): drop or duplicate a line, replace a number.
"""
from __future__ import annotations

import re

# Values a count/size/offset field is overwritten with, per width: 0, 1, max, max-1, the sign
# bit (a negative number if read as signed), and "huge but not max" (absurd allocations).
def boundary_values(width: int) -> list:
    top = (1 << (8 * width)) - 1
    vals = [0, 1, top, top - 1, 1 << (8 * width - 1), 0x10000 & top or 0x80, 0x7FFF_FFFF & top,
            (1 << 40) & top or top >> 1, 4097 & top, 63, 64, 511, 512, 10001 & top]
    return sorted(set(vals))


def flip(data: bytes, pos: int, bit: int) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    b[pos % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


def truncate(data: bytes, at: int) -> bytes:
    return data[:max(0, at)]


def extend(data: bytes, junk: bytes) -> bytes:
    return data + junk


def overwrite(data: bytes, off: int, width: int, value: int) -> bytes:
    if off + width > len(data):
        return data
    b = bytearray(data)
    b[off:off + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    return bytes(b)


def interesting_offsets(data: bytes, fields, text: bool = False) -> list:
    """Where truncation is most likely to hit a decoder's bounds checks."""
    offs = {0, 1, len(data) - 1, len(data) // 2}
    for off, width in fields:
        offs.update((off, off + 1, off + width - 1, off + width))
    if text:
        offs.update(m.start() for m in re.finditer(rb"\n", data))
    else:
        offs.update(o for o in (4, 8, 12, 16, 32, 64, 4096) if o < len(data))
    return sorted(o for o in offs if 0 <= o < len(data))


_LINE = re.compile(rb"[^\n]*\n|[^\n]+$")
_NUMBER = re.compile(rb"(?<![\w.])(0x[0-9a-fA-F]+|[0-9]+)(?![\w])")


def lines(data: bytes) -> list:
    return _LINE.findall(data)


def drop_line(data: bytes, i: int) -> bytes:
    ls = lines(data)
    if not ls:
        return data
    del ls[i % len(ls)]
    return b"".join(ls)


def dup_line(data: bytes, i: int) -> bytes:
    ls = lines(data)
    if not ls:
        return data
    k = i % len(ls)
    ls.insert(k, ls[k])
    return b"".join(ls)


def replace_number(data: bytes, k: int, new: bytes) -> bytes:
    ms = list(_NUMBER.finditer(data))
    if not ms:
        return data
    m = ms[k % len(ms)]
    return data[:m.start()] + new + data[m.end():]


def number_fields(data: bytes, limit: int = 64) -> list:
    """[(offset, length)] of the first ``limit`` number tokens of a text input: the integer
    fields of YAML, lspci dumps and JSON specs, for :func:`overwrite_text`."""
    return [(m.start(), m.end() - m.start()) for m in _NUMBER.finditer(data)][:limit]


def overwrite_text(data: bytes, off: int, width: int, value: int) -> bytes:
    """Replace the number token at ``data[off:off + width]`` with ``value`` written the way
    the token was (hex stays hex): the text counterpart of :func:`overwrite`."""
    if off + width > len(data):
        return data
    old = data[off:off + width]
    new = (f"{value:#x}" if old[:2].lower() == b"0x" else str(value)).encode()
    return data[:off] + new + data[off + width:]


NUMBER_REPLACEMENTS = [b"0", b"-1", b"4294967296", b"18446744073709551616", b"0xffffffff",
                       b"99999999999999999999999", b"1e309", b"0x", b"nan", b"[]", b"{}", b"~",
                       b"\"x\""]


def apply(data: bytes, ops) -> bytes:
    """Apply a list of (name, *args) operations; the list doubles as the reproducer."""
    fn = {"flip": flip, "truncate": truncate, "extend": extend, "overwrite": overwrite,
          "drop_line": drop_line, "dup_line": dup_line, "replace_number": replace_number,
          "overwrite_text": overwrite_text}
    for name, *args in ops:
        data = fn[name](data, *args)
    return data
