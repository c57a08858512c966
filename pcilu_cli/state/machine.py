# SPDX-License-Identifier: GPL-2.0-only
"""One generation of a simulated host — fabric, kernel, physical memory — and its state file.

A :class:`Machine` is what the CLI loads, changes and saves, and what ``rehearse`` drives in
memory. It owns the pieces below it and keeps them consistent:

* ``fabric``  (pcilu_cli.fabric)  the hardware: config space of every function;
* ``kernel``  (pcilu_cli.kernel)  the booted kernel of this generation;
* ``mem`` / ``alloc`` / ``hout`` (pcilu_cli.memory) physical memory, the KHO allocator
  (incoming blocks of the previous kernel reserved) and the outgoing KHO root + LUO state that
  ``kho_init()``/``luo_late_startup()`` set up at boot.

``kexec()`` is the machine-level reboot: the kernel freezes and shuts down
(``liveupdate_reboot()``, ``device_shutdown()``), LUO serializes into physical memory, the
next kernel (possibly of another profile) finds the KHO root, applies its own failure policy
(``kho-luo-abi.md`` §6) and enumerates the fabric with whatever the hand-over says.

The state file is an ELF64 core image (design.md): ``PT_LOAD`` segments hold the physical
pages at their addresses, ``PT_NOTE`` notes named ``PCILU`` hold the metadata (JSON), the
fabric, the kernel state (``state.kernel_note``: sectioned, read on demand) and the kernel log.
"""
from __future__ import annotations

import json


from pcilu_cli import __version__
from pcilu_cli.abi.profiles import FLEX, Profile, get_profile
from pcilu_cli.errors import BadInput, KernelPanic
from pcilu_cli.kernel.handover import Incoming

from pcilu_cli.state.store import FORMAT_VERSION  # noqa: E402  (one definition)
STATE_KIND = "pcilu-state"


def no_gc(fn):
    """Pause the cyclic garbage collector while a generation's object graph (hundreds of
    thousands of pci_devs, functions, buses) is built or serialized: nothing here is garbage,
    and collections triggered by the allocations made growth super-linear (bench/, target 2)."""
    import functools
    import gc

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        was = gc.isenabled()
        gc.disable()
        try:
            out = fn(*a, **kw)
        finally:
            if was:
                gc.enable()
        if isinstance(out, Machine) and out.fabric is not None and \
                len(out.fabric) >= FREEZE_THRESHOLD:
            # a large host: move the generation's objects out of the collector's sight, so
            # that later collections (triggered by the caller's own allocations) do not walk
            # hundreds of thousands of long-lived objects each time (gc.freeze() exists for
            # exactly this). They are never collected: fine for a CLI or a rehearsal.
            gc.freeze()
        return out
    return wrapper


FREEZE_THRESHOLD = 16384


class MemIncoming(Incoming):
    """The incoming hand-over as the simulated kernel reads it (the kernel's
    :class:`~pcilu_cli.kernel.handover.Incoming` protocol): FLB records found by LUO and the
    physical memory they point into (``phys_to_virt``)."""

    def __init__(self, mem, flbs, sessions):
        self.mem = mem
        self._flbs = {name: (data, count) for name, data, count in flbs}
        self.sessions = [(n, [tuple(f) for f in files]) for n, files in sessions]

    def flb(self, name: str):
        return self._flbs.get(name)

    def read(self, pa: int, n: int) -> bytes:
        return self.mem.read_available(pa, n)

    def to_meta(self) -> dict:
        return {"flbs": [[n, d, c] for n, (d, c) in self._flbs.items()],
                "sessions": [[n, [list(f) for f in fs]] for n, fs in self.sessions]}


class Machine:
    """A generation: see the module docstring. Build with :meth:`boot`, :meth:`boot_from_blob`,
    :meth:`kexec` or :meth:`from_bytes`."""

    def __init__(self):
        self.generation = 0
        self.profile: Profile = get_profile(None)
        self.fabric = None
        self.kernel = None
        self._mem = None
        self._dirty = False
        self._kernel_kept = None      # what was read of the kernel note (reused at save)
        self._report_note = None      # (bytes, file, log bytes): the stored enumerate document
        self._budget = None           # the InflateBudget of the file loaded (from_parts)
        self.alloc = None
        self.hout = None
        self.incoming = None          # MemIncoming or None
        self.kho_in: dict = {"status": "fresh-boot", "root_pa": 0, "messages": []}
        self.phase = "running"
        self.panic: str | None = None
        self.boot_messages: list[str] = []
        # [(bdf, uid)]: devices whose Bus Master Enable the previous kernel's shutdown cleared
        # at the kexec into this generation (reported as ``bus_master_cleared``; stored as the
        # uid alone where the two are the same — on a big host that is most functions)
        self.bus_master_cleared: list = []

    # A loaded state keeps the stored list (every entry a name: most of a big host's
    # functions) until someone asks for the pairs: a generation-1 `finish` or `enumerate` of
    # 65,536 functions neither reads nor changes the list, and converting its ~61,000 names
    # each way cost ~20 ms. ``_cleared_stored`` is that list, or None once converted.
    _cleared_stored = None

    @property
    def bus_master_cleared(self) -> list:
        stored = self._cleared_stored
        if stored is not None:
            self._cleared = [(x, x) for x in stored]
            self._cleared_stored = None
        return self._cleared

    @bus_master_cleared.setter
    def bus_master_cleared(self, value: list) -> None:
        self._cleared, self._cleared_stored = value, None

    @property
    def mem(self):
        """Physical memory, brought up to date with the kernel's objects on first look."""
        if self._dirty:
            self.sync()
        return self._mem

    @mem.setter
    def mem(self, value):
        self._mem = value

    # ---- boot ----------------------------------------------------------------------------------
    @classmethod
    @no_gc
    def boot(cls, fabric, *, profile=None, params=None, generation=0) -> "Machine":
        """Generation 0: a cold boot (no hand-over), enumerated."""
        from pcilu_cli.memory.physmem import PhysMem
        m = cls()
        m.generation, m.profile, m.fabric = generation, get_profile(profile), fabric
        m.mem = PhysMem()
        m._boot_kernel(params, incoming=None, liveupdate_num=1)
        return m

    @classmethod
    @no_gc
    def boot_from_blob(cls, fabric, blob: bytes, *, profile=None, params=None,
                       generation=1, file=None, flb_name=None, flb_count=None) -> "Machine":
        """Boot a kernel whose previous kernel left ``blob`` (a raw ``struct pci_ser`` taken
        from a real machine) as the PCI FLB data; the PCI FLB record is named by this
        profile's compatible and counts one file per preserved endpoint (our choice), unless
        ``flb_name``/``flb_count`` say otherwise (a crafted luo_flb_ser record)."""
        from pcilu_cli.kernel.handover import RAW_BLOB_PA, get_order, raw_blob_sessions
        from pcilu_cli.memory.physmem import PhysMem
        m = cls()
        m.generation, m.profile, m.fabric = generation, get_profile(profile), fabric
        if m.profile.pci_layout != FLEX:
            raise BadInput(f"profile {m.profile.name} keeps its devices in kho_block pages that "
                           "a raw struct pci_ser does not carry; boot from a flex-era blob "
                           "(v6, pci-v1..v3), or inspect a memory image instead", file=file,
                           field="profile")
        if len(blob) > (64 << 20):
            raise BadInput(f"{len(blob)} bytes is too large for a struct pci_ser", file=file)
        sessions = raw_blob_sessions(fabric, blob)
        count = sum(len(files) for _name, files in sessions) if flb_count is None \
            else flb_count
        name = m.profile.pci_compatible if flb_name is None else flb_name
        m.mem = PhysMem()
        m.mem.write(RAW_BLOB_PA, blob)
        m.incoming = MemIncoming(m.mem, [(name, RAW_BLOB_PA, count)], sessions)
        m.kho_in = {"status": "raw-blob", "root_pa": 0, "messages": [],
                    "blob_pa": RAW_BLOB_PA}
        m._boot_kernel(params, incoming=m.incoming, liveupdate_num=2,
                       incoming_blocks=[(RAW_BLOB_PA, get_order(len(blob)))])
        return m

    def _boot_kernel(self, params, *, incoming, liveupdate_num, incoming_blocks=()):
        from pcilu_cli.kernel import Kernel
        from pcilu_cli.kernel.params import as_params
        from pcilu_cli.memory.handover import HandoverOut
        from pcilu_cli.memory.kho import KhoAllocator
        p = as_params(params)
        self.alloc = KhoAllocator(self.mem, incoming=incoming_blocks)
        self.hout = None
        if p.luo_enabled:
            # kho_init() + luo_late_startup(): before any device can be preserved
            self.hout = HandoverOut(self.profile, self.mem, self.alloc,
                                    liveupdate_num=liveupdate_num,
                                    release=f"pcilu-{self.profile.name}-gen{self.generation}",
                                    kexec_count=self.generation)
        try:
            self.kernel = Kernel.boot(self.fabric, profile=self.profile, params=p,
                                      incoming=incoming, generation=self.generation,
                                      alloc_preserve=self.alloc.alloc_preserve,
                                      free_preserved=self.alloc.unpreserve_free)
        except KernelPanic as exc:
            self.kernel = exc.kernel
            self._record_panic(exc)
            raise
        self.sync()

    def _record_panic(self, exc: KernelPanic) -> None:
        self.phase, self.panic = "panicked", exc.panic_message
        exc.machine = self

    # ---- operations (each mirrors one userspace action) --------------------------------------
    @no_gc
    def _op(self, fn, *a, **kw):
        self._check_alive()
        self._report_note = None      # the stored document describes the state as loaded
        try:
            return fn(*a, **kw)
        except KernelPanic as exc:
            self._record_panic(exc)
            raise
        finally:
            # physical memory is brought up to date lazily (sync() before it is read or
            # saved): copying a 262,144-slot blob after each of 4,000 preserves is quadratic
            self._dirty = True
            self._release_freed()

    def _check_alive(self):
        if self.phase == "panicked":
            raise KernelPanic(self.panic or "the kernel of this generation panicked")
        if self.kernel is None:
            raise BadInput("this generation has no running kernel")

    def kernel_op(self, fn, *a, **kw) -> dict:
        """Run ``fn(kernel, *a, **kw)`` (a :mod:`pcilu_cli.kernel.faults` function) like the
        other operations: panics recorded, memory synchronised afterwards."""
        return self._op(lambda: fn(self.kernel, *a, **kw))

    def preserve(self, bdf, session=None, token=None) -> dict:
        from pcilu_cli.kernel.handover import DEFAULT_SESSION
        return self._op(self.kernel.preserve, bdf, session=session or DEFAULT_SESSION,
                        token=token)

    def unpreserve(self, bdf, session=None) -> dict:
        return self._op(self.kernel.unpreserve, bdf, session=session)

    def finish(self, bdf) -> dict:
        return self._op(self.kernel.finish, bdf)

    def hot_remove(self, bdf) -> dict:
        return self._op(self.kernel.hot_remove, bdf)

    def rescan(self) -> dict:
        return self._op(self.kernel.rescan)

    @no_gc
    def report(self, *, debug=False) -> dict:
        if self.kernel is None:
            rep = {"generation": self.generation, "profile": self.profile.name,
                   "phase": self.phase, "panic": self.panic, "devices": [], "flb": None,
                   "findings": [], "messages": []}
        else:
            rep = self.kernel.report(debug=debug)
            if self.panic and not rep.get("panic"):
                rep["panic"], rep["phase"] = self.panic, self.phase
        rep["messages"] = self.boot_messages + rep["messages"]
        rep["kho"] = {k: v for k, v in self.kho_in.items() if k != "messages"}
        rep["bus_master_cleared"] = [{"bdf": b, "uid": u} for b, u in self.bus_master_cleared]
        return {"kind": "enumerate", **rep}

    # ---- memory consistency --------------------------------------------------------------------
    def sync(self) -> None:
        """Write the PCI core's blobs into physical memory, as the kernel holds them, and
        release incoming blocks the kernel has freed (``kho_restore_free()``). Called before
        memory is read (kexec, save, export, inspect)."""
        self._dirty = False
        k = self.kernel
        if k is None:
            return
        # the kernel names the pages it owns (flex: one blob; block eras: header + blocks)
        for pa, data in k.outgoing_pages():
            if self.alloc.is_preserved(pa):
                self._mem.write(pa, bytes(data))
        if not k.incoming_freed:
            for pa, data in k.incoming_pages():
                if self._mem.present(pa, len(data)):
                    self._mem.write(pa, bytes(data))
        self._release_freed()

    def _release_freed(self) -> None:
        """kho_restore_free() of the incoming blocks the kernel has let go (cheap: run after
        every operation, so the allocator's view is always current)."""
        k = self.kernel
        if k is None:
            return
        if k.incoming_freed and self.incoming is not None:
            # a failed retrieve freed the blob but LUO will retrieve again (v6: every lookup
            # retries): the freed pages keep their bytes, so the retry reads what the real
            # kernel reads and frees them again (counted in the kernel's findings)
            keep = not k.pci_flb.retrieved and not k.pci_flb.finished
            rec = self.incoming.flb(k.pci_flb.compatible)
            if rec is not None and rec[0] in self.alloc.incoming:
                self.alloc.restore_free(rec[0], keep_contents=keep)
            # block eras: the device blocks of the incoming chain go too
            for pa in getattr(k, "incoming_freed_pages", ()):
                if pa in self.alloc.incoming:
                    self.alloc.restore_free(pa)

    # ---- kexec ---------------------------------------------------------------------------------
    @no_gc
    def kexec(self, *, profile=None, params=None, consume=False) -> "Machine":
        """Reboot into the next generation. Raises KernelPanic (with ``.machine`` = the
        panicked next generation, which the caller should save) if the new kernel panics.
        ``consume``: this generation is dropped after (its fabric becomes the next one's
        instead of being copied; nothing of this Machine may be used afterwards)."""
        from pcilu_cli.kernel.params import as_params
        from pcilu_cli.memory.handover import HandoverIn
        from pcilu_cli.memory.physmem import PhysMem
        self._check_alive()
        self._report_note = None
        nxt_profile = get_profile(profile) if profile else self.profile
        nxt_params = as_params(self.kernel.params if params is None else params)
        h = self.kernel.kexec(share_fabric=consume)  # liveupdate_reboot(), device_shutdown()
        self.phase = "frozen"
        self.sync()
        root = self.hout.finalize(h.sessions, h.flbs) if self.hout is not None else 0

        nxt = Machine()
        nxt.generation, nxt.profile, nxt.fabric = self.generation + 1, nxt_profile, h.fabric
        nxt.bus_master_cleared = h.bus_master_cleared
        if nxt_params.kho:
            try:
                hin = HandoverIn.boot(nxt_profile, self.mem, root,
                                      luo_enabled=nxt_params.luo_enabled)
            except KernelPanic as exc:
                nxt.kho_in = {"status": "panic", "root_pa": root,
                              "messages": list(exc.messages)}
                nxt.boot_messages = list(nxt.kho_in["messages"])
                nxt.mem = PhysMem()
                nxt._record_panic(exc)
                raise
        else:
            hin = HandoverIn.boot(nxt_profile, self.mem, 0)
        nxt.boot_messages = list(hin.messages)
        nxt.kho_in = {"status": hin.status, "luo": hin.luo_status, "root_pa": root,
                      "liveupdate_num": hin.liveupdate_num, "messages": list(hin.messages)}
        if hin.status == "kho":
            nxt.mem, blocks = hin.carry_over()
        else:
            nxt.mem, blocks = PhysMem(), []
        incoming = None
        if hin.status == "kho" and hin.luo_status == "incoming" and nxt_params.luo_enabled:
            sessions = [(s.name, [tuple(f) for f in s.files]) if hasattr(s, "files") else s
                        for s in hin.sessions]
            incoming = MemIncoming(nxt.mem, [(r.name, r.data, r.count)
                                             for r in hin.flb_records], sessions)
        nxt.incoming = incoming
        num = (hin.liveupdate_num or 0) + 1 if incoming is not None else 1
        nxt._boot_kernel(nxt_params, incoming=incoming, liveupdate_num=num,
                         incoming_blocks=blocks)
        return nxt

    # ---- state file ----------------------------------------------------------------------------
    def metadata(self) -> dict:
        k = self.kernel
        return {"kind": STATE_KIND, "format": FORMAT_VERSION, "pcilu": __version__,
                "generation": self.generation, "profile": self.profile.name,
                "phase": self.phase if k is None or self.phase == "panicked" else k.phase,
                "panic": self.panic, "params": None if k is None else k.params.to_dict(),
                "kho_in": self.kho_in,
                "incoming": None if self.incoming is None else self.incoming.to_meta(),
                "kho_out": None if self.hout is None else self.hout.to_state(),
                "allocator": None if self.alloc is None else self.alloc.to_state(),
                "boot_messages": self.boot_messages,
                "bus_master_cleared": self._cleared_stored
                if self._cleared_stored is not None
                else [u if b == u else [b, u] for b, u in self.bus_master_cleared],
                "fabric": {"name": getattr(self.fabric, "name", None),
                           "functions": len(self.fabric) if self.fabric is not None else 0}}

    def _metadata_json(self) -> bytes:
        """:meth:`metadata` as the note holds it: ``json.dumps`` with compact separators,
        byte for byte. The ~61,000 names of a large generation's ``bus_master_cleared`` are
        joined rather than passed through the encoder when none of them needs escaping
        (json.dumps spent ~5 ms a save on them); the rest of the document is dumped."""
        meta = self.metadata()
        names = _names_json(meta["bus_master_cleared"])
        if names is None or list(meta)[-2:] != ["bus_master_cleared", "fabric"]:
            return json.dumps(meta, separators=(",", ":")).encode()
        fabric = meta.pop("fabric")
        del meta["bus_master_cleared"]
        # (a dict's compact JSON is its items in order between braces: the head less its
        # closing brace, then the last two items)
        return b"".join((json.dumps(meta, separators=(",", ":")).encode()[:-1],
                         b',"bus_master_cleared":["', names, b'"],"fabric":',
                         json.dumps(fabric, separators=(",", ":")).encode(), b"}"))

    def forget_encoded(self) -> None:
        """Forget what was kept of the loaded file (the fabric note's bytes, the kernel note's
        sections): every object is built now, and the next save encodes every part anew."""
        if self.kernel is not None:
            self.kernel.devices.values()          # build what a lazy load left unbuilt
        self._kernel_kept = None
        if self.fabric is not None and hasattr(self.fabric, "forget_encoded"):
            self.fabric.forget_encoded()

    def stored_report(self) -> str | None:
        """The enumerate document the file was written with (``pcilu kexec`` writes one), as
        the text it was rendered to; None if it holds none or anything changed since the load
        (state/report_note.py)."""
        data = self.stored_report_bytes()
        return None if data is None else data.decode()

    def stored_report_bytes(self) -> bytes | None:
        """:meth:`stored_report` as its UTF-8 bytes (checked as text)."""
        return self._stored_report(pieces=False)

    def stored_report_pieces(self):
        """:meth:`stored_report` as pieces of its UTF-8 bytes, checked whole first, for a
        caller that writes them out as they come (state/report_note.py)."""
        return self._stored_report(pieces=True)

    def _stored_report(self, *, pieces: bool):
        if self._report_note is None or self.kernel is None or self.phase == "panicked" \
                or self.panic is not None:
            return None
        from pcilu_cli.state import report_note
        raw, file, log_bytes = self._report_note
        decode = report_note.decode_pieces if pieces else report_note.decode_bytes
        data = decode(raw, len(self.fabric), log_bytes, file=file, budget=self._budget)
        self.check_kernel_note()     # printing the document must not hide a damaged file
        return data

    def check_kernel_note(self) -> None:
        """Refuse (BadInput naming the note) a kernel note whose device chunks, read lazily,
        are damaged, for a command that would otherwise never read them."""
        if self._kernel_kept is not None:
            self._kernel_kept.check_rows()

    def to_bytes(self, *, report_json=None) -> bytes:
        """The state file. ``report_json``: a JSON renderer (``obj -> str``); the file then
        also keeps the enumerate document rendered by it (not for a panicked generation)."""
        return b"".join(self.to_parts(report_json=report_json))

    @no_gc
    def to_parts(self, *, report_json=None) -> list:
        """:meth:`to_bytes` as the pieces a writer writes one after the other (the notes are
        not copied into one buffer first: memory/elfcore.py's elf_core_parts)."""
        from pcilu_cli.memory import elfcore
        self.sync()
        report = None
        if report_json is not None and self.kernel is not None and self.phase != "panicked" \
                and self.panic is None:
            # the enumerate document (~0.5 s at 65,536 functions) is built and rendered by a
            # forked child while this process encodes the other notes (~0.3 s): state/forked.py,
            # the same bytes either way. (Forking the kernel note's encode at init the same
            # way measured no faster: the copy-on-write faults of both processes ate the gain.)
            from pcilu_cli.state import forked, report_note
            report = forked.start(lambda: report_note.encode(self, report_json),
                                  devices=len(self.kernel.devices))
        try:
            notes = [(elfcore.NOTE_NAME, elfcore.NT_PCILU_METADATA, self._metadata_json())]
            if self.fabric is not None:
                notes.append((elfcore.NOTE_NAME, elfcore.NT_PCILU_FABRIC,
                              self.fabric.to_bytes()))
            if self.kernel is not None:
                from pcilu_cli.state import kernel_note
                notes.append((elfcore.NOTE_NAME, elfcore.NT_PCILU_KERNEL,
                              kernel_note.encode(self.kernel, self._kernel_kept)))
                log = "\n".join(self.boot_messages + self.kernel.log.lines(debug=True))
                notes.append((elfcore.NOTE_NAME, elfcore.NT_PCILU_LOG, log.encode()))
                if report is not None:
                    notes.append((elfcore.NOTE_NAME, elfcore.NT_PCILU_REPORT,
                                  report.result()))
        finally:
            if report is not None:
                report.close()
        return elfcore.elf_core_parts(self.mem, notes)

    @classmethod
    @no_gc
    def from_bytes(cls, data: bytes, *, file=None) -> "Machine":
        from pcilu_cli.memory import elfcore
        from pcilu_cli.abi.formats import identify
        ident = identify(data, file or "")
        if ident.kind != "elf":
            raise BadInput(f"not a pcilu state file: {ident.describe()}; create one with "
                           "`pcilu init`", file=file, offset=0, field="e_ident")
        mem, notes = elfcore.read_elf_core(data, file=file)
        return cls.from_parts(mem, elfcore.pcilu_notes(notes), file=file, size=len(data))

    @classmethod
    def from_parts(cls, mem, notes: dict, *, file=None, size=None) -> "Machine":
        """The machine of a state file of ``size`` bytes (by default, the size of its notes),
        read as :meth:`from_bytes` read its memory image and notes. Everything its notes
        inflate to, now and later (kernel note sections, the stored document), draws on one
        :class:`~pcilu_cli.abi.untrusted.InflateBudget` of the file."""
        from pcilu_cli.abi.untrusted import InflateBudget
        from pcilu_cli.memory import elfcore
        meta = load_metadata(notes, file)
        m = cls()
        m._budget = InflateBudget(sum(map(len, notes.values())) if size is None else size)
        try:
            m.generation = int(meta["generation"])
            m.profile = get_profile(meta["profile"])
            m.phase, m.panic = meta["phase"], meta.get("panic")
            m.kho_in = meta.get("kho_in") or {}
            m.boot_messages = list(meta.get("boot_messages") or [])
            cleared = meta.get("bus_master_cleared") or []
            if type(cleared) is list and set(map(type, cleared)) <= {str}:
                m._cleared_stored = cleared          # converted when asked for
            else:
                m.bus_master_cleared = [(x, x) if isinstance(x, str)
                                        else (str(x[0]), str(x[1])) for x in cleared]
            m.mem = mem
            from pcilu_cli.memory.kho import KhoAllocator
            if meta.get("allocator") is not None:
                m.alloc = KhoAllocator.from_state(mem, meta["allocator"])
            if meta.get("kho_out") is not None:
                from pcilu_cli.memory.handover import HandoverOut
                m.hout = HandoverOut.from_state(meta["kho_out"], mem, m.alloc)
            inc = meta.get("incoming")
            if inc is not None:
                m.incoming = MemIncoming(mem, inc["flbs"], inc["sessions"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise BadInput(f"state metadata is corrupt: {exc!r}", file=file,
                           field="PCILU metadata note") from None
        fab = notes.get(elfcore.NT_PCILU_FABRIC)
        if fab is None:
            raise BadInput("state file has no fabric note", file=file, field="PCILU fabric note")
        from pcilu_cli.fabric import lazy
        try:
            # Functions are built as the kernel looks its devices up (fabric/lazy.py)
            m.fabric = lazy.from_bytes(bytes(fab), file=file, budget=m._budget)
        except BadInput as exc:
            raise exc.in_file(file, field="PCILU fabric note") from None
        except Exception as exc:  # noqa: BLE001 - any decoding failure is corrupt input
            raise BadInput(f"fabric note is corrupt: {exc!r}", file=file,
                           field="PCILU fabric note") from None
        kraw = notes.get(elfcore.NT_PCILU_KERNEL)
        if kraw is not None:
            from pcilu_cli.state import kernel_note
            alloc = m.alloc
            m.kernel, m._kernel_kept = kernel_note.decode(
                bytes(kraw), m.fabric, read=lambda pa, n: mem.read(pa, n, file=file,
                                                                  field="PCILU kernel note"),
                incoming=m.incoming,
                alloc_preserve=None if alloc is None else alloc.alloc_preserve,
                free_preserved=None if alloc is None else alloc.unpreserve_free, file=file,
                budget=m._budget)
        rep = notes.get(elfcore.NT_PCILU_REPORT)
        if rep is not None:
            log = notes.get(elfcore.NT_PCILU_LOG)
            m._report_note = (bytes(rep), file, 0 if log is None else len(log))
        return m


# what json.dumps() escapes in an ASCII str besides '"': the controls, DEL and backslash
# (it writes only " " to "~" as they are)
_ESCAPED = bytes(range(0x20)) + b"\x7f\\"


def _names_json(names) -> bytes | None:
    """``json.dumps(names, separators=(",", ":"))`` encoded, less its ``["`` and ``"]``,
    for a non-empty list of str none of which json.dumps would escape; None for anything
    else (the caller dumps it). (Each copy of a 1 MB list costs ~1 ms of page faults here:
    the brackets are left to the caller's one join.)"""
    if type(names) is not list or not names:
        return None
    try:
        body = '","'.join(names)          # (a pair in the list is refused here)
    except TypeError:
        return None
    if not body.isascii():
        return None
    raw = body.encode("ascii")
    # the joins put 2 * (n - 1) quotes in; any other is inside a name
    if raw.count(b'"') != 2 * (len(names) - 1) or any(c in raw for c in _ESCAPED):
        return None
    return raw


def load_metadata(notes: dict, file) -> dict:
    from pcilu_cli.memory import elfcore
    raw = notes.get(elfcore.NT_PCILU_METADATA)
    if raw is None:
        raise BadInput("not a pcilu state file (no PCILU metadata note)", file=file,
                       field="PCILU metadata note")
    from pcilu_cli.abi.untrusted import loads_json
    meta = loads_json(bytes(raw), file=file, field="PCILU metadata note", what="metadata note")
    if not isinstance(meta, dict) or meta.get("kind") != STATE_KIND:
        raise BadInput("metadata note is not a pcilu state record", file=file,
                       field="PCILU metadata note")
    # a file of another pcilu's format is refused as that first ("upgrade pcilu"), before its
    # values are held to this format's shapes
    from pcilu_cli.state.store import check_versions
    check_versions(meta.get("format"), meta.get("pcilu"), file)
    from pcilu_cli.state import metadata
    metadata.check(meta, file)
    return meta


__all__ = ["Machine", "MemIncoming", "FORMAT_VERSION", "FLEX"]
