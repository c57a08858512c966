# SPDX-License-Identifier: GPL-2.0-only
"""The kernel note of a state file (since state format 2): one booted kernel's checkpoint.

The simulated kernel (``pcilu_cli.kernel``) knows nothing of files; this module writes what a
:class:`~pcilu_cli.kernel.Kernel` holds and builds a kernel back from it, so that a command
pays for what it touches:

* **Sections.** ``head`` (JSON: parameters, phase, LUO sessions and FLBs, the log, the
  outgoing/incoming ``struct pci_ser`` by address), ``buses`` (JSON rows), ``keys`` (the
  device keys, u64 each) and the device rows in chunks of :data:`CHUNK_ROWS` (a fixed-size
  binary row per ``pci_dev`` followed by the JSON list of uids, ``""`` where the uid is the
  device's own name). Each section is zlib-compressed on its own.
* **Lazy views.** :func:`decode` returns a kernel whose ``devices`` build a ``pci_dev`` (with
  its bus, upstream bridges and fabric function) when it is first looked up; anything that
  walks every device, every bus or the uid map builds them all first (in file order, so every
  document is the same as from a kernel built in one go).
* **Reuse.** :func:`encode` given what :func:`decode` kept writes a chunk or section back as
  it was read when its bytes would not change (the device rows of devices nobody looked at
  cannot have changed), so a save after a one-device change re-encodes one chunk.
* **The outgoing ``struct pci_ser`` is stored once**: its pages are in the state file's memory
  image (the Machine writes them there before every save); the head records where (``pa``,
  ``size``; block eras: the header and every block address) and :func:`decode` reads it back
  through ``read(pa, n)``.

Header: ``PCILUKN2``, rows per chunk, device rows, number of chunks, then one u32 compressed
length per section (head, buses, keys, chunks...). Everything read is untrusted: sizes are
checked against what the header declares and the fabric's function count before anything is
inflated, and every decoding failure is :class:`~pcilu_cli.errors.BadInput` naming the note.
"""
from __future__ import annotations

import json
import struct
import sys
import zlib
from bisect import bisect_left
from functools import lru_cache
from itertools import islice
from operator import itemgetter, lt

from pcilu_cli.abi.bdf import DEVFN_NAMES, key_name_in as _name_of
from pcilu_cli.abi.kernel_note import (BUS_ROWS_MAGIC, KERNEL_NOTE_MAGIC as MAGIC,
                                       NOTE_BUS as _BUS,
                                       NOTE_HEADER as _HEADER, NOTE_KEY as _KEY,
                                       NOTE_LEN as _LEN, NOTE_ROW as _REST, port_type_code,
                                       port_type_of_code)
from pcilu_cli.errors import BadInput

CHUNK_ROWS = 4096
LEVEL = 1
FIELD = "PCILU kernel note"
# The byte layout (header, section lengths, key column, row) is pcilu_cli.abi.kernel_note's.

# What one function may take in the note: a row, its uid, its share of the log and sessions
# (about 60 bytes per function, 800 with a preserved file); a fixed part for the rest.
NOTE_FIXED = 1 << 20
NOTE_PER_FUNCTION = 2048


def _bad(message, file):
    return BadInput(message, file=file, field=FIELD)


# the bulk build's lookups (one per row of a 262,144-device note): the eight flag bits of a
# row as the pci_dev's booleans
_FLAG_BITS = tuple(tuple(bool(f >> b & 1) for b in range(8)) for f in range(256))
# a row's pcie_type byte -> the port type (port_type_of_code()), _BAD_TYPE past the field
_BAD_TYPE = object()
_TYPES = tuple(port_type_of_code(c) if c < 17 else _BAD_TYPE for c in range(256))
# the first two fields of a bus row (bus: u64, self: s64), the rest skipped: the bus row
# codec's own format cut after them
assert _BUS.format.startswith("<Qq")
_BUS_HEAD = struct.Struct(f"<Qq{_BUS.size - 16}x")


# ---- encoding ------------------------------------------------------------------------------------

def _flags(d) -> int:
    # the row's flags bits, written out (this runs once per device of a 262,144-device save)
    return (d.multifunction | d.was_preserved << 1 | d.frozen << 2 | d.ari_enabled << 3
            | d.acs_inherited << 4 | d.ari_inherited << 5 | d.was_incoming << 6
            | d.is_virtfn << 7)


def _rest(d, pack=_REST.pack) -> bytes:
    out, inc, phys = d.outgoing, d.incoming, d.physfn
    return pack(d.hdr_type, port_type_code(d.pcie_type), d.acs_cap or 0, _flags(d),
                -1 if out is None else out, -1 if inc is None else inc, d.acs_ctrl or 0,
                -1 if phys is None else phys.key, d.vendor, d.device)


def _uids(part) -> list:
    """The chunk's uid list: ``""`` where the uid is the device's name (``dev_name()`` of its
    key: a bus keeps its number, so the key names the device as ``PciDev.name`` does)."""
    prefixes: dict = {}
    out = []
    for d in part:
        uid = d.fn.uid
        out.append("" if uid == _name_of(prefixes, d.key) else uid)
    return out


def _head(k) -> dict:
    out = k.pci_flb.out_obj
    inc = k.pci_flb.in_obj
    if out is None:
        outgoing = None
    elif hasattr(out, "set"):                    # block eras: header + kho_block chain
        outgoing = {"layout": "blocks", "pa": out.pa, "size": len(out.blob),
                    "version": out.version, "blocks": list(out.set.blocks)}
    else:
        outgoing = {"pa": out.pa, "size": len(out.blob)}
    incoming = None
    if inc is not None:
        incoming = dict(inc.ser.to_state() if hasattr(inc.ser, "to_state")
                        else {"pa": inc.ser.pa, "max_nr": inc.ser.max_nr,
                              "blob": inc.ser.blob.hex()},
                        xa=[[a, s] for a, s in inc.xa.items()])
    alloc = getattr(k, "_allocator", None)
    return {"generation": k.generation, "profile": k.profile.name,
            "params": k.params.to_dict(), "phase": k.phase, "panic": k.panic,
            "luo": k.luo.to_state(), "outgoing": outgoing, "incoming": incoming,
            "incoming_freed": k.incoming_freed, "had_incoming": k.had_incoming,
            "incoming_freed_pages": k.incoming_freed_pages,
            "incoming_free_calls": k.incoming_free_calls,
            "driver_faults": [[a, v] for a, v in k.driver_faults.items()],
            "allocator": None if alloc is None else alloc.to_state(),
            "log": k.log.to_state()}


def _bus_table(k, pack=_BUS.pack) -> bytes:
    """The bus rows section: BUS_ROWS_MAGIC, then one pcilu_kernel_note_bus per pci_bus in
    registration order (binary: a command that builds a few devices reads it in ~2 ms, where
    the JSON list of 18,512 buses earlier versions wrote took ~35 ms to parse and index)."""
    roots = set(map(id, k.root_buses))
    out = [BUS_ROWS_MAGIC]
    for b in k.buses.values():
        if not 0 <= b.number <= 0xFF:          # bus->number is a u8 in struct pci_bus
            raise ValueError(f"bus number {b.number:#x} of domain {b.domain:#x}")
        up = b.parent
        out.append(pack(b.domain << 8 | b.number, -1 if b.self is None else b.self.key,
                        -1 if up is None else up.domain << 8 | up.number, b.start, b.end,
                        int(b.virtual) | (2 if id(b) in roots else 0)))
    return b"".join(out)


def _binary_bus_rows(raw: bytes, file):
    """The rows of a binary bus rows section (a view after its magic, checked to be whole
    rows); None for the JSON list of earlier versions."""
    if raw[:len(BUS_ROWS_MAGIC)] != BUS_ROWS_MAGIC:
        return None
    body = memoryview(raw)[len(BUS_ROWS_MAGIC):]
    if len(body) % _BUS.size:
        raise _bad(f"bus rows: {len(body)} bytes is not a whole number of "
                   f"{_BUS.size}-byte rows", file)
    return body


def _bus_rows_of(raw: bytes, file) -> list:
    """``[(bus, self, parent, start, end, flags)]`` of a bus rows section (as
    pcilu_kernel_note_bus; "bus" and "parent" are ``domain << 8 | number``), binary or the
    JSON list of earlier versions (``[domain, number, self, [domain, number] | null, start,
    end, virtual, root]`` per bus)."""
    body = _binary_bus_rows(raw, file)
    if body is not None:
        return list(_BUS.iter_unpack(body))
    from pcilu_cli.abi.untrusted import loads_json
    rows = loads_json(raw, file=file, field=FIELD, what="bus rows")
    if not isinstance(rows, list):
        raise _bad("bus rows are not a list", file)
    out = []
    for r in rows:
        dom, num, self_key, parent, start, end, virt, root = r
        if not (type(dom) is int and type(num) is int and 0 <= num <= 0xFF and dom >= 0):
            raise _bad(f"bus rows: {r!r} is not a bus", file)
        out.append((dom << 8 | num, self_key,
                    -1 if parent is None else parent[0] << 8 | parent[1], start, end,
                    int(bool(virt)) | (2 if root else 0)))
    return out


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def encode(k, kept: "Kept | None" = None) -> bytes:
    """The kernel note of ``k``. ``kept``: what :func:`decode` kept of the note ``k`` was read
    from; parts whose bytes would not change are written back as they were read."""
    devs = k.devices
    lazy = kept is not None and getattr(devs, "_src", None) is kept and not devs.filled
    sections = [zlib.compress(_dumps(_head(k)), LEVEL)]
    if lazy:
        # nobody walked the buses or the devices: the bus rows, the keys and every chunk of
        # rows nobody looked at are what was read
        sections += [kept.sections[1], kept.sections[2]]
        touched = {}
        for key, dev in dict.items(devs):
            touched.setdefault(kept.index[key] // kept.chunk_rows, []).append(dev)
        refrozen = {}                   # rows frozen by a shutdown walk, never built
        for key, frozen in kept.frozen.items():
            if not dict.__contains__(devs, key):
                refrozen.setdefault(kept.index[key] // kept.chunk_rows, []).append(
                    (key, frozen))
        nrows = kept.nrows
        for c in range(kept.nchunks):
            if c not in touched and c not in refrozen:
                sections.append(kept.sections[3 + c])
                continue
            raw = bytearray(kept.chunk_raw(c))
            n = kept.rows_in(c)
            for dev in touched.get(c, ()):
                j = kept.index[dev.key] - c * kept.chunk_rows
                raw[n * _KEY.size + j * _REST.size:n * _KEY.size + (j + 1) * _REST.size] = \
                    _rest(dev)
            for key, frozen in refrozen.get(c, ()):
                at = n * _KEY.size + (kept.index[key] - c * kept.chunk_rows) * _REST.size
                row = list(_REST.unpack_from(raw, at))
                row[3] = row[3] & ~4 | (4 if frozen else 0)
                _REST.pack_into(raw, at, *row)
            sections.append(kept.reuse(c, bytes(raw)))
    else:
        rows = list(devs.values())
        nrows = len(rows)
        buses = _bus_table(k)
        keys = b"".join(map(_KEY.pack, [d.key for d in rows]))
        sections.append(_same_or_new(kept, 1, buses))
        sections.append(_same_or_new(kept, 2, keys))
        for c in range(0, nrows, CHUNK_ROWS):
            part = rows[c:c + CHUNK_ROWS]
            raw = keys[c * _KEY.size:(c + len(part)) * _KEY.size] + \
                b"".join(map(_rest, part)) + _dumps(_uids(part))
            i = c // CHUNK_ROWS
            same = kept is not None and kept.chunk_rows == CHUNK_ROWS and i < kept.nchunks
            sections.append(kept.reuse(i, raw) if same else zlib.compress(raw, LEVEL))
    chunks = len(sections) - 3
    head = _HEADER.pack(MAGIC, CHUNK_ROWS if not lazy else kept.chunk_rows, nrows, chunks)
    return head + b"".join(_LEN.pack(len(s)) for s in sections) + b"".join(sections)


def _same_or_new(kept, i: int, raw: bytes) -> bytes:
    if kept is not None and kept.section_raw(i) == raw:
        return kept.sections[i]
    return zlib.compress(raw, LEVEL)


# ---- decoding ------------------------------------------------------------------------------------

class _SortedIndex:
    """key -> row of an ascending key column, by bisection: the lookups the kept note's
    ``index`` answers (``index[key]``, ``key in index``, ``len``) as a dict would."""

    __slots__ = ("_keys",)

    def __init__(self, keys):
        self._keys = keys               # ascending: a list, or a view of the keys section

    def __len__(self):
        return len(self._keys)

    def __contains__(self, key):
        ks = self._keys
        if type(key) is not int:
            return False
        i = bisect_left(ks, key)
        return i < len(ks) and ks[i] == key

    def __getitem__(self, key):
        i = self.find(key)
        if i < 0:
            raise KeyError(key)
        return i

    def find(self, key) -> int:
        """The row of ``key``, -1 if it has none (one bisection where ``in`` then ``[]``
        took two)."""
        ks = self._keys
        if type(key) is int:
            i = bisect_left(ks, key)
            if i < len(ks) and ks[i] == key:
                return i
        return -1


class Kept:
    """What :func:`decode` keeps of a note: its compressed sections (inflated on demand) and
    the key index; the lazy device map reads its rows from here."""

    def __init__(self, data: bytes, functions: int, file, budget=None):
        self.file, self.budget = file, budget
        if len(data) < _HEADER.size or data[:8] != MAGIC:
            raise _bad("not a PCILUKN2 kernel note (bad magic)", file)
        _m, self.chunk_rows, self.nrows, self.nchunks = _HEADER.unpack_from(data, 0)
        if self.nrows > functions:
            raise _bad(f"{self.nrows} devices for a fabric of {functions} functions", file)
        if self.chunk_rows == 0 or self.nchunks != -(-self.nrows // self.chunk_rows):
            raise _bad(f"{self.nchunks} chunks of {self.chunk_rows} rows cannot hold "
                       f"{self.nrows} devices", file)
        nsec = 3 + self.nchunks
        pos = _HEADER.size + nsec * _LEN.size
        if len(data) < pos:
            raise _bad("truncated section table", file)
        self.sections = []
        self.offsets = []                  # where each section starts in the note
        for i in range(nsec):
            n = _LEN.unpack_from(data, _HEADER.size + i * _LEN.size)[0]
            if pos + n > len(data):
                raise _bad(f"section {i} runs past the end of the note", file)
            self.sections.append(bytes(data[pos:pos + n]))
            self.offsets.append(pos)
            pos += n
        if pos != len(data):
            raise _bad(f"{len(data) - pos} bytes after the last section", file)
        self.limit = NOTE_FIXED + NOTE_PER_FUNCTION * functions
        self._raw: dict[int, bytes] = {}
        self._uids: dict[int, list] = {}
        # key -> frozen, for rows whose device was frozen without being built (a shutdown
        # walk): applied when the device is built, written into its row at save
        self.frozen: dict[int, bool] = {}
        keys = self.section_raw(2)
        if len(keys) != self.nrows * _KEY.size:
            raise _bad(f"{len(keys)} bytes of device keys for {self.nrows} devices", file)
        if sys.byteorder == "little":
            # a view of the section, not a list: 65,536 int objects (2.3 MB) would be built,
            # and faulted in, by every command that loads the note
            ks = memoryview(keys).cast("Q")
        else:                                              # pragma: no cover
            ks = [k_ for (k_,) in _KEY.iter_unpack(keys)]
        if all(map(lt, ks, islice(ks, 1, None))):
            # the kernel registers devices bus by bus in bus-number order, so the keys of a
            # note pcilu wrote strictly ascend (one pass says so, and that none is there
            # twice): looked up by bisection, no 65,536-entry dict to build
            self.index = _SortedIndex(ks)
            self.find = self.index.find
        else:
            self.index = dict(zip(ks, range(self.nrows)))
            if len(self.index) != self.nrows:
                raise _bad("a device key appears twice", file)
            self.find = lambda key, get=self.index.get: get(key, -1)

    def section_raw(self, i: int) -> bytes:
        raw = self._raw.get(i)
        if raw is None:
            from pcilu_cli.abi.untrusted import inflate
            raw = self._raw[i] = inflate(self.sections[i], self.limit, file=self.file,
                                         field=FIELD, what=f"kernel note section {i}",
                                         base=self.offsets[i], budget=self.budget)
        return raw

    def check_rows(self) -> None:
        """Inflate every device chunk and read its uid list (what building each device would
        read first), so that a damaged chunk is refused by a command that never builds the
        devices — ``inspect``, ``enumerate --json`` of a stored document — as it is by
        those that do. ~15 ms at 65,536 devices."""
        for c in range(self.nchunks):
            self.row(c * self.chunk_rows)

    def chunk(self, c: int) -> tuple:
        """``(keys, rests, uids)`` of device chunk ``c``: its key column as a list, an
        iterator of its row tuples (the row codec derived from the layout) and its uid list
        (checked and cached)."""
        n = self.rows_in(c)
        raw = self.chunk_raw(c)
        self.row(c * self.chunk_rows)                      # checks and caches the uids
        k_end = n * _KEY.size
        return ([k_ for (k_,) in _KEY.iter_unpack(raw[:k_end])],
                _REST.iter_unpack(raw[k_end:k_end + n * _REST.size]), self._uids[c])

    def rows_in(self, c: int) -> int:
        return min(self.chunk_rows, self.nrows - c * self.chunk_rows)

    def chunk_raw(self, c: int) -> bytes:
        raw = self.section_raw(3 + c)
        if len(raw) < self.rows_in(c) * (_KEY.size + _REST.size):
            raise _bad(f"device chunk {c} is {len(raw)} bytes, too short for its rows",
                       self.file)
        return raw

    def reuse(self, c: int, raw: bytes) -> bytes:
        """Chunk ``c`` compressed: as read when ``raw`` is what was read."""
        if c < self.nchunks and self.section_raw(3 + c) == raw:
            return self.sections[3 + c]
        return zlib.compress(raw, LEVEL)

    def row(self, i: int):
        """(key, rest..., uid or "") of device row ``i``."""
        c, j = divmod(i, self.chunk_rows)
        raw = self.chunk_raw(c)
        n = self.rows_in(c)
        key = _KEY.unpack_from(raw, j * _KEY.size)[0]
        rest = _REST.unpack_from(raw, n * _KEY.size + j * _REST.size)
        uids = self._uids.get(c)
        if uids is None:
            tail = raw[n * (_KEY.size + _REST.size):]
            if tail == _unnamed_uids(n):
                # every device's uid is its name (any fabric whose uids are BDFs): the list
                # _dumps() writes for that, known by its bytes, so no JSON is parsed
                uids = [""] * n
            else:
                from pcilu_cli.abi.untrusted import loads_json
                uids = loads_json(tail, file=self.file, field=FIELD, what="device uids")
                if not isinstance(uids, list) or len(uids) != n or \
                        not all(isinstance(u, str) for u in uids):
                    raise _bad(f"device chunk {c}: the uid list does not match its rows",
                               self.file)
            self._uids[c] = uids
        return key, rest, uids[j]


@lru_cache(maxsize=4)
def _unnamed_uids(n: int) -> bytes:
    """The uid list of a chunk of ``n`` devices that are all named by their keys, as
    :func:`_dumps` writes it (``["","",...]``). A note has two chunk sizes at most (whole
    chunks and its last), so a few entries serve every load of a process."""
    return _dumps([""] * n)


class LazyDevices(dict):
    """``Kernel.devices`` of a kernel read from a state file: key → ``pci_dev``, each built on
    first lookup; iterating, changing or copying it builds every one first (file order)."""

    def __init__(self, builder):
        super().__init__()
        self._b = builder
        self._src = builder.kept
        self.filled = False

    def materialize(self) -> None:
        if not self.filled:
            self._b.build_all()

    def walk_unbuilt(self, visit, view, *, reverse=False) -> bool:
        """``visit(dev)`` for every device in file order (``reverse``: backwards), without
        building any: a device handed out before is visited as it is, any other as
        ``view(key, name, fn, frozen, outgoing)`` of its row, whose ``frozen`` is kept after
        (the device is built with it later, and a save writes it). False (nothing visited)
        once every device is built: the caller walks the devices themselves. A row that
        does not decode is :class:`BadInput`; what ``visit`` raises is its own."""
        if self.filled:
            return False
        frozen_rows = self._src.frozen
        for dev, key, was in self._b.walk(view, reverse):
            visit(dev)
            if key is not None and dev.frozen != was:
                frozen_rows[key] = bool(dev.frozen)
        return True

    # lookups that build one device
    def get(self, key, default=None):
        if self.filled:
            return dict.get(self, key, default)
        d = dict.get(self, key)
        if d is None:
            i = self._src.find(key)
            if i >= 0:
                d = self._b.dev(key, i)
        return default if d is None else d

    def __getitem__(self, key):
        d = self.get(key)
        if d is None:
            raise KeyError(key)
        return d

    def __contains__(self, key):
        return dict.__contains__(self, key) if self.filled else key in self._src.index

    def __len__(self):
        return dict.__len__(self) if self.filled else self._src.nrows

    # everything else sees every device
    def _all(self):
        if not self.filled:
            self._b.build_all()
        return self

    def __iter__(self):
        return dict.__iter__(self._all())

    def keys(self):
        return dict.keys(self._all())

    def values(self):
        return dict.values(self._all())

    def items(self):
        return dict.items(self._all())

    def __setitem__(self, key, value):
        dict.__setitem__(self._all(), key, value)

    def __delitem__(self, key):
        dict.__delitem__(self._all(), key)

    def pop(self, key, *default):
        return dict.pop(self._all(), key, *default)

    def setdefault(self, key, default=None):
        return dict.setdefault(self._all(), key, default)

    def copy(self):
        return dict(self.items())

    def __repr__(self):
        return f"<devices: {len(self)}{'' if self.filled else ', built on use'}>"


class _FillOnUse:
    """A container that ``fill()`` builds every device and bus into on first use."""

    def __init__(self, fill):
        super().__init__()
        self._fill = fill

    def _f(self):
        if self._fill is not None:
            fill, self._fill = self._fill, None
            fill()
        return self


def _fill_first(cls, base, names):
    # each of base's methods in names, on cls, runs the fill first
    for name in names:
        setattr(cls, name, (lambda n: lambda self, *a: getattr(base, n)(self._f(), *a))(name))
    return cls


class _FillDict(_FillOnUse, dict):
    """A kernel map (buses, uid → pci_dev) that every device and bus is built into on first
    use."""


class _FillList(_FillOnUse, list):
    """``Kernel.root_buses`` of a kernel read from a state file: filled on first use."""


_fill_first(_FillDict, dict, ("__getitem__", "__contains__", "__iter__", "__len__", "get",
                              "keys", "values", "items", "__setitem__", "__delitem__", "pop",
                              "setdefault", "copy"))
_fill_first(_FillList, list, ("__getitem__", "__contains__", "__iter__", "__len__",
                              "__reversed__", "append", "remove", "index", "count", "insert",
                              "pop", "extend"))


class _Builder:
    """Builds the ``pci_dev``/``pci_bus`` objects of a kept note on demand."""

    def __init__(self, k, kept: Kept, fabric, file):
        from pcilu_cli.kernel.pcidev import PciBus, PciDev
        self.k, self.kept, self.fabric, self.file = k, kept, fabric, file
        self._bus_rows = None
        # bus key -> row number and bridge key -> row number (_index()); a row is read
        # from the section when it is asked for (_bus_row())
        self._bus_index = None
        self._self_index = None
        self._bus_body = None
        self.buses: dict = {}
        # the on-demand path runs once per device on a named path (~4,000 for a 1,000-BDF
        # finish): the classes and the bus-name cache are looked up once, not per device
        self._PciBus, self._PciDev = PciBus, PciDev
        self._prefixes: dict = {}

    def _rows(self):
        if self._bus_rows is None:
            self._bus_rows = _bus_rows_of(self.kept.section_raw(1), self.file)
        return self._bus_rows

    def _index(self) -> None:
        """The two row-number maps (bus key -> row, bridge key -> row), for the on-demand
        path: from the key and bridge columns of a binary section, not a tuple per bus (a
        command that builds a few hundred devices of 18,512 buses kept 3.4 MB of row tuples
        it never read); from the rows of an earlier version's JSON list."""
        body = _binary_bus_rows(self.kept.section_raw(1), self.file)
        pairs = _BUS_HEAD.iter_unpack(body) if body is not None else \
            map(itemgetter(0, 1), self._rows())
        buses, selves = {}, {}
        for i, (bus, self_key) in enumerate(pairs):
            buses[bus] = i
            if self_key >= 0:
                selves[self_key] = i
        self._bus_body, self._bus_index, self._self_index = body, buses, selves

    def _bus_row(self, i: int) -> tuple:
        rows = self._bus_rows
        return rows[i] if rows is not None else _BUS.unpack_from(self._bus_body,
                                                                 i * _BUS.size)

    def bus(self, key):
        b = self.buses.get(key)
        if b is not None:
            return b
        if self._bus_index is None:
            self._index()
        dom, num = key
        _b, self_key, parent, start, end, flags = self._bus_row(
            self._bus_index[dom << 8 | num])
        b = self.buses[(dom, num)] = self._PciBus(dom, num, start=start, end=end,
                                                  virtual=bool(flags & 1))
        if parent >= 0:
            b.parent = self.bus((parent >> 8, parent & 0xFF))
        if self_key >= 0:
            b.self = self.dev(self_key)
        return b

    def dev(self, key, i=None):
        """The device of ``key`` (at row ``i`` of the note, when the caller has found it)."""
        try:
            return self._dev(key, i)
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001 - any inconsistency is a corrupt note
            raise _bad(f"kernel note is corrupt: {exc!r}", self.file) from None

    def _dev(self, key, i):
        devs = self.k.devices
        d = dict.get(devs, key)
        if d is not None:
            return d
        kept = self.kept
        _key, rest, uid = kept.row(kept.index[key] if i is None else i)
        hdr, pt, acs, flags, out, inc, acs_ctrl, phys, ven, dvc = rest
        bus = self.bus((key >> 16, key >> 8 & 0xFF))
        d = dict.get(devs, key)         # the bus walk may have built it (a bridge above)
        if d is not None:
            return d
        # (the name is dev_name() of the key, as the note's writer took it: _uids())
        dev = self._PciDev(bus, key & 0xFF,
                           self.fabric.by_uid(uid or _name_of(self._prefixes, key)), key)
        dev.hdr_type, dev.acs_cap = hdr, acs or None
        dev.pcie_type = ptype = _TYPES[pt]
        if ptype is _BAD_TYPE:
            port_type_of_code(pt)           # raises: past the 4-bit field
        (dev.multifunction, dev.was_preserved, dev.frozen, dev.ari_enabled,
         dev.acs_inherited, dev.ari_inherited, dev.was_incoming,
         dev.is_virtfn) = _FLAG_BITS[flags & 0xFF]
        if out >= 0:
            dev.outgoing = out
        if inc >= 0:
            dev.incoming = inc
        dev.acs_ctrl, dev.vendor, dev.device = acs_ctrl, ven, dvc
        frozen = kept.frozen
        if frozen and key in frozen:
            dev.frozen = frozen[key]
        dict.__setitem__(devs, key, dev)
        if phys >= 0:
            dev.physfn = self.dev(phys)
        if self._self_index is None:
            self._index()
        sub = self._self_index.get(key)
        if sub is not None:
            sub = self._bus_row(sub)
            b = self.bus((sub[0] >> 8, sub[0] & 0xFF))
            b.self, dev.subordinate = dev, b
        return dev

    def walk(self, view, reverse: bool):
        """(device or view, key, frozen) of every device, for :meth:`LazyDevices.walk_unbuilt`
        (``view(key, name, fn, frozen, outgoing)``; key and frozen are None for a device
        already built)."""
        try:
            self._rows()        # a walk of every device reads the whole note: bus rows too
            whole = getattr(self.fabric, "materialize", None)
            if whole is not None:
                whole()
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001 - any inconsistency is a corrupt note
            raise _bad(f"kernel note is corrupt: {exc!r}", self.file) from None
        fns = getattr(self.fabric, "_by_uid", None)
        fn_of = fns.__getitem__ if type(fns) is dict else self.fabric.by_uid
        devs, kept = self.k.devices, self.kept
        frozen_rows = kept.frozen
        get = dict.get
        prefixes: dict = {}
        chunks = range(kept.nchunks)
        for c in (reversed(chunks) if reverse else chunks):
            try:
                rows = list(zip(*kept.chunk(c)))
            except BadInput:
                raise
            except Exception as exc:  # noqa: BLE001
                raise _bad(f"kernel note is corrupt: {exc!r}", self.file) from None
            for key, rest, uid in (reversed(rows) if reverse else rows):
                dev = get(devs, key)
                if dev is not None:
                    yield dev, None, None
                    continue
                flags, out = rest[3], rest[4]
                was = frozen_rows.get(key, bool(flags & 4))
                name = _name_of(prefixes, key)
                try:
                    fn = fn_of(uid or name)
                except BadInput:
                    raise
                except Exception as exc:  # noqa: BLE001 - a uid the fabric does not have
                    raise _bad(f"kernel note is corrupt: {exc!r}", self.file) from None
                yield view(key, name, fn, was, None if out < 0 else out), key, was

    def build_all(self) -> None:
        """Every bus and device, linked as a kernel built in one go links them."""
        devs = self.k.devices
        if devs.filled:
            return
        try:
            self._build_all(devs)
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _bad(f"kernel note is corrupt: {exc!r}", self.file) from None

    def _build_all(self, devs):
        # one pass over the rows, chunk by chunk (a 262,144-device kexec or enumerate pays
        # this): buses first, then every device not built yet, linked as it is made; a VF's
        # PF and a bridge's secondary bus after. Devices and buses already handed out are
        # kept (the kernel may hold them). Per row: one struct unpack (the row codec derived
        # from the layout), one pci_dev, a few dict lookups.
        from pcilu_cli.kernel.pcidev import PciBus, PciDev
        whole = getattr(self.fabric, "materialize", None)
        if whole is not None:
            whole()
        fns = getattr(self.fabric, "_by_uid", None)          # a built Fabric's uid map
        fn_of = fns.__getitem__ if type(fns) is dict else self.fabric.by_uid
        rows = self._rows()
        built = self.buses
        for bk, _s, _p, start, end, flags in rows:
            if (bk >> 8, bk & 0xFF) not in built:
                built[(bk >> 8, bk & 0xFF)] = PciBus(bk >> 8, bk & 0xFF, start=start, end=end,
                                                     virtual=bool(flags & 1))
        # key >> 8 of a device on the bus -> (bus, "dddd:bb:"): its name, less DD.F
        on_bus = {}
        for bk, _s, parent, *_rest in rows:
            b = built[(bk >> 8, bk & 0xFF)]
            b.devices, b.children = [], []
            if parent >= 0:
                b.parent = built[(parent >> 8, parent & 0xFF)]
            on_bus[bk] = (b, f"{bk >> 8:04x}:{bk & 0xFF:02x}:")
        kept = self.kept
        types, bad_type = _TYPES, _BAD_TYPE
        names, flag_bits = DEVFN_NAMES, _FLAG_BITS
        vfs = []
        frozen_rows = kept.frozen
        premade = dict(dict.items(devs))        # handed out before: kept as they are
        by_key = {}
        for c in range(kept.nchunks):
            keys, rests, uids = kept.chunk(c)
            for key, (hdr, pt, acs, flags, out, inc, acs_ctrl, phys, ven, dvc), uid in \
                    zip(keys, rests, uids):
                bus, pre = on_bus[key >> 8]
                if not uid:                     # the uid is the device's name
                    uid = pre + names[key & 0xFF]
                dev = premade.get(key) if premade else None
                if dev is None:
                    dev = PciDev(bus, key & 0xFF, fn_of(uid), key)
                    dev.hdr_type, dev.acs_cap = hdr, acs or None
                    dev.pcie_type = ptype = types[pt]
                    if ptype is bad_type:
                        port_type_of_code(pt)           # raises: past the 4-bit field
                    (dev.multifunction, dev.was_preserved, dev.frozen, dev.ari_enabled,
                     dev.acs_inherited, dev.ari_inherited, dev.was_incoming,
                     dev.is_virtfn) = flag_bits[flags & 0xFF]
                    if out >= 0:
                        dev.outgoing = out
                    if inc >= 0:
                        dev.incoming = inc
                    dev.acs_ctrl, dev.vendor, dev.device = acs_ctrl, ven, dvc
                    if phys >= 0:
                        vfs.append((dev, phys))
                    if frozen_rows and key in frozen_rows:
                        dev.frozen = frozen_rows[key]
                else:
                    bus = dev.bus
                by_key[key] = dev
                bus.devices.append(dev)
        if len(by_key) != kept.nrows:
            raise _bad("a device key appears twice", self.file)
        for dev, phys in vfs:
            dev.physfn = by_key[phys]
        k = self.k
        buses, roots = {}, []
        for bk, self_key, _p, _s, _e, flags in rows:
            b = built[(bk >> 8, bk & 0xFF)]
            if self_key >= 0:
                up = by_key[self_key]
                b.self, up.subordinate = up, b
            buses[(bk >> 8, bk & 0xFF)] = b
            if flags & 2:
                roots.append(b)
        for b in buses.values():
            if b.parent is not None:
                b.parent.children.append(b)
        dict.clear(devs)
        dict.update(devs, by_key)
        devs.filled = True
        dict.update(k.buses, buses)
        k.buses._fill = None
        list.extend(k.root_buses, roots)
        k.root_buses._fill = None
        # everything is built: the parsed uid lists and bus-row indexes only served the
        # on-demand builds (both are re-read from the note if ever needed again). The
        # inflated sections stay: a save compares against them to reuse unchanged chunks.
        self.kept._uids.clear()
        self._bus_rows = self._bus_index = self._self_index = self._bus_body = None


def decode(data: bytes, fabric, *, read, incoming=None, alloc_preserve=None,
           free_preserved=None, file=None, budget=None):
    """The kernel the note describes, over ``fabric``; ``read(pa, n)`` reads the state file's
    memory image (the outgoing ``struct pci_ser``). Returns ``(kernel, kept)``."""
    try:
        return _decode(data, fabric, read, incoming, alloc_preserve, free_preserved, file,
                       budget)
    except BadInput as exc:
        if exc.file is None:
            raise exc.in_file(file, field=FIELD) from None
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise _bad(f"kernel state is corrupt: {exc!r}", file) from None


def _decode(data, fabric, read, incoming, alloc_preserve, free_preserved, file, budget):
    from pcilu_cli.abi.untrusted import loads_json
    from pcilu_cli.kernel import Kernel
    from pcilu_cli.kernel import liveupdate as lu
    from pcilu_cli.kernel.log import KernelLog
    from pcilu_cli.kernel.params import KernelParams
    kept = Kept(data, len(fabric), file, budget)
    d = loads_json(kept.section_raw(0), file=file, field=FIELD, what="kernel note")
    if not isinstance(d, dict):
        raise _bad("the kernel note's head is not an object", file)
    from pcilu_cli.state.metadata import check_kernel_head
    check_kernel_head(d, file, FIELD)
    k = Kernel(fabric, d["profile"], KernelParams.from_dict(d["params"]), incoming,
               d["generation"], alloc_preserve, free_preserved)
    if k._allocator is not None and d.get("allocator") is not None:
        k._allocator.used = {int(a): o for a, o in d["allocator"].items()}
    k.phase, k.panic = d["phase"], d["panic"]
    k.log = KernelLog.from_state(d["log"], keep_debug=k.params.dyndbg)
    b = _Builder(k, kept, fabric, file)
    k.devices = LazyDevices(b)
    k.buses = _FillDict(b.build_all)
    k.root_buses = _FillList(b.build_all)
    k.luo.load_state(d["luo"])
    o = d.get("outgoing")
    if o:
        if o.get("layout") == "blocks":
            from pcilu_cli.kernel.pci_blocks import PciSerBlocks
            k.pci_flb.out_obj = PciSerBlocks.from_state(lu._kernel_pages(k), {
                "pa": o["pa"], "version": o.get("version"),
                "blob": read(o["pa"], o["size"]).hex(),
                "blocks": [[pa, read(pa, 4096).hex()] for pa in o["blocks"]]})
        else:
            k.pci_flb.out_obj = lu.PciSer(o["pa"], bytearray(read(o["pa"], o["size"])))
    i = d.get("incoming")
    if i:
        if i.get("layout") == "blocks":
            from pcilu_cli.kernel.pci_blocks import PciSerBlocksIn
            ser = PciSerBlocksIn.from_state(i)
        else:
            ser = lu.PciSer(i["pa"], bytearray.fromhex(i["blob"]))
            ser.max_nr = i["max_nr"]
        k.pci_flb.in_obj = lu.PciFlbIncoming(ser, {a: s for a, s in i["xa"]})
    # the incoming struct pci_ser is the PCI FLB's retrieved object
    # (luo_flb_retrieve_one() sets it, liveupdate_flb_put_incoming()'s finish drops it): a
    # note with one and not the other was not written by a kernel
    flb = k.pci_flb
    if (flb.in_obj is not None) != (flb.retrieved and not flb.finished):
        raise _bad("the kernel note's incoming struct pci_ser and its PCI FLB disagree ("
                   f"{'an' if flb.in_obj is not None else 'no'} incoming blob, the FLB "
                   f"{'retrieved' if flb.retrieved else 'not retrieved'}"
                   f"{' and finished' if flb.finished else ''})", file)
    k.incoming_freed = d.get("incoming_freed", False)
    k.incoming_freed_pages = list(d.get("incoming_freed_pages", []))
    k.incoming_free_calls = d.get("incoming_free_calls", int(k.incoming_freed))
    k.driver_faults = {a: v for a, v in d.get("driver_faults", [])}
    k.had_incoming = d.get("had_incoming", False)
    return k, kept


def pages_reader(pages):
    """``read(pa, n)`` over ``[(pa, bytes)]`` (a kernel's outgoing pages, no Machine)."""
    table = {pa: bytes(data) for pa, data in pages}

    def read(pa, n):
        for base, data in table.items():
            if base <= pa and pa + n <= base + max(len(data), 4096):
                off = pa - base
                return data[off:off + n] + bytes(max(0, n - len(data[off:off + n])))
        raise BadInput(f"no page at {pa:#x}", field=FIELD)
    return read
