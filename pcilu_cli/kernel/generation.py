# SPDX-License-Identifier: GPL-2.0-only
"""One booted kernel (a *generation*) over a fabric: the API the state file and CLI build on.

    k = Kernel.boot(fabric, profile="v6", params="pci=assign-busses", incoming=None,
                    generation=0, alloc_preserve=None, free_preserved=None)
    k.preserve(bdf, session="pcilu", token=None) -> dict      raises KernelRefusal
    k.unpreserve(bdf, session=None) -> dict                   void in the kernel: never raises
    k.finish(bdf) -> dict                                     void in the kernel
    k.freeze() -> dict                                        shutdown has begun
    k.kexec() -> Handover                                     freeze, BME, hand-over, next fabric
    k.hot_remove(bdf) -> dict / k.rescan() -> dict
    k.is_incoming(bdf) / k.is_outgoing(bdf) / k.outgoing_blob() / k.incoming_blob()
    k.report() -> dict (design.md ``enumerate`` JSON)
    k.outgoing_pages() / k.incoming_pages() -> [(pa, bytes)]   what the Machine writes to memory
    k.outgoing_entries() -> [(slot, domain, bdf, refcount)]    any layout
    k.incoming_freed_pages                                     PAs released by kho_restore_free

Every profile of ``pcilu_cli.abi.profiles`` is simulated; ``Kernel.boot(incoming=...)`` of a
kernel of another profile over the previous one's hand-over applies the PCI FLB part of the
``kho-luo-abi.md`` §6 policy (KHO/LUO compatibility is the Machine's HandoverIn).

A preserve models userspace preserving the device's vfio-pci cdev file in a LUO session: LUO
checks the token, takes the PCI FLB (the first file sizes and allocates ``struct pci_ser``),
then the handler calls ``pci_liveupdate_preserve()``; on any refusal LUO unwinds, so a refused
preserve leaves nothing behind but the kernel's log lines. Our file handler accepts every
device (unlike vfio-pci's can_preserve) so that the PCI core's own checks are exercised.
"""
from __future__ import annotations

import errno as _errno

from pcilu_cli.abi.bdf import device_key, key_name, key_name_in, key_of_bdf
from pcilu_cli.abi.luo import LUO_FILE_MAX
from pcilu_cli.abi.pci_regs import (
    PCI_ACS_CTRL, PCI_CLASS_BRIDGE_HOST, PCI_COMMAND, PCI_COMMAND_MASTER, PCI_HEADER_TYPE_BRIDGE,
    PCI_HEADER_TYPE_CARDBUS, PCI_SECONDARY_BUS, PCI_SUBORDINATE_BUS, PCI_VENDOR_ID_INTEL,
    PciExpType, port_type,
)
from pcilu_cli.abi.profiles import Profile, get_profile
from pcilu_cli.errors import BadInput, KernelPanic, KernelRefusal

from . import liveupdate as lu
from . import probe
from .handover import DEFAULT_SESSION, VFIO_COMPATIBLE, Handover, SimpleAllocator
from .log import DEBUG, ERR, WARN, WARNING, EMERG, KernelLog, dev_name
from .luo import FileHandler, Flb, Luo, errno_name
from .params import KernelParams, as_params
from .pcidev import PciBus, PciDev
from .shutdown import device_shutdown

TOKEN_KEY_MASK = (1 << 48) - 1

_REFUSAL_TEXT = {
    "EOPNOTSUPP": "Live Update is disabled (liveupdate=off or kho=off)",
    "ENOENT": "no outgoing PCI FLB (no file preserved)",
    "EEXIST": "token already used in this session",
    "EBUSY": "device is already preserved (an endpoint can be preserved only once)",
    "ENOSPC": "struct pci_ser is full (sized when the first device was preserved)",
    "ENOMEM": "out of preservable memory",
}


class _VfioOps:
    """Our stand-in for vfio-pci's liveupdate file handler."""

    def __init__(self, k):
        self.k = k

    def preserve(self, f) -> int:
        if f.key == -1:                      # faults.NO_DEVICE_KEY: a file with no device
            return 0
        dev = self.k.devices.get(f.key)
        if dev is None:
            return -_errno.ENODEV
        return lu.pci_liveupdate_preserve(self.k, dev)

    def unpreserve(self, f) -> None:
        dev = self.k.devices.get(f.key)
        # a driver that forgets pci_liveupdate_unpreserve() (faults.set_driver_fault)
        if dev is not None and self.k.driver_faults.get(f.key) != "unpreserve":
            lu.pci_liveupdate_unpreserve(self.k, dev)

    def finish(self, f) -> None:
        dev = self.k.devices.get(f.key)
        # ... or pci_liveupdate_finish(): the file finishes, the device does not
        if dev is not None and self.k.driver_faults.get(f.key) != "finish":
            lu.pci_liveupdate_finish(self.k, dev)


def _default_quirk(dev) -> bool | None:
    """pci_need_dev_specific_enable_acs() of ``dev`` from the quirk table (or its
    ``acs_quirk`` knob); None where no table is needed to say False (Kernel.needs_acs_quirk()
    keeps the answers the table gave)."""
    # both pci_dev_acs_ops entries are vendor Intel (spec §7.1): skip the table walk otherwise
    forced = dev.fn.knob("acs_quirk")
    if forced is None and dev.vendor != PCI_VENDOR_ID_INTEL:
        return None
    try:
        from pcilu_cli.fabric.quirks import needs_acs_quirk
    except ImportError:     # pragma: no cover - fabric layer not there yet
        return bool(dev.fn.knob("acs_quirk", False))
    return needs_acs_quirk(dev.vendor, dev.device, dev.fn, dev.pcie_type)


class Kernel:
    def __init__(self, fabric, profile, params, incoming, generation, alloc_preserve,
                 free_preserved):
        self.fabric = fabric
        self.profile: Profile = profile if isinstance(profile, Profile) else get_profile(profile)
        self.params: KernelParams = as_params(params)
        self.generation = generation
        self.phase = "running"
        self.panic: str | None = None
        self.log = KernelLog(keep_debug=self.params.dyndbg)
        # key -> pci_dev. A kernel read from a state file (pcilu_cli.state.kernel_note) holds a
        # mapping that builds each pci_dev on first lookup, and all of them (``materialize()``)
        # before anything walks them; buses/root_buses are filled on first use there.
        self.devices: dict[int, PciDev] = {}
        self.buses: dict[tuple, PciBus] = {}
        self.root_buses: list[PciBus] = []
        self.incoming_freed = False
        self.incoming_freed_pages: list[int] = []   # PAs kho_restore_free()d (header first)
        # how many times kho_restore_free() ran on the incoming struct pci_ser: more than once
        # is the v6 double free of a failed retrieve (each lookup retries it; spec §3.4)
        self.incoming_free_calls = 0
        self.driver_faults: dict[int, str] = {}     # device key -> callback it forgets
        self.had_incoming = False
        self._allocator = None
        if alloc_preserve is None:
            self._allocator = SimpleAllocator()
            alloc_preserve, free_preserved = self._allocator.alloc_preserve, self._allocator.free
        self.alloc_preserve = alloc_preserve
        self.free_preserved = free_preserved or (lambda pa: None)
        self._quirk_cache: dict[int, bool] = {}
        # pcibios_assign_all_busses(): pci=assign-busses or the platform's own flag (x86 sets
        # PCI_REASSIGN_ALL_BUS in early boot), fixed for the kernel's life; asked by every
        # bridge at both scan passes
        self.assign_all_busses = self.params.assign_busses or \
            bool(fabric.platform.get("assign_all_busses"))
        self.kpages = None          # pci_blocks.KernelPages, block eras only (created lazily)
        self.luo = Luo(self.params.luo_enabled, incoming,
                       warn=lambda text: self.log.add(WARN, text))
        self.pci_flb = Flb(self.profile.pci_compatible, lu.PciFlbOps(self))
        self.vfio = FileHandler(VFIO_COMPATIBLE, _VfioOps(self))
        self.luo.register_file_handler(self.vfio)
        # pci_liveupdate_register_flb(): done at boot, before enumeration (our choice)
        if self.luo.liveupdate_register_flb(self.vfio, self.pci_flb) == 0:
            self.log.add(DEBUG, self.profile.pr_fmt +
                         f'Registering file handler "{VFIO_COMPATIBLE}"')

    @property
    def by_uid(self) -> dict[str, PciDev]:
        """{fabric uid: pci_dev} of every enumerated device, made from ``devices`` when asked
        (the kernel itself knows devices by address only; kept as a second map it cost every
        enumerated function an insertion that only a hot-remove and the tests read)."""
        return {dev.fn.uid: dev for dev in self.devices.values()}

    # -- boot ------------------------------------------------------------------------------

    @classmethod
    def boot(cls, fabric, *, profile="v6", params=None, incoming=None, generation=0,
             alloc_preserve=None, free_preserved=None) -> "Kernel":
        k = cls(fabric, profile, params, incoming, generation, alloc_preserve, free_preserved)
        k.had_incoming = bool(k.luo.incoming is not None
                              and k.luo.incoming.flb(k.profile.pci_compatible))
        k._guard(k._enumerate)
        return k

    def _enumerate(self):
        for root in self.fabric.roots:
            probe.pci_scan_root_bus(self, root.domain, root.number)
        probe.pci_bus_add_virtfns(self, list(self.devices.values()))

    def _guard(self, fn, *a):
        try:
            return fn(*a)
        except KernelPanic as exc:
            self.phase = "panicked"
            self.panic = exc.panic_message
            self.log.add(EMERG, f"Kernel panic - not syncing: {exc.panic_message}")
            exc.kernel = self
            raise

    # -- what the kernel modules call --------------------------------------------------------
    def needs_acs_quirk(self, dev) -> bool:
        v = self._quirk_cache.get(dev.key)
        if v is None:
            v = _default_quirk(dev)
            if v is None:
                return False    # (decided without the table: nothing worth keeping)
            self._quirk_cache[dev.key] = v
        return v

    def cfg_read(self, dev, off, width):
        return dev.fn.cfg.read(off, width)

    def cfg_write(self, dev, off, width, value):
        dev.fn.cfg.write(off, width, value)

    def dev(self, bdf) -> PciDev:
        key = self._key(bdf)
        d = self.devices.get(key)
        if d is None:
            raise KernelRefusal("ENODEV", "no such PCI device in this generation "
                                "(not enumerated)", bdf=key_name(key))
        return d

    @staticmethod
    def _key(bdf) -> int:
        if isinstance(bdf, int):
            return bdf
        if isinstance(bdf, tuple):
            return device_key(*bdf)
        try:
            return key_of_bdf(bdf)
        except ValueError as exc:
            raise BadInput(str(exc), field="bdf") from None

    def _every_device(self) -> None:
        """Build every pci_dev of a kernel read lazily from a state file (no-op otherwise)."""
        fill = getattr(self.devices, "materialize", None)
        if fill is not None:
            fill()

    def _check_running(self):
        if self.phase == "panicked":
            raise KernelPanic(self.panic or "kernel panicked")

    def _refusal(self, err, dev_key, start):
        name = errno_name(err)
        kmsg = None
        for level, text in self.log.entries[start:]:
            if level in (WARNING, WARN, ERR):
                kmsg = text
                break
        text = _REFUSAL_TEXT.get(name, "")
        if kmsg and not text:
            text = kmsg.split(": ", 1)[-1]
        if name == "EINVAL" and kmsg is None:
            text = "Virtual Functions cannot be preserved"
        if name == "ENOSPC" and self.pci_flb.out_obj is not None:
            if self.pci_flb.out_obj.max_nr is None:
                text = "the kho_block chain of struct pci_ser cannot grow (KHO_MAX_BLOCKS)"
            else:
                text += f" ({self.pci_flb.out_obj.max_nr} devices)"
        return KernelRefusal(name, text, bdf=key_name(dev_key), kernel_message=kmsg)

    # -- outgoing --------------------------------------------------------------------------
    def preserve(self, bdf, session: str = DEFAULT_SESSION, token: int | None = None) -> dict:
        self._check_running()
        key = self._key(bdf)
        dev = self.dev(key)
        if not session or len(session.encode()) >= 64:
            raise KernelRefusal("EINVAL", "session name must be 1..63 bytes",
                                bdf=dev.name)
        if token is None:
            token, seq = key, 0
            while self.luo.token_used(session, token):
                seq += 1
                token = key | (seq << 48)
        # gen A-C LUO (luo-v1) keeps each session's files in one 2-page array:
        # LUO_FILE_MAX = 128 per session (kho-luo-abi.md §2.3); gen D chains have no such cap
        if self.profile.luo_is_fdt and len(self.luo.sessions.get(session, ())) >= LUO_FILE_MAX:
            raise KernelRefusal("ENOSPC", f"LUO session {session!r} already holds "
                                f"{LUO_FILE_MAX} files (LUO_FILE_MAX of {self.profile.luo_compatible}"
                                "); use another session", bdf=dev.name)
        start = len(self.log)
        err, f = self.luo.preserve_file(session, VFIO_COMPATIBLE, token, key)
        if err:
            raise self._refusal(err, key, start)
        return {"bdf": dev.name, "session": session, "token": token,
                "path": self._path_report(dev), "messages": self.log.lines(start)}

    def _path_report(self, dev):
        ser = self.pci_flb.out_obj
        out = []
        d = dev
        while d is not None:
            rc = ser.refcount(d.outgoing) if (ser is not None and d.outgoing is not None) else 0
            out.append({"bdf": d.name, "outgoing": d.outgoing is not None, "refcount": rc})
            d = d.bus.self
        return out

    def unpreserve(self, bdf, session: str | None = None) -> dict:
        """Unpreserve the device's file; with no file, call pci_liveupdate_unpreserve()
        directly as a driver would (allowed by the kernel, even on a bridge)."""
        self._check_running()
        key = self._key(bdf)
        dev = self.dev(key)
        start = len(self.log)
        sname, f = self.luo.find_outgoing_file(key, session)
        ser = self.pci_flb.out_obj
        corrupts = False
        if f is not None:
            self.luo.unpreserve_file(sname, f)
            direct = False
        else:
            direct = True
            # counts at or below a bridge belong to its children: dropping one here without a
            # child going away leaves the children's entries with ancestors that count too few
            if dev.subordinate is not None and dev.outgoing is not None and ser is not None:
                corrupts = True
            lu.pci_liveupdate_unpreserve(self, dev)
        return {"bdf": dev.name, "file": f is not None, "session": sname, "direct": direct,
                "corrupts_counts": corrupts, "path": self._path_report(dev),
                "messages": self.log.lines(start)}

    def freeze(self) -> dict:
        """Shutdown has begun: pci_liveupdate_freeze() on every device."""
        start = len(self.log)
        for dev in self.devices.values():
            lu.pci_liveupdate_freeze(self, dev)
        if self.phase == "running":
            self.phase = "frozen"
        return {"frozen": len(self.devices), "messages": self.log.lines(start)}

    def kexec(self, *, share_fabric: bool = False) -> Handover:
        """liveupdate_reboot() then device_shutdown() on kexec; returns the hand-over.

        The hand-over's fabric is a copy (this generation's stays as it was), or with
        ``share_fabric`` this very fabric, for a caller that drops this generation right
        after (a command that kexecs a state loaded from disk: the copy would rebuild every
        function only to throw the original away)."""
        self._check_running()
        sessions, flbs = self.luo.serialize() if self.luo.enabled else ([], [])
        cleared = device_shutdown(self, kexec_in_progress=True)
        self.phase = "frozen"
        out, pages = [], []
        for name, data, count in flbs:
            blob = bytes(self.pci_flb.out_obj.blob) if name == self.pci_flb.compatible else b""
            out.append((name, data, count, blob))
        if self.pci_flb.out_obj is not None:
            pages = [(pa, bytes(b)) for pa, b in self.pci_flb.out_obj.pages()]
        nxt = self.fabric if share_fabric else self.fabric.copy()
        for fn in list(nxt.functions()):
            if fn.knob("reset_on_kexec"):
                nxt.reset_function(fn)
        return Handover(sessions, out, nxt, self.generation + 1, self.profile.name,
                        self.log.lines(), pages, bus_master_cleared=cleared)

    # -- incoming --------------------------------------------------------------------------
    def finish(self, bdf) -> dict:
        """Finish the device's incoming LUO file (handler finish → pci_liveupdate_finish(),
        then the FLB reference of that file); with no file, call pci_liveupdate_finish()."""
        self._check_running()
        key = self._key(bdf)
        dev = self.dev(key)
        start = len(self.log)
        sname, f = self.luo.find_incoming_file(key)

        def run():
            if f is not None:
                self.luo.finish_file(f)
            else:
                lu.pci_liveupdate_finish(self, dev)
        self._guard(run)
        return {"bdf": dev.name, "file": f is not None, "session": sname,
                "incoming": dev.incoming is not None, "flb_finished": self.pci_flb.finished,
                "messages": self.log.lines(start)}

    def is_incoming(self, bdf) -> bool:
        return lu.pci_liveupdate_is_incoming(self, self.dev(bdf))

    def is_outgoing(self, bdf) -> bool:
        return self.dev(bdf).outgoing is not None

    # -- hotplug ---------------------------------------------------------------------------
    def hot_remove(self, bdf) -> dict:
        """pci_stop_and_remove_bus_device(): each pci_release_dev() runs
        pci_liveupdate_cleanup_device(). The hardware stays in the fabric.

        Release order as the kernel's remove.c has it: the stop phase walks the subtree in
        reverse list order and stopping a PF unbinds its driver, which disables SR-IOV (its
        VFs are released there); the remove phase then walks every bus in list order, depth
        first, releasing children before their bridge (pci_remove_bus_device()).
        """
        self._check_running()
        self._every_device()            # the walk below reads bus lists: build them all
        dev = self.dev(bdf)
        start = len(self.log)
        removed = []
        self._guard(self._stop_and_remove, dev, removed)
        return {"bdf": dev.name, "removed": removed, "messages": self.log.lines(start)}

    def _stop_and_remove(self, dev, removed):
        self._stop_bus_device(dev, removed)
        self._remove_bus_device(dev, removed)

    def _virtfns(self, pf):
        # a PF's VFs sit on its own bus or on the bridge-less buses virtfn_add_bus() made
        found = [d for d in pf.bus.devices if d.physfn is pf]
        for c in pf.bus.children:
            if c.virtual:
                found += [d for d in c.devices if d.physfn is pf]
        return found

    def _stop_bus_device(self, dev, removed):
        # mirrors pci_stop_bus_device(): reverse list order so VFs go before their PF
        if dev.subordinate is not None:
            for child in reversed(list(dev.subordinate.devices)):
                self._stop_bus_device(child, removed)
        if not dev.is_virtfn and dev.fn.virtfns:
            for vf in self._virtfns(dev):      # sriov_del_vfs(): VF 0 first
                self._destroy_dev(vf, removed)

    def _remove_bus_device(self, dev, removed):
        # mirrors pci_remove_bus_device(): children in list order, then the bus, then dev
        bus = dev.subordinate
        if bus is not None:
            for child in list(bus.devices):
                if self.devices.get(child.key) is child:
                    self._remove_bus_device(child, removed)
            self._remove_bus(bus)
            dev.subordinate = None
        self._destroy_dev(dev, removed)

    def _destroy_dev(self, dev, removed):
        # pci_destroy_dev() → last put → pci_release_dev()
        lu.pci_liveupdate_cleanup_device(self, dev)
        self.devices.pop(dev.key, None)
        if dev in dev.bus.devices:
            dev.bus.devices.remove(dev)
        removed.append(dev.name)

    def _remove_bus(self, bus):
        for c in list(bus.children):
            if c.virtual:
                self.buses.pop(c.key, None)
        self.buses.pop(bus.key, None)
        if bus.parent is not None and bus in bus.parent.children:
            bus.parent.children.remove(bus)

    def rescan(self) -> dict:
        """/sys/bus/pci/rescan: rescan every root bus; new devices go through setup_device."""
        self._check_running()
        start = len(self.log)
        before = set(self.devices)

        def run():
            for root in self.root_buses:
                probe.pci_scan_child_bus_extend(self, root, 0)
            new = [d for k_, d in self.devices.items() if k_ not in before]
            probe.pci_bus_add_virtfns(self, new)
        self._guard(run)
        added = [d.name for k_, d in self.devices.items() if k_ not in before]
        return {"added": added, "messages": self.log.lines(start)}

    # -- blobs -----------------------------------------------------------------------------
    def outgoing_blob(self) -> bytes | None:
        ser = self.pci_flb.out_obj
        return None if ser is None else bytes(ser.blob)

    def outgoing_pages(self) -> list:
        """[(pa, bytes)] of the outgoing PCI FLB objects as the kernel holds them (the state
        layer writes them into physical memory): the flex blob, or (block eras) the
        ``struct pci_ser`` header followed by every device block (4096 bytes each)."""
        ser = self.pci_flb.out_obj
        return [] if ser is None else ser.pages()

    def incoming_pages(self) -> list:
        """[(pa, bytes)] of the incoming PCI FLB objects (finish() writes refcounts there)."""
        inc = self.pci_flb.in_obj
        return [] if inc is None else inc.ser.pages()

    def pci_ser_obj(self, which: str):
        """The outgoing or incoming ``struct pci_ser`` object this kernel holds, or None."""
        if which == "outgoing":
            return self.pci_flb.out_obj
        inc = self.pci_flb.in_obj
        return None if inc is None else inc.ser

    def outgoing_entries(self) -> list:
        """(slot, domain, bdf, refcount) of the outgoing in-use entries, any layout."""
        ser = self.pci_flb.out_obj
        return [] if ser is None else ser.entries()

    def incoming_blob(self) -> bytes | None:
        inc = self.pci_flb.in_obj
        return None if inc is None else bytes(inc.ser.blob)

    # -- report ----------------------------------------------------------------------------
    def report(self, *, debug: bool = False) -> dict:
        ser = self.pci_flb.out_obj
        devices = []
        seen = set()
        prefixes: dict = {}         # dev.name of every device, each bus's part formatted once
        for dev in self.devices.values():
            seen.add(dev.fn.uid)
            devices.append(self._dev_report(dev, ser, key_name_in(prefixes, dev.key)))
        fab = self.fabric
        # the functions no pci_dev stands for, in fabric order: none when every function of
        # the fabric was enumerated (the usual case; the walk is then skipped)
        if len(seen) == len(fab) and all(map(fab.has_uid, seen)):
            unseen = ()
        else:
            unseen = (fn for fn in fab.functions() if fn.uid not in seen)
        for fn in unseen:
            cur = self.fabric.current_bdf(fn)
            devices.append({
                "bdf": dev_name(*cur) if cur else None, "uid": fn.uid,
                "kind": _kind_of_fn(fn), "incoming": False, "was_incoming": False,
                "outgoing": False, "outgoing_refcount": 0, "bus_master": fn.bus_master,
                "secondary": fn.secondary if fn.is_bridge else None,
                "subordinate": fn.subordinate if fn.is_bridge else None,
                "acs_ctrl": fn.acs_ctrl, "acs_inherited": False,
                "ari_forwarding": fn.ari_forwarding if fn.is_bridge else None,
                "ari_inherited": False, "enumerated": False})
        return {"generation": self.generation, "profile": self.profile.name,
                "phase": self.phase, "panic": self.panic, "devices": devices,
                "flb": self.flb_report(), "findings": self.findings(),
                "messages": self.log.lines(debug=debug)}

    def flb_report(self) -> dict:
        """The PCI FLB as LUO holds it in this generation (incoming side)."""
        f = self.pci_flb
        return {"compatible": f.compatible, "registered": f in self.luo.flbs,
                "incoming_refcount": f.in_count, "refcount_saturated": f.saturated,
                "retrieved": f.retrieved, "finished": f.finished,
                "retrieve_calls": f.retrieve_calls, "retrieve_failures": f.retrieve_failures,
                "retrieve_error": errno_name(f.retrieve_err) if f.retrieve_err else None,
                "blob_frees": self.incoming_free_calls,
                "outgoing_files": f.out_count}

    def findings(self) -> list:
        """What this generation's kernel did that the real kernel gets wrong (one sentence
        each, for ``enumerate`` and rehearsal reports)."""
        out = []
        n = self.incoming_free_calls
        if n > 1:
            out.append(f"double free: the incoming struct pci_ser was kho_restore_free()d "
                       f"{n} times (pci_flb_retrieve() failed with "
                       f"{errno_name(self.pci_flb.retrieve_err or -_errno.EBUSY)} and LUO "
                       f"retried it on every lookup)")
        return out

    def _dev_report(self, dev, ser, name):
        # ``name``: dev.name
        fn = dev.fn
        cfg = fn.cfg
        br = dev.is_bridge
        # registers read through the offsets found at enumeration (one read each, no walks)
        acs = dev.acs_cap
        return {"bdf": name, "uid": fn.uid, "kind": _kind_of(dev),
                "incoming": dev.incoming is not None, "was_incoming": dev.was_incoming,
                "outgoing": dev.outgoing is not None,
                "outgoing_refcount": ser.refcount(dev.outgoing)
                if (ser is not None and dev.outgoing is not None) else 0,
                "bus_master": bool(cfg.read(PCI_COMMAND, 2) & PCI_COMMAND_MASTER),
                "secondary": cfg.read(PCI_SECONDARY_BUS, 1) if br else None,
                "subordinate": cfg.read(PCI_SUBORDINATE_BUS, 1) if br else None,
                "acs_ctrl": None if acs is None else cfg.read(acs + PCI_ACS_CTRL, 2),
                "acs_inherited": dev.acs_inherited,
                "ari_forwarding": dev.ari_enabled if br else None,
                "ari_inherited": dev.ari_inherited, "enumerated": True}


def _kind(is_virtfn, hdr_type, pcie_type, fn) -> str:
    """The report's ``kind`` of a function, from what enumeration read (or the hardware)."""
    if is_virtfn:
        return "vf"
    if hdr_type == PCI_HEADER_TYPE_BRIDGE:
        return _BRIDGE_KINDS.get(pcie_type, "bridge")
    if hdr_type == PCI_HEADER_TYPE_CARDBUS:
        return "cardbus"
    if fn.sriov_offset is not None:
        return "pf"
    if fn.class_code >> 8 == PCI_CLASS_BRIDGE_HOST:
        return "host_bridge"
    return "endpoint"


_BRIDGE_KINDS = {PciExpType.ROOT_PORT: "root_port",
                 PciExpType.UPSTREAM: "switch_upstream",
                 PciExpType.DOWNSTREAM: "switch_downstream"}


def _kind_of(dev) -> str:
    return _kind(dev.is_virtfn, dev.hdr_type, dev.pcie_type, dev.fn)


def _kind_of_fn(fn) -> str:
    flags = fn.pcie_flags
    return _kind(fn.is_virtfn, fn.header_type, None if flags is None else port_type(flags), fn)
