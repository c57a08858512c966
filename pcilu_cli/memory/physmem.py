# SPDX-License-Identifier: GPL-2.0-only
"""Sparse physical memory: what a machine's RAM holds at the moment of a kexec.

Models the pages a hand-over lives in (``kho-luo-abi.md`` §7: "a set of physical pages"). Two
kinds of backing, so that a multi-gigabyte ELF dump is never copied page by page:

* **segments**: read-only, page-aligned runs borrowed from a file (``memoryview`` slices of an
  ELF core's ``PT_LOAD`` data), looked up by bisection;
* **pages**: a dict ``pfn -> bytearray(4096)`` for every page that was written (copy-on-write
  over a segment) or created.

A page is *present* if it is in either; reading absent memory raises :class:`BadInput` (a
pointer in the hand-over that leads nowhere). Nothing here allocates memory because a count
field says so: all sizes come from the caller, and ``read`` refuses ranges over ``MAX_READ``.
"""
from __future__ import annotations

import bisect

from pcilu_cli.abi.kho import KHO_U64 as _U64
from pcilu_cli.errors import BadInput

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = PAGE_SIZE - 1
MAX_READ = 1 << 30            # one read never returns more than 1 GiB
_ZERO_PAGE = bytes(PAGE_SIZE)


class PhysMem:
    """Page-granular sparse physical memory (little-endian accessors)."""

    def __init__(self):
        self._pages: dict[int, bytearray] = {}
        self._holes: set[int] = set()             # segment pages that were discarded
        self._seg_start: list[int] = []           # first pfn of each segment, sorted
        self._segs: list[tuple[int, int, memoryview]] = []   # (first pfn, npages, data)

    # ---- construction ------------------------------------------------------------------------
    def add_segment(self, pa: int, data) -> None:
        """Back ``[pa, pa + len(data))`` by ``data`` without copying its page-aligned middle.

        Unaligned edges are copied into ordinary pages. The caller guarantees segments do
        not overlap each other (the ELF reader checks that).
        """
        mv = memoryview(data).cast("B")
        if not len(mv):
            return
        end = pa + len(mv)
        first_full = (pa + PAGE_MASK) & ~PAGE_MASK
        last_full = end & ~PAGE_MASK
        if first_full >= last_full:               # no whole page inside: copy it all
            self.write(pa, mv)
            return
        if pa < first_full:
            self.write(pa, mv[:first_full - pa])
        if last_full < end:
            self.write(last_full, mv[last_full - pa:])
        pfn = first_full >> PAGE_SHIFT
        npages = (last_full - first_full) >> PAGE_SHIFT
        body = mv[first_full - pa:last_full - pa]
        i = bisect.bisect_left(self._seg_start, pfn)
        self._seg_start.insert(i, pfn)
        self._segs.insert(i, (pfn, npages, body))

    def copy(self) -> "PhysMem":
        new = PhysMem()
        new._pages = {k: bytearray(v) for k, v in self._pages.items()}
        new._holes = set(self._holes)
        new._seg_start = list(self._seg_start)
        new._segs = list(self._segs)
        return new

    # ---- page lookup ---------------------------------------------------------------------------
    def _seg_page(self, pfn: int):
        """The segment bytes of page ``pfn`` (a memoryview) or None."""
        if pfn in self._holes:
            return None
        i = bisect.bisect_right(self._seg_start, pfn) - 1
        if i >= 0:
            start, n, body = self._segs[i]
            if pfn < start + n:
                off = (pfn - start) << PAGE_SHIFT
                return body[off:off + PAGE_SIZE]
        return None

    def page_present(self, pfn: int) -> bool:
        return pfn in self._pages or self._seg_page(pfn) is not None

    def present(self, pa: int, n: int = 1) -> bool:
        """True if every byte of ``[pa, pa + n)`` lies in a present page."""
        if pa < 0 or n < 0 or pa + n > 1 << 64:
            return False
        if n == 0:
            return True
        for pfn in range(pa >> PAGE_SHIFT, ((pa + n - 1) >> PAGE_SHIFT) + 1):
            if not self.page_present(pfn):
                return False
        return True

    def _page_for_write(self, pfn: int) -> bytearray:
        page = self._pages.get(pfn)
        if page is None:
            seg = self._seg_page(pfn)
            page = bytearray(seg) if seg is not None else bytearray(PAGE_SIZE)
            self._pages[pfn] = page
            self._holes.discard(pfn)
        return page

    # ---- access --------------------------------------------------------------------------------
    def read_available(self, pa: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``pa``, stopping where memory stops being present (what a
        kernel dereferencing a PA it trusts would find before faulting)."""
        if n <= 0:
            return b""
        if self.present(pa, n):
            return self.read(pa, n)
        out = bytearray()
        while len(out) < n and self.present(pa + len(out), 1):
            take = min(n - len(out), PAGE_SIZE - ((pa + len(out)) & (PAGE_SIZE - 1)))
            out += self.read(pa + len(out), take)
        return bytes(out)

    def read(self, pa: int, n: int, *, field: str | None = None, file=None) -> bytes:
        """Bytes at ``[pa, pa + n)``; :class:`BadInput` if any of it is not present."""
        if n < 0 or n > MAX_READ or pa < 0 or pa + n > 1 << 64:
            raise BadInput(f"absurd read of {n} bytes at {pa:#x}", file=file, field=field)
        if n == 0:
            return b""
        pfn, off = pa >> PAGE_SHIFT, pa & PAGE_MASK
        # fast path: everything inside one segment and no written pages over it
        i = bisect.bisect_right(self._seg_start, pfn) - 1
        if i >= 0 and not self._pages and not self._holes:
            start, npg, body = self._segs[i]
            base = (pfn - start) << PAGE_SHIFT
            if pfn < start + npg and base + off + n <= npg << PAGE_SHIFT:
                return bytes(body[base + off:base + off + n])
        out = bytearray()
        remaining = n
        while remaining:
            take = min(PAGE_SIZE - off, remaining)
            page = self._pages.get(pfn)
            if page is None:
                page = self._seg_page(pfn)
                if page is None:
                    raise BadInput(f"physical address {(pfn << PAGE_SHIFT) + off:#x} is not "
                                   f"in memory (reading {n} bytes at {pa:#x})", file=file,
                                   field=field)
            out += page[off:off + take]
            remaining -= take
            pfn += 1
            off = 0
        return bytes(out)

    def write(self, pa: int, data) -> None:
        mv = memoryview(data).cast("B")
        n = len(mv)
        if pa < 0 or pa + n > 1 << 64:
            raise ValueError(f"write outside the physical address space: {pa:#x}+{n}")
        pos = 0
        while pos < n:
            cur = pa + pos
            pfn, off = cur >> PAGE_SHIFT, cur & PAGE_MASK
            take = min(PAGE_SIZE - off, n - pos)
            self._page_for_write(pfn)[off:off + take] = mv[pos:pos + take]
            pos += take

    def zero(self, pa: int, n: int) -> None:
        """Write ``n`` zero bytes (whole pages are replaced, not copied)."""
        end = pa + n
        while pa < end:
            pfn, off = pa >> PAGE_SHIFT, pa & PAGE_MASK
            take = min(PAGE_SIZE - off, end - pa)
            if take == PAGE_SIZE:
                self._pages[pfn] = bytearray(PAGE_SIZE)
                self._holes.discard(pfn)
            else:
                self._page_for_write(pfn)[off:off + take] = bytes(take)
            pa += take

    def discard(self, pa: int, n: int) -> None:
        """Forget the pages covering ``[pa, pa + n)`` (freed memory: not part of any image)."""
        if n <= 0:
            return
        for pfn in range(pa >> PAGE_SHIFT, ((pa + n - 1) >> PAGE_SHIFT) + 1):
            self._pages.pop(pfn, None)
            if self._seg_page(pfn) is not None:
                self._holes.add(pfn)

    def read_u64(self, pa: int, *, field: str | None = None, file=None) -> int:
        return _U64.unpack(self.read(pa, 8, field=field, file=file))[0]

    def write_u64(self, pa: int, value: int) -> None:
        self.write(pa, _U64.pack(value))

    def read_u32(self, pa: int, *, field: str | None = None, file=None) -> int:
        return int.from_bytes(self.read(pa, 4, field=field, file=file), "little")

    def write_u32(self, pa: int, value: int) -> None:
        self.write(pa, value.to_bytes(4, "little"))

    # ---- enumeration ---------------------------------------------------------------------------
    def _intervals(self) -> list[tuple[int, int]]:
        """Sorted, merged ``[first_pfn, end_pfn)`` intervals of present pages."""
        iv = []
        holes = sorted(self._holes)
        for start, n, _ in self._segs:
            s, e = start, start + n
            lo = bisect.bisect_left(holes, s)
            hi = bisect.bisect_left(holes, e)
            for h in holes[lo:hi]:
                if h > s:
                    iv.append((s, h))
                s = h + 1
            if s < e:
                iv.append((s, e))
        for pfn in self._pages:
            iv.append((pfn, pfn + 1))
        iv.sort()
        merged: list[list[int]] = []
        for s, e in iv:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return [(s, e) for s, e in merged]

    def pfns(self):
        """Present page frame numbers in increasing order (a generator)."""
        for s, e in self._intervals():
            yield from range(s, e)

    def page_count(self) -> int:
        return sum(e - s for s, e in self._intervals())

    def runs(self):
        """Yield ``(pa, chunks)`` for each maximal run of present pages, in address order.

        ``chunks`` is a list of bytes-like objects whose concatenation is the run's content;
        segment-backed stretches are memoryview slices (no copy).
        """
        marks = sorted(set(self._pages) | self._holes)
        for s, e in self._intervals():
            chunks = []
            pfn = s
            while pfn < e:
                page = self._pages.get(pfn)
                if page is not None:
                    chunks.append(page)
                    pfn += 1
                    continue
                # a stretch inside one segment, up to the next written page or hole
                i = bisect.bisect_right(self._seg_start, pfn) - 1
                start, n, body = self._segs[i]
                stop = min(e, start + n)
                k = bisect.bisect_right(marks, pfn)
                j = min(stop, marks[k]) if k < len(marks) else stop
                chunks.append(body[(pfn - start) << PAGE_SHIFT:(j - start) << PAGE_SHIFT])
                pfn = j
            yield s << PAGE_SHIFT, chunks

    def __len__(self) -> int:
        return self.page_count()

    def __eq__(self, other) -> bool:
        if not isinstance(other, PhysMem):
            return NotImplemented
        a = [(pa, b"".join(bytes(c) for c in ch)) for pa, ch in self.runs()]
        b = [(pa, b"".join(bytes(c) for c in ch)) for pa, ch in other.runs()]
        return a == b
