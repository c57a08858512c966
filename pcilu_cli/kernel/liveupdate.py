# SPDX-License-Identifier: GPL-2.0-only
"""``drivers/pci/liveupdate.c``: the PCI core's Live Update logic, final v6 plus the named
differences of the other profiles (``pci-liveupdate-v6.md`` §1.3, §12, §13).

Every function takes the generation's :class:`~pcilu_cli.kernel.generation.Kernel` ``k`` first
and is named after the kernel function it mirrors. Functions that return ``int`` return 0 or a
negative errno, like the kernel; ``void`` ones return None. The global rwsem is implicit (the
simulator is single-threaded).

The outgoing ``struct pci_ser`` is a :class:`PciSer` over a ``bytearray`` laid out exactly as
the v6 kernel writes it (``pci-liveupdate-v6.md`` §1): header ``<II`` (max_nr_devices,
nr_devices) then ``<IHH`` entries (domain, bdf, refcount); a device's ``outgoing``/``incoming``
is its slot index in the respective blob. The block eras (v7, version field) keep their
devices in a ``kho_block`` chain instead (:mod:`pcilu_cli.kernel.pci_blocks`); both forms offer
the same accessors (``nr_devices``, ``refcount``, ``set_entry``, ``claim_slot``...).

Profile differences, each a named predicate below on the profile's fields:

* :func:`_has` -- the v6 patch that introduced a behaviour (``Profile.patch``; spec §0.1,
  §17): outgoing tracking 02, incoming tracking 03, bus numbers 05, bridge auto-preserve 06,
  ACS inheritance and the ACS-quirk refusal 08, ARI inheritance 09, freeze 10, Bus Master
  kept at kexec 11. Every later series carries all of them (``patch`` 12).
* :func:`_tracks_devices` -- patch 02 (``pci-v1`` of patch 01 is the FLB alone).
* :func:`_auto_preserves_bridges` -- patch 06 (``refcount == PATH``).
* :func:`_blocks` -- ``pci_layout`` BLOCK/VERSION: kho_block chain instead of a flex array.
* :func:`_version_era` -- ``pci_layout == VERSION``: retrieve panics itself, refusals logged,
  cleanup_device only WARNs, bus numbers may be assigned next to healthy preserved bridges.
"""
from __future__ import annotations

import errno as _e

from pcilu_cli.errors import BadInput, KernelPanic, KernelRefusal
from pcilu_cli.abi import pci as _pci
from pcilu_cli.abi import profiles as _profiles
from pcilu_cli.abi.bdf import key_name, xa_key
from pcilu_cli.abi.codec import cached_field

from .log import DEBUG, INFO, WARNING, WARN, EMERG, ERR
from .luo import FlbError

EINVAL, EBUSY, ENOSPC, ENOENT, EOPNOTSUPP, ENODATA, ENOMEM = (
    -_e.EINVAL, -_e.EBUSY, -_e.ENOSPC, -_e.ENOENT, -_e.EOPNOTSUPP, -_e.ENODATA, -_e.ENOMEM)

HDR = _pci.PCI_SER_FLEX            # struct pci_ser (flex era) header: max_nr_devices, nr_devices
ENTRY = _pci.PCI_DEV_SER           # struct pci_dev_ser: domain, bdf, refcount
_RC = cached_field(_pci._LAYOUTS, "pci_dev_ser", "refcount")
_NR = cached_field(_pci._LAYOUTS, "pci_ser_flex_header", "nr_devices")
_NR_OFF = _pci.nr_devices_offset(_profiles.FLEX)
_RC_OFF = _pci.REFCOUNT_OFFSET
_DEV0 = _pci.FLEX_DEVICES_OFFSET           # devices[0]; entry i at _DEV0 + _ESZ * i
_ESZ = _pci.PCI_DEV_SER_SIZE

PCI_ACS_CTRL = 6


def pci_ser_size(max_nr_devices: int) -> int:
    # struct_size_t(struct pci_ser, devices, max_nr_devices)
    return _pci.flex_size(max_nr_devices)


class PciSer:
    """A flex-era ``struct pci_ser`` in memory (outgoing: ours; incoming: a copy of the blob).

    An incoming blob may be shorter than its header claims (the kernel trusts
    ``max_nr_devices``; we treat bytes past what memory held as zero and drop writes there).
    """

    __slots__ = ("pa", "blob", "max_nr")

    def __init__(self, pa: int, blob: bytearray):
        self.pa = pa
        self.blob = blob
        self.max_nr = HDR.unpack_from(blob, 0)[0] if len(blob) >= HDR.size else 0

    @classmethod
    def new(cls, pa: int, max_nr: int) -> "PciSer":
        blob = bytearray(pci_ser_size(max_nr))
        HDR.pack_into(blob, 0, max_nr, 0)
        return cls(pa, blob)

    @property
    def nr_devices(self) -> int:
        return HDR.unpack_from(self.blob, 0)[1]

    @nr_devices.setter
    def nr_devices(self, v: int) -> None:
        _NR.pack_into(self.blob, _NR_OFF, v & 0xFFFFFFFF)

    def refcount(self, i: int) -> int:
        off = _DEV0 + _ESZ * i + _RC_OFF
        if off + _RC.size > len(self.blob):
            return 0
        return _RC.unpack_from(self.blob, off)[0]

    def set_refcount(self, i: int, v: int) -> None:
        off = _DEV0 + _ESZ * i + _RC_OFF
        if off + _RC.size <= len(self.blob):
            _RC.pack_into(self.blob, off, v & 0xFFFF)

    def set_entry(self, i: int, domain: int, bdf: int, refcount: int) -> None:
        ENTRY.pack_into(self.blob, _DEV0 + _ESZ * i, domain, bdf, refcount)

    def zero_entry(self, i: int) -> None:
        off = _DEV0 + _ESZ * i
        self.blob[off:off + ENTRY.size] = bytes(ENTRY.size)

    def entries(self):
        """(slot, domain, bdf, refcount) of in-use entries, in slot order."""
        body = memoryview(self.blob)[HDR.size:HDR.size + ENTRY.size * (
            (len(self.blob) - HDR.size) // ENTRY.size)]
        return [(i, d, b, r) for i, (d, b, r) in enumerate(ENTRY.iter_unpack(body)) if r]

    def claim_slot(self) -> int:
        """Spec §4.3: start at ``nr_devices``, wrap modulo ``max_nr_devices``, first free slot."""
        nr, max_nr = self.nr_devices, self.max_nr
        if nr == max_nr:
            return ENOSPC
        for i in range(max_nr):
            idx = (nr + i) % max_nr
            if self.refcount(idx) == 0:
                return idx
        return ENOSPC

    def release_slot(self, i: int) -> None:
        """The flex array never shrinks."""

    def pages(self) -> list:
        return [(self.pa, self.blob)]

    def free(self, free_preserved) -> None:
        free_preserved(self.pa)                 # kho_unpreserve_free()


class PciFlbIncoming:
    """``struct pci_flb_incoming``: the blob and the xarray key → slot."""

    __slots__ = ("ser", "xa")

    def __init__(self, ser: PciSer, xa: dict):
        self.ser = ser
        self.xa = xa


# -- printk ---------------------------------------------------------------------------------
def _pr(k, level, text):
    k.log.add(level, k.profile.pr_fmt + text)


def _dev(k, level, dev, text):
    k.log.add(level, f"pci {dev.name}: {text}")


# -- FLB ops (pci_liveupdate_flb) ------------------------------------------------------------
class PciFlbOps:
    """The ``liveupdate_flb_ops`` of the PCI core's FLB, bound to one generation."""

    def __init__(self, k):
        self.k = k

    def preserve(self):
        return pci_flb_preserve(self.k)

    def unpreserve(self, obj):
        pci_flb_unpreserve(self.k, obj)

    def retrieve(self, data):
        return pci_flb_retrieve(self.k, data)

    def finish(self, obj):
        pci_flb_finish(self.k, obj)


# -- profile predicates (one per difference; spec §1.3 / §13) ----------------------------------
def _has(k, patch: int) -> bool:
    """Does this kernel carry the behaviour v6 patch ``patch`` introduced?"""
    return k.profile.patch >= patch


def _tracks_devices(k) -> bool:
    # v6 patch 01 ("pci-v1", u16 padding): the FLB only; outgoing tracking starts in patch 02
    return _has(k, 2) and k.profile.refcount != _profiles.PADDING


def _tracks_incoming(k) -> bool:
    # patch 03: the xarray of incoming devices, pci_liveupdate_setup_device()/finish();
    # _has(k, 3) and _tracks_devices(k) in one step (enumeration asks for every bridge)
    p = k.profile
    return p.patch >= 3 and p.refcount != _profiles.PADDING


def _auto_preserves_bridges(k) -> bool:
    # patch 06 onwards: refcount = preserved devices at or below, bridges auto-preserved
    return _has(k, 6) and k.profile.refcount == _profiles.PATH


def _blocks(k) -> bool:
    # v7 onwards: devices in a kho_block chain, not a flexible array
    return k.profile.pci_layout in (_profiles.BLOCK, _profiles.VERSION)


def _version_era(k) -> bool:
    # "pci" + PCI_LUO_FLB_VERSION (v8/v9)
    return k.profile.pci_layout == _profiles.VERSION


def _kernel_pages(k):
    from .pci_blocks import KernelPages
    if getattr(k, "kpages", None) is None:
        k.kpages = KernelPages(k.alloc_preserve, k.free_preserved)
    return k.kpages


def pci_flb_preserve(k):
    """First dependent file preserved: allocate ``struct pci_ser`` (v6: sized by counting every
    pci_dev; block eras: the small header, blocks come with the first device)."""
    if _blocks(k):
        from .pci_blocks import PciSerBlocks
        version = k.profile.pci_version if _version_era(k) else None
        pages = _kernel_pages(k)
        try:
            pa = pages.alloc_preserve(PciSerBlocks.header_size(version))
        except KernelRefusal as exc:
            raise FlbError(-(exc.errno or _e.ENOMEM)) from None
        _pr(k, DEBUG, "Preserved struct pci_ser")
        return PciSerBlocks(pages, pa, version), pa
    max_nr = len(k.devices)                  # for_each_pci_dev()
    try:
        pa = k.alloc_preserve(pci_ser_size(max_nr))     # kho_alloc_preserve()
    except KernelRefusal as exc:
        raise FlbError(-(exc.errno or _e.ENOMEM)) from None
    ser = PciSer.new(pa, max_nr)
    _pr(k, DEBUG, f"Preserved struct pci_ser with room for {max_nr} devices")
    return ser, pa


def pci_flb_unpreserve(k, ser: PciSer) -> None:
    if ser.nr_devices:
        k.log.add(WARN, "drivers/pci/liveupdate.c: pci_flb_unpreserve(): "
                        "WARN_ON(ser->nr_devices)")
    ser.free(k.free_preserved)
    _pr(k, DEBUG, "Unpreserved struct pci_ser")


def pci_flb_retrieve(k, data: int) -> PciFlbIncoming:
    """Build the xarray of incoming entries (spec §1.5, §3.4). No consistency checks."""
    if _blocks(k):
        return _pci_flb_retrieve_blocks(k, data)
    src = k.luo.incoming
    hdr = bytes(src.read(data, HDR.size)).ljust(HDR.size, b"\0")
    max_nr, _nr = HDR.unpack(hdr)
    body = bytes(src.read(data + HDR.size, ENTRY.size * max_nr))
    body = body[:len(body) // ENTRY.size * ENTRY.size]
    xa = {}
    for i, (domain, bdf, rc) in enumerate(ENTRY.iter_unpack(body)):
        if not rc or not _tracks_incoming(k):  # pci-v1: padding; the xarray is patch 03
            continue
        key = xa_key(domain, bdf)           # pci_ser_xa_key(): 64-bit shift (v6 fix)
        if key in xa:                        # xa_insert() -> -EBUSY
            _kho_restore_free(k, data)
            raise FlbError(EBUSY)
        xa[key] = i
    ser = PciSer(data, bytearray(hdr + body))
    ser.max_nr = max_nr
    k.had_incoming = bool(xa)
    return PciFlbIncoming(ser, xa)


def _pci_flb_retrieve_blocks(k, data: int) -> PciFlbIncoming:
    """v7 / version era pci_flb_retrieve(): header, version check (version era), then
    kho_block_set_restore() of ``devices`` and the xarray. v7 returns the error (the caller
    panics, spec §13); the version era panics here with its own messages (spec §12)."""
    from pcilu_cli.memory.blocks import BlockSetCorrupt, kho_block_set_restore
    from .pci_blocks import ENTRY_SIZE, PciSerBlocksIn, SourceMem
    src = k.luo.incoming
    version_era = _version_era(k)
    codec = _pci.PCI_SER_VERSION if version_era else _pci.PCI_SER_BLOCK
    hsize = codec.size
    hdr = bytearray(bytes(src.read(data, hsize)).ljust(hsize, b"\0"))
    if version_era:
        version, _nr, head = codec.unpack(hdr)
        if version != k.profile.pci_version:
            raise KernelPanic(f"Incoming PCI FLB version (v{version}) is incompatible with "
                              f"this kernel (v{k.profile.pci_version})")
    else:
        version = None
        _nr, head = codec.unpack(hdr)
    mem = SourceMem(src)
    try:
        rs = kho_block_set_restore(mem, head, ENTRY_SIZE, what="PCI devices")
    except (BlockSetCorrupt, BadInput) as exc:
        msg = getattr(exc, "kernel_message", None) or exc.one_line()
        k.log.add(ERR, msg)                  # kho_block_set_restore()'s pr_err
        if version_era:
            raise KernelPanic(f"Failed to restore devices KHO block set ({EINVAL})") from None
        _kho_restore_free(k, data)
        raise FlbError(EINVAL) from None
    blocks = [(b, c, mem.read(b, 4096)) for b, c in rs.blocks]
    xa = {}
    for i, (domain, bdf, rc) in enumerate(ENTRY.iter_unpack(rs.data)):
        if not rc:
            continue
        key = xa_key(domain, bdf)
        if key in xa:                        # xa_insert() -> -EBUSY
            if version_era:
                raise KernelPanic(f"Failed to insert PCI device {key_name(key)} into xarray "
                                  f"({EBUSY})")
            _kho_restore_free(k, data, [b for b, _c, _p in blocks])
            raise FlbError(EBUSY)
        xa[key] = i
    k.had_incoming = bool(xa)
    return PciFlbIncoming(PciSerBlocksIn(data, hdr, version, blocks), xa)


def _kho_restore_free(k, pa, blocks=()):
    """kho_restore_free() of the incoming ``struct pci_ser`` (and, block eras, the
    kho_block_set destroy of its device blocks): ``k.incoming_freed_pages`` lists them so the
    Machine can release every one."""
    k.incoming_freed = True
    k.incoming_free_calls += 1                # a second call frees the same pages again
    k.incoming_freed_pages = [pa] + [b for b in blocks if b != pa]


def pci_flb_finish(k, inc: PciFlbIncoming) -> None:
    if k.profile.panic_on_unfinished:
        left = 0
        for key, slot in inc.xa.items():
            if inc.ser.refcount(slot):
                left += 1
                k.log.add(EMERG, k.profile.pr_fmt + f"{key_name(key)} was never finished!")
        if left:
            raise KernelPanic(f"{left} preserved device(s) were never finished!")
    _kho_restore_free(k, inc.ser.pa, [b for b, _d in inc.ser.pages()])


# -- outgoing / incoming FLB wrappers --------------------------------------------------------
def pci_liveupdate_flb_get_outgoing(k):
    return k.luo.liveupdate_flb_get_outgoing(k.pci_flb)


def pci_liveupdate_flb_get_incoming(k):
    """Returns the incoming object (a reference is taken) or None (spec §3.4 table)."""
    err, obj = k.luo.liveupdate_flb_get_incoming(k.pci_flb)
    if not err:
        return obj
    if err in (EOPNOTSUPP, ENODATA):
        return None
    if err == ENOENT:
        k.log.add_once("no-incoming-flb", INFO,
                       k.profile.pr_fmt + f"No incoming FLB matched {k.profile.pci_compatible}")
        return None
    if k.profile.retrieve_failure == "panic":
        raise KernelPanic(f"Failed to retrieve incoming FLB data ({err})")
    k.log.add_once("retrieve-failed", WARN, "Failed to retrieve incoming FLB data")
    return None


def pci_liveupdate_flb_put_incoming(k):
    # liveupdate_flb_put_incoming(): its WARNs (refcount_t underflow, a failed retry) are
    # logged through the Luo's warn hook
    k.luo.liveupdate_flb_put_incoming(k.pci_flb)


# -- outgoing tracking (patches 02, 06, 08, 10) ----------------------------------------------
def pci_need_dev_specific_enable_acs(k, dev) -> bool:
    return k.needs_acs_quirk(dev)


def _path(k, dev):
    d = dev
    if not _auto_preserves_bridges(k):        # pci-v1/pci-v2: no bridge auto-preserve
        yield d
        return
    while d is not None:
        yield d
        d = d.bus.self


def pci_liveupdate_preserve_device(k, ser: PciSer, d) -> int:
    if not _auto_preserves_bridges(k):
        # patches 02-05: one device, no refcount arithmetic; any second preserve is -EBUSY
        if d.outgoing is not None:
            return EBUSY
        if d.frozen:                          # (patch 10 is later: never set here)
            _dev(k, WARNING, d, "Cannot preserve device after it is frozen!")
            return EINVAL
        return _claim(k, ser, d)
    if d.frozen:
        _dev(k, WARNING, d, "Cannot preserve device after it is frozen!")
        return EINVAL
    if d.outgoing is not None:
        rc = ser.refcount(d.outgoing)
        if rc == 0:
            _dev(k, WARN, d, "Preserved device with 0 refcount!")
            return EINVAL
        if d.subordinate is None:
            if _version_era(k):               # later versions log the refusal (spec §13)
                _dev(k, WARNING, d, "Device is already preserved")
            return EBUSY                      # endpoints may not be preserved twice (v6: silent)
        ser.set_refcount(d.outgoing, rc + 1)
        return 0
    if _has(k, 8) and pci_need_dev_specific_enable_acs(k, d):
        _dev(k, WARNING, d, "Refusing to preserve device that relies on ACS quirks")
        return EINVAL
    return _claim(k, ser, d)


def _claim(k, ser, d) -> int:
    idx = ser.claim_slot()                    # v6: §4.3 search; block eras: first fit / grow
    if idx < 0:
        return idx
    _dev(k, INFO, d, "Device will be preserved across next Live Update")
    ser.nr_devices = ser.nr_devices + 1
    ser.set_entry(idx, d.domain, d.bdf, 1)
    d.outgoing = idx
    return 0


def pci_liveupdate_unpreserve_device(k, ser: PciSer, d) -> int:
    if d.frozen:                              # (never set before patch 10)
        _dev(k, WARNING, d, "Cannot unpreserve device after it is frozen!")
        return EINVAL
    if d.outgoing is None:
        _dev(k, WARNING, d, "Cannot unpreserve device that is not preserved")
        return EINVAL
    if not _auto_preserves_bridges(k):
        # patches 02-05: a preserved device is simply released (no refcount check)
        _release(k, ser, d)
        return 0
    rc = ser.refcount(d.outgoing)
    if rc == 0:
        _dev(k, WARN, d, "Preserved device has a 0 refcount!")
        return EINVAL
    rc -= 1
    ser.set_refcount(d.outgoing, rc)
    if rc:
        return 0
    _release(k, ser, d)
    return 0


def _release(k, ser, d) -> None:
    _dev(k, INFO, d, "Device will no longer be preserved across next Live Update")
    ser.nr_devices = ser.nr_devices - 1
    ser.zero_entry(d.outgoing)
    ser.release_slot(d.outgoing)              # block eras: shrink the chain when possible
    d.outgoing = None


def pci_liveupdate_preserve(k, dev) -> int:
    """Spec §4.1: VF check, outgoing FLB, path walk with rollback."""
    if not _tracks_devices(k):
        return 0                              # v6 patch 01: no such call for the driver yet
    if dev.is_virtfn:
        if _version_era(k):
            _dev(k, WARNING, dev, "Cannot preserve Virtual Functions")
        return EINVAL
    err, ser = pci_liveupdate_flb_get_outgoing(k)
    if err:
        return err
    if ser is None:
        return ENOENT
    done = []
    for d in _path(k, dev):
        err = pci_liveupdate_preserve_device(k, ser, d)
        if err:
            # rollback: __pci_liveupdate_unpreserve_path(start, X) -- dev up to below X, and
            # it stops at the first device whose unpreserve fails (ancestors stay elevated)
            for x in done:
                if pci_liveupdate_unpreserve_device(k, ser, x):
                    break
            return err
        done.append(d)
    return 0


def pci_liveupdate_unpreserve(k, dev) -> None:
    if not _tracks_devices(k):
        return
    err, ser = pci_liveupdate_flb_get_outgoing(k)
    if err or ser is None:
        _dev(k, WARNING, dev, "Cannot unpreserve device without outgoing Live Update state")
        return
    for d in _path(k, dev):
        if pci_liveupdate_unpreserve_device(k, ser, d):
            return                            # stop at the first error, ancestors stay up


# -- incoming tracking (patches 03, 06) ------------------------------------------------------
def pci_liveupdate_setup_device(k, dev) -> None:
    if k.luo.incoming is None:
        # no LUO data from a previous kernel: pci_liveupdate_flb_get_incoming() would find no
        # FLB (-ENODATA, nothing logged) for every device; said once here instead
        return
    if not _tracks_incoming(k):
        return                                # incoming tracking arrives in patch 03
    inc = pci_liveupdate_flb_get_incoming(k)
    if inc is None:
        return
    slot = inc.xa.get(dev.key)
    if slot is None or inc.ser.refcount(slot) == 0:
        pci_liveupdate_flb_put_incoming(k)
        return
    _dev(k, INFO, dev, "Device was preserved by previous kernel across Live Update")
    dev.incoming = slot
    dev.was_preserved = _has(k, 8)            # the was_preserved flag comes with patch 08
    dev.was_incoming = True
    if not k.profile.hold_flb_ref_per_device:
        pci_liveupdate_flb_put_incoming(k)
    # else: keep the reference until the device's incoming refcount reaches 0


def _finish_device_p03(k, ser, d) -> None:
    """pci_liveupdate_finish_device() of patches 03-05: one device, and its entry must hold
    exactly 1 (anything else is "corrupted"; the device stays incoming)."""
    if d.incoming is None:
        _dev(k, WARNING, d, "Cannot finish preserving an unpreserved device")
        return
    if ser.refcount(d.incoming) != 1:
        _dev(k, WARN, d, "Preserved device has a corrupted refcount!")
        return
    ser.set_refcount(d.incoming, 0)
    _dev(k, INFO, d, "Device is finished participating in Live Update")
    d.incoming = None
    ser.nr_devices = ser.nr_devices - 1
    pci_liveupdate_flb_put_incoming(k)         # the reference held since setup


def pci_liveupdate_finish(k, dev) -> None:
    if not _tracks_incoming(k):
        return
    inc = pci_liveupdate_flb_get_incoming(k)
    if inc is None:
        _dev(k, WARNING, dev, "Cannot finish preserving device without incoming FLB")
        return
    ser = inc.ser
    if not _auto_preserves_bridges(k):
        _finish_device_p03(k, ser, dev)
        pci_liveupdate_flb_put_incoming(k)
        return
    for d in _path(k, dev):
        if d.incoming is None:
            _dev(k, WARNING, d, "Cannot finish preserving an unpreserved device")
            break
        rc = ser.refcount(d.incoming)
        if rc == 0:
            _dev(k, WARN, d, "Preserved device has a 0 refcount!")
            break
        rc -= 1
        ser.set_refcount(d.incoming, rc)
        if rc:
            continue
        _dev(k, INFO, d, "Device is finished participating in Live Update")
        d.incoming = None
        ser.nr_devices = ser.nr_devices - 1
        if k.profile.hold_flb_ref_per_device:
            pci_liveupdate_flb_put_incoming(k)     # the reference held since setup
    pci_liveupdate_flb_put_incoming(k)


def pci_liveupdate_is_incoming(k, dev) -> bool:
    return dev.incoming is not None


def pci_liveupdate_cleanup_device(k, dev) -> None:
    """From pci_release_dev() and the unknown-header-type path (spec §4.4; §13 table):
    v6 unpreserves / finishes the path; v7 only WARNs for outgoing and WARNs + drops the FLB
    reference the device held for incoming; the version era only WARNs."""
    if dev.outgoing is not None:
        _dev(k, WARN, dev, "Destroying outgoing-preserved device!")
        if not _blocks(k):
            pci_liveupdate_unpreserve(k, dev)
    if dev.incoming is not None:
        _dev(k, WARN, dev, "Destroying incoming-preserved device!")
        if not _blocks(k):
            pci_liveupdate_finish(k, dev)
        elif k.profile.hold_flb_ref_per_device:
            pci_liveupdate_flb_put_incoming(k)   # v7: the reference held since setup


# -- bus numbers (patch 05) ------------------------------------------------------------------
def pci_liveupdate_scan_bridge_begin(k, bus, dev, pass_: int) -> bool:
    p = k.profile
    if p.patch < 5 or p.refcount == _profiles.PADDING:
        return False                          # bus-number inheritance is patch 05
    if pass_:
        return dev.inherit_buses
    parent = bus.self
    if parent is not None and parent.inherit_buses:
        dev.inherit_buses = True
        return True
    if k.profile.bus_inherit == "lifetime":      # later profiles: had_incoming
        dev.inherit_buses = k.had_incoming
        return dev.inherit_buses
    if k.luo.incoming is None:
        # no LUO data from a previous kernel: pci_liveupdate_flb_get_incoming() finds no FLB
        dev.inherit_buses = False
        return False
    inc = pci_liveupdate_flb_get_incoming(k)
    if inc is None:
        dev.inherit_buses = False
        return False
    dev.inherit_buses = inc.ser.nr_devices != 0
    pci_liveupdate_flb_put_incoming(k)
    return dev.inherit_buses


def pci_liveupdate_may_assign_buses(k, bus, dev) -> bool:
    """Pass 1 of pci_scan_bridge_extend() while inheriting, for a bridge that needs numbers.

    v6/v7: never (``Cannot reconfigure bridge during Live Update, skipping``). Later kernels
    (``bus_inherit == "lifetime"``) assign new numbers unless a preserved bridge on the same
    bus lost its bus number configuration: its old range is unknown and new numbers could land
    on the preserved devices below it (spec §13). A "lost" preserved bridge is one the previous
    kernel preserved (``was_preserved``) that got no child bus at pass 0 (our reading).
    """
    if k.profile.bus_inherit != "lifetime":
        k.log.add(ERR, f"pci {dev.name}: Cannot reconfigure bridge during Live Update, skipping")
        return False
    lost = next((d for d in bus.devices if d.is_bridge and d.was_preserved
                 and d.subordinate is None), None)
    if lost is not None:
        # UNCONFIRMED: log level and which device prints it (we: pci_err on the skipped bridge)
        k.log.add(ERR, f"pci {dev.name}: Not assigning bus numbers, preserved bridge "
                       f"{lost.name} lost its bus number configuration")
        return False
    return True


def pci_liveupdate_scan_bridge_end(k, dev, pass_: int) -> None:
    if pass_:
        dev.inherit_buses = False


# -- ACS (patch 08) and ARI (patch 09) -------------------------------------------------------
def pci_liveupdate_init_acs(k, dev) -> None:
    if dev.incoming is None or not _has(k, 8):
        return                                # ACS inheritance is patch 08
    if dev.acs_cap:
        dev.acs_ctrl = k.cfg_read(dev, dev.acs_cap + PCI_ACS_CTRL, 2)


def pci_liveupdate_enable_acs(k, dev) -> int:
    if not dev.was_preserved or not _has(k, 8):
        return EINVAL
    if pci_need_dev_specific_enable_acs(k, dev):
        _dev(k, WARNING, dev, "Device-specific quirk required to enable ACS!")
        k.log.add_once("enable-acs-quirk", WARN,
                       "drivers/pci/liveupdate.c: pci_liveupdate_enable_acs(): WARN_ON_ONCE")
        return EINVAL
    if dev.acs_cap:
        k.cfg_write(dev, dev.acs_cap + PCI_ACS_CTRL, 2, dev.acs_ctrl)
        dev.acs_inherited = True
    return 0


def pci_liveupdate_configure_ari(k, bridge) -> int:
    if not _has(k, 9) or bridge.incoming is None:
        return EINVAL                         # ARI inheritance is patch 09
    bridge.ari_enabled = bool(bridge.fn.ari_forwarding)
    bridge.ari_inherited = True
    return 0


# -- freeze / shutdown (patches 10, 11) ------------------------------------------------------
def pci_liveupdate_freeze(k, dev) -> None:
    if _has(k, 10):                           # patch 10
        dev.frozen = True


def keeps_bus_master(k) -> bool:
    """Patch 11: pci_device_shutdown() asks pci_liveupdate_is_outgoing() before clearing
    Bus Master Enable at kexec; before it every device loses BME."""
    return _has(k, 11)


def pci_liveupdate_is_outgoing(k, dev) -> bool:
    if not dev.frozen:
        k.log.add_once("unstable", WARN, f"pci {dev.name}: Preservation status is unstable!")
    return dev.outgoing is not None
