# SPDX-License-Identifier: GPL-2.0-only
"""One Zstandard frame (RFC 8878) from a file of another machine, inflated within bounds.

pcilu writes one frame per field it compresses this way (the stored enumerate document of a
state, state/report_note.py), so a field must be exactly one whole frame: :func:`frame_length`
walks the frame's header and block headers (RFC 8878 §3.1.1) without decompressing anything,
and a frame cut short, or followed by other bytes, is refused naming where. Its window may be
at most :data:`MAX_WINDOW` (the decoder would otherwise allocate what a crafted header asks,
up to 2 GiB), and its output is read :data:`_STEP` bytes at a time against the same ceilings
and :class:`~pcilu_cli.abi.untrusted.InflateBudget` the zlib fields use, so a bomb is refused
once it passes its cap, having cost one step of memory. Checksummed frames are verified by the
decoder (a damaged byte is refused, not decoded into other text).
"""
from __future__ import annotations

from pcilu_cli.abi.untrusted import _cap, _over
from pcilu_cli.errors import BadInput

# what one read produces at most: a quarter of the zlib fields' step, which the decoder fills
# faster (measured: 22 MB read in 256 KiB steps ~8 ms, in 1 MiB steps ~10-19 ms)
_STEP = 1 << 18

MAGIC = b"\x28\xb5\x2f\xfd"
# the window pcilu's writer uses (WINDOW_LOG) and the most a reader allows: level 1 picks
# a 2**19 window for inputs this size; pinned so that no zstd release changes it under us
WINDOW_LOG = 19
MAX_WINDOW = 1 << 20

_FCS_BYTES = (0, 2, 4, 8)           # Frame_Content_Size field, by its flag (RFC 8878 3.1.1.1)
_DID_BYTES = (0, 1, 2, 4)           # Dictionary_ID field, by its flag


def frame_length(data, *, file=None, field=None, what="data", base: int = 0) -> int:
    """The length of the zstd frame at the start of ``data`` (magic included), from its
    headers alone; BadInput if it is not one or is cut short."""
    n = len(data)
    if bytes(data[:4]) != MAGIC:
        raise BadInput(f"{what} is not a zstd frame (no magic at offset {base:#x})",
                       file=file, field=field)
    if n < 5:
        raise _cut(what, n, base, file, field)
    fhd = data[4]
    if fhd & 0x08:
        raise BadInput(f"{what}: zstd frame header descriptor {fhd:#04x} has its reserved bit "
                       "set", file=file, field=field)
    single = fhd >> 5 & 1
    fcs = _FCS_BYTES[fhd >> 6] or single       # flag 0 with a single segment: one byte
    pos = 5 + (0 if single else 1) + _DID_BYTES[fhd & 3] + fcs
    while True:
        if pos + 3 > n:
            raise _cut(what, n, base, file, field)
        head = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
        kind, size = head >> 1 & 3, head >> 3
        if kind == 3:
            raise BadInput(f"{what}: zstd block at offset {base + pos:#x} has the reserved "
                           "block type", file=file, field=field)
        pos += 3 + (1 if kind == 1 else size)  # an RLE block stores its one byte
        if head & 1:
            break
    pos += 4 if fhd & 0x04 else 0              # Content_Checksum
    if pos > n:
        raise _cut(what, n, base, file, field)
    return pos


def _cut(what, n, base, file, field) -> BadInput:
    return BadInput(f"{what} is cut short: its zstd frame ends at offset {base + n:#x} before "
                    "its last block", file=file, field=field)


def _reader(data, what, file, field, base):
    """A decoder over exactly the one frame ``data`` holds (checked first)."""
    end = frame_length(data, file=file, field=field, what=what, base=base)
    if end != len(data):
        raise BadInput(f"{what} is followed by {len(data) - end} bytes after the end of its "
                       f"zstd frame at offset {base + end:#x}", file=file, field=field)
    import zstandard
    return zstandard, zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).stream_reader(
        bytes(data), read_across_frames=False)


def measure(data, limit: int, *, file=None, field=None, what="data", base: int = 0,
            budget=None, keep: bool = True, look=None):
    """``(size, whole)`` of the frame in ``data``, as :func:`pcilu_cli.abi.untrusted.measure`
    gives them for a zlib stream: checked step by step and kept nowhere but ``look``."""
    cap = _cap(limit, budget, keep)
    zstandard, r = _reader(data, what, file, field, base)
    total, first, steps = 0, None, 0
    try:
        while total <= cap:
            piece = r.read(min(_STEP, cap + 1 - total))
            if not piece:
                break
            total += len(piece)
            steps += 1
            if steps == 1:
                first = piece
            if look is not None and total <= cap:
                look(piece)
    except zstandard.ZstdError as e:
        raise BadInput(f"{what} is not valid zstd data: {e}", file=file, field=field) from None
    if total > cap:
        raise _over(limit, cap, budget, keep, what, file, field)
    if budget is not None:
        budget.draw(total, keep)
    return total, (first if steps == 1 else b"" if steps == 0 else None)


def pieces(data):
    """The output of a frame :func:`measure` accepted, one step at a time."""
    import zstandard
    r = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).stream_reader(
        bytes(data), read_across_frames=False)
    while True:
        piece = r.read(_STEP)
        if not piece:
            return
        yield piece


def compressor():
    """What pcilu writes such a field with: level 1, the window pinned to WINDOW_LOG, a
    content checksum (a reader verifies it)."""
    import zstandard
    params = zstandard.ZstdCompressionParameters.from_level(1, window_log=WINDOW_LOG,
                                                            write_checksum=1)
    return zstandard.ZstdCompressor(compression_params=params).compressobj()
