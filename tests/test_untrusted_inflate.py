# SPDX-License-Identifier: GPL-2.0-only
"""Bounded inflate (pcilu_cli/abi/untrusted.py): every field of one file draws on one budget.

What a format declares costs a crafted file nothing: a fabric note of 100 KB may declare a
million functions, and every per-field ceiling derived from that count is then gigabytes. So
what the fields of one file keep in memory together is bounded by the file's own size
(``InflateBudget``), a field streamed out and kept nowhere is bounded for time only, and a
long stream is measured before it is inflated (refusing it costs one step of memory). The
CLI side (crafted files refused within 64 MiB + 8 x their size) is tests/test_hostile_input.py.
"""
from __future__ import annotations

import os
import zlib
from itertools import product

import pytest

from pcilu_cli.abi import untrusted as U
from pcilu_cli.errors import BadInput
from pcilu_cli.fabric.uid_column import UidColumn, encode, least_text

STEP = 1 << 20


def _text(n: int) -> bytes:
    """``n`` bytes that do not compress to nothing (so a stream spans several steps)."""
    return (os.urandom(64) * (n // 64 + 1))[:n] if n else b""


@pytest.mark.parametrize("n", [0, 1, STEP - 1, STEP, STEP + 1, 3 * STEP + 5])
def test_a_stream_inflates_to_what_was_compressed_on_either_side_of_a_step(n):
    data = _text(n)
    z = zlib.compress(data, 1)
    seen = []
    assert U.measure(z, n, look=seen.append) == (n, data if n <= STEP else None)
    assert b"".join(seen) == data                       # look saw every piece, in order
    assert b"".join(U.pieces(z)) == data
    for room in (1 << 30, n + STEP):    # room for twice the cap (one pass) or not (two)
        budget = U.InflateBudget(len(z))
        budget.left = room
        assert U.inflate(z, n, budget=budget) == data
        assert budget.left == room - n                  # kept output is drawn from the budget


def test_two_fields_of_one_file_share_its_budget():
    """Each field alone is within its declared limit and within the file's budget; the second
    is refused because the first already took most of it."""
    budget = U.InflateBudget(1000)
    first = zlib.compress(bytes(budget.total - 100))
    assert len(U.inflate(first, 1 << 40, budget=budget)) == budget.total - 100
    second = zlib.compress(bytes(200))
    with pytest.raises(BadInput, match=r"more than the 100 bytes left of what a 1000-byte "
                                       r"file may inflate to in all") as exc:
        U.inflate(second, 1 << 40, budget=budget, what="kernel note section 3", file="x.elf")
    assert exc.value.file == "x.elf"
    assert U.inflate(second, 1 << 40) == bytes(200)     # the same field, with no budget


def test_a_field_streamed_out_is_not_drawn_from_the_budget_but_is_bounded_for_time():
    budget = U.InflateBudget(10)
    doc = zlib.compress(bytes(budget.total + 1))        # more than may be kept, less than
    for _ in range(2):                                  # may be streamed: twice, not drawn
        assert U.measure(doc, 1 << 40, budget=budget, keep=False)[0] == budget.total + 1
    assert budget.left == budget.total
    with pytest.raises(BadInput, match=r"more than the \d+ bytes a 10-byte file may stream"):
        U.measure(zlib.compress(bytes(budget.stream + 1)), 1 << 40, budget=budget, keep=False)


def test_the_declared_limit_still_names_itself_when_it_is_the_tighter_one():
    with pytest.raises(BadInput, match="more than 99 bytes, more than its declared sizes"):
        U.inflate(zlib.compress(bytes(100)), 99, budget=U.InflateBudget(10))


@pytest.mark.parametrize("n, cut", list(product([100, 3 * STEP], ["short", "trailing"])))
def test_a_long_stream_cut_short_or_followed_by_bytes_is_refused(n, cut):
    z = zlib.compress(_text(n), 1)
    z = z[:-5] if cut == "short" else z + b"\0junk"
    with pytest.raises(BadInput, match="cut short" if cut == "short" else "after the end"):
        U.inflate(z, 4 * STEP)


def test_refusing_a_bomb_produces_no_more_than_one_step_past_the_cap():
    """What was produced before the refusal is what ``look`` saw: the cap, never the bomb."""
    seen = []
    bomb = zlib.compress(bytes(256 << 20), 1)
    with pytest.raises(BadInput):
        U.measure(bomb, 5 * STEP + 7, look=lambda p: seen.append(len(p)))
    assert sum(seen) <= 5 * STEP + 7 and max(seen) <= STEP


def test_a_head_is_read_without_inflating_the_rest():
    assert U.inflate_head(zlib.compress(b"header" + bytes(1 << 30)), 6) == b"header"
    with pytest.raises(BadInput, match="not valid zlib"):
        U.inflate_head(b"not zlib at all", 6)


def _least_by_counting(n: int) -> int:
    """The fewest bytes of ``n`` distinct byte strings, by listing the shortest ones."""
    total, length = 0, 0
    while n > 0:
        k = min(n, 256 ** length)
        total, n, length = total + k * length, n - k, length + 1
    return total


@pytest.mark.parametrize("n", [0, 1, 2, 256, 257, 258, 65_793, 65_794, 1_000_000])
def test_distinct_uids_take_at_least_so_many_bytes(n):
    assert least_text(n) == _least_by_counting(n)


def test_a_uid_column_with_too_little_text_for_distinct_uids_is_refused_before_it_is_read():
    uids = [f"u{i}" for i in range(300)]
    runs, text = encode(uids)
    assert UidColumn(runs, text, 300).tolist() == uids
    ends = b"\0" * (4 * 299) + (255).to_bytes(4, "little")   # all in the last uid: 255 bytes
    # (one empty uid, 256 of one byte, 43 of two: 342 bytes at the least)
    with pytest.raises(ValueError, match="300 distinct uids take at least 342 bytes, but the "
                                         "uid text has 255"):
        UidColumn(ends + runs[4 * 300:], bytes(255), 300)
