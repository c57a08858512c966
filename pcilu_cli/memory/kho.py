# SPDX-License-Identifier: GPL-2.0-only
"""The KHO allocator and preserved-memory trackers (``kernel/liveupdate/kexec_handover.c``).

:class:`KhoAllocator` mirrors ``kho_alloc_preserve()``: every object is a zero-filled folio of
``2 ** get_order(size)`` pages, naturally aligned, and its ``(pa, order)`` is recorded in the
preserved-memory tracker. ``size == 0`` is ``-EINVAL``; an order above ``MAX_PAGE_ORDER`` is
``-E2BIG``.

Physical layout (our choice; the kernel's buddy allocator is not reproducible, so we define a
deterministic one -- same calls, same addresses, always):

* preserved folios come from the RAM region ``[0x1_0000_0000, +60 GiB)``, **lowest fitting
  naturally-aligned address first**;
* tracker pages (radix nodes and leaves, gen A chunks and bitmaps) come from a separate region
  ``[0x10_0000_0000, +4 GiB)``, lowest first. They are ``get_zeroed_page()`` memory: never keys
  in the tree, never freed by an unpreserve (``kho-luo-abi.md`` §1.3).

Trackers:

* gen B+ (``kho-v2``..``kho-v4``): the radix tree, kept **live** in :class:`PhysMem` as the
  kernel keeps it (``kho_radix_add_page``/``kho_radix_del_page``): the root is allocated at
  ``kho_init()`` and ``preserved-memory-map`` points at it from then on.
* gen A (``kho-v1``): per-order bitmap chunks, serialized once at finalize
  (``kho_mem_serialize``) by :func:`encode_bitmap_chunks`.

Readers (:func:`decode_radix_tree`, :func:`decode_bitmap_chunks`) validate every pointer
(alignment, presence in memory, loops/shared nodes, impossible keys, absurd sizes) and raise
:class:`BadInput` naming the node and entry.
"""
from __future__ import annotations

from pcilu_cli.abi import kho as _kho
from pcilu_cli.abi.codec import cached
from pcilu_cli.abi.kho import (
    KHO_RADIX_NODE, KHOSER_MEM_BITMAP_PTR, KHOSER_MEM_CHUNK_HDR,
    KHO_ORDER_0_LOG2, KHO_TREE_MAX_DEPTH, KHOSER_BITMAP_SIZE,
    PAGE_SHIFT, PAGE_SIZE, PRESERVE_BITS, radix_decode_key,
    radix_indices, radix_key, radix_key_from_indices,
)
from pcilu_cli.abi.page import MAX_PAGE_ORDER, get_order
from pcilu_cli.errors import BadInput, KernelRefusal
from pcilu_cli.memory.physmem import PhysMem

RAM_BASE = 0x1_0000_0000
RAM_SIZE = 60 << 30
TRACKER_BASE = 0x10_0000_0000
TRACKER_SIZE = 4 << 30
MAX_DECODED_BLOCKS = 1 << 22       # a tracker claiming more blocks than this is corrupt

_TABLE = KHO_RADIX_NODE


class PageRegion:
    """Deterministic lowest-fit, naturally aligned page allocator over one address range.

    ``hint[o]`` is a page index below which no free naturally-aligned block of order ``o``
    exists; allocation only moves it up and a free moves it down, so mostly-monotonic use is
    O(1) amortized while still returning the lowest fitting address.
    """

    def __init__(self, base: int, size: int):
        self.base, self.npages = base, size >> PAGE_SHIFT
        self.used: set[int] = set()
        self.hint = [0] * (MAX_PAGE_ORDER + 1)

    def contains(self, pa: int) -> bool:
        return self.base <= pa < self.base + (self.npages << PAGE_SHIFT)

    def alloc(self, order: int) -> int | None:
        n = 1 << order
        idx = (self.hint[order] + n - 1) & ~(n - 1)
        used = self.used
        while idx + n <= self.npages:
            busy = next((p for p in range(idx + n - 1, idx - 1, -1) if p in used), None)
            if busy is None:
                self.hint[order] = idx
                used.update(range(idx, idx + n))
                return self.base + (idx << PAGE_SHIFT)
            idx = (busy + n) & ~(n - 1)
        return None

    def free(self, pa: int, order: int) -> None:
        idx = (pa - self.base) >> PAGE_SHIFT
        self.used.difference_update(range(idx, idx + (1 << order)))
        for o in range(MAX_PAGE_ORDER + 1):
            aligned = idx & ~((1 << o) - 1)
            if aligned < self.hint[o]:
                self.hint[o] = aligned

    def reserve(self, pa: int, npages: int) -> None:
        """memblock_reserve(): take pages out of the pool (incoming or in-place memory)."""
        start = max(pa, self.base)
        end = min(pa + (npages << PAGE_SHIFT), self.base + (self.npages << PAGE_SHIFT))
        if start < end:
            self.used.update(range((start - self.base) >> PAGE_SHIFT,
                                   (end - self.base + PAGE_SIZE - 1) >> PAGE_SHIFT))


# ---- the radix tree (gen B+) -------------------------------------------------------------------

class RadixTracker:
    """The live ``kho_radix`` tree in memory: level-5 root, levels 4..1 tables, level-0 leaves."""

    def __init__(self, mem: PhysMem, root_pa: int, get_zeroed_page):
        self.mem, self.root_pa, self._get_page = mem, root_pa, get_zeroed_page

    def _leaf_for(self, key: int, create: bool) -> tuple[int | None, int]:
        idx, bit = radix_indices(key)
        node = self.root_pa
        for i in idx:
            slot = node + 8 * i
            nxt = self.mem.read_u64(slot)
            if not nxt:
                if not create:
                    return None, bit
                nxt = self._get_page()
                self.mem.write_u64(slot, nxt)
            node = nxt
        return node, bit

    def add(self, pa: int, order: int) -> None:
        """kho_radix_add_page(): allocate missing nodes on the way down, set the leaf bit."""
        leaf, bit = self._leaf_for(radix_key(pa, order), True)
        byte = leaf + (bit >> 3)
        self.mem.write(byte, bytes([self.mem.read(byte, 1)[0] | (1 << (bit & 7))]))

    def remove(self, pa: int, order: int) -> None:
        """kho_radix_del_page(): clear the bit; empty nodes stay (the kernel never frees them)."""
        leaf, bit = self._leaf_for(radix_key(pa, order), False)
        if leaf is None:
            return
        byte = leaf + (bit >> 3)
        self.mem.write(byte, bytes([self.mem.read(byte, 1)[0] & ~(1 << (bit & 7)) & 0xFF]))


def decode_radix_tree(mem: PhysMem, root_pa: int, *, file=None,
                      max_blocks: int = MAX_DECODED_BLOCKS):
    """Walk the tree as ``kho_radix_walk_tree()`` does; returns ``(blocks, node_pages)``.

    ``blocks`` is ``[(pa, order)]`` in walk order (increasing key); ``node_pages`` are the PAs
    of every tracker page met (root, tables, leaves).
    """
    def bad(msg, field):
        raise BadInput(msg, file=file, field=field)

    if not root_pa or root_pa & (PAGE_SIZE - 1):
        bad(f"radix root {root_pa:#x} is not a page address", "preserved-memory-map")
    if not mem.present(root_pa, PAGE_SIZE):
        bad(f"radix root {root_pa:#x} points outside memory", "preserved-memory-map")
    seen = {root_pa}
    nodes = [root_pa]
    blocks: list[tuple[int, int]] = []
    # explicit stack: (node_pa, level, indices so far); depth is fixed, so no recursion limits
    stack = [(root_pa, KHO_TREE_MAX_DEPTH - 1, [])]
    while stack:
        node, level, path = stack.pop()
        if level == 0:
            words = _TABLE.unpack(mem.read(node, PAGE_SIZE, file=file))
            for w, word in enumerate(words):
                while word:
                    low = word & -word
                    bit = w * 64 + low.bit_length() - 1
                    word ^= low
                    key = radix_key_from_indices(path, bit)
                    if key == 0 or key.bit_length() - 1 > KHO_ORDER_0_LOG2:
                        bad(f"radix leaf {node:#x} bit {bit} (table path {path}) encodes an "
                            f"impossible key {key:#x}", f"radix leaf {node:#x}")
                    blocks.append(radix_decode_key(key))
                    if len(blocks) > max_blocks:
                        bad(f"radix tree claims more than {max_blocks} preserved blocks",
                            "preserved-memory-map")
            continue
        table = _TABLE.unpack(mem.read(node, PAGE_SIZE, file=file))
        children = []
        for i, child in enumerate(table):
            if not child:
                continue
            where = f"radix level {level} node {node:#x} entry {i}"
            if child & (PAGE_SIZE - 1):
                bad(f"{where} -> {child:#x} is not page aligned", where)
            if child in seen:
                bad(f"{where} -> {child:#x} was already visited (loop or shared node)", where)
            if not mem.present(child, PAGE_SIZE):
                bad(f"{where} -> {child:#x} points outside memory", where)
            seen.add(child)
            nodes.append(child)
            children.append((child, level - 1, path + [i]))
        stack.extend(reversed(children))   # increasing index, depth first
    return blocks, nodes


# ---- gen A: per-order bitmap chunks --------------------------------------------------------------

_CHUNK_HDR = KHOSER_MEM_CHUNK_HDR
_BITMAP_PTR = KHOSER_MEM_BITMAP_PTR
_CHUNK_OFF = cached(_kho._LAYOUTS, "khoser_mem_chunk")[1]
_BITMAPS_OFF = _CHUNK_OFF["bitmaps"]                          # 16
_NUM_ELMS_OFF = _CHUNK_OFF["hdr.num_elms"]                    # 12


def encode_bitmap_chunks(mem: PhysMem, blocks, get_zeroed_page) -> int:
    """kho_mem_serialize() of gen A: returns the PA of the first chunk (0 if nothing preserved).

    Orders ascending; within an order, bitmaps by increasing index (the xarray walk order).
    """
    by_order: dict[int, dict[int, set[int]]] = {}
    for pa, order in blocks:
        pfn_o = pa >> (PAGE_SHIFT + order)
        by_order.setdefault(order, {}).setdefault(pfn_o // PRESERVE_BITS, set()).add(
            pfn_o % PRESERVE_BITS)
    first = 0
    prev_chunk = 0
    for order in sorted(by_order):
        chunk, nelm = 0, 0
        for xa_index in sorted(by_order[order]):
            if not chunk or nelm == KHOSER_BITMAP_SIZE:
                chunk, nelm = get_zeroed_page(), 0
                mem.write(chunk, _CHUNK_HDR.pack(0, order, 0))
                if prev_chunk:
                    mem.write_u64(prev_chunk, chunk)
                else:
                    first = chunk
                prev_chunk = chunk
            bitmap = get_zeroed_page()
            v = 0
            for b in by_order[order][xa_index]:
                v |= 1 << b
            mem.write(bitmap, v.to_bytes(PAGE_SIZE, "little"))
            phys_start = (xa_index * PRESERVE_BITS) << (order + PAGE_SHIFT)
            mem.write(chunk + _BITMAPS_OFF + _BITMAP_PTR.size * nelm,
                      _BITMAP_PTR.pack(phys_start, bitmap))
            nelm += 1
            mem.write_u32(chunk + _NUM_ELMS_OFF, nelm)
    return first


def decode_bitmap_chunks(mem: PhysMem, first_pa: int, *, file=None,
                         max_blocks: int = MAX_DECODED_BLOCKS):
    """Walk gen A's chunk list; returns ``(blocks, tracker_pages)`` with validation."""
    blocks, pages, seen = [], [], set()
    pa = first_pa
    while pa:
        where = f"khoser_mem_chunk {pa:#x}"
        if pa & (PAGE_SIZE - 1) or not mem.present(pa, PAGE_SIZE):
            raise BadInput(f"{where} is not a present page", file=file, field=where)
        if pa in seen:
            raise BadInput(f"{where}: chunk list loops", file=file, field=where)
        seen.add(pa)
        pages.append(pa)
        nxt, order, nelm = _CHUNK_HDR.unpack(mem.read(pa, _CHUNK_HDR.size, file=file))
        if order > KHO_ORDER_0_LOG2 or nelm > KHOSER_BITMAP_SIZE:
            raise BadInput(f"{where}: order {order} / num_elms {nelm} out of range",
                           file=file, field=where)
        for i in range(nelm):
            start, bm = _BITMAP_PTR.unpack(mem.read(pa + _BITMAPS_OFF + _BITMAP_PTR.size * i,
                                                    _BITMAP_PTR.size, file=file))
            if bm & (PAGE_SIZE - 1) or not mem.present(bm, PAGE_SIZE) or bm in seen:
                raise BadInput(f"{where} bitmaps[{i}] -> {bm:#x} is not a usable page",
                               file=file, field=f"{where} bitmaps[{i}]")
            seen.add(bm)
            pages.append(bm)
            v = int.from_bytes(mem.read(bm, PAGE_SIZE, file=file), "little")
            while v:
                low = v & -v
                b = low.bit_length() - 1
                v ^= low
                blocks.append((start + (b << (order + PAGE_SHIFT)), order))
                if len(blocks) > max_blocks:
                    raise BadInput(f"bitmap chunks claim more than {max_blocks} blocks",
                                   file=file, field=where)
        pa = nxt
    return blocks, pages


# ---- the allocator ------------------------------------------------------------------------------

class KhoAllocator:
    """kho_alloc_preserve() / kho_unpreserve_free() / kho_restore_free() over a PhysMem.

    ``tracker``: ``"radix"`` (gen B+, live tree; :attr:`root_pa` is ``preserved-memory-map``)
    or ``"bitmap"`` (gen A; call :meth:`serialize_tracker` at finalize).
    ``incoming``: ``(pa, order)`` blocks preserved by the previous kernel that still occupy
    memory (``kho_populate`` reserves them); free them with :meth:`restore_free`.
    """

    def __init__(self, mem: PhysMem, *, tracker: str = "radix", incoming=(),
                 ram_base: int = RAM_BASE, ram_size: int = RAM_SIZE,
                 tracker_base: int = TRACKER_BASE, tracker_size: int = TRACKER_SIZE):
        if tracker not in ("radix", "bitmap"):
            raise ValueError(f"unknown tracker {tracker!r}")
        self.mem = mem
        self.tracker = tracker
        self.ram = PageRegion(ram_base, ram_size)
        self.tracker_region = PageRegion(tracker_base, tracker_size)
        self.preserved: dict[int, int] = {}      # pa -> order, in preservation order
        self.allocated: set[int] = set()         # pa of folios we allocated (vs in place)
        self.incoming: dict[int, int] = {}
        self.tracker_pages: list[int] = []
        for pa, order in incoming:
            self.incoming[pa] = order
            self.ram.reserve(pa, 1 << order)
            self.tracker_region.reserve(pa, 1 << order)
        self.root_pa = 0
        self._radix = None
        if tracker == "radix":
            # kho_init(): the radix root exists before the first preservation
            self.root_pa = self.get_zeroed_page()
            self._radix = RadixTracker(mem, self.root_pa, self.get_zeroed_page)

    # ---- tracker pages --------------------------------------------------------------------------
    def get_zeroed_page(self) -> int:
        pa = self.tracker_region.alloc(0)
        if pa is None:
            raise KernelRefusal("ENOMEM", "no memory left for KHO tracker pages")
        self.mem.zero(pa, PAGE_SIZE)
        self.tracker_pages.append(pa)
        return pa

    # ---- preservation ---------------------------------------------------------------------------
    def _track(self, pa: int, order: int) -> None:
        self.preserved[pa] = order
        if self._radix is not None:
            self._radix.add(pa, order)

    def _untrack(self, pa: int) -> int:
        order = self.preserved.pop(pa)
        if self._radix is not None:
            self._radix.remove(pa, order)
        return order

    def alloc_preserve(self, size: int) -> int:
        """kho_alloc_preserve(size): a zeroed, preserved folio; returns its PA."""
        if size <= 0:
            raise KernelRefusal("EINVAL", f"kho_alloc_preserve({size}): size must be > 0")
        order = get_order(size)
        if order > MAX_PAGE_ORDER:
            raise KernelRefusal("E2BIG", f"kho_alloc_preserve({size}): order {order} > "
                                f"MAX_PAGE_ORDER ({MAX_PAGE_ORDER})")
        pa = self.ram.alloc(order)
        if pa is None:
            raise KernelRefusal("ENOMEM", f"kho_alloc_preserve({size}): out of memory")
        self.mem.zero(pa, PAGE_SIZE << order)
        self.allocated.add(pa)
        self._track(pa, order)
        return pa

    def preserve_folio(self, pa: int, order: int = 0) -> None:
        """kho_preserve_folio(): preserve memory someone else owns, in place."""
        if pa & ((PAGE_SIZE << order) - 1) or not 0 <= order <= MAX_PAGE_ORDER:
            raise KernelRefusal("EINVAL", f"folio {pa:#x} order {order} is not naturally aligned")
        if pa in self.preserved:
            raise KernelRefusal("EBUSY", f"folio {pa:#x} is already preserved")
        self.ram.reserve(pa, 1 << order)
        self._track(pa, order)

    def unpreserve_folio(self, pa: int) -> int:
        if pa not in self.preserved:
            raise KernelRefusal("EINVAL", f"folio {pa:#x} is not preserved")
        return self._untrack(pa)

    def unpreserve_free(self, pa: int) -> None:
        """kho_unpreserve_free(): the outgoing kernel drops one of its own objects."""
        if pa not in self.allocated or pa not in self.preserved:
            raise KernelRefusal("EINVAL", f"{pa:#x} was not allocated by kho_alloc_preserve()")
        order = self._untrack(pa)
        self.allocated.discard(pa)
        self.ram.free(pa, order)
        self.mem.discard(pa, PAGE_SIZE << order)

    def restore_free(self, pa: int, keep_contents: bool = False) -> None:
        """kho_restore_free(): the incoming kernel releases a block the previous one preserved.
        ``keep_contents``: the freed pages still hold their bytes (nothing reused them yet),
        so a buggy second read sees the same data, as on real hardware."""
        order = self.incoming.pop(pa, None)
        if order is None:
            raise KernelRefusal("EINVAL", f"{pa:#x} is not an incoming preserved block")
        if self.ram.contains(pa):
            self.ram.free(pa, order)
        if not keep_contents:
            self.mem.discard(pa, PAGE_SIZE << order)

    def is_preserved(self, pa: int) -> bool:
        return pa in self.preserved

    def preserved_blocks(self) -> list[tuple[int, int]]:
        """The preserved set, sorted by address."""
        return sorted(self.preserved.items())

    def serialize_tracker(self) -> int:
        """The ``preserved-memory-map`` value: the radix root, or (gen A) fresh bitmap chunks."""
        if self.tracker == "radix":
            return self.root_pa
        return encode_bitmap_chunks(self.mem, list(self.preserved.items()), self.get_zeroed_page)

    # ---- persistence (the state file keeps memory; this is the allocator's bookkeeping) --------
    def to_state(self) -> dict:
        return {"tracker": self.tracker, "root_pa": self.root_pa,
                "preserved": [[pa, o] for pa, o in self.preserved.items()],
                "allocated": sorted(self.allocated),
                "incoming": [[pa, o] for pa, o in self.incoming.items()],
                "tracker_pages": list(self.tracker_pages),
                "ram": [self.ram.base, self.ram.npages << PAGE_SHIFT],
                "tracker_region": [self.tracker_region.base,
                                   self.tracker_region.npages << PAGE_SHIFT]}

    @classmethod
    def from_state(cls, mem: PhysMem, d: dict) -> "KhoAllocator":
        """Rebuild the allocator over ``mem`` (which already holds the tracker pages)."""
        self = cls.__new__(cls)
        self.mem, self.tracker = mem, d["tracker"]
        self.ram = PageRegion(*d["ram"])
        self.tracker_region = PageRegion(*d["tracker_region"])
        self.preserved, self.incoming = {}, {}
        self.allocated = set(d["allocated"])
        self.tracker_pages = list(d["tracker_pages"])
        self.root_pa = d["root_pa"]
        for pa in self.tracker_pages:
            self.tracker_region.reserve(pa, 1)
        for pa, o in d["incoming"]:
            self.incoming[pa] = o
            self.ram.reserve(pa, 1 << o)
        for pa, o in d["preserved"]:
            self.preserved[pa] = o
            self.ram.reserve(pa, 1 << o)
        self._radix = (RadixTracker(mem, self.root_pa, self.get_zeroed_page)
                       if self.tracker == "radix" else None)
        return self
