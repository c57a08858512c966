# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/pci.h``: ``struct pci_ser`` and ``struct pci_dev_ser`` in every layout
the series has had (``pci-liveupdate-v6.md`` §1, §13; ``kho-luo-abi.md`` §4).

Construct is the single source of truth for each layout: the declarations are in
:mod:`pcilu_cli.abi.pci_layouts` (re-exported here, imported on first use). The device array is
decoded in bulk with ``struct.iter_unpack`` through the fast codecs derived from them
(Construct's per-element parse is ~100x slower, conventions §3); the derived formats are kept
in :mod:`pcilu_cli.abi.codec_cache`, which a test holds equal to what Construct derives, so
that decoding a blob never imports Construct. All values are little-endian (x86_64 / arm64
kernels; ``__packed``).

Flex era (v6: ``pci-v1`` → ``pci-v2`` → ``pci-v3``)::

    struct pci_dev_ser { u32 domain; u16 bdf; u16 refcount; }     /* v6 patch 01: u16 padding */
    struct pci_ser { u32 max_nr_devices; u32 nr_devices; struct pci_dev_ser devices[]; }

Block era (v7, ``pci-v2``): ``struct pci_ser { u32 nr_devices; u64 devices; } __packed`` (12 bytes),
``devices`` = PA of the first ``kho_block`` of 8-byte entries.
Version-field era (``pci`` + ``PCI_LUO_FLB_VERSION``): ``{ u32 version; u32 nr_devices; u64 devices; }``.
"""
from __future__ import annotations

import struct

from pcilu_cli.abi.bdf import format_dev_id, parse_bdf, pci_dev_id, xa_key
from pcilu_cli.abi.codec import cached, lazy_layouts
from pcilu_cli.abi.profiles import BLOCK, FLEX, PADDING, VERSION, Profile, get_profile
from pcilu_cli.errors import BadInput, Diagnostic, Value

_LAYOUTS = "pcilu_cli.abi.pci_layouts"


__getattr__ = lazy_layouts(__name__, _LAYOUTS)   # the declarations, on first use


# The fast codecs (struct speed for the hot paths), derived from the declarations.
PCI_DEV_SER, _DEV_OFF = cached(_LAYOUTS, "pci_dev_ser")   # (domain, bdf, refcount): bulk codec
PCI_DEV_SER_SIZE = PCI_DEV_SER.size    # 8
assert cached(_LAYOUTS, "pci_dev_ser_v1")[0].format == PCI_DEV_SER.format  # padding = refcount
REFCOUNT_OFFSET = _DEV_OFF["refcount"]                     # 6
PCI_SER_FLEX, _FLEX_OFF = cached(_LAYOUTS, "pci_ser_flex_header")  # (max_nr_devices, nr_devices)
PCI_SER_BLOCK, _BLOCK_OFF = cached(_LAYOUTS, "pci_ser_block")      # (nr_devices, devices)
PCI_SER_VERSION, _VERSION_OFF = cached(_LAYOUTS, "pci_ser_version")  # (version, nr, devices)
FLEX_DEVICES_OFFSET = PCI_SER_FLEX.size      # devices[] follows the header: 8

# A blob larger than this is refused before anything is allocated for it.
MAX_BLOB_BYTES = 1 << 31
# `encode` refuses to lay out more slots than this (32 MiB of entries; the kernel's
# max_nr_devices is the number of PCI functions, a few hundred thousand at most).
MAX_ENCODE_SLOTS = 1 << 22


def header_layout(profile: Profile | str):
    """The Construct declaration of the profile's ``struct pci_ser`` header."""
    p = get_profile(profile)
    return __getattr__({FLEX: "pci_ser_flex_header", BLOCK: "pci_ser_block",
                        VERSION: "pci_ser_version"}[p.pci_layout])


def entry_layout(profile: Profile | str):
    return __getattr__("pci_dev_ser_v1" if get_profile(profile).refcount == PADDING
                       else "pci_dev_ser")


def header_codec(profile: Profile | str) -> struct.Struct:
    """The fast codec of the profile's ``struct pci_ser`` header."""
    p = get_profile(profile)
    return {FLEX: PCI_SER_FLEX, BLOCK: PCI_SER_BLOCK, VERSION: PCI_SER_VERSION}[p.pci_layout]


def nr_devices_offset(layout: str) -> int:
    """offsetof(struct pci_ser, nr_devices) in the ``flex``/``block``/``version`` layout."""
    return {FLEX: _FLEX_OFF, BLOCK: _BLOCK_OFF, VERSION: _VERSION_OFF}[layout]["nr_devices"]


def devices_pa_offset(layout: str) -> int:
    """offsetof(struct pci_ser, devices) of the block eras (a u64 PA)."""
    return {BLOCK: _BLOCK_OFF, VERSION: _VERSION_OFF}[layout]["devices"]


def entry_offset(slot: int) -> int:
    """Byte offset of ``devices[slot]`` in a flex-era blob."""
    return FLEX_DEVICES_OFFSET + PCI_DEV_SER_SIZE * slot


def flex_size(max_nr_devices: int) -> int:
    """struct_size(ser, devices, max_nr_devices)."""
    return FLEX_DEVICES_OFFSET + PCI_DEV_SER_SIZE * max_nr_devices


# ---- decoded form ----------------------------------------------------------------------------

class PciSer(Value):
    """A decoded ``struct pci_ser``. (A plain class, not a dataclass: ``inspect`` of a blob
    loads this module at every start, and a dataclass's methods are generated at import.)"""

    FIELDS = ("profile", "layout", "nr_devices", "max_nr_devices", "version", "devices_pa",
              "entries", "diagnostics", "size", "file_size", "body")

    def __init__(self, profile: Profile, layout: str, nr_devices: int,
                 max_nr_devices: int | None = None,      # flex era
                 version: int | None = None,             # version era
                 devices_pa: int | None = None,          # block / version era
                 entries: list | None = None,    # (slot, domain, bdf, refcount), in use only
                 diagnostics: list | None = None,
                 size: int = 0,                  # bytes the layout occupies (header + array)
                 file_size: int = 0,             # bytes that were given
                 body: memoryview | None = None):  # flex, decoded with stream=True: the array
        self.profile = profile
        self.layout = layout
        self.nr_devices = nr_devices
        self.max_nr_devices = max_nr_devices
        self.version = version
        self.devices_pa = devices_pa
        self.entries = [] if entries is None else entries
        self.diagnostics = [] if diagnostics is None else diagnostics
        self.size = size
        self.file_size = file_size
        self.body = body


    @property
    def compatible(self) -> str:
        return self.profile.pci_compatible


def decode_entries(body: bytes | memoryview, base_slot: int = 0) -> list:
    """Bulk-decode a pci_dev_ser array; returns in-use entries as (slot, domain, bdf, refcount)."""
    return [(i, d, b, r) for i, (d, b, r) in enumerate(PCI_DEV_SER.iter_unpack(body), base_slot)
            if r]


def in_use_entries(ser: "PciSer"):
    """The in-use entries of ``ser`` as ``(slot, domain, bdf, refcount)``, in slot order: read
    one at a time from the blob when it was decoded with ``stream=True``, else its list."""
    if ser.body is None:
        return iter(ser.entries)
    return ((i, d, b, r) for i, (d, b, r) in enumerate(PCI_DEV_SER.iter_unpack(ser.body)) if r)


def in_use_count(ser: "PciSer") -> int:
    return _in_use(ser.body) if ser.body is not None else len(ser.entries)


def decode_pci_ser(data: bytes, profile: Profile | str | None = None, *, file=None,
                   entries_from=None, stream: bool = False) -> PciSer:
    """Decode one ``struct pci_ser`` as the incoming kernel would (``pci_flb_retrieve()``), plus
    the bounds and consistency checks the kernel does not make (reported, not enforced).

    Raises :class:`BadInput` for what cannot be decoded at all (truncation, a
    ``max_nr_devices`` larger than the file); returns :class:`Diagnostic` warnings for what the
    kernel would accept (``nr_devices`` disagreeing with the entries, duplicates: v6 turns a
    duplicate into a retrieve error but does not crash, so it is a warning that names it).
    For the block and version eras, ``entries_from(devices_pa)`` (if given) returns the raw
    entry bytes of the ``kho_block`` chain (the caller walks memory); otherwise only the header
    is decoded.
    """
    p = get_profile(profile)
    mv = memoryview(data)
    n = len(mv)
    hsize = header_codec(p).size
    if n < hsize:
        raise BadInput(f"truncated struct pci_ser header: {n} bytes, need {hsize} "
                       f"(profile {p.name}, {p.pci_layout} layout)", file=file, offset=n,
                       field="pci_ser")
    diags: list[Diagnostic] = []
    if p.pci_layout == FLEX:
        max_nr, nr = PCI_SER_FLEX.unpack_from(data, 0)
        need = flex_size(max_nr)
        if need > n:
            full = (n - hsize) // PCI_DEV_SER_SIZE
            raise BadInput(f"max_nr_devices {max_nr} needs {need} bytes but the blob has {n} "
                           f"(room for {full} entries)", file=file, offset=0,
                           field="max_nr_devices")
        ser = PciSer(p, FLEX, nr, max_nr_devices=max_nr, size=need, file_size=n)
        if stream:
            # the entries stay in the blob (write_json streams them); the checks below run
            # over it without listing a million entries
            ser.body = mv[hsize:need]
        else:
            ser.entries = decode_entries(mv[hsize:need])
        if any(mv[need:n].tobytes().strip(b"\0")):
            diags.append(Diagnostic("non-zero bytes after devices[max_nr_devices] (the kernel "
                                    "zero-fills the folio tail)", file=file, offset=need,
                                    field="tail", kernel_accepts=True))
    else:
        if p.pci_layout == VERSION:
            version, nr, devices_pa = PCI_SER_VERSION.unpack_from(data, 0)
        else:
            nr, devices_pa = PCI_SER_BLOCK.unpack_from(data, 0)
            version = None
        ser = PciSer(p, p.pci_layout, nr, version=version, devices_pa=devices_pa, size=hsize,
                     file_size=n)
        if version is not None and version != p.pci_version:
            raise BadInput(f"unknown PCI FLB version {version} (profile {p.name} reads version "
                           f"{p.pci_version}; the kernel panics: \"Incoming PCI FLB version "
                           f"(v{version}) is incompatible with this kernel (v{p.pci_version})\")",
                           file=file, offset=0, field="version")
        if entries_from is not None and devices_pa:
            ser.entries = entries_from(devices_pa)
    if ser.body is not None:
        _check_consistency_stream(ser, diags, file)
    else:
        _check_consistency(ser, diags, file)
    ser.diagnostics = diags
    return ser


def _check_consistency(ser: PciSer, diags: list, file) -> None:
    if ser.profile.refcount == PADDING:
        return  # pci-v1 of patch 01: the last u16 is padding, nothing to count
    in_use = len(ser.entries)
    nr_off = nr_devices_offset(ser.layout)
    if ser.layout == FLEX or ser.entries or not ser.devices_pa:
        if in_use != ser.nr_devices:
            diags.append(Diagnostic(f"nr_devices is {ser.nr_devices} but {in_use} entries are "
                                    "in use (refcount != 0); the kernel does not check this",
                                    file=file, offset=nr_off, field="nr_devices",
                                    kernel_accepts=True))
    seen: dict[int, int] = {}
    more = 0
    nr_diags = len(diags)
    for slot, dom, bdf, _ref in ser.entries:
        key = xa_key(dom, bdf)
        if key in seen:
            if len(diags) - nr_diags < MAX_DUPLICATES_NAMED:
                off = entry_offset(slot) if ser.layout == FLEX else None
                diags.append(_duplicate(seen[key], slot, dom, bdf, off, file))
            else:
                more += 1
        else:
            seen[key] = slot
    if more:
        diags.append(_more_duplicates(more, file))


# A blob can hold a million duplicates; the kernel stops at the first one (the xa_insert()
# that fails in pci_flb_retrieve()), so the first few are named and the rest counted.
MAX_DUPLICATES_NAMED = 16


def _duplicate(first: int, slot: int, dom: int, bdf: int, off, file) -> Diagnostic:
    return Diagnostic(
        f"duplicate entry {format_dev_id(dom, bdf)} in slots {first} and {slot}: "
        "pci_flb_retrieve() fails with -EBUSY (v6: WARN, nothing is incoming; "
        "later kernels panic)", file=file, offset=off,
        field=f"devices[{slot}]", kernel_accepts=False)


def _more_duplicates(more: int, file) -> Diagnostic:
    return Diagnostic(f"{more} more duplicate entries after the first {MAX_DUPLICATES_NAMED} "
                      "(the kernel stops at the first)", file=file, field="devices",
                      kernel_accepts=False)


def _in_use(body) -> int:
    """Entries with a non-zero refcount, counted over a strided view of the refcounts."""
    import array
    import sys
    n = len(body) // PCI_DEV_SER_SIZE
    if sys.byteorder == "little" and PCI_DEV_SER_SIZE % 2 == 0:
        refs = array.array("H", body.cast("H")[REFCOUNT_OFFSET // 2::PCI_DEV_SER_SIZE // 2])
        return n - refs.count(0)
    return sum(1 for _d, _b, r in PCI_DEV_SER.iter_unpack(body) if r)   # pragma: no cover


def _check_consistency_stream(ser: PciSer, diags: list, file) -> None:
    """:func:`_check_consistency` over ``ser.body`` (same diagnostics, same order) with one
    bitmap of 65,536 bits per domain instead of a key set."""
    if ser.profile.refcount == PADDING:
        return
    in_use = _in_use(ser.body)
    if in_use != ser.nr_devices:
        diags.append(Diagnostic(f"nr_devices is {ser.nr_devices} but {in_use} entries are "
                                "in use (refcount != 0); the kernel does not check this",
                                file=file, offset=nr_devices_offset(FLEX), field="nr_devices",
                                kernel_accepts=True))
    bits: dict[int, bytearray] = {}
    dups = []
    more = 0
    for slot, (dom, bdf, ref) in enumerate(PCI_DEV_SER.iter_unpack(ser.body)):
        if ref:
            bm = bits.get(dom)
            if bm is None:
                bm = bits[dom] = bytearray(8192)
            i, m = bdf >> 3, 1 << (bdf & 7)
            if not bm[i] & m:
                bm[i] |= m
            elif len(dups) < MAX_DUPLICATES_NAMED:
                dups.append((slot, dom, bdf))
            else:
                more += 1
    if dups:
        # the slot each named duplicate first appeared in: one more pass, for those keys only
        first: dict[tuple, int] = {}
        want = {(d, b) for _s, d, b in dups}
        for s, (d, b, r) in enumerate(PCI_DEV_SER.iter_unpack(ser.body)):
            if r and (d, b) in want and (d, b) not in first:
                first[(d, b)] = s
                if len(first) == len(want):
                    break
        for slot, dom, bdf in dups:
            diags.append(_duplicate(first[(dom, bdf)], slot, dom, bdf, entry_offset(slot), file))
    if more:
        diags.append(_more_duplicates(more, file))


def write_json(ser: PciSer, write, dumps, chunk: int = 16384) -> None:
    """Write :func:`pci_ser_to_json`'s document of ``ser`` through ``write(text)`` as
    ``dumps`` (the caller's ``json.dumps``) would print it, the devices formatted in chunks
    straight from the blob (``ser`` from ``decode_pci_ser(..., stream=True)``): the same
    bytes, without a million dicts or one string of the whole document."""
    head = pci_ser_to_json(ser)
    tail = {k: head.pop(k) for k in ("devices", "free_slots", "blob_size", "warnings")
            if k in head}
    tail.pop("devices")
    used = in_use_count(ser)
    if "free_slots" in tail:
        tail["free_slots"] = ser.max_nr_devices - used
    text = dumps(head)
    write(text[:-1] + (',' if len(head) else '') + '"devices":[')
    rows = enumerate(PCI_DEV_SER.iter_unpack(ser.body)) if ser.body is not None else \
        ((s, (d, b, r)) for s, d, b, r in ser.entries)
    out, first = [], True
    for slot, (d, b, r) in rows:
        if r:
            bus, dev, fn = b >> 8, (b >> 3) & 0x1F, b & 7
            out.append(f'{{"slot":{slot},"domain":{d},"bus":{bus},"device":{dev},'
                       f'"function":{fn},"bdf":"{d:04x}:{bus:02x}:{dev:02x}.{fn}",'
                       f'"refcount":{r}}}')
            if len(out) == chunk:
                write(("" if first else ",") + ",".join(out))
                out, first = [], False
    if out:
        write(("" if first else ",") + ",".join(out))
    write("]," + dumps(tail)[1:] + "\n")


# ---- encoding --------------------------------------------------------------------------------

def encode_pci_ser(profile: Profile | str, entries, *, max_nr_devices: int | None = None,
                   nr_devices: int | None = None, devices_pa: int = 0,
                   version: int | None = None, size: int | None = None) -> bytes:
    """Build a ``struct pci_ser`` blob from ``(slot, domain, bdf, refcount)`` entries.

    Flex era: ``max_nr_devices`` defaults to one past the highest slot; ``nr_devices`` to the
    number of entries with a non-zero refcount; free slots are zero, as the kernel leaves them.
    Block/version eras: only the header is produced (entries live in ``kho_block`` pages; see
    ``pcilu_cli.memory``). ``size`` pads with zeros (e.g. 4096 for the whole KHO folio).
    """
    p = get_profile(profile)
    entries = [tuple(int(x) for x in e) for e in entries]
    if nr_devices is None:
        nr_devices = sum(1 for e in entries if e[3])
    if p.pci_layout == FLEX:
        if max_nr_devices is None:
            max_nr_devices = max((e[0] for e in entries), default=-1) + 1
        body = bytearray(flex_size(max_nr_devices))
        PCI_SER_FLEX.pack_into(body, 0, max_nr_devices, nr_devices)
        for slot, dom, bdf, ref in entries:
            if not 0 <= slot < max_nr_devices:
                raise BadInput(f"slot {slot} outside devices[{max_nr_devices}]",
                               field=f"devices[{slot}]")
            PCI_DEV_SER.pack_into(body, entry_offset(slot), dom, bdf, ref)
        out = bytes(body)
    elif p.pci_layout == BLOCK:
        out = PCI_SER_BLOCK.pack(nr_devices, devices_pa)
    else:
        out = PCI_SER_VERSION.pack(p.pci_version if version is None else version, nr_devices,
                                   devices_pa)
    if size is not None:
        if size < len(out):
            raise BadInput(f"size {size} is smaller than the layout ({len(out)} bytes)",
                           field="size")
        out += bytes(size - len(out))
    return out


# ---- JSON (the design's contract) ------------------------------------------------------------

def pci_ser_to_json(ser: PciSer) -> dict:
    """The design's ``inspect`` document for a ``struct pci_ser``; in-use entries in slot order.

    Built with one comprehension over tuples: this is the 1,000,000-entry hot path.
    """
    doc = {"kind": "pci_ser", "profile": ser.profile.name, "compatible": ser.compatible,
           "layout": ser.layout}
    if ser.max_nr_devices is not None:
        doc["max_nr_devices"] = ser.max_nr_devices
    if ser.version is not None:
        doc["version"] = ser.version
    if ser.devices_pa is not None:
        doc["devices_pa"] = ser.devices_pa
    doc["nr_devices"] = ser.nr_devices
    doc["devices"] = [
        {"slot": s, "domain": d, "bus": b >> 8, "device": (b >> 3) & 0x1F, "function": b & 7,
         "bdf": f"{d:04x}:{b >> 8:02x}:{(b >> 3) & 0x1F:02x}.{b & 7}",  # format_dev_id(),
         "refcount": r}                                                 # inlined: hot path
        for s, d, b, r in ser.entries]
    if ser.max_nr_devices is not None:
        doc["free_slots"] = ser.max_nr_devices - len(ser.entries)
    doc["blob_size"] = ser.file_size
    doc["warnings"] = [w.to_json() for w in ser.diagnostics]
    return doc


def entries_from_json(doc: dict, *, file=None) -> list:
    """Inverse of :func:`pci_ser_to_json` for ``devices``: validates every field."""
    out = []
    devs = doc.get("devices")
    if not isinstance(devs, list):
        raise BadInput("'devices' must be a list", file=file, field="devices")
    for i, d in enumerate(devs):
        if not isinstance(d, dict):
            raise BadInput("each device must be an object", file=file, field=f"devices[{i}]")
        for key in ("slot", "domain", "bus", "device", "function", "refcount"):
            if key in d and (isinstance(d[key], bool) or not isinstance(d[key], int)):
                raise BadInput(f"{key} must be an integer, not {d[key]!r}", file=file,
                               field=f"devices[{i}].{key}")
        try:
            slot = int(d.get("slot", i))
            if "bus" in d:
                domain = int(d.get("domain", 0))
                bus, dev, fn = int(d["bus"]), int(d["device"]), int(d["function"])
            else:
                domain, bus, devfn = parse_bdf(str(d["bdf"]), max_domain=2**32 - 1)
                dev, fn = devfn >> 3, devfn & 7
                if "domain" in d:
                    domain = int(d["domain"])
            ref = int(d.get("refcount", 1))
        except (KeyError, TypeError, ValueError) as e:
            raise BadInput(f"bad or missing value: {e}", file=file, field=f"devices[{i}]") from None
        for name, val, hi in (("slot", slot, MAX_ENCODE_SLOTS - 1), ("domain", domain, 2**32 - 1),
                              ("bus", bus, 255), ("device", dev, 31), ("function", fn, 7),
                              ("refcount", ref, 65535)):
            if not 0 <= val <= hi:
                raise BadInput(f"{name} {val} out of range 0..{hi}", file=file,
                               field=f"devices[{i}].{name}")
        out.append((slot, domain, pci_dev_id(bus, dev << 3 | fn), ref))
    return out

