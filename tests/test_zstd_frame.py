# SPDX-License-Identifier: GPL-2.0-only
"""abi/zstd_frame.py: one zstd frame from untrusted bytes. Its length, read from the headers,
agrees with the zstd library's own idea of where the frame ends (decompressobj's
unused_data) for frames of every shape the library writes; anything cut short, followed by
bytes, malformed, too wide a window or inflating past its cap is BadInput, never a
traceback or an allocation of what the header asks."""
import pytest
import zstandard
from hypothesis import given, settings, strategies as st

from pcilu_cli.abi import zstd_frame
from pcilu_cli.abi.untrusted import InflateBudget
from pcilu_cli.errors import BadInput


def _library_end(data: bytes) -> int:
    d = zstandard.ZstdDecompressor().decompressobj()
    d.decompress(data)
    assert d.eof
    return len(data) - len(d.unused_data)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 6), st.booleans(), st.booleans(),
       st.integers(0, 3), st.binary(max_size=5))
def test_the_frame_length_is_where_the_library_says_the_frame_ends(payload, level, checksum,
                                                                     content_size, repeat,
                                                                     trailing):
    data = payload * (1 + 200 * repeat) + b"\0" * (70000 * repeat)     # raw, RLE, compressed
    params = zstandard.ZstdCompressionParameters.from_level(
        level, write_checksum=int(checksum), write_content_size=int(content_size))
    frame = zstandard.ZstdCompressor(compression_params=params).compress(data)
    assert zstd_frame.frame_length(frame + trailing) == _library_end(frame + trailing) \
        == len(frame)
    for cut in {1, 4, 5, len(frame) // 2, len(frame) - 1}:
        if 0 < cut < len(frame):
            with pytest.raises(BadInput):
                zstd_frame.frame_length(frame[:cut])


def _frame(data: bytes) -> bytes:
    z = zstd_frame.compressor()
    return z.compress(data) + z.flush()


def test_what_pcilu_writes_reads_back_in_steps_and_whole():
    doc = b"x" * 1000 + bytes(range(256)) * 4000
    frame = _frame(doc)
    assert zstd_frame.measure(frame, len(doc)) == (len(doc), None)    # more than one step
    assert b"".join(zstd_frame.pieces(frame)) == doc
    small = _frame(b"abc")
    assert zstd_frame.measure(small, 3) == (3, b"abc")
    seen = []
    zstd_frame.measure(frame, len(doc), look=seen.append)
    assert b"".join(seen) == doc


@pytest.mark.parametrize("damage, says", [
    (lambda f: f[:-1], "cut short"),
    (lambda f: f + b"\0", "followed by 1 bytes"),
    (lambda f: b"\x28\xb5\x2f\xfe" + f[4:], "not a zstd frame"),
    (lambda f: f[:4] + bytes([f[4] | 0x08]) + f[5:], "reserved bit"),
    (lambda f: f[:-6] + bytes([f[-6] ^ 0x40]) + f[-5:], "not valid zstd data"),
], ids=["cut", "trailing", "magic", "reserved", "damaged"])
def test_a_damaged_frame_is_refused_naming_what_is_wrong(damage, says):
    frame = _frame(b"the enumerate document " * 500)
    with pytest.raises(BadInput, match=says):
        zstd_frame.measure(damage(frame), 1 << 20, what="it", field="f")


def test_a_window_wider_than_pcilu_writes_is_refused_before_it_is_allocated():
    params = zstandard.ZstdCompressionParameters(window_log=27, write_content_size=0)
    wide = zstandard.ZstdCompressor(compression_params=params).compressobj()
    frame = wide.compress(bytes(range(256)) * 8192) + wide.flush()
    with pytest.raises(BadInput, match="not valid zstd data"):
        zstd_frame.measure(frame, 1 << 30)


def test_a_bomb_is_refused_at_its_cap_and_at_the_files_budget():
    frame = _frame(b"\0" * (96 << 20))                 # 96 MiB of zeros: a few KiB of frame
    assert len(frame) < 1 << 14
    with pytest.raises(BadInput, match="more than 1048576 bytes"):
        zstd_frame.measure(frame, 1 << 20)
    with pytest.raises(BadInput, match="may stream"):
        zstd_frame.measure(frame, 1 << 30, budget=InflateBudget(len(frame)), keep=False)
