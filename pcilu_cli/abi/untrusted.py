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


def _incomplete(d, data, *, file, field, what, base) -> None:
    """BadInput when the stream in ``data`` (already fed whole to ``d``) is cut short or is
    followed by other bytes. Every zlib stream pcilu writes is the whole of its field (a
    serialized fabric after its 10-byte header, one kernel note section, the report note), so
    neither a missing end (``eof`` false: the last block or the Adler-32 check never came) nor
    bytes after the end is allowed. ``base`` is where ``data`` starts in its file or note."""
    if not d.eof:
        raise BadInput(f"{what} is cut short: its zlib stream of {len(data)} bytes "
                       f"(from offset {base:#x}) ends at offset {base + len(data):#x} before "
                       "its end marker and checksum", file=file, field=field)
    if d.unused_data:
        end = base + len(data) - len(d.unused_data)
        raise BadInput(f"{what} is followed by {len(d.unused_data)} bytes after the end of its "
                       f"zlib stream at offset {end:#x}", file=file, field=field)


def inflate(data: bytes, limit: int, *, file=None, field=None, what="data",
            base: int = 0) -> bytes:
    """zlib-decompress ``data``, which must be exactly one whole zlib stream; more than
    ``limit`` bytes of output is bad input (the excess is never produced: decompression stops
    at ``limit + 1``); a stream cut short or followed by other bytes is bad input too."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise BadInput(f"{what} is not valid zlib data: {e}", file=file, field=field) from None
    if len(out) > limit or d.unconsumed_tail:
        raise BadInput(f"{what} inflates to more than {limit} bytes, more than its declared "
                       "sizes allow", file=file, field=field)
    _incomplete(d, data, file=file, field=field, what=what, base=base)
    return out


class Inflater:
    """Incremental bounded inflate: read a header first, then grow the ceiling to what the
    header declares. ``peek(n)`` returns up to ``n`` bytes; ``read_all(limit)`` returns the
    whole stream, which must be exactly one whole zlib stream (see :func:`inflate`)."""

    def __init__(self, data: bytes, *, file=None, field=None, what="data", base: int = 0):
        self._d = zlib.decompressobj()
        self._data = data
        self._tail = data
        self._buf = bytearray()
        self.file, self.field, self.what, self.base = file, field, what, base

    def _grow(self, total: int) -> None:
        while len(self._buf) < total and not self._d.eof:
            # an empty tail may still hold output inside the decompressor (a capped call)
            try:
                chunk = self._d.decompress(self._tail, total - len(self._buf))
            except zlib.error as e:
                raise BadInput(f"{self.what} is not valid zlib data: {e}", file=self.file,
                               field=self.field) from None
            self._tail = self._d.unconsumed_tail
            self._buf += chunk
            if not chunk and not self._tail:
                break

    def read_all(self, limit: int) -> bytes:
        """Everything, refusing more than ``limit`` bytes in total."""
        self._grow(limit + 1)
        if len(self._buf) > limit or (self._tail and not self._d.eof):
            raise BadInput(f"{self.what} inflates to more than {limit} bytes, more than its "
                           "declared sizes allow", file=self.file, field=self.field)
        _incomplete(self._d, self._data, file=self.file, field=self.field, what=self.what,
                    base=self.base)
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
