# SPDX-License-Identifier: GPL-2.0-only
"""``struct pci_ser`` of the block eras (v7 and the version-field era) as the kernel holds it.

v7 (``"pci-v2"``): ``struct pci_ser { u32 nr_devices; u64 devices; } __packed`` (12 bytes);
version-field era (``"pci"``): ``{ u32 version; u32 nr_devices; u64 devices; }`` (16 bytes).
Both are allocated with ``kho_alloc_preserve(sizeof(*ser))``; ``devices`` is the head PA of a
``kho_block_set`` of 8-byte ``struct pci_dev_ser`` entries (510 per block), kept up to date
whenever the chain grows or shrinks (``pci-liveupdate-v6.md`` §1.3, §13; ``kho-luo-abi.md``
§3, §4).

Slot policy (outgoing), mirroring the v7+ ``pci_liveupdate_preserve_device()``: first fit over
zeroed slots of the chain, growing by one block when every slot is in use; entries are written
at preserve time. Freed entries are zeroed; trailing blocks that hold no in-use entry are
given back with ``kho_block_set_shrink()``. Choices (UNCONFIRMED in the spec, ours): a block's
``count`` never goes down while the block stays (holes keep counting, as the spec says "block
header counts include them"), and the shrink target is "highest in-use slot + 1".

The outgoing kernel keeps the bytes of its header page and blocks itself, in a private
:class:`KernelPages` (so the pure-kernel tests with ``SimpleAllocator`` work); under the Machine
``Kernel.outgoing_pages()`` hands them to physical memory after every operation.
"""
from __future__ import annotations

from pcilu_cli.abi import pci as _pci
from pcilu_cli.abi.codec import cached_field
from pcilu_cli.abi.kho_block import KHO_BLOCK_HEADER_SIZE, KHO_BLOCK_SIZE
from pcilu_cli.errors import BadInput, KernelRefusal
from pcilu_cli.memory.blocks import KhoBlockSet
from pcilu_cli.memory.physmem import PhysMem

from .handover import get_order

ENTRY = _pci.PCI_DEV_SER               # struct pci_dev_ser
ENTRY_SIZE = ENTRY.size                # 8
_RC = cached_field(_pci._LAYOUTS, "pci_dev_ser", "refcount")
_RC_OFF = _pci.REFCOUNT_OFFSET
HDR_BLOCK = _pci.PCI_SER_BLOCK         # v7: nr_devices, devices (packed, 12 bytes)
HDR_VERSION = _pci.PCI_SER_VERSION     # later: version, nr_devices, devices (16 bytes)
_NR = cached_field(_pci._LAYOUTS, "pci_ser_block", "nr_devices")
_DEVICES = cached_field(_pci._LAYOUTS, "pci_ser_block", "devices")
PAGE = 4096


class KernelPages:
    """The outgoing kernel's own copy of the folios it got from ``kho_alloc_preserve()``.

    Offers the ``alloc_preserve`` / ``unpreserve_free`` / ``mem`` triple
    :class:`~pcilu_cli.memory.blocks.KhoBlockSet` expects, over the kernel's injected allocator.
    """

    def __init__(self, alloc_preserve, free_preserved):
        self._alloc, self._free = alloc_preserve, free_preserved
        self.mem = PhysMem()
        self.orders: dict[int, int] = {}

    def alloc_preserve(self, size: int) -> int:
        pa = self._alloc(size)              # may raise KernelRefusal (ENOMEM, E2BIG)
        order = get_order(size)
        self.orders[pa] = order
        self.mem.zero(pa, PAGE << order)    # kho_alloc_preserve() hands out zeroed folios
        return pa

    def unpreserve_free(self, pa: int) -> None:
        self._free(pa)
        self.mem.discard(pa, PAGE << self.orders.pop(pa, 0))

    def page(self, pa: int) -> bytes:
        return self.mem.read(pa, PAGE)


class _Entries:
    """refcount/entry accessors shared by the outgoing and incoming forms."""

    def _entry_pa(self, i: int) -> int:          # pragma: no cover - overridden
        raise NotImplementedError

    def _read(self, pa: int, n: int) -> bytes:   # pragma: no cover - overridden
        raise NotImplementedError

    def _write(self, pa: int, data: bytes) -> None:   # pragma: no cover - overridden
        raise NotImplementedError

    def _nslots(self) -> int:                    # pragma: no cover - overridden
        raise NotImplementedError

    # header (``blob`` is the 12/16 header bytes)
    @property
    def _nr_off(self) -> int:
        return _pci.nr_devices_offset(_pci.VERSION if self.version is not None else _pci.BLOCK)

    @property
    def _devices_off(self) -> int:
        return _pci.devices_pa_offset(_pci.VERSION if self.version is not None
                                      else _pci.BLOCK)

    @property
    def nr_devices(self) -> int:
        return _NR.unpack_from(self.blob, self._nr_off)[0]

    @nr_devices.setter
    def nr_devices(self, v: int) -> None:
        _NR.pack_into(self.blob, self._nr_off, v & 0xFFFFFFFF)

    @property
    def devices_pa(self) -> int:
        return _DEVICES.unpack_from(self.blob, self._devices_off)[0]

    def refcount(self, i: int) -> int:
        if not 0 <= i < self._nslots():
            return 0
        return _RC.unpack(self._read(self._entry_pa(i) + _RC_OFF, _RC.size))[0]

    def set_refcount(self, i: int, v: int) -> None:
        if 0 <= i < self._nslots():
            self._write(self._entry_pa(i) + _RC_OFF, _RC.pack(v & 0xFFFF))

    def entries(self):
        """(slot, domain, bdf, refcount) of in-use entries, in slot order."""
        out = []
        for i in range(self._nslots()):
            d, b, r = ENTRY.unpack(self._read(self._entry_pa(i), ENTRY_SIZE))
            if r:
                out.append((i, d, b, r))
        return out


class PciSerBlocks(_Entries):
    """The outgoing block-era ``struct pci_ser`` (header page + device block chain)."""

    max_nr = None          # no fixed capacity: the chain grows

    def __init__(self, pages: KernelPages, pa: int, version: int | None):
        self.pages_ = pages
        self.pa = pa
        self.version = version
        hdr = HDR_VERSION if version is not None else HDR_BLOCK
        self.blob = bytearray(hdr.size)
        if version is not None:
            HDR_VERSION.pack_into(self.blob, 0, version, 0, 0)
        self.set = KhoBlockSet(pages, ENTRY_SIZE, name="PCI devices")

    @classmethod
    def header_size(cls, version: int | None) -> int:
        return (HDR_VERSION if version is not None else HDR_BLOCK).size

    def _entry_pa(self, i: int) -> int:
        return self.set.entry_pa(i)

    def _read(self, pa: int, n: int) -> bytes:
        return self.pages_.mem.read(pa, n)

    def _write(self, pa: int, data: bytes) -> None:
        self.pages_.mem.write(pa, data)

    def _nslots(self) -> int:
        return self.set.capacity()

    def _sync_head(self) -> None:
        _DEVICES.pack_into(self.blob, self._devices_off, self.set.head_pa)

    def claim_slot(self) -> int:
        """First zeroed slot of the chain; grows it by a block when all are in use.
        Returns the slot index or a negative errno (``kho_block_set_grow()`` failure)."""
        for i in range(self._nslots()):
            if self.refcount(i) == 0:
                return i
        i = self._nslots()
        try:
            self.set.grow(i + 1)
        except KernelRefusal as exc:
            import errno as _e
            return -getattr(_e, exc.errno_name, _e.ENOMEM)
        self._sync_head()
        return i

    def set_entry(self, i: int, domain: int, bdf: int, refcount: int) -> None:
        # write_entry() raises the block's count to cover the slot, as reserve_entry would
        self.set.write_entry(i, ENTRY.pack(domain, bdf, refcount))
        self._sync_head()

    def zero_entry(self, i: int) -> None:
        self._write(self._entry_pa(i), bytes(ENTRY_SIZE))

    def release_slot(self, i: int) -> None:
        """After an entry was zeroed: give back trailing blocks with no in-use entry."""
        used = 0
        for j in range(self._nslots() - 1, -1, -1):
            if self.refcount(j):
                used = j + 1
                break
        self.set.shrink(used)
        self._sync_head()

    def pages(self) -> list:
        return [(self.pa, bytes(self.blob))] + [(b, self.pages_.page(b)) for b in self.set.blocks]

    def free(self, free_preserved) -> None:
        """pci_flb_unpreserve(): kho_block_set_destroy() then kho_unpreserve_free(ser)."""
        self.set.destroy()
        free_preserved(self.pa)

    # -- state ------------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"layout": "blocks", "pa": self.pa, "blob": self.blob.hex(),
                "version": self.version,
                "blocks": [[b, self.pages_.page(b).hex()] for b in self.set.blocks]}

    @classmethod
    def from_state(cls, pages: KernelPages, d: dict) -> "PciSerBlocks":
        ser = cls(pages, d["pa"], d.get("version"))
        ser.blob = bytearray.fromhex(d["blob"])
        pages.orders.setdefault(ser.pa, 0)
        for b, hx in d["blocks"]:
            pages.mem.write(b, bytes.fromhex(hx))
            pages.orders[b] = 0
            ser.set.blocks.append(b)
        return ser


class PciSerBlocksIn(_Entries):
    """The incoming block-era ``struct pci_ser``: a copy of the header and of every restored
    block (``finish`` writes refcounts there; ``Kernel.incoming_pages()`` reports them)."""

    max_nr = None

    def __init__(self, pa: int, blob: bytearray, version: int | None, blocks: list):
        self.pa = pa
        self.blob = blob
        self.version = version
        self.blocks = [(b, c) for b, c, _page in blocks]      # [(block_pa, count)]
        self.page = {b: bytearray(page) for b, _c, page in blocks}
        self._slot_pa = []
        for b, c, _page in blocks:
            self._slot_pa.extend(b + KHO_BLOCK_HEADER_SIZE + i * ENTRY_SIZE for i in range(c))

    def _entry_pa(self, i: int) -> int:
        return self._slot_pa[i]

    def _find(self, pa: int):
        base = pa & ~(KHO_BLOCK_SIZE - 1)
        return self.page[base], pa - base

    def _read(self, pa: int, n: int) -> bytes:
        page, off = self._find(pa)
        return bytes(page[off:off + n])

    def _write(self, pa: int, data: bytes) -> None:
        page, off = self._find(pa)
        page[off:off + len(data)] = data

    def _nslots(self) -> int:
        return len(self._slot_pa)

    def pages(self) -> list:
        return [(self.pa, bytes(self.blob))] + [(b, bytes(self.page[b])) for b, _c in self.blocks]

    def to_state(self) -> dict:
        return {"layout": "blocks", "pa": self.pa, "blob": self.blob.hex(),
                "version": self.version,
                "blocks": [[b, c, self.page[b].hex()] for b, c in self.blocks]}

    @classmethod
    def from_state(cls, d: dict) -> "PciSerBlocksIn":
        return cls(d["pa"], bytearray.fromhex(d["blob"]), d.get("version"),
                   [(b, c, bytes.fromhex(hx)) for b, c, hx in d["blocks"]])


class SourceMem:
    """The incoming source (``read(pa, n)`` may come back short) seen as the memory interface
    :func:`~pcilu_cli.memory.blocks.kho_block_set_restore` walks (``phys_to_virt``)."""

    def __init__(self, src):
        self.src = src

    def present(self, pa: int, n: int = 1) -> bool:
        return n <= 0 or len(self.src.read(pa, n)) >= n

    def read(self, pa: int, n: int, *, field=None, file=None) -> bytes:
        b = bytes(self.src.read(pa, n))
        if len(b) < n:
            raise BadInput(f"physical address {pa + len(b):#x} is not in memory", field=field,
                           file=file)
        return b

    def read_u64(self, pa: int, *, field=None, file=None) -> int:
        return int.from_bytes(self.read(pa, 8, field=field, file=file), "little")
