# SPDX-License-Identifier: GPL-2.0-only
"""One PCI function's configuration space, stored sparsely.

Models the register file a config cycle reaches: 64 bytes (what an unprivileged sysfs read
returns), 256 bytes (conventional PCI) or 4096 bytes (PCIe).  Only the extent that was ever
written (or imported) is kept in memory; everything beyond it reads as zero, which is what an
unimplemented register reads on real hardware.  The stored bytes are an immutable ``bytes``
object until the first write (copy-on-write), so templates and fabric copies share memory.

API:
    ConfigSpace(size=4096, data=b"")        size is the *visible* size: 64, 256 or 4096
    .size                                   visible size
    .read(off, width) -> int                width 1/2/4, little-endian; 0 beyond data,
                                            all-ones beyond ``size`` (nobody decodes it)
    .write(off, width, value) -> None       ignored beyond ``size``
    .find_capability(cap_id) -> int|None    walks the standard list at 0x34 (0x14 CardBus),
                                            bounded like PCI_FIND_CAP_TTL (48)
    .find_ext_capability(cap_id) -> int|None walks from 0x100, bounded at 480 entries
    .capabilities() / .ext_capabilities()   [(id, offset), ...] in list order
    .to_bytes(length=None) -> bytes         ``length`` defaults to ``size``
    ConfigSpace.from_bytes(data) -> ConfigSpace   size = visible_size(len(data))
    visible_size(n) -> int                  smallest of 64 / 128 / 256 / 4096 holding n bytes
    .copy() -> ConfigSpace                  cheap: shares the immutable stored bytes
"""
from __future__ import annotations


from pcilu_cli.abi.pci_regs import (
    PCI_CAPABILITY_LIST, PCI_CB_CAPABILITY_LIST, PCI_CFG_SPACE_SIZE,
    PCI_HEADER_TYPE, PCI_HEADER_TYPE_CARDBUS, PCI_HEADER_TYPE_MASK,
    PCI_PRIMARY_BUS, PCI_STATUS, PCI_STATUS_CAP_LIST, PCI_STD_HEADER_SIZEOF,
    PCI_SUBORDINATE_BUS, PCI_CAP_LIST_NEXT, PCI_CFG_U16, PCI_CFG_U32,
)

_BUS_END = PCI_SUBORDINATE_BUS + 1     # writes below this touch the bus number registers

PCI_FIND_CAP_TTL = 48
PCI_EXT_CAP_TTL = (4096 - 256) // 8  # 480, "minimum 8 bytes per capability"

VALID_SIZES = (64, 128, 256, 4096)
_EMPTY = b""


def visible_size(n: int) -> int:
    """The smallest of VALID_SIZES that holds ``n`` bytes (4096 for anything longer)."""
    return 4096 if n > 256 else 256 if n > 128 else 128 if n > 64 else 64


# Bumped by every write that touches bytes 0x18..0x1a of any config space (a bridge's bus
# registers).  Fabric routing caches are valid only for the epoch they were built in, so a
# write that goes straight to ``fn.cfg`` still invalidates them (no per-function back-pointer).
BUS_EPOCH = [0]
# Bumped by every write that may change any config space, and by every change of a fabric's
# topology (fabric/model.py): a fabric that kept the bytes it was decoded from may write them
# back unchanged only while this has not moved (state save reuses the unchanged fabric note).
CONFIG_EPOCH = [0]
# The walks of immutable bytes, shared by every space holding them: for the standard and the
# extended list, {bytes: (walk, index, space size)} (keyed by the bytes alone, whose hash is
# kept: a lookup per function at enumeration builds no key; the size a walk was made for is
# checked on the way out, as a space's size bounds what its walks read)
_STD_WALKS: dict = {}
_EXT_WALKS: dict = {}
_WALKS = (_STD_WALKS, _EXT_WALKS)
_WALKS_KEPT = 8192                  # walks kept per list before the cache starts anew
_U16 = PCI_CFG_U16
_U32 = PCI_CFG_U32
_U16_FROM = _U16.unpack_from
_U32_FROM = _U32.unpack_from
_U16_INTO = _U16.pack_into
_U32_INTO = _U32.pack_into
_WIDTH_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}
# The bytes a walk of the standard capability list reads: Status (PCI_STATUS_CAP_LIST), the
# header type (CardBus or not), the list head (0x34, CardBus 0x14) and the ID/next bytes of
# capabilities, which lie past the standard header (PCI_STD_HEADER_SIZEOF .. 0xFF). A write
# that touches none of them (Command, BARs, bus numbers, Interrupt Line ...) leaves the list
# as walked; a write below 0x100 never changes the extended list.
_STD_WALKED = bytes(1 if o in (PCI_STATUS, PCI_STATUS + 1, PCI_HEADER_TYPE,
                               PCI_CB_CAPABILITY_LIST, PCI_CAPABILITY_LIST)
                    or PCI_STD_HEADER_SIZEOF <= o < PCI_CFG_SPACE_SIZE else 0
                    for o in range(PCI_CFG_SPACE_SIZE))


class ConfigSpace:
    """A function's config space: sparse, little-endian, copy-on-write."""

    # _caps / _ext_caps: {cap_id: offset of the first capability with that ID} of this space's
    # standard / extended list once walked, kept until a write that may change that list
    # (None: not walked since; see write()): a find_*capability() is then one dict lookup
    # (enumeration asks two to four times per function). The walks themselves are shared by
    # every space holding the same immutable bytes (_STD_WALKS, _EXT_WALKS)
    __slots__ = ("size", "_data", "_caps", "_ext_caps")

    def __init__(self, size: int = 4096, data: bytes | bytearray = _EMPTY):
        if size not in VALID_SIZES:
            raise ValueError(f"config space size must be one of {VALID_SIZES}, not {size}")
        self.size = size
        self._caps = self._ext_caps = None
        if len(data) > size:
            data = data[:size]
        # strip trailing zeros: they read as zero anyway and cost memory (rstrip: in C, a
        # byte-by-byte loop here cost 15 s for the 4,096 functions of an lspci dump)
        stripped = bytes(data).rstrip(b"\0")
        self._data = data if isinstance(data, bytes) and len(stripped) == len(data) else stripped

    # -- raw access -----------------------------------------------------------------------
    def read(self, off: int, width: int) -> int:
        d = self._data
        end = off + width
        # hot path (enumeration reads millions of registers): inside the stored bytes
        if off >= 0 and end <= len(d) and end <= self.size:
            if width == 1:
                return d[off]
            if width == 2:
                return _U16_FROM(d, off)[0]
            if width == 4:
                return _U32_FROM(d, off)[0]
        return self._read_slow(off, width)

    def _read_slow(self, off: int, width: int) -> int:
        if width not in (1, 2, 4) or off < 0:
            raise ValueError(f"bad config read off={off:#x} width={width}")
        if off + width > self.size:
            return (1 << (8 * width)) - 1
        d = self._data
        if off + width <= len(d):
            if width == 1:
                return d[off]
            if width == 2:
                return _U16.unpack_from(d, off)[0]
            return _U32.unpack_from(d, off)[0]
        if off >= len(d):
            return 0
        chunk = bytes(d[off:]) + bytes(off + width - len(d))
        return int.from_bytes(chunk, "little")

    def write(self, off: int, width: int, value: int) -> None:
        mask = _WIDTH_MASK.get(width)
        if mask is None or off < 0:
            raise ValueError(f"bad config write off={off:#x} width={width}")
        end = off + width
        if end > self.size:
            return
        if off < _BUS_END and end > PCI_PRIMARY_BUS:
            BUS_EPOCH[0] += 1
        value &= mask
        d = self._data
        n = len(d)
        if end <= n:
            # the register holds this value already: nothing changes (shared, immutable
            # bytes stay shared; the capability lists stay walked)
            if width == 1:
                if d[off] == value:
                    return
            elif (_U16_FROM if width == 2 else _U32_FROM)(d, off)[0] == value:
                return
        elif value == 0 and off >= n and type(d) is not bytearray:
            return  # writing zero beyond the stored extent of shared bytes changes nothing
        # A list the write may change is walked again when asked; one it cannot change stays
        # walked, taken from the walk shared by every space holding these bytes while they are
        # still shared (a 65,536-function shutdown clears Bus Master in each function, which
        # would otherwise cost one walk per function at the next boot)
        if off < PCI_CFG_SPACE_SIZE and 1 in _STD_WALKED[off:end]:
            self._caps = None
        elif self._caps is None and type(d) is bytes:
            self._caps = self._walked(0)[1]
        if end > PCI_CFG_SPACE_SIZE:
            self._ext_caps = None
        elif self._ext_caps is None and type(d) is bytes:
            self._ext_caps = self._walked(1)[1]
        if type(d) is not bytearray:
            d = self._data = bytearray(d)
        CONFIG_EPOCH[0] += 1
        if end > n:
            d.extend(bytes(end - n))
        # (struct packs in place: no intermediate bytes object per write)
        if width == 1:
            d[off] = value
        elif width == 2:
            _U16_INTO(d, off, value)
        else:
            _U32_INTO(d, off, value)

    def read_block(self, off: int, length: int) -> bytes:
        d = self._data
        out = bytes(d[off:off + length])
        return out + bytes(length - len(out))

    def write_block(self, off: int, data: bytes) -> None:
        if not data:
            return
        end = min(off + len(data), self.size)
        data = data[:end - off]
        if off < _BUS_END and end > PCI_PRIMARY_BUS:
            BUS_EPOCH[0] += 1
        CONFIG_EPOCH[0] += 1
        self._caps = self._ext_caps = None
        d = self._data
        if not isinstance(d, bytearray):
            d = self._data = bytearray(d)
        if end > len(d):
            d.extend(bytes(end - len(d)))
        d[off:end] = data

    @property
    def stored_length(self) -> int:
        """How many bytes are actually held (the rest reads as zero)."""
        return len(self._data)

    # -- capability walks -----------------------------------------------------------------
    def capabilities(self) -> list[tuple[int, int]]:
        """[(cap_id, offset)] of the standard list; mirrors __pci_find_next_cap_ttl()."""
        return list(self._walked(0)[0])

    def _walked(self, which: int):
        """(list, index, size) of one capability list (0 standard, 1 extended): the walk's
        (id, offset) pairs as a tuple, {id: offset of the first with that ID} (what a
        pci_find_*capability() from the list head returns) and the space size walked.

        Config space that was never written is an immutable bytes object, usually shared by
        many functions (templates, copies): its lists are walked once for all of them. A
        writable space is walked anew at every call (its owner keeps the index until a write
        that may change it). Both results are shared: callers copy the tuple before handing it
        out and never change the index."""
        d = self._data
        walk = self._walk_capabilities if which == 0 else self._walk_ext_capabilities
        if type(d) is not bytes:
            caps = tuple(walk())
            return caps, dict(caps[::-1]), self.size    # reversed: the first of an ID wins
        cache = _WALKS[which]
        hit = cache.get(d)
        if hit is None or hit[2] != self.size:
            if len(cache) > _WALKS_KEPT:
                cache.clear()
            caps = tuple(walk())
            hit = cache[d] = (caps, dict(caps[::-1]), self.size)
        return hit

    def _walk_capabilities(self) -> list[tuple[int, int]]:
        if not self.read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST:
            return []
        ptr_reg = PCI_CB_CAPABILITY_LIST \
            if (self.read(PCI_HEADER_TYPE, 1) & PCI_HEADER_TYPE_MASK) == PCI_HEADER_TYPE_CARDBUS \
            else PCI_CAPABILITY_LIST
        pos = self.read(ptr_reg, 1)
        out = []
        ttl = PCI_FIND_CAP_TTL
        while ttl and pos >= PCI_STD_HEADER_SIZEOF:
            pos &= 0xFC
            cid = self.read(pos, 1)
            if cid == 0xFF:
                break
            out.append((cid, pos))
            pos = self.read(pos + PCI_CAP_LIST_NEXT, 1)
            ttl -= 1
        return out

    def find_capability(self, cap_id: int) -> int | None:
        idx = self._caps
        if idx is None:
            # the shared walk of these bytes looked up in place (this runs once per function
            # at enumeration), else walked by _walked()
            d = self._data
            hit = _STD_WALKS.get(d) if type(d) is bytes else None
            idx = self._caps = hit[1] if hit is not None and hit[2] == self.size \
                else self._walked(0)[1]
        return idx.get(cap_id)

    def ext_capabilities(self) -> list[tuple[int, int]]:
        """[(ext_cap_id, offset)] from 0x100; mirrors pci_find_next_ext_capability()."""
        return list(self._walked(1)[0])

    def _walk_ext_capabilities(self) -> list[tuple[int, int]]:
        if self.size < 4096:
            return []
        pos = PCI_CFG_SPACE_SIZE
        out = []
        ttl = PCI_EXT_CAP_TTL
        seen = set()
        read = self.read
        while ttl > 0:
            hdr = read(pos, 4)
            if hdr == 0 or hdr == 0xFFFFFFFF:
                break
            out.append((hdr & 0xFFFF, pos))     # PCI_EXT_CAP_ID()
            seen.add(pos)
            pos = hdr >> 20 & 0xFFC             # PCI_EXT_CAP_NEXT()
            if pos < PCI_CFG_SPACE_SIZE or pos in seen:
                break
            ttl -= 1
        return out

    def find_ext_capability(self, cap_id: int) -> int | None:
        return self.ext_capability_index().get(cap_id)

    def ext_capability_index(self) -> dict[int, int]:
        """{ext_cap_id: offset of the first with that ID}: find_ext_capability() of every ID
        at once, for a caller that asks about several (enumeration asks for SR-IOV and ACS
        of every function). Read only: it is shared."""
        idx = self._ext_caps
        if idx is None:
            d = self._data                      # (as in find_capability())
            hit = _EXT_WALKS.get(d) if type(d) is bytes else None
            idx = self._ext_caps = hit[1] if hit is not None and hit[2] == self.size \
                else self._walked(1)[1]
        return idx

    # -- bulk -----------------------------------------------------------------------------
    def to_bytes(self, length: int | None = None) -> bytes:
        n = self.size if length is None else length
        d = self._data
        if len(d) >= n:
            return bytes(d[:n])
        return bytes(d) + bytes(n - len(d))

    def stored_bytes(self) -> bytes:
        """The stored prefix (trailing zeros may be absent); used by serializers."""
        d = self._data
        return d if isinstance(d, bytes) else bytes(d)

    @classmethod
    def from_bytes(cls, data: bytes) -> "ConfigSpace":
        return cls(visible_size(len(data)), bytes(data))

    @classmethod
    def of_stored(cls, size: int, data: bytes) -> "ConfigSpace":
        """A space over ``data`` as a serialization stored it (already stripped, immutable,
        shared with every function stored with the same bytes)."""
        new = cls.__new__(cls)
        new.size, new._data = size, data
        new._caps = new._ext_caps = None
        return new

    def copy(self) -> "ConfigSpace":
        new = ConfigSpace.__new__(ConfigSpace)
        new.size = self.size
        d = self._data
        if isinstance(d, bytearray):
            d = self._data = bytes(d)  # freeze: both copies now share it until written
        new._data = d
        new._caps, new._ext_caps = self._caps, self._ext_caps   # same bytes, same lists
        return new

    def __eq__(self, other):
        if not isinstance(other, ConfigSpace):
            return NotImplemented
        return self.size == other.size and self.to_bytes() == other.to_bytes()

    def __repr__(self):
        return f"ConfigSpace(size={self.size}, stored={len(self._data)})"
