# SPDX-License-Identifier: GPL-2.0-only
"""``kho_block_set``: chains of one-page blocks of fixed-size entries (``kernel/liveupdate/kho_block.c``).

Block format (``pcilu_cli.abi.kho_block``): a 16-byte header ``{u64 next; u64 count;}`` then
entries at ``block_pa + 16 + i * entry_size``. Producer (:class:`KhoBlockSet`) mirrors
``kho_block_set_grow/shrink/clear/destroy`` and the iterator's ``reserve_entry`` (which sets
``block->count = i`` after every reservation, so full blocks carry ``count_per_block`` and the
last one the remainder). Choosing *which* slot a user reuses (first-fit of zeroed PCI slots) is
the user's business: :meth:`KhoBlockSet.write_entry` writes any slot.

Consumer (:func:`kho_block_set_restore`) mirrors ``kho_block_set_restore()``: Floyd's cycle check
over ``next`` (also failing after ``KHO_MAX_BLOCKS`` hops), then ``1 <= count <= count_per_block``
for every block, else ``-EINVAL``. Failures raise :class:`BlockSetCorrupt` -- a
:class:`BadInput` naming the block PA and field (for ``inspect``) that also carries the errno
the simulated kernel turns into a panic or ``-EIO``.
"""
from __future__ import annotations

from pcilu_cli.abi.kho_block import (
    KHO_BLOCK_HEADER_SIZE, KHO_BLOCK_SIZE, KHO_MAX_BLOCKS, count_per_block,
)
from pcilu_cli.errors import BadInput, KernelRefusal, Value


class BlockSetCorrupt(BadInput):
    """A kho_block chain the new kernel rejects (``-EINVAL``)."""

    errno_name = "EINVAL"

    def __init__(self, message: str, *, kernel_message: str, file=None, offset=None,
                 field=None):
        self.kernel_message = kernel_message
        super().__init__(message, file=file, offset=offset, field=field)


class KhoBlockSet:
    """The outgoing kernel's ``struct kho_block_set`` over a :class:`KhoAllocator`."""

    def __init__(self, alloc, entry_size: int, *, name: str = "kho_block_set"):
        if not 0 < entry_size <= KHO_BLOCK_SIZE - KHO_BLOCK_HEADER_SIZE:
            raise ValueError(f"entry_size {entry_size}")
        self.alloc, self.mem = alloc, alloc.mem
        self.entry_size = entry_size
        self.count_per_block = count_per_block(entry_size)
        self.blocks: list[int] = []
        self.name = name

    @property
    def head_pa(self) -> int:
        """kho_block_set_head_pa()."""
        return self.blocks[0] if self.blocks else 0

    @property
    def nblocks(self) -> int:
        return len(self.blocks)

    def is_empty(self) -> bool:
        return not self.blocks

    def capacity(self) -> int:
        return len(self.blocks) * self.count_per_block

    def grow(self, count: int) -> None:
        """kho_block_set_grow(): append zeroed preserved blocks until ``count`` entries fit."""
        added = []
        try:
            while len(self.blocks) * self.count_per_block < count:
                if len(self.blocks) >= KHO_MAX_BLOCKS:
                    raise KernelRefusal("ENOSPC", f"{self.name}: more than {KHO_MAX_BLOCKS} "
                                        "blocks")
                pa = self.alloc.alloc_preserve(KHO_BLOCK_SIZE)
                if self.blocks:
                    self.mem.write_u64(self.blocks[-1], pa)
                self.blocks.append(pa)
                added.append(pa)
        except KernelRefusal:
            for pa in reversed(added):       # roll back exactly
                self.blocks.pop()
                self.alloc.unpreserve_free(pa)
            if self.blocks:
                self.mem.write_u64(self.blocks[-1], 0)
            raise

    def shrink(self, count: int) -> None:
        """kho_block_set_shrink(): free trailing blocks no longer needed for ``count`` entries."""
        while self.blocks and count <= (len(self.blocks) - 1) * self.count_per_block:
            self.alloc.unpreserve_free(self.blocks.pop())
            if self.blocks:
                self.mem.write_u64(self.blocks[-1], 0)

    def clear(self) -> None:
        """kho_block_set_clear(): zero every count and payload (links stay)."""
        for pa in self.blocks:
            self.mem.zero(pa + 8, KHO_BLOCK_SIZE - 8)

    def destroy(self) -> None:
        for pa in self.blocks:
            self.alloc.unpreserve_free(pa)
        self.blocks = []

    # ---- entries --------------------------------------------------------------------------------
    def entry_pa(self, index: int) -> int:
        b, i = divmod(index, self.count_per_block)
        return self.blocks[b] + KHO_BLOCK_HEADER_SIZE + i * self.entry_size

    def block_count(self, b: int) -> int:
        return self.mem.read_u64(self.blocks[b] + 8)

    def write_entry(self, index: int, data: bytes) -> None:
        """Write entry ``index`` in place; the block's ``count`` covers it as reserve_entry would."""
        if len(data) != self.entry_size:
            raise ValueError(f"entry is {len(data)} bytes, expected {self.entry_size}")
        if index >= self.capacity():
            self.grow(index + 1)
        b, i = divmod(index, self.count_per_block)
        self.mem.write(self.entry_pa(index), data)
        if self.block_count(b) < i + 1:
            self.mem.write_u64(self.blocks[b] + 8, i + 1)

    def read_entry(self, index: int) -> bytes:
        return self.mem.read(self.entry_pa(index), self.entry_size)

    def serialize(self, entries) -> None:
        """The usual producer loop: grow, clear, then reserve_entry for each entry in order."""
        entries = list(entries)
        self.grow(len(entries))
        self.shrink(len(entries))
        self.clear()
        for index, data in enumerate(entries):
            self.write_entry(index, data)


class RestoredSet(Value):
    """What ``kho_block_set_restore()`` accepted: the blocks and their valid entries. (A plain
    class rather than a dataclass: every state load imports this module, and a dataclass's
    methods are generated at import.)"""

    FIELDS = ("entry_size", "blocks", "data")

    def __init__(self, entry_size: int, blocks: list | None = None, data: bytes = b""):
        self.entry_size = entry_size
        self.blocks = [] if blocks is None else blocks      # [(block_pa, count)]
        self.data = data                    # valid entries of every block, concatenated


    @property
    def count(self) -> int:
        return len(self.data) // self.entry_size

    def entries(self) -> list[bytes]:
        n = self.entry_size
        return [self.data[i:i + n] for i in range(0, len(self.data), n)]

    def entry_pa(self, index: int) -> int:
        for pa, cnt in self.blocks:
            if index < cnt:
                return pa + KHO_BLOCK_HEADER_SIZE + index * self.entry_size
            index -= cnt
        raise IndexError(index)


def kho_block_set_restore(mem, head_pa: int, entry_size: int, *, what: str = "kho_block set",
                          file=None) -> RestoredSet:
    """The new kernel's ``kho_block_set_restore()``, with errors that name the block and field."""
    cpb = count_per_block(entry_size)
    out = RestoredSet(entry_size)
    if head_pa == 0:
        return out

    def next_of(pa):
        if pa & (KHO_BLOCK_SIZE - 1) or not mem.present(pa, KHO_BLOCK_SIZE):
            raise BlockSetCorrupt(f"{what}: block {pa:#x} points outside memory",
                                  kernel_message=f"Invalid block address {pa:#x}", file=file,
                                  field=f"{what} block {pa:#x}")
        return mem.read_u64(pa)

    # Floyd's tortoise and hare over next, bounded by KHO_MAX_BLOCKS hops
    slow = fast = head_pa
    hops = 0
    while True:
        fast = next_of(fast)
        if not fast:
            break
        fast = next_of(fast)
        if not fast:
            break
        slow = next_of(slow)
        hops += 1
        if slow == fast:
            raise BlockSetCorrupt(f"{what}: the chain loops (block {slow:#x} is reached twice)",
                                  kernel_message="Block chain contains a cycle", file=file,
                                  field=f"{what} block {slow:#x}.next")
        if hops > KHO_MAX_BLOCKS:
            raise BlockSetCorrupt(f"{what}: more than {KHO_MAX_BLOCKS} blocks",
                                  kernel_message="Block chain is too long", file=file,
                                  field=f"{what}.next")
    chunks = []
    pa = head_pa
    n = 0
    while pa:
        n += 1
        if n > KHO_MAX_BLOCKS:
            raise BlockSetCorrupt(f"{what}: more than {KHO_MAX_BLOCKS} blocks",
                                  kernel_message="Block chain is too long", file=file,
                                  field=f"{what}.next")
        hdr = mem.read(pa, KHO_BLOCK_HEADER_SIZE, file=file)
        nxt = int.from_bytes(hdr[:8], "little")
        cnt = int.from_bytes(hdr[8:], "little")
        if not 1 <= cnt <= cpb:
            raise BlockSetCorrupt(
                f"{what}: block {pa:#x} count {cnt} is outside 1..{cpb}",
                kernel_message=f"Block contains invalid entry count: {cnt}", file=file,
                offset=pa + 8, field=f"{what} block {pa:#x}.count")
        chunks.append(mem.read(pa + KHO_BLOCK_HEADER_SIZE, cnt * entry_size, file=file))
        out.blocks.append((pa, cnt))
        pa = nxt
    out.data = b"".join(chunks)
    return out
