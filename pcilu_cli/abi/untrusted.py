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
  so the excess is never allocated. What a format declares costs a crafted file nothing (a
  fabric note of 100 KB may declare a million functions, and so allow gigabytes of config
  space and of stored enumerate document), so every inflate of one file also draws on one
  :class:`InflateBudget` of that file: what all its fields keep in memory together (the
  fabric body, every kernel note section) is at most ``INFLATE_FIXED + 8 x`` its size, and
  a field streamed out as it inflates (the stored enumerate document) is bounded for time.
  A long stream is measured step by step before it is inflated into one exact buffer, so
  refusing it costs one step of memory.
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


# The hostile-input budget (README "Hostile input budget"): reading one file costs at most
# BUDGET_FIXED + BUDGET_PER_BYTE x its size. Of the fixed part the interpreter with pcilu
# loaded holds ~30 MiB and what is built from the inflated bytes needs the rest, so what the
# inflates of a file keep in memory together is at most INFLATE_FIXED + BUDGET_PER_BYTE x its
# size. The files pcilu writes stay well inside it (measured on `generate` shapes of 4,096 to
# 262,144 functions): a state keeps at most 2.1 x its size (fabric body and kernel note
# sections, `kexec` or `enumerate --json` of it), a serialized fabric 4-6 x, never more than
# 0.27 of the allowance. A state's stored enumerate document (up to 8.5 x the file's size, 20 x
# its own note's) is streamed to stdout, not kept, and bounded only for time, by
# BUDGET_FIXED + STREAM_PER_BYTE x the file's size.
BUDGET_FIXED = 64 << 20
BUDGET_PER_BYTE = 8
INFLATE_FIXED = 16 << 20
STREAM_PER_BYTE = 32
_STEP = 1 << 20                     # what one step of a long inflate produces at most


class InflateBudget:
    """What the inflates of one input file of ``size`` bytes may still produce together (see
    the module docstring). Output kept in memory draws on ``left``; output handed on piece by
    piece and kept nowhere (the stored enumerate document, written to stdout as it is
    inflated) costs no memory, only time, and one such field may be up to ``stream`` bytes."""

    __slots__ = ("size", "total", "left", "stream")

    def __init__(self, size: int):
        self.size = size
        self.total = self.left = INFLATE_FIXED + BUDGET_PER_BYTE * size
        self.stream = BUDGET_FIXED + STREAM_PER_BYTE * size

    def room(self, keep: bool) -> int:
        """What one more field may inflate to: kept (``left``) or streamed (``stream``)."""
        return self.left if keep else self.stream

    def draw(self, n: int, keep: bool) -> None:
        if keep:
            self.left -= n

    def refusal(self, what: str, keep: bool) -> str:
        if not keep:
            return (f"{what} inflates to more than the {self.stream} bytes a {self.size}-byte "
                    f"file may stream ({BUDGET_FIXED >> 20} MiB + {STREAM_PER_BYTE} x its size)")
        return (f"{what} inflates to more than the {self.left} bytes left of what a "
                f"{self.size}-byte file may inflate to in all ({self.total} bytes: "
                f"{INFLATE_FIXED >> 20} MiB + {BUDGET_PER_BYTE} x its size)")


def _cap(limit: int, budget, keep: bool) -> int:
    return limit if budget is None else min(limit, budget.room(keep))


def _over(limit: int, cap: int, budget, keep: bool, what, file, field) -> BadInput:
    if cap < limit:
        return BadInput(budget.refusal(what, keep), file=file, field=field)
    return BadInput(f"{what} inflates to more than {limit} bytes, more than its declared "
                    "sizes allow", file=file, field=field)


def measure(data, limit: int, *, file=None, field=None, what="data", base: int = 0,
            budget: InflateBudget | None = None, keep: bool = True, look=None):
    """``(size, whole)``: how many bytes ``data`` inflates to, checked as :func:`inflate`
    checks it, step by step and keeping nothing (a crafted stream is refused once it passes
    its cap, having cost one step of memory); ``whole`` is the output if it came in one step
    (else None). ``look(piece)``, if given, sees every piece of output in order first."""
    cap = _cap(limit, budget, keep)
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, min(cap + 1, _STEP))
        total = len(out)
        if look is not None and total <= cap:
            look(out)
        if not d.eof and total <= cap:
            out = None
            while not d.eof and total <= cap:
                piece = d.decompress(d.unconsumed_tail, min(_STEP, cap + 1 - total))
                total += len(piece)
                if look is not None and total <= cap:
                    look(piece)
                if not piece and not d.unconsumed_tail:
                    break          # no end marker: _incomplete says it is cut short
    except zlib.error as e:
        raise BadInput(f"{what} is not valid zlib data: {e}", file=file, field=field) from None
    if total > cap:
        raise _over(limit, cap, budget, keep, what, file, field)
    _incomplete(d, data, file=file, field=field, what=what, base=base)
    if budget is not None:
        budget.draw(total, keep)
    return total, out


def inflate(data, limit: int, *, file=None, field=None, what="data", base: int = 0,
            budget: InflateBudget | None = None, keep: bool = True) -> bytes:
    """zlib-decompress ``data``, which must be exactly one whole zlib stream; more than
    ``limit`` bytes of output is bad input (the excess is never produced), and so is more
    than ``budget`` allows; a stream cut short or followed by other bytes is bad input too.
    The output is drawn from ``budget`` unless ``keep`` is false (a caller that hands the
    bytes on and keeps them nowhere; see :class:`InflateBudget`).

    One inflate into zlib's growing buffer copies it once more at its end: twice the output
    at the peak. Where the budget has room for twice the cap (a caller that knows the exact
    size, as the fabric decoder does), that one pass is taken; else the stream is first
    measured (:func:`measure`, one step of memory), then inflated into one buffer of exactly
    its size (measuring in steps is cache-friendly: ~40% of one inflate's time)."""
    cap = _cap(limit, budget, keep)
    if budget is not None and 2 * cap > budget.room(keep):
        total, out = measure(data, limit, file=file, field=field, what=what, base=base,
                             budget=budget, keep=keep)
        return zlib.decompress(data, bufsize=total) if out is None else out
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, cap + 1)
    except zlib.error as e:
        raise BadInput(f"{what} is not valid zlib data: {e}", file=file, field=field) from None
    if len(out) > cap or d.unconsumed_tail:
        raise _over(limit, cap, budget, keep, what, file, field)
    _incomplete(d, data, file=file, field=field, what=what, base=base)
    if budget is not None:
        budget.draw(len(out), keep)
    return out


def pieces(data):
    """The output of a stream :func:`measure` accepted, one step at a time."""
    d = zlib.decompressobj()
    tail = data
    while True:
        piece = d.decompress(tail, _STEP)
        if piece:
            yield piece
        tail = d.unconsumed_tail
        if d.eof or (not piece and not tail):
            return


def inflate_head(data, n: int, *, file=None, field=None, what="data", budget=None) -> bytes:
    """The first ``n`` bytes ``data`` inflates to (fewer if the stream is shorter), to read a
    header that declares how far :func:`inflate` may then go (only ``n`` bytes are produced;
    the whole stream is checked by that :func:`inflate`). Nothing is drawn from ``budget``,
    but twice ``n`` (zlib's buffer and its copy) must fit in what it has left."""
    if budget is not None and 2 * n > budget.left:
        raise BadInput(budget.refusal(what, True), file=file, field=field)
    try:
        return zlib.decompressobj().decompress(data, n)
    except zlib.error as e:
        raise BadInput(f"{what} is not valid zlib data: {e}", file=file, field=field) from None


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


__all__ = ["inflate", "inflate_head", "measure", "pieces", "InflateBudget", "BUDGET_FIXED",
           "BUDGET_PER_BYTE", "INFLATE_FIXED", "STREAM_PER_BYTE", "loads_json",
           "file_component", "NAME_MAX"]
