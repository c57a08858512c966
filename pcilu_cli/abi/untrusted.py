# SPDX-License-Identifier: GPL-2.0-only
"""Limits for bytes that come from a file of another machine: bounded inflate, bounded JSON,
and file-name components that cannot leave a directory.

What it models: the budget pcilu promises for hostile input (README "Reliability"): a crafted
file is refused with one line naming the file, never a traceback, and costs at most about
64 MiB + 8 x its size and time linear in its size. Three things break that budget unless they
are bounded here:

* **Decompression.** A compressed note or fabric may say little and inflate to gigabytes. Every
  inflate has a ceiling that the caller derives from what the format declares (functions x 4 KiB
  of config space, ...), checked while inflating (``zlib.decompressobj`` with ``max_length``),
  so the excess is never allocated.
* **JSON.** ``json.loads`` recurses once per nesting level (``RecursionError`` past ~1,000
  levels, an internal error) and turns every byte pair ``[]`` into a 56-byte list. The text is
  refused beyond a size the caller derives, and too deep nesting is bad input naming the file
  (the C parser's own recursion check, caught: no pre-scan, so loading stays cheap).
* **Names used as file names** (sub-FDT node names, FLB compatibles, session names, scenario
  names): :func:`file_component` turns any string into one safe path component (no ``/``, no
  ``..``, no NUL, at most 255 bytes), leaving the names real kernels use unchanged.

Only the standard library; cheap enough for every state load.
"""
from __future__ import annotations

import json
import re
import sys
import zlib

from pcilu_cli.errors import BadInput

def inflate(data: bytes, limit: int, *, file=None, field=None, what="data") -> bytes:
    """zlib-decompress ``data``; more than ``limit`` bytes of output is bad input (the excess
    is never produced: decompression stops at ``limit + 1``)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise BadInput(f"{what} is not valid zlib data: {e}", file=file, field=field) from None
    if len(out) > limit or d.unconsumed_tail:
        raise BadInput(f"{what} inflates to more than {limit} bytes, more than its declared "
                       "sizes allow", file=file, field=field)
    return out


class Inflater:
    """Incremental bounded inflate: read a header first, then grow the ceiling to what the
    header declares. ``read(n)`` returns exactly ``n`` more bytes or raises BadInput."""

    def __init__(self, data: bytes, *, file=None, field=None, what="data"):
        self._d = zlib.decompressobj()
        self._tail = data
        self._buf = bytearray()
        self.file, self.field, self.what = file, field, what

    def _grow(self, total: int) -> None:
        while len(self._buf) < total and (self._tail or not self._d.eof):
            try:
                chunk = self._d.decompress(self._tail, total - len(self._buf))
            except zlib.error as e:
                raise BadInput(f"{self.what} is not valid zlib data: {e}", file=self.file,
                               field=self.field) from None
            self._tail = self._d.unconsumed_tail
            self._buf += chunk
            if not chunk and not self._tail:
                try:
                    self._buf += self._d.flush(total - len(self._buf))
                except zlib.error:
                    pass
                break

    def read_all(self, limit: int) -> bytes:
        """Everything, refusing more than ``limit`` bytes in total."""
        self._grow(limit + 1)
        if len(self._buf) > limit or (self._tail and not self._d.eof):
            raise BadInput(f"{self.what} inflates to more than {limit} bytes, more than its "
                           "declared sizes allow", file=self.file, field=self.field)
        return bytes(self._buf)

    def peek(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer if the stream is shorter)."""
        self._grow(n)
        return bytes(self._buf[:n])


def loads_json(text, *, limit: int | None = None, file=None, field=None, what="JSON"):
    """``json.loads`` for untrusted text: at most ``limit`` bytes; nesting deeper than the
    parser's recursion limit and invalid JSON are :class:`BadInput` naming file/field."""
    if isinstance(text, str):
        raw = text.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(text)
    if limit is not None and len(raw) > limit:
        raise BadInput(f"{what} has {len(raw)} bytes, more than the {limit} its declared sizes "
                       "allow", file=file, field=field)
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadInput(f"{what} nests deeper than Python's recursion limit "
                       f"({sys.getrecursionlimit()} levels)", file=file, field=field) from None
    except ValueError as e:
        raise BadInput(f"{what} is not valid JSON: {e}", file=file, field=field) from None


# one path component: what real kernels and pcilu use for node names / compatibles pass as is
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9_+,@=-][A-Za-z0-9_.+,@=-]{0,199}$")
NAME_MAX = 255


def file_component(name: str) -> str:
    """``name`` (read from a file) as one file-name component that stays inside its directory.

    Names made of letters, digits and ``_ . + , @ = -`` (not starting with a dot) pass
    unchanged: ``LUO``, ``memblock``, ``kexec-metadata``, ``pci-v3``. Anything else is
    percent-encoded byte by byte (``/`` -> ``%2F``, a leading ``.`` -> ``%2E``, NUL -> ``%00``,
    ``%`` -> ``%25``), and a result longer than 200 characters is cut and suffixed with a hash
    of the whole name, so distinct names stay distinct and every result is < NAME_MAX bytes."""
    if _SAFE_COMPONENT.match(name) and name not in (".", ".."):
        return name
    raw = name.encode("utf-8", "surrogateescape")
    out = []
    for i, b in enumerate(raw):
        ch = chr(b)
        if b < 0x80 and (ch.isalnum() or ch in "_+,@=-" or (ch == "." and i > 0)):
            out.append(ch)
        else:
            out.append(f"%{b:02X}")
    enc = "".join(out) or "%"
    if len(enc) > 200:
        import hashlib             # only for names this long: every reader imports this module
        enc = enc[:180] + "~" + hashlib.sha256(raw).hexdigest()[:16]
    return enc


__all__ = ["inflate", "Inflater", "loads_json", "file_component", "NAME_MAX"]
