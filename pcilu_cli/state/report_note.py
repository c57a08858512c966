# SPDX-License-Identifier: GPL-2.0-only
"""The enumerate document kept with a generation: the optional ``NT_PCILU_REPORT`` note.

``pcilu kexec`` boots the next generation and enumerates it, with every ``pci_dev`` and
function in memory; the state file it writes keeps the ``enumerate --json`` document of that
boot, so that ``pcilu enumerate --json`` of the new state prints it instead of rebuilding the
whole generation from the file only to describe it again (at 65,536 functions: 1.5 s of
rebuilding and rendering against 0.1 s of inflating).

* Written only on request (:meth:`~pcilu_cli.state.machine.Machine.to_bytes` with the caller's
  JSON renderer, so the stored text is byte for byte what that caller prints) and never for a
  panicked generation. A state loaded from the file does not write it back: any later save
  (``finish``, ``preserve`` ...) drops it, so a stored document always describes the state it
  was written with.
* Rendered device by device into one Zstandard frame (abi/zstd_frame.py): a 262,144-device
  document (88 MB) is never one string in memory. zstd, not zlib as pcilu's other notes:
  the 22 MB document of 65,536 functions inflates in ~6 ms instead of ~45 ms (every
  `enumerate --json` of the state pays it) and deflates in ~12 ms instead of ~45 ms (its
  `kexec`), to a third less. A note written by an earlier pcilu, one zlib stream, is read as
  before: the first bytes say which (the zstd magic never begins a zlib stream).
* Read as untrusted input: inflated no further than a bound from the fabric's function count
  and the log's length and what the file's budget lets it stream
  (:class:`~pcilu_cli.abi.untrusted.InflateBudget`), and it must be UTF-8 text that opens as
  an enumerate document; anything else is :class:`~pcilu_cli.errors.BadInput` naming the
  note. It is checked whole (one pass that keeps nothing) before a byte of it is printed,
  then inflated again as it is written out.
"""
from __future__ import annotations

from pcilu_cli.errors import BadInput

FIELD = "PCILU report note"
_SLICE = 4096                       # devices rendered per piece
# what the document may take: a device entry is ~350 bytes; the log lines appear once more
# (JSON-escaped: at most 6 bytes for one of the log's)
REPORT_FIXED = 1 << 20
REPORT_PER_FUNCTION = 2048
_HEAD = '{"kind":"enumerate",'
_SLOT = "\x00pcilu devices\x00"     # stands for the device list while the rest is rendered


def encode(machine, dumps) -> bytes:
    """The note: ``dumps(machine.report())`` compressed, rendered a slice of devices at a
    time (``dumps`` renders compact JSON: ``"[" + ",".join(items) + "]"`` for a list)."""
    doc = machine.report()
    devices = doc["devices"]
    doc["devices"] = _SLOT
    text = dumps(doc)
    mark = dumps(_SLOT)
    at = text.index(mark)            # the keys before "devices" are fixed names and numbers
    from pcilu_cli.abi.zstd_frame import compressor
    z = compressor()
    out = [z.compress(text[:at].encode()), z.compress(b"[")]
    for i in range(0, len(devices), _SLICE):
        piece = dumps(devices[i:i + _SLICE])[1:-1]       # the slice's items, comma-separated
        out.append(z.compress(((',' if i else '') + piece).encode()))
    del devices
    out.append(z.compress(("]" + text[at + len(mark):]).encode()))
    out.append(z.flush())
    return b"".join(out)


class _Look:
    """What :func:`check` needs of the document, seen one piece at a time as it inflates:
    its first bytes, its last byte, and whether it is UTF-8 throughout (an incremental decoder,
    fed only non-ASCII pieces and what follows a character cut between two pieces)."""

    def __init__(self, file, room: int = 0):
        import codecs
        self.file, self.at, self.head, self.last = file, 0, b"", b""
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.pending = 0               # bytes of a character cut at the end of the last piece
        # the pieces themselves, while they fit in ``room`` (what the file's budget lets it
        # keep): then the document need not be inflated a second time to be written out
        self.kept: list | None = [] if room > 0 else None
        self.room = room

    def __call__(self, piece: bytes) -> None:
        kept = self.kept
        if kept is not None:
            if self.at + len(piece) <= self.room:
                kept.append(piece)
            else:
                self.kept = None           # past the room: inflated again when written
        if len(self.head) < len(_HEAD_BYTES):
            self.head += piece[:len(_HEAD_BYTES) - len(self.head)]
        if piece:
            self.last = piece[-1:]
        if self.pending or not piece.isascii():
            self._decode(piece, False)
        self.at += len(piece)

    def _decode(self, piece: bytes, final: bool) -> None:
        try:
            self.utf8.decode(piece, final)
        except UnicodeDecodeError as exc:
            raise BadInput(f"the stored enumerate document is not UTF-8 text (byte "
                           f"{self.at - self.pending + exc.start})", file=self.file,
                           field=FIELD) from None
        self.pending = len(self.utf8.getstate()[0])

    def finish(self) -> None:
        self._decode(b"", True)
        if self.head != _HEAD_BYTES or self.last != b"}":
            raise BadInput("the stored enumerate document is not one (it must be a JSON object "
                           'opening with "kind": "enumerate")', file=self.file, field=FIELD)


_HEAD_BYTES = _HEAD.encode()


def check(raw: bytes, functions: int, log_bytes: int, *, file=None, budget=None) -> tuple:
    """``(size, whole)``: the stored document measured and checked as described in the module
    docstring, without keeping it (``whole``: the document, if it inflated in one step).
    ``budget``: the state file's :class:`~pcilu_cli.abi.untrusted.InflateBudget`; the document
    is handed on, not kept (bounded for time only)."""
    size, whole, _look = _check(raw, functions, log_bytes, file, budget, 0)
    return size, whole


def _check(raw, functions, log_bytes, file, budget, room) -> tuple:
    """``(size, whole, look)`` of :func:`check`; ``look.kept``: the document's pieces, if
    they came to at most ``room`` bytes (else None)."""
    limit = REPORT_FIXED + REPORT_PER_FUNCTION * functions + 6 * log_bytes
    measure = _codec(raw)[0]                        # cut short / trailing bytes: refused there
    look = _Look(file, room)
    size, whole = measure(raw, limit, file=file, field=FIELD,
                          what="the stored enumerate document", budget=budget, keep=False,
                          look=look)
    look.finish()
    return size, whole, look


def decode_bytes(raw: bytes, functions: int, log_bytes: int, *, file=None,
                 budget=None) -> bytes:
    """The stored document as its UTF-8 bytes, after :func:`check`."""
    size, whole = check(raw, functions, log_bytes, file=file, budget=budget)
    return b"".join(_codec(raw)[1](raw)) if whole is None else whole


def decode_pieces(raw: bytes, functions: int, log_bytes: int, *, file=None, budget=None):
    """The stored document after :func:`check`, as pieces of its UTF-8 bytes (what
    `enumerate --json` writes to stdout as they inflate: a 262,144-device document of 88 MB
    is never in memory). The pieces the check inflated are kept and handed out, instead of
    being inflated again, when the file's budget has room to keep them (a 65,536-device
    document of 22 MB in a 2.8 MB state: one inflate of 35 ms fewer)."""
    room = 0 if budget is None else budget.room(True)
    size, whole, look = _check(raw, functions, log_bytes, file, budget, room)
    if whole is not None:
        return [whole]
    if look.kept is not None:
        budget.draw(size, True)
        return look.kept
    return _codec(raw)[1](raw)


def _codec(raw):
    """``(measure, pieces)`` for the note's compression, told by its first bytes: a zstd
    frame (what pcilu writes), or a zlib stream (what pcilu wrote before; anything else is
    refused by the zlib reader as not zlib data)."""
    from pcilu_cli.abi import untrusted, zstd_frame
    if bytes(raw[:4]) == zstd_frame.MAGIC:
        return zstd_frame.measure, zstd_frame.pieces
    return untrusted.measure, untrusted.pieces
