# SPDX-License-Identifier: GPL-2.0-only
"""The KHO + LUO hand-over image: what the outgoing kernel leaves, what the incoming one sees.

* :class:`HandoverOut` -- ``kho_init()`` + ``luo_late_startup()`` at boot (root FDT page,
  ``kexec-metadata``, the LUO blob and the FLB page, allocated in that order), then
  ``liveupdate_reboot()`` at :meth:`HandoverOut.finalize` (``luo_session_serialize()`` then
  ``luo_flb_serialize()``).
* :class:`HandoverIn` -- ``kho_populate()`` + ``luo_early_startup()`` in the new kernel, with the
  failure policy of ``kho-luo-abi.md`` §6: a bad or incompatible KHO root is a *non-KHO boot*
  (a warning); a bad LUO blob or a corrupt session chain *panics*.
* :func:`read_handover` -- ``inspect``'s strict walk: root → tracker → LUO → sessions/files →
  FLBs → ``struct pci_ser`` → devices, every link checked, :class:`BadInput` naming the link.
* :func:`find_kho_root` -- locate the root FDT in a real memory dump.

Choices (UNCONFIRMED in the spec, ours):
* ``liveupdate_num`` given to :class:`HandoverOut` is the number written (previous + 1).
* ``kexec-metadata`` is allocated after the root FDT page; LUO's gen A-C FDT ``blob-size`` is
  ``fdt_totalsize()``.
* Session and file storage are allocated at finalize (the kernel allocates them at session
  creation / first preserve, so real addresses interleave differently with other objects).
* A tracker that cannot be walked (pointer outside memory, loop) panics the new kernel: the
  kernel dereferences those PAs during early boot.
* libfdt inserts a new subnode before existing ones and a new property before existing ones,
  so the root FDT lists the last-added subtree first and ``blob-size`` before
  ``preserved-data`` -- we use libfdt itself, so this is what the kernel's bytes look like.
"""
from __future__ import annotations

import bisect
from collections import namedtuple

from pcilu_cli.abi import kho as kho_abi
from pcilu_cli.abi import luo as luo_abi
from pcilu_cli.abi.codec import cached
from pcilu_cli.abi.kho import KHO_U64 as _U64
from pcilu_cli.abi.profiles import FLEX, VERSION, Profile, get_profile, profiles_for_compatible
from pcilu_cli.errors import BadInput, Diagnostic, KernelPanic, KernelRefusal
from pcilu_cli.memory import fdt as fdtmod
from pcilu_cli.memory.blocks import BlockSetCorrupt, KhoBlockSet, kho_block_set_restore
from pcilu_cli.memory.kho import KhoAllocator, decode_bitmap_chunks, decode_radix_tree
from pcilu_cli.memory.physmem import PAGE_SIZE, PhysMem

_FLB_HDR = luo_abi.LUO_FLB_HEADER
_FLB_ENT = luo_abi.LUO_FLB_SER
_SESSION = luo_abi.LUO_SESSION_SER
_SESSION_HDR = luo_abi.LUO_SESSION_HEADER
_FILE = luo_abi.LUO_FILE_SER
_LUO_SER = luo_abi.LUO_SER
_META = kho_abi.KHO_KEXEC_METADATA
_SESSIONS_PA_OFF = cached(luo_abi._LAYOUTS, "luo_ser")[1]["sessions_pa"]


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _name_bytes(name: str, size: int, what: str) -> bytes:
    b = name.encode()
    if len(b) >= size:
        raise KernelRefusal("EINVAL", f"{what} {name!r} is longer than {size - 1} bytes")
    return b + bytes(size - len(b))


# ==================================================================================================
# outgoing
# ==================================================================================================

class HandoverOut:
    """The outgoing kernel's KHO root and LUO state for one profile."""

    def __init__(self, profile, mem: PhysMem, alloc: KhoAllocator, *, liveupdate_num: int,
                 release: str = "pcilu", kexec_count: int = 0):
        self.profile = get_profile(profile)
        self.gen = self.profile.kho_gen
        self.mem, self.alloc = mem, alloc
        self.liveupdate_num = liveupdate_num
        self.subtrees: list[tuple[str, int, int | None]] = []
        self.finalized = False
        # kho_init(): root FDT page (preserved), memory map = live radix root (gen B+)
        self.root_pa = alloc.alloc_preserve(PAGE_SIZE)
        self.mem_map = alloc.root_pa if kho_abi.is_radix(self.gen) else 0
        self._write_root()
        if kho_abi.has_blob_size(self.gen):       # gen C+: kexec-metadata
            self.metadata_pa = alloc.alloc_preserve(kho_abi.KHO_KEXEC_METADATA_SIZE)
            mem.write(self.metadata_pa, _META.pack(
                kho_abi.KHO_KEXEC_METADATA_VERSION, _name_bytes(release, kho_abi.NEW_UTS_LEN + 1, "release"),
                kexec_count))
            self.add_subtree(kho_abi.KHO_METADATA_NODE_NAME, self.metadata_pa,
                             kho_abi.KHO_KEXEC_METADATA_SIZE)
        else:
            self.metadata_pa = 0
        # luo_late_startup()
        if self.profile.luo_is_fdt:
            self.luo_pa = alloc.alloc_preserve(luo_abi.LUO_FDT_SIZE)
            self.session_header_pa = alloc.alloc_preserve(luo_abi.LUO_SESSION_PGCNT * PAGE_SIZE)
            self.flbs_pa = alloc.alloc_preserve(luo_abi.LUO_FLB_PGCNT * PAGE_SIZE)
            mem.write(self.flbs_pa, _FLB_HDR.pack(luo_abi.LUO_FLB_PGCNT, 0))
            blob = fdtmod.build_luo_fdt(liveupdate_num, self.session_header_pa, self.flbs_pa)
            mem.write(self.luo_pa, blob)
            self.add_subtree(luo_abi.LUO_KHO_ENTRY_NAME, self.luo_pa, len(blob))
        else:
            self.luo_pa = alloc.alloc_preserve(luo_abi.LUO_SER_SIZE)
            self.session_header_pa = 0
            self.flbs_pa = alloc.alloc_preserve(luo_abi.LUO_FLB_PGCNT * PAGE_SIZE)
            mem.write(self.flbs_pa, _FLB_HDR.pack(luo_abi.LUO_FLB_PGCNT, 0))
            mem.write(self.luo_pa, _LUO_SER.pack(
                luo_abi.LUO_ABI_COMPATIBLE.encode().ljust(luo_abi.LUO_ABI_COMPAT_LEN, b"\0"),
                liveupdate_num, 0, self.flbs_pa))
            self.add_subtree(luo_abi.LUO_KHO_ENTRY_NAME, self.luo_pa, luo_abi.LUO_SER_SIZE)
        self.session_set = None

    # ---- state file --------------------------------------------------------------------------
    def to_state(self) -> dict:
        """What a state file keeps of this object (the pages themselves are in memory)."""
        return {"profile": self.profile.name, "root_pa": self.root_pa, "mem_map": self.mem_map,
                "subtrees": [list(s) for s in self.subtrees], "metadata_pa": self.metadata_pa,
                "luo_pa": self.luo_pa, "session_header_pa": self.session_header_pa,
                "flbs_pa": self.flbs_pa, "liveupdate_num": self.liveupdate_num,
                "finalized": self.finalized}

    @classmethod
    def from_state(cls, d: dict, mem: PhysMem, alloc: KhoAllocator) -> "HandoverOut":
        """The object :meth:`to_state` described, over the memory and allocator it lives in
        (nothing is allocated or written: the pages are already there)."""
        self = object.__new__(cls)
        self.profile = get_profile(d["profile"])
        self.gen = self.profile.kho_gen
        self.mem, self.alloc = mem, alloc
        self.root_pa, self.mem_map = int(d["root_pa"]), int(d["mem_map"])
        self.subtrees = [(str(n), int(pa), None if sz is None else int(sz))
                         for n, pa, sz in d["subtrees"]]
        self.metadata_pa, self.luo_pa = int(d["metadata_pa"]), int(d["luo_pa"])
        self.session_header_pa, self.flbs_pa = int(d["session_header_pa"]), int(d["flbs_pa"])
        self.liveupdate_num = int(d["liveupdate_num"])
        self.finalized = bool(d["finalized"])
        self.session_set = None
        return self

    # ---- root FDT -----------------------------------------------------------------------------
    def _write_root(self) -> None:
        blob = fdtmod.build_kho_root_fdt(kho_abi.KHO_FDT_COMPATIBLE[self.gen], self.mem_map,
                                         self.subtrees, gen=self.gen)
        if len(blob) > PAGE_SIZE:
            raise KernelRefusal("ENOMEM", "KHO root FDT does not fit in one page")
        self.mem.zero(self.root_pa, PAGE_SIZE)
        self.mem.write(self.root_pa, blob)

    def add_subtree(self, name: str, pa: int, size: int | None) -> None:
        """kho_add_subtree(): ``-EEXIST`` for a duplicate name; the caller preserves the blob."""
        if any(n == name for n, _p, _s in self.subtrees):
            raise KernelRefusal("EEXIST", f"KHO subtree {name!r} already exists")
        self.subtrees.append((name, pa, size))
        try:
            self._write_root()
        except KernelRefusal:
            self.subtrees.pop()
            self._write_root()
            raise

    def root_fdt(self) -> bytes:
        return fdtmod.fdt_at(self.mem, self.root_pa)

    # ---- liveupdate_reboot() ----------------------------------------------------------------------
    def finalize(self, sessions, flbs) -> int:
        """Serialize sessions ``[(name, [(compatible, data, token)])]`` and FLBs
        ``[(name, data_pa, count[, blob_bytes])]`` (registration order; count 0 is skipped);
        returns the root FDT PA (what the kimage carries to the next kernel)."""
        sessions = [(n, list(f)) for n, f in sessions]
        if self.profile.luo_is_fdt:
            self._serialize_sessions_array(sessions)
        else:
            self._serialize_sessions_blocks(sessions)
        self._serialize_flbs(flbs)
        if not kho_abi.is_radix(self.gen):        # gen A: bitmaps serialized now
            self.mem_map = self.alloc.serialize_tracker()
            self._write_root()
        self.finalized = True
        return self.root_pa

    @staticmethod
    def _file_entries(files) -> list[bytes]:
        return [_FILE.pack(_name_bytes(c, luo_abi.LIVEUPDATE_HNDL_COMPAT_LENGTH,
                                       "file handler compatible"), data, token)
                for c, data, token in files]

    def _serialize_sessions_array(self, sessions) -> None:
        """Gen A-C: header count + contiguous luo_session_ser; a 2-page file array per session."""
        if len(sessions) > luo_abi.LUO_SESSION_MAX:
            raise KernelRefusal("ENOSPC", f"{len(sessions)} sessions exceed LUO_SESSION_MAX "
                                f"({luo_abi.LUO_SESSION_MAX})")
        out = [_SESSION_HDR.pack(len(sessions))]
        for name, files in sessions:
            if len(files) > luo_abi.LUO_FILE_MAX:
                raise KernelRefusal("ENOSPC", f"session {name!r}: {len(files)} files exceed "
                                    f"LUO_FILE_MAX ({luo_abi.LUO_FILE_MAX})")
            files_pa = 0
            if files:
                files_pa = self.alloc.alloc_preserve(luo_abi.LUO_FILE_PGCNT * PAGE_SIZE)
                self.mem.write(files_pa, b"".join(self._file_entries(files)))
            out.append(_SESSION.pack(_name_bytes(name, 64, "session name"), files_pa,
                                     len(files)))
        self.mem.write(self.session_header_pa, b"".join(out))

    def _serialize_sessions_blocks(self, sessions) -> None:
        """Gen D: kho_block chains; ``*sessions_pa`` = head (0 without sessions)."""
        sset = KhoBlockSet(self.alloc, luo_abi.LUO_SESSION_SER_SIZE, name="sessions")
        sset.grow(len(sessions))
        entries = []
        for name, files in sessions:
            fset = KhoBlockSet(self.alloc, luo_abi.LUO_FILE_SER_SIZE, name=f"files of {name}")
            fset.serialize(self._file_entries(files))
            entries.append(_SESSION.pack(_name_bytes(name, 64, "session name"), fset.head_pa,
                                         len(files)))
        sset.serialize(entries)
        self.session_set = sset
        self.mem.write_u64(self.luo_pa + _SESSIONS_PA_OFF, sset.head_pa)

    def _serialize_flbs(self, flbs) -> None:
        live = [f for f in flbs if f[2] > 0]
        if len(live) > luo_abi.LUO_FLB_MAX:
            raise KernelRefusal("ENOSPC", f"{len(live)} FLBs exceed LUO_FLB_MAX")
        out = [_FLB_HDR.pack(luo_abi.LUO_FLB_PGCNT, len(live))]
        for f in live:
            name, data_pa, count = f[0], f[1], f[2]
            out.append(_FLB_ENT.pack(_name_bytes(name, luo_abi.LIVEUPDATE_FLB_COMPAT_LENGTH,
                                                 "FLB compatible"), data_pa, count))
            if len(f) > 3 and f[3] is not None:
                self.mem.write(data_pa, f[3])
        self.mem.write(self.flbs_pa, b"".join(out))


# ==================================================================================================
# incoming
# ==================================================================================================

class FlbRecord(tuple):
    """One incoming ``luo_flb_ser``: unpacks as ``(data_pa, count)`` (the kernel model's
    ``incoming.flb()`` contract); ``.name``, ``.data``, ``.count`` by attribute."""

    def __new__(cls, name: str, data: int, count: int):
        self = super().__new__(cls, (data, count))
        self.name = name
        return self

    @property
    def data(self) -> int:
        return self[0]

    @property
    def count(self) -> int:
        return self[1]

    def __repr__(self) -> str:
        return f"FlbRecord(name={self.name!r}, data={self.data:#x}, count={self.count})"


# files: [(compatible, data, token)] (collections.namedtuple: typing.NamedTuple would import
# typing, ~3 ms of every command's start)
IncomingSession = namedtuple("IncomingSession", ["name", "files"])


class HandoverIn:
    """The new kernel's view of the hand-over (``kho_populate`` + ``luo_early_startup``)."""

    def __init__(self, profile: Profile, mem: PhysMem, root_pa: int):
        self.profile, self.mem, self.root_pa = profile, mem, root_pa
        self.gen = profile.kho_gen
        self.status = "no-kho"
        self.luo_status = "fresh"        # "fresh" | "incoming"
        self.messages: list[str] = []
        self.preserved: list[tuple[int, int]] = []
        self.subtrees: dict[str, tuple[int, int | None]] = {}
        self.liveupdate_num = 0
        self.previous_release = None
        self.kexec_count = None
        self.sessions_pa = 0
        self.session_header_pa = 0
        self.flbs_pa = 0
        self.flb_records: list[FlbRecord] = []
        self._sessions = None
        self.session_error: str | None = None

    # ---- boot -------------------------------------------------------------------------------------
    @classmethod
    def boot(cls, profile, mem: PhysMem, root_pa: int | None, *,
             luo_enabled: bool = True) -> "HandoverIn":
        """``luo_enabled=False`` models ``liveupdate=off``: KHO still reserves the preserved
        memory, but liveupdate_early_init() returns before looking at the LUO subtree."""
        self = cls(get_profile(profile), mem, root_pa or 0)
        if root_pa and self._kho_populate():
            self.status = "kho"
            if luo_enabled:
                self._luo_early_startup()
            else:
                self.luo_status = "disabled"
        return self

    def _warn(self, msg: str) -> None:
        self.messages.append(msg)

    def _kho_populate(self) -> bool:
        compat = kho_abi.KHO_FDT_COMPATIBLE[self.gen]
        pa = self.root_pa
        if not self.mem.present(pa, PAGE_SIZE):
            self._warn(f"KHO: setup: handover FDT ({pa:#x}) is invalid: -{fdtmod.FDT_ERR_TRUNCATED}")
            return False
        data = self.mem.read(pa, PAGE_SIZE)
        err = fdtmod.fdt_check_header(data)
        if err:
            self._warn(f"KHO: setup: handover FDT ({pa:#x}) is invalid: {err}")
            return False
        try:
            root = fdtmod.parse_fdt(data, what="KHO root FDT")
        except fdtmod.FdtError as e:
            self._warn(f"KHO: setup: handover FDT ({pa:#x}) is incompatible with '{compat}': "
                       f"{e.fdt_err}")
            return False
        if compat not in root.compatible():
            code = 1 if "compatible" in root.props else -fdtmod.FDT_ERR_NOTFOUND
            self._warn(f"KHO: setup: handover FDT ({pa:#x}) is incompatible with '{compat}': "
                       f"{code}")
            return False
        v = root.props.get(kho_abi.PROP_PRESERVED_MEMORY_MAP)
        mem_map = _U64.unpack(v[0])[0] if v is not None and len(v[0]) == 8 else 0
        if not mem_map:
            self._warn(f"KHO: setup: handover FDT ({pa:#x}) has no preserved memory map")
            return False
        try:
            if kho_abi.is_radix(self.gen):
                self.preserved, _nodes = decode_radix_tree(self.mem, mem_map)
            else:
                self.preserved, _pages = decode_bitmap_chunks(self.mem, mem_map)
        except BadInput as e:
            self._warn(f"KHO: preserved memory map is corrupt: {e.one_line()}")
            raise self._panic(f"KHO: cannot walk the preserved memory map at {mem_map:#x}")
        for child in root.children:
            pv = child.props.get(kho_abi.sub_tree_prop(self.gen))
            sv = child.props.get(kho_abi.PROP_SUB_TREE_SIZE)
            self.subtrees[child.name] = (
                _U64.unpack(pv[0])[0] if pv is not None and len(pv[0]) == 8 else None,
                _U64.unpack(sv[0])[0] if sv is not None and len(sv[0]) == 8 else None)
        self._warn("KHO: found kexec handover data.")
        if kho_abi.has_blob_size(self.gen):
            self._read_metadata()
        return True

    def _panic(self, text: str) -> KernelPanic:
        return KernelPanic(text, messages=self.messages)

    def retrieve_subtree(self, name: str) -> tuple[int, int | None]:
        """kho_retrieve_subtree(): ``-ENOENT`` if absent, ``-EINVAL`` for bad properties."""
        if name not in self.subtrees:
            raise KernelRefusal("ENOENT", f"no KHO subtree {name!r}")
        pa, size = self.subtrees[name]
        if pa is None or (kho_abi.has_blob_size(self.gen) and size is None):
            raise KernelRefusal("EINVAL", f"KHO subtree {name!r} has malformed properties")
        return pa, size

    def _read_metadata(self) -> None:
        try:
            pa, size = self.retrieve_subtree(kho_abi.KHO_METADATA_NODE_NAME)
        except KernelRefusal:
            return
        if size < kho_abi.KHO_KEXEC_METADATA_SIZE or not self.mem.present(pa, size):
            self._warn("KHO: kexec metadata is malformed, ignored")
            return
        version, rel, count = _META.unpack(self.mem.read(pa, kho_abi.KHO_KEXEC_METADATA_SIZE))
        if version != kho_abi.KHO_KEXEC_METADATA_VERSION:
            self._warn(f"KHO: kexec metadata version {version} is not supported, ignored")
            return
        self.previous_release, self.kexec_count = _cstr(rel), count
        self._warn(f"KHO: exec from: {self.previous_release} (count {count})")

    def _luo_early_startup(self) -> None:
        try:
            pa, size = self.retrieve_subtree(luo_abi.LUO_KHO_ENTRY_NAME)
        except KernelRefusal as e:
            if e.errno_name == "ENOENT":
                return                                   # fresh boot
            self._luo_fail(e.errno_name, f"cannot retrieve the LUO subtree: {e.message}")
        if not self.mem.present(pa, max(size or 0, 1)):
            self._luo_fail("EINVAL", f"LUO blob {pa:#x} is not in memory")
        if self.profile.luo_is_fdt:
            try:
                lf = fdtmod.read_luo_fdt(self.mem.read(pa, min(size or PAGE_SIZE, PAGE_SIZE)))
            except BadInput as e:
                self._luo_fail("EINVAL", e.one_line())
            self.liveupdate_num = lf.liveupdate_num
            self.session_header_pa = lf.session_header_pa
            self.flbs_pa = lf.flb_header_pa or 0
        else:
            if size < luo_abi.LUO_SER_SIZE:
                self._luo_fail("EINVAL", f"LUO blob is {size} bytes, smaller than struct "
                               f"luo_ser ({luo_abi.LUO_SER_SIZE})")
            compat, num, sessions_pa, flbs_pa = _LUO_SER.unpack(
                self.mem.read(pa, luo_abi.LUO_SER_SIZE))
            want = luo_abi.LUO_ABI_COMPATIBLE.encode().ljust(luo_abi.LUO_ABI_COMPAT_LEN, b"\0")
            if compat != want:
                self._luo_fail("EINVAL", f"LUO ABI is incompatible: {_cstr(compat)!r} != "
                               f"{luo_abi.LUO_ABI_COMPATIBLE!r}")
            self.liveupdate_num, self.sessions_pa, self.flbs_pa = num, sessions_pa, flbs_pa
            try:   # luo_session_setup_incoming(): kho_block_set_restore() of the session chain
                self._session_chain = kho_block_set_restore(
                    self.mem, sessions_pa, luo_abi.LUO_SESSION_SER_SIZE, what="LUO sessions")
            except BlockSetCorrupt as e:
                self._warn(f"LUO: {e.kernel_message}")
                self._luo_fail("EINVAL", e.one_line())
        if self.flbs_pa:
            if not self.mem.present(self.flbs_pa, PAGE_SIZE):
                self._luo_fail("EINVAL", f"FLB page {self.flbs_pa:#x} is not in memory")
            _pg, count = _FLB_HDR.unpack(self.mem.read(self.flbs_pa, _FLB_HDR.size))
            count = min(count, luo_abi.LUO_FLB_MAX)   # entries past the page are not memory
            raw = self.mem.read(self.flbs_pa + _FLB_HDR.size, count * _FLB_ENT.size)
            self.flb_records = [FlbRecord(_cstr(n), d, c) for n, d, c in _FLB_ENT.iter_unpack(raw)]
        self.luo_status = "incoming"
        self._warn(f"LUO: Retrieved live update data, liveupdate number: {self.liveupdate_num}")
        try:
            self._sessions = self.deserialize_sessions()
        except KernelRefusal as e:
            self.session_error = e.message

    def _luo_fail(self, errno_name: str, detail: str):
        """luo_restore_fail(): any incoming-tree error panics the new kernel."""
        self._warn(f"LUO: {detail}")
        raise self._panic(f"The incoming tree failed to initialize properly [-{errno_name}]")

    # ---- sessions (first open of /dev/liveupdate) ---------------------------------------------------
    def deserialize_sessions(self) -> list[IncomingSession]:
        """luo_session_deserialize(); any failure is ``-EIO`` for every open()."""
        if self._sessions is not None:
            return self._sessions
        try:
            return self._deserialize()
        except (BadInput, BlockSetCorrupt) as e:
            raise KernelRefusal("EIO", e.one_line(), kernel_message=e.one_line()) from None

    def _deserialize(self) -> list[IncomingSession]:
        out = []
        if self.luo_status != "incoming":
            return out
        if self.profile.luo_is_fdt:
            if not self.session_header_pa:
                return out
            count = self.mem.read_u64(self.session_header_pa, field="luo_session_header.count")
            if count > luo_abi.LUO_SESSION_MAX:
                raise BadInput(f"session count {count} > {luo_abi.LUO_SESSION_MAX}",
                               field="luo_session_header.count")
            raw = self.mem.read(self.session_header_pa + _SESSION_HDR.size,
                                count * _SESSION.size)
            for name, files_pa, nfiles in _SESSION.iter_unpack(raw):
                if nfiles > luo_abi.LUO_FILE_MAX:
                    raise BadInput(f"session {_cstr(name)!r} file count {nfiles} > "
                                   f"{luo_abi.LUO_FILE_MAX}", field="file_set_ser.count")
                fraw = self.mem.read(files_pa, nfiles * _FILE.size) if nfiles else b""
                out.append(IncomingSession(_cstr(name), [(_cstr(c), d, t) for c, d, t
                                                         in _FILE.iter_unpack(fraw)]))
            return out
        for name, files_pa, nfiles in _SESSION.iter_unpack(self._session_chain.data):
            fs = kho_block_set_restore(self.mem, files_pa, luo_abi.LUO_FILE_SER_SIZE,
                                       what=f"files of session {_cstr(name)!r}")
            if fs.count != nfiles:
                raise BadInput(f"session {_cstr(name)!r}: {fs.count} file entries but "
                               f"file_set_ser.count is {nfiles}", field="file_set_ser.count")
            out.append(IncomingSession(_cstr(name), [(_cstr(c), d, t) for c, d, t
                                                     in _FILE.iter_unpack(fs.data)]))
        return out

    @property
    def sessions(self) -> list[IncomingSession]:
        return self._sessions or []

    # ---- FLBs ---------------------------------------------------------------------------------------
    def flb(self, name: str) -> FlbRecord | None:
        """The first FLB entry whose name equals ``name`` exactly (strcmp), else None."""
        return next((r for r in self.flb_records if r.name == name), None)

    def read(self, pa: int, n: int) -> bytes:
        """Bytes at ``pa``; stops early (shorter result) where memory is not present."""
        return self.mem.read_available(pa, n)

    def carry_over(self) -> tuple[PhysMem, list[tuple[int, int]]]:
        """The incoming preserved blocks copied into a fresh PhysMem, for the new generation's
        image (``KhoAllocator(mem, incoming=blocks)`` keeps them out of its allocations)."""
        new = PhysMem()
        for pa, order in self.preserved:
            size = PAGE_SIZE << order
            if self.mem.present(pa, size):
                new.write(pa, self.mem.read(pa, size))
        return new, list(self.preserved)


# ==================================================================================================
# inspect
# ==================================================================================================

def find_kho_root(mem: PhysMem) -> int | None:
    """Lowest page-aligned PA holding an FDT whose root compatible starts with ``kho-v``."""
    magic = kho_abi.FDT_MAGIC_BYTES
    for pa, chunks in mem.runs():
        off = 0
        for c in chunks:
            c = memoryview(c)
            for po in range(0, len(c), PAGE_SIZE):
                if c[po:po + 4] == magic:
                    cand = pa + off + po
                    try:
                        root = fdtmod.parse_fdt(fdtmod.fdt_at(mem, cand, limit=PAGE_SIZE))
                    except BadInput:
                        continue
                    if any(s.startswith("kho-v") for s in root.compatible()):
                        return cand
            off += len(c)
    return None


def _pci_profile_for(name: str, luo_compat: str, mem: PhysMem, data_pa: int) -> Profile | None:
    cands = [p for p in profiles_for_compatible(name) if p.luo_compatible == luo_compat]
    if len(cands) > 1 and all(p.pci_layout == VERSION for p in cands) and \
            mem.present(data_pa, 4):
        v = mem.read_u32(data_pa)
        cands = [p for p in cands if p.pci_version == v] or cands[-1:]
    if len(cands) > 1:   # prefer the final revision (v6 over its patch-level intermediates)
        named = [p for p in cands if p.name in ("v6", "v7", "v9")]
        # among the patch-level intermediates sharing a compat, the latest patch
        cands = named or sorted(cands, key=lambda p: -p.patch)
    return cands[0] if cands else None


def read_handover(mem: PhysMem, root_pa: int | None = None, *, file=None,
                  profile=None) -> dict:
    """Validate and decode the whole hand-over starting at the KHO root FDT.

    Raises :class:`BadInput` naming the broken link. Objects that are reachable but not in the
    preserved-memory map are reported as warnings (the next kernel would reuse that memory).
    """
    from pcilu_cli.abi import pci as pcimod

    warnings: list[Diagnostic] = []
    if root_pa is None:
        root_pa = find_kho_root(mem)
        if root_pa is None:
            raise BadInput("no KHO root FDT (compatible \"kho-v*\") found on any page boundary",
                           file=file)
    if not mem.present(root_pa, 40):
        raise BadInput(f"KHO root FDT {root_pa:#x} points outside memory", file=file,
                       field="root")
    total = min(fdtmod.fdt_totalsize(mem.read(root_pa, 8)), PAGE_SIZE)
    if not mem.present(root_pa, max(total, 40)):
        raise BadInput(f"KHO root FDT {root_pa:#x} is truncated in memory", file=file,
                       field="root")
    root = fdtmod.read_kho_root_fdt(mem.read(root_pa, max(total, 40)), file=file)
    gen = root.gen
    if kho_abi.is_radix(gen):
        blocks, tracker = decode_radix_tree(mem, root.mem_map, file=file)
    else:
        blocks, tracker = decode_bitmap_chunks(mem, root.mem_map, file=file)
    pres = {pa: o for pa, o in blocks}
    pres_sorted = sorted(pres.items())

    def preserved(pa: int, size: int, what: str) -> None:
        i = bisect.bisect_right(pres_sorted, (pa, 1 << 60)) - 1
        if i < 0 or pa + size > pres_sorted[i][0] + (PAGE_SIZE << pres_sorted[i][1]):
            warnings.append(Diagnostic(f"{what} at {pa:#x} is not in the preserved-memory map "
                                       "(the next kernel may overwrite it)", file=file,
                                       field=what, kernel_accepts=True))

    def need(pa: int, n: int, what: str) -> bytes:
        if not pa or not mem.present(pa, n):
            raise BadInput(f"{what} {pa:#x} points outside memory", file=file, field=what)
        return mem.read(pa, n)

    doc = {"kind": "handover", "root_pa": root_pa, "kho_compatible": root.compatible,
           "kho_generation": gen, "preserved_memory_map": root.mem_map,
           "subtrees": [{"name": n, "preserved_data": p, "blob_size": s}
                        for n, p, s in root.subtrees],
           "preserved": [{"pa": pa, "order": o} for pa, o in pres_sorted],
           "tracker_pages": len(tracker)}
    preserved(root_pa, PAGE_SIZE, "KHO root FDT")
    subs = {n: (p, s) for n, p, s in root.subtrees}
    for n, p, s in root.subtrees:
        need(p, max(s or 1, 1), f"subtree {n!r} preserved-data")
        preserved(p, max(s or 1, 1), f"subtree {n!r}")
    if kho_abi.KHO_METADATA_NODE_NAME in subs:
        p, s = subs[kho_abi.KHO_METADATA_NODE_NAME]
        ver, rel, cnt = _META.unpack(need(p, kho_abi.KHO_KEXEC_METADATA_SIZE, "kexec-metadata"))
        doc["kexec_metadata"] = {"version": ver, "previous_release": _cstr(rel),
                                 "kexec_count": cnt, "blob_size": s}
    luo = None
    if luo_abi.LUO_KHO_ENTRY_NAME in subs:
        luo = _read_luo(mem, *subs[luo_abi.LUO_KHO_ENTRY_NAME], need, preserved, file)
        doc["luo"] = luo
    pcidocs = []
    if luo is not None:
        for rec in luo["flbs"]:
            prof = (get_profile(profile) if profile is not None and
                    get_profile(profile).pci_compatible == rec["name"] else
                    _pci_profile_for(rec["name"], luo["compatible"], mem, rec["data"]))
            if prof is None:
                continue
            pcidocs.append(_read_pci(mem, rec, prof, need, preserved, pcimod, file))
    doc["pci"] = pcidocs
    doc["profile"] = pcidocs[0]["profile"] if pcidocs else None
    doc["warnings"] = [w.to_json() for w in warnings]
    return doc


def _read_luo(mem, pa, size, need, preserved, file) -> dict:
    blob = need(pa, max(size or luo_abi.LUO_SER_SIZE, 8), "LUO blob")
    sessions = []
    if blob[:4] == kho_abi.FDT_MAGIC_BYTES:
        lf = fdtmod.read_luo_fdt(blob, file=file)
        out = {"compatible": luo_abi.LUO_FDT_COMPATIBLE, "liveupdate_num": lf.liveupdate_num,
               "session_header_pa": lf.session_header_pa, "flbs_pa": lf.flb_header_pa}
        if lf.session_header_pa:
            count, = _SESSION_HDR.unpack(need(lf.session_header_pa, _SESSION_HDR.size,
                                              "luo-session-header"))
            if count > luo_abi.LUO_SESSION_MAX:
                raise BadInput(f"luo-session-header {lf.session_header_pa:#x}: count {count} > "
                               f"LUO_SESSION_MAX ({luo_abi.LUO_SESSION_MAX})", file=file,
                               field="luo_session_header_ser.count")
            preserved(lf.session_header_pa, _SESSION_HDR.size + _SESSION.size * count,
                      "LUO session area")
            raw = need(lf.session_header_pa + _SESSION_HDR.size, count * _SESSION.size,
                       "luo-session-header") if count else b""
            for name, files_pa, n in _SESSION.iter_unpack(raw):
                what = f"session {_cstr(name)!r} files"
                if n > luo_abi.LUO_FILE_MAX:
                    raise BadInput(f"{what}: count {n} > LUO_FILE_MAX ({luo_abi.LUO_FILE_MAX})",
                                   file=file, field=f"{what}.count")
                fraw = need(files_pa, n * _FILE.size, what) if n else b""
                if n:
                    preserved(files_pa, n * _FILE.size, what)
                sessions.append((name, files_pa, fraw))
        flbs_pa = lf.flb_header_pa
    else:
        if len(blob) < luo_abi.LUO_SER_SIZE:
            raise BadInput(f"LUO blob is {len(blob)} bytes, smaller than struct luo_ser",
                           file=file, field="LUO blob-size")
        compat, num, sessions_pa, flbs_pa = _LUO_SER.unpack(blob[:luo_abi.LUO_SER_SIZE])
        if _cstr(compat) != luo_abi.LUO_ABI_COMPATIBLE:
            raise BadInput(f"LUO blob {pa:#x}: compatible {_cstr(compat)!r} is not "
                           f"{luo_abi.LUO_ABI_COMPATIBLE!r}", file=file,
                           field="luo_ser.compatible")
        out = {"compatible": luo_abi.LUO_ABI_COMPATIBLE, "liveupdate_num": num,
               "sessions_pa": sessions_pa, "flbs_pa": flbs_pa}
        chain = kho_block_set_restore(mem, sessions_pa, luo_abi.LUO_SESSION_SER_SIZE,
                                      what="LUO sessions", file=file)
        for bpa, _c in chain.blocks:
            preserved(bpa, PAGE_SIZE, "LUO session block")
        for name, files_pa, n in _SESSION.iter_unpack(chain.data):
            what = f"session {_cstr(name)!r} files"
            fs = kho_block_set_restore(mem, files_pa, luo_abi.LUO_FILE_SER_SIZE, what=what,
                                       file=file)
            if fs.count != n:
                raise BadInput(f"{what}: {fs.count} entries in the chain but "
                               f"file_set_ser.count is {n}", file=file, field=f"{what}.count")
            for bpa, _c in fs.blocks:
                preserved(bpa, PAGE_SIZE, f"{what} block")
            sessions.append((name, files_pa, fs.data))
    out["sessions"] = [{"name": _cstr(name), "files_pa": fpa,
                        "files": [{"compatible": _cstr(c), "data": d, "token": t}
                                  for c, d, t in _FILE.iter_unpack(fraw)]}
                       for name, fpa, fraw in sessions]
    flbs = []
    if flbs_pa:
        pg, count = _FLB_HDR.unpack(need(flbs_pa, _FLB_HDR.size, "FLB page"))
        preserved(flbs_pa, PAGE_SIZE, "FLB page")
        if count > luo_abi.LUO_FLB_MAX:
            raise BadInput(f"FLB page {flbs_pa:#x}: count {count} > LUO_FLB_MAX "
                           f"({luo_abi.LUO_FLB_MAX})", file=file, field="luo_flb_header_ser.count")
        raw = need(flbs_pa + _FLB_HDR.size, count * _FLB_ENT.size, "FLB page") if count else b""
        flbs = [{"name": _cstr(n), "data": d, "count": c} for n, d, c in _FLB_ENT.iter_unpack(raw)]
        out["flb_pgcnt"] = pg
    out["flbs"] = flbs
    return out


def _read_pci(mem, rec, prof: Profile, need, preserved, pcimod, file) -> dict:
    name, data_pa = rec["name"], rec["data"]
    what = f"FLB {name!r} data"
    hdr_size = pcimod.header_layout(prof).sizeof()
    hdr = need(data_pa, hdr_size, what)
    if prof.pci_layout == FLEX:
        max_nr = int.from_bytes(hdr[:4], "little")
        size = pcimod.flex_size(max_nr)
        if not mem.present(data_pa, size):
            raise BadInput(f"{what} {data_pa:#x}: max_nr_devices {max_nr} runs past present "
                           "memory", file=file, field=f"{what}.max_nr_devices")
        blob = mem.read(data_pa, size)
        preserved(data_pa, size, what)
        ser = pcimod.decode_pci_ser(blob, prof, file=file)
    else:
        preserved(data_pa, hdr_size, what)

        def entries_from(devices_pa):
            chain = kho_block_set_restore(mem, devices_pa, pcimod.PCI_DEV_SER_SIZE,
                                          what=f"{what} devices", file=file)
            for bpa, _c in chain.blocks:
                preserved(bpa, PAGE_SIZE, f"{what} device block")
            return pcimod.decode_entries(chain.data)

        ser = pcimod.decode_pci_ser(hdr, prof, file=file, entries_from=entries_from)
    d = pcimod.pci_ser_to_json(ser)
    d["data_pa"] = data_pa
    d["flb_count"] = rec["count"]
    return d
