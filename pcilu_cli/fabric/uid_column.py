# SPDX-License-Identifier: GPL-2.0-only
"""The uids of a serialized fabric's records, read without decoding every one.

A kernel command on a state file looks up the few functions it touches by uid; decoding the
65,536 uids of a large fabric and hashing them into a dict cost more than the rest of its
load. Version 2 of ``PCILUFAB`` (:mod:`pcilu_cli.abi.fabric_file`) therefore stores a uid
column: where each record's uid ends in the uid text (``pcilu_fabric_uid_end``, one per
record), the records in the byte order of their uids (``pcilu_fabric_uid_order``), then the
UTF-8 text of every uid in record order. :class:`UidColumn` finds a uid by bisection over
that order and names record ``i`` by slicing the text; :class:`UidList` gives version 1's
JSON list the same interface.

Both are built from untrusted bytes: an end or order that points outside the text or the
column is a :class:`ValueError` when it is read (the fabric decoder turns it into
``BadInput`` naming the note), and :meth:`UidColumn.tolist` checks every end before it
decodes any uid.
"""
from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from itertools import accumulate, chain, islice, tee
from operator import le, lt

from pcilu_cli.abi.fabric_file import FABRIC_UID_END, FABRIC_UID_ORDER

# a uid is any str a fabric holds (YAML and JSON can spell lone surrogates): written and
# compared as the same bytes either way
_ERRORS = "surrogatepass"
# the array type code of a u32: both runs are read as arrays of the one field they declare
_U32 = next(t for t in "IL" if array(t).itemsize == 4)
assert FABRIC_UID_END.format == FABRIC_UID_ORDER.format == "<L"
SLOT = FABRIC_UID_END.size + FABRIC_UID_ORDER.size        # column bytes per record


def least_text(n: int) -> int:
    """The fewest bytes ``n`` distinct byte strings take together: one empty, 256 of one
    byte, 65,536 of two, ... (the uids of a column are distinct, so a column of ``n`` records
    with less text than this is damaged, whatever its ends say: refused before a million
    records' worth of lists is built from it)."""
    total, length, count = 0, 0, 1
    while n > 0:
        k = min(n, count)
        total += k * length
        n -= k
        length += 1
        count *= 256
    return total


def encode(uids: list) -> tuple[bytes, bytes]:
    """``(ends + orders, text)``: the column of the uids of records ``0..n-1`` (``uids[i]``
    is record i's)."""
    enc = [u.encode("utf-8", _ERRORS) for u in uids]
    ends = array(_U32, accumulate(map(len, enc)))
    order = array(_U32, sorted(range(len(enc)), key=enc.__getitem__))
    if sys.byteorder != "little":                          # pragma: no cover
        ends.byteswap()
        order.byteswap()
    return ends.tobytes() + order.tobytes(), b"".join(enc)


class UidColumn:
    """Version 2's uid column (see the module docstring): ``len()``, ``col[i]`` (record i's
    uid), ``index(uid)`` (its record, or None) and ``tolist()``."""

    __slots__ = ("_ends", "_order", "_text", "_n", "_runs")

    def __init__(self, runs: bytes, text: bytes, n: int):
        if len(runs) != SLOT * n:
            raise ValueError(f"{len(runs)} bytes of uid ends and orders for {n} records")
        if sys.byteorder == "little":
            words = memoryview(runs).cast(_U32)
        else:                                              # pragma: no cover
            words = array(_U32, runs)
            words.byteswap()
        self._ends, self._order, self._text, self._n = words[:n], words[n:], text, n
        self._runs = runs
        if n and self._ends[n - 1] != len(text):
            raise ValueError(f"the uid column ends at byte {self._ends[n - 1]} of a "
                             f"{len(text)}-byte uid text")
        if not n and text:
            raise ValueError(f"{len(text)} bytes of uid text for no records")
        if len(text) < least_text(n):
            raise ValueError(f"{n} distinct uids take at least {least_text(n)} bytes, but the "
                             f"uid text has {len(text)}")

    def __len__(self) -> int:
        return self._n

    def raw(self) -> tuple[bytes, bytes]:
        """``(ends + orders, text)`` as read: what :func:`encode` returns for these uids."""
        return bytes(self._runs), self._text

    def _raw(self, i: int) -> bytes:
        ends = self._ends
        start, end = (ends[i - 1] if i else 0), ends[i]
        if start > end:
            raise ValueError(f"uid {i} ends at byte {end}, before its start ({start})")
        return self._text[start:end]

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._raw(i).decode("utf-8", _ERRORS)

    def index(self, uid: str) -> int | None:
        """The record whose uid is ``uid`` (None: no record has it)."""
        try:
            want = uid.encode("utf-8", _ERRORS)
        except (AttributeError, UnicodeError):
            return None
        order = self._order
        try:
            pos = bisect_left(order, want, key=self._raw)
            if pos < self._n:
                i = order[pos]
                if self._raw(i) == want:
                    return i
        except IndexError:
            raise ValueError("the uid order names a record past the column") from None
        return None

    def tolist(self) -> list[str]:
        """Every uid in record order, after checking the whole column: the ends ascend
        through the text, and the order lists every record once, by strictly ascending
        uid (so no two records share a uid). A full build reads this; it refuses a damaged
        column as a lookup that meets the damage does."""
        # (no list beyond the ends and the uids: what a crafted column costs to refuse is
        # what it inflated to, and those two lists)
        ends = self._ends.tolist()
        if not all(map(le, ends, islice(ends, 1, None))):
            raise ValueError("the uid ends do not ascend through the uid text")
        starts = chain((0,), ends)
        text = self._text
        if text.isascii():
            s = text.decode("ascii")
            uids = [s[a:b] for a, b in zip(starts, ends)]
        else:
            uids = [text[a:b].decode("utf-8", _ERRORS) for a, b in zip(starts, ends)]
        # str order is the order of the UTF-8 bytes (code point order, surrogates too)
        seq, after = tee(map(uids.__getitem__, self._order))
        next(after, None)
        try:
            ascending = all(map(lt, seq, after))
        except IndexError:
            raise ValueError("the uid order names a record past the column") from None
        if not ascending:
            raise ValueError("the uid order does not list every record once by ascending uid")
        return uids


class UidList:
    """Version 1's uids (the meta's JSON list) behind :class:`UidColumn`'s interface; the
    uid → record map is built on the first lookup (the last record of a uid wins, as it did
    when version 1 was current)."""

    __slots__ = ("_uids", "_index")

    def __init__(self, uids, n: int):
        if not isinstance(uids, list) or len(uids) != n:
            raise ValueError(f"{len(uids) if isinstance(uids, list) else 'no'} uids for "
                             f"{n} records")
        self._uids, self._index = uids, None

    def __len__(self) -> int:
        return len(self._uids)

    def __getitem__(self, i: int):
        return self._uids[i]

    def index(self, uid) -> int | None:
        if self._index is None:
            self._index = dict(zip(self._uids, range(len(self._uids))))
        try:
            return self._index.get(uid)
        except TypeError:               # an unhashable uid in a crafted list
            return None

    def tolist(self) -> list:
        return self._uids
