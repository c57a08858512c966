# SPDX-License-Identifier: GPL-2.0-only
"""What a kernel build can do for a Live Update: its release, its Kconfig, the hand-over ABI
strings it carries, and the pcilu profile that speaks the same ABI (``pcilu kernel IMAGE``).

Inputs, told apart by their bytes:
  * a ``vmlinux`` (ELF);
  * a ``bzImage``/``vmlinuz``: the x86 setup header ("HdrS" at 0x202) names the release and
    where the compressed payload sits; the payload is found and inflated the way
    ``scripts/extract-vmlinux`` does it — look for each format's magic (gzip, xz, lzma, zstd,
    lz4 legacy, bzip2) and try to decompress from there — and scanned as a stream;
  * a kernel ``.config`` (text) or ``/proc/config.gz`` (gzip of one);
  * a Debian kernel package (``.deb``: ``boot/vmlinuz-*`` and ``boot/config-*`` are read from
    its data archive in memory);
  * a directory holding any of these (an unpacked package, ``/boot``, a build tree). A build
    tree's headers may also say ``#define PCI_LUO_FLB_VERSION N``.

The ABI strings are the NUL-terminated compatibles the kernel compares with ``strcmp``
(kho-luo-abi.md §0, §4, §6): ``KHO_FDT_COMPATIBLE`` (``kho-vN``), the LUO ABI (``luo-vN``),
``PCI_LUO_FLB_COMPATIBLE`` (``pci-vN``; the version-field era's ``"pci"`` is recognised by its
version-mismatch panic text, since a bare "pci" is in every kernel). ``PCI_LUO_FLB_VERSION`` is
a compile-time constant in code: an image does not carry it as data (see CHOICES).

Caps (hostile input): a payload is inflated in 1 MiB steps and scanned as it streams (memory
stays a few MiB above the input), and at most ``INFLATE_FACTOR`` × the input size (at least
``INFLATE_MIN``) is inflated; beyond that the scan stops and the document says so.

API:
    analyse(path) -> dict       the ``kind: "kernel_image"`` document
    profile_for(path) -> (profile name, document)   BadInput when the kernel has no profile
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import struct
import zlib
from pathlib import Path

from pcilu_cli.abi.profiles import PROFILES
from pcilu_cli.errors import BadInput

CHUNK = 1 << 20
INFLATE_FACTOR = 16          # a vmlinux is ~4-6x its xz/zstd payload; 16x leaves room
INFLATE_MIN = 256 << 20
TEXT_MAX = 16 << 20          # a .config is ~250 KiB
FILE_MAX = 512 << 20         # an image or package larger than this is not read
OPTIONS = ("KEXEC_HANDOVER", "LIVEUPDATE", "PCI_LIVEUPDATE")

# patterns found in the image (NUL-bounded compatibles and the texts that mark code)
_COMPAT = re.compile(rb"\x00((?:kho|luo|pci)-v[0-9]{1,3})\x00")
_STEMS = (b"kho-v", b"luo-v", b"pci-v")
_VERSION_PANIC = b"Incoming PCI FLB version (v%d) is incompatible"
_PCI_LU_MARKS = (b"PCI: liveupdate: ", b"will be preserved across next Live Update",
                 _VERSION_PANIC)
_BANNER = re.compile(rb"Linux version ([0-9][^\s\x00]{0,80})")
_IKCFG_ST, _IKCFG_ED = b"IKCFG_ST", b"IKCFG_ED"
_VERSION_LINE = re.compile(r"^# Linux/\S+ (\S+) Kernel Configuration\s*$", re.M)
_DEFINE = re.compile(rb'#define\s+(PCI_LUO_FLB_VERSION|PCI_LUO_FLB_COMPATIBLE|'
                     rb'KHO_FDT_COMPATIBLE|LUO_ABI_COMPATIBLE|LUO_FDT_COMPATIBLE)\s+'
                     rb'("[^"\n]*"|\d+)')
OVERLAP = 256

# (name, magic) as scripts/extract-vmlinux tries them
MAGICS = (("gzip", b"\x1f\x8b\x08"), ("xz", b"\xfd7zXZ\x00"), ("bzip2", b"BZh"),
          ("lzma", b"\x5d\x00\x00"), ("lz4", b"\x02\x21\x4c\x18"),
          ("zstd", b"\x28\xb5\x2f\xfd"))


# ---- the result ---------------------------------------------------------------------------

def _new_doc(path: str) -> dict:
    return {"kind": "kernel_image", "file": path, "inputs": [], "release": None,
            "config": {k: None for k in OPTIONS}, "config_source": None,
            "abi": {"kho": None, "luo": None, "pci_flb": None, "pci_version": None},
            "profile": None, "nearest_profile": None, "live_update_capable": False,
            "reason": "", "notes": []}


class _Facts:
    """What the inputs said, merged (a config beats inference from an image)."""

    def __init__(self):
        self.release = None
        self.config: dict | None = None          # option -> bool (from a config file)
        self.config_source = None
        self.config_release = None
        self.config_absent: set = set()
        self.compat: set[str] = set()
        self.pci_marks = False
        self.version_era = False
        self.defines: dict[str, str] = {}
        self.scanned_image = False
        self.image_complete = True
        self.inputs: list[dict] = []
        self.notes: list[str] = []


# ---- config -------------------------------------------------------------------------------

def parse_config(text: str, file: str) -> tuple[str, dict, set]:
    """(release from the version line, {OPTION: bool}, options the file does not mention at
    all) of a kernel .config; an option absent from the file (it does not exist in that
    kernel) is False, as Kconfig treats it."""
    m = _VERSION_LINE.search(text[:4096])
    if not m:
        raise BadInput("no version line (\"# Linux/ARCH VERSION Kernel Configuration\") in "
                       "the first lines: not a kernel .config", file=file, line=1)
    values, absent = {}, set()
    for opt in OPTIONS:
        mm = re.search(rf"^CONFIG_{opt}=(\S+)\s*$", text, re.M)
        values[opt] = bool(mm) and mm.group(1) in ("y", "m")
        if not mm and not re.search(rf"^# CONFIG_{opt} is not set", text, re.M):
            absent.add(opt)
    return m.group(1), values, absent


def _looks_config(data: bytes) -> bool:
    head = data[:8192]
    return b"\0" not in head and (re.search(rb"(?:^|\n)(?:# )?CONFIG_[A-Z0-9_]+[= ]", head)
                                  is not None or b"Kernel Configuration" in head)


def _take_config(f: _Facts, text: str, file: str, source: str) -> None:
    rel, values, absent = parse_config(text, file)
    if f.config is None:
        f.config, f.config_source, f.config_release = values, source, rel
        f.config_absent = absent
    f.inputs.append({"file": file, "what": "config", "release": rel})


# ---- image scanning ------------------------------------------------------------------------

class _Scanner:
    """Streams bytes through the patterns, keeping only a small overlap between chunks."""

    def __init__(self, facts: _Facts):
        self.f = facts
        self.tail = b""
        self.total = 0
        self.banner = None
        self.ikcfg = None           # bytes between IKCFG_ST and IKCFG_ED, collected
        self._ik_buf = None

    def feed(self, chunk: bytes) -> None:
        buf = self.tail + chunk
        self.total += len(chunk)
        for stem in _STEMS:            # bytes.find is memchr-fast; a regex over NULs is not
            i = buf.find(stem)
            while i >= 0:
                m = _COMPAT.match(buf, i - 1) if i else None
                if m:
                    self.f.compat.add(m.group(1).decode())
                i = buf.find(stem, i + 1)
        if not self.f.pci_marks and any(k in buf for k in _PCI_LU_MARKS):
            self.f.pci_marks = True
        if _VERSION_PANIC in buf:
            self.f.version_era = True
        if self.banner is None:
            m = _BANNER.search(buf)
            if m and m.end() < len(buf):
                self.banner = m.group(1).decode("ascii", "replace")
        self._ikconfig(buf)
        self.tail = buf[-OVERLAP:]

    def _ikconfig(self, buf: bytes) -> None:
        if self.ikcfg is not None:
            return
        if self._ik_buf is None:
            i = buf.find(_IKCFG_ST)
            if i < 0:
                return
            self._ik_buf = bytearray(buf[i + len(_IKCFG_ST):])
        else:
            self._ik_buf += buf[OVERLAP:] if len(buf) > OVERLAP else b""
        j = self._ik_buf.find(_IKCFG_ED)
        if j >= 0:
            self.ikcfg = bytes(self._ik_buf[:j])
            self._ik_buf = None
        elif len(self._ik_buf) > 4 << 20:
            self._ik_buf = None
            self.ikcfg = b""


def _inflate_stream(kind: str, data: bytes, start: int, limit: int, end: int | None = None):
    """Yield decompressed chunks of the ``kind`` stream at ``data[start:end]``, at most
    ``limit`` bytes; raises ValueError/EOFError/LZMAError/OSError on corrupt or truncated
    input."""
    src = memoryview(data)[start:end]
    if kind == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        yield from _pump(lambda b, n: d.decompress(b, n), lambda: d.unconsumed_tail,
                         lambda: d.eof, src, limit)
    elif kind in ("xz", "lzma"):
        d = lzma.LZMADecompressor(lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE)
        yield from _pump_eof(d, src, limit)
    elif kind == "bzip2":
        yield from _pump_eof(bz2.BZ2Decompressor(), src, limit)
    elif kind == "zstd":
        try:
            import zstandard
        except ImportError:
            raise OSError("zstd payload: install the 'zstandard' package to read it") from None
        # fed in 256-byte pieces: one piece holds at most ~50 blocks of <= 128 KiB, so an
        # output burst stays a few MiB even for an RLE bomb
        d = zstandard.ZstdDecompressor().decompressobj()
        got, pos, n = 0, 0, len(src)
        while got < limit and not d.eof:
            if pos >= n:
                raise EOFError("compressed stream ends before its end marker (truncated)")
            try:
                out = d.decompress(bytes(src[pos:pos + 256]))
            except zstandard.ZstdError as e:
                raise ValueError(f"zstd: {e}") from None
            pos += 256
            if out:
                got += len(out)
                yield out
    elif kind == "lz4":
        yield from _lz4_legacy(src, limit)


def _pump(step, unconsumed, at_eof, src, limit):
    got, buf = 0, bytes(src)
    out = step(buf, CHUNK)
    while True:
        if out:
            got += len(out)
            yield out
        if at_eof() or got >= limit:
            return
        rest = unconsumed()
        if not rest and not out:
            raise EOFError("compressed stream ends before its end marker (truncated)")
        out = step(rest, CHUNK)


def _pump_eof(d, src, limit):
    got = 0
    out = d.decompress(bytes(src), CHUNK)
    while True:
        if out:
            got += len(out)
            yield out
        if d.eof or got >= limit:
            return
        if d.needs_input:
            raise EOFError("compressed stream ends before its end marker (truncated)")
        out = d.decompress(b"", CHUNK)


def _lz4_legacy(src, limit):
    """The kernel's lz4 "legacy" frame: magic, then blocks of (le32 size, lz4 block) of at
    most 8 MiB each; ends at the input's end or a size that is not a block."""
    try:
        import lz4.block
    except ImportError:
        raise OSError("lz4 payload: install the 'lz4' package to read it") from None
    off, got, n = 4, 0, len(src)
    while off + 4 <= n and got < limit:
        (size,) = struct.unpack_from("<I", src, off)
        if size == 0x184C2102:             # another legacy frame follows
            off += 4
            continue
        if size == 0 or size > (8 << 20) + (8 << 20) // 255 + 16:
            break                          # not a block size: the stream ended
        if off + 4 + size > n:
            if got:
                break      # the build appends the inflated size (le32) after the blocks
            raise EOFError("lz4 block runs past the end of the file (truncated)")
        try:
            out = lz4.block.decompress(bytes(src[off + 4:off + 4 + size]),
                                       uncompressed_size=8 << 20)
        except lz4.block.LZ4BlockError as e:
            raise ValueError(f"lz4: {e}") from None
        off += 4 + size
        got += len(out)
        yield out


def _scan_image_bytes(f: _Facts, data: bytes, file: str, what: str) -> None:
    sc = _Scanner(f)
    for i in range(0, len(data), CHUNK):
        sc.feed(data[i:i + CHUNK])
    _finish_scan(f, sc, file, what)


def _finish_scan(f: _Facts, sc: _Scanner, file: str, what: str, extra: dict | None = None):
    f.scanned_image = True
    rel = sc.banner
    if rel and not f.release:
        f.release = rel
    entry = {"file": file, "what": what, "release": rel, "scanned_bytes": sc.total}
    if extra:
        entry.update(extra)
    f.inputs.append(entry)
    if sc.ikcfg:
        try:
            text = gzip.decompress(sc.ikcfg).decode("utf-8", "replace")
            _take_config(f, text, f"{file} (IKCONFIG)", "embedded (CONFIG_IKCONFIG)")
        except (OSError, EOFError, BadInput):
            f.notes.append(f"{file}: an embedded config (IKCFG_ST) could not be read")


def _bzimage_release(data: bytes) -> str | None:
    """The setup header's kernel_version string (at 0x200 + the u16 at 0x20e)."""
    if len(data) < 0x210:
        return None
    ptr = struct.unpack_from("<H", data, 0x20E)[0]
    if not ptr:
        return None
    off = ptr + 0x200
    end = data.find(b"\0", off, off + 256)
    if end < 0:
        return None
    s = data[off:end].decode("ascii", "replace").split(" ", 1)[0]
    return s or None


def _payload_window(data: bytes) -> tuple[int, int] | None:
    """Protected-mode code starts after (setup_sects + 1) sectors; boot protocol ≥ 2.08 adds
    payload_offset/payload_length (relative to it)."""
    if len(data) < 0x250:
        return None
    setup_sects = data[0x1F1] or 4
    version = struct.unpack_from("<H", data, 0x206)[0]
    pm = (setup_sects + 1) * 512
    if version >= 0x208:
        poff, plen = struct.unpack_from("<II", data, 0x248)
        if plen:
            return pm + poff, plen
    return None


def _scan_bzimage(f: _Facts, data: bytes, file: str) -> None:
    rel = _bzimage_release(data)
    if rel:
        f.release = rel
    limit = max(INFLATE_MIN, INFLATE_FACTOR * len(data))
    candidates = []
    win = _payload_window(data)
    if win is not None:
        if win[0] + win[1] > len(data):
            raise BadInput(f"setup header says the payload is {win[1]} bytes at {win[0]:#x}, "
                           f"past the end of the {len(data)}-byte file (truncated image)",
                           file=file, offset=win[0], field="payload_length")
        for kind, magic in MAGICS:
            if data.startswith(magic, win[0]):
                candidates.append((win[0], kind))
    if not candidates:     # extract-vmlinux: every magic, every place
        for kind, magic in MAGICS:
            i, n = data.find(magic), 0
            while i >= 0 and n < 64:        # at most 64 tries per format
                candidates.append((i, kind))
                i, n = data.find(magic, i + 1), n + 1
        candidates.sort()
    errors = []
    for off, kind in candidates:
        sc = _Scanner(f)
        first = True
        end = win[0] + win[1] if win is not None and off == win[0] else None
        try:
            for chunk in _inflate_stream(kind, data, off, limit, end):
                if first and not chunk.startswith(b"\x7fELF"):
                    raise ValueError("does not inflate to an ELF vmlinux")
                first = False
                sc.feed(chunk)
        except (ValueError, EOFError, lzma.LZMAError, OSError, zlib.error) as e:
            if not first:      # it was the vmlinux, and it broke part way
                raise BadInput(f"{kind} payload at {off:#x}: {e}", file=file, offset=off,
                               field="payload") from None
            errors.append(f"{kind} at {off:#x}: {e}")
            continue
        if first:
            errors.append(f"{kind} at {off:#x}: empty")
            continue
        extra = {"payload": kind, "payload_offset": off}
        if sc.total >= limit:
            extra["inflate_capped_at"] = limit
            f.image_complete = False
            f.notes.append(f"{file}: payload inflated only to {limit} bytes "
                           f"({INFLATE_FACTOR} x the file, at least {INFLATE_MIN >> 20} MiB); "
                           "strings beyond it were not seen")
        _finish_scan(f, sc, file, "bzImage", extra)
        return
    why = "; ".join(errors[:3]) or "no compressed payload magic found"
    raise BadInput(f"a bzImage whose payload could not be read ({why})", file=file,
                   offset=win[0] if win else None, field="payload")


# ---- packages and directories --------------------------------------------------------------

def _deb_members(data: bytes, file: str):
    """(name, bytes) of boot/vmlinuz-*, boot/vmlinux-*, boot/config-* in a .deb."""
    import tarfile
    off = 8
    while off + 60 <= len(data):
        name = data[off:off + 16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(data[off + 48:off + 58].decode().strip())
        except ValueError:
            raise BadInput("bad ar member header", file=file, offset=off) from None
        body = off + 60
        if body + size > len(data):
            raise BadInput(f"ar member {name} runs past the end (truncated package)",
                           file=file, offset=off, field=name)
        if name.startswith("data.tar"):
            blob = data[body:body + size]
            mode = {"data.tar.xz": "r|xz", "data.tar.gz": "r|gz", "data.tar.bz2": "r|bz2",
                    "data.tar": "r|"}.get(name)
            fileobj = io.BytesIO(blob)
            if name == "data.tar.zst":
                try:
                    import zstandard
                except ImportError:
                    raise BadInput("data.tar.zst: install the 'zstandard' package to read it",
                                   file=file, field=name) from None
                fileobj = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob))
                mode = "r|"
            if mode is None:
                raise BadInput(f"unknown data member {name}", file=file, field=name)
            try:
                with tarfile.open(fileobj=fileobj, mode=mode) as tf:
                    seen = set()
                    for m in tf:
                        base = m.name.lstrip("./")
                        mm = re.match(r"boot/(vmlinuz|vmlinux|config)-", base)
                        if m.isfile() and mm and m.size <= FILE_MAX:
                            seen.add("config" if mm.group(1) == "config" else "image")
                            yield base, tf.extractfile(m).read()
                            if seen == {"config", "image"}:
                                break          # the modules after them are not needed
            except (tarfile.TarError, EOFError, lzma.LZMAError, OSError) as e:
                raise BadInput(f"cannot read {name}: {e}", file=file, field=name) from None
            return
        off = body + size + (size & 1)
    raise BadInput("a Debian package without a data.tar member", file=file)


def _read_file(p: Path) -> bytes:
    try:
        size = p.stat().st_size
        if size > FILE_MAX:
            raise BadInput(f"{size} bytes: larger than any kernel image ({FILE_MAX} bytes)",
                           file=str(p))
        return p.read_bytes()
    except OSError as e:
        raise BadInput(f"cannot read: {e.strerror or e}", file=str(p)) from None


def _analyse_bytes(f: _Facts, data: bytes, file: str, *, top: bool) -> bool:
    """Classify and read one input; returns False if it is none of the known kinds (a
    directory entry that is simply something else) — at the top level that is an error."""
    if data[:4] == b"\x7fELF":
        _scan_image_bytes(f, data, file, "vmlinux")
        return True
    if len(data) > 0x206 and data[0x202:0x206] == b"HdrS":
        _scan_bzimage(f, data, file)
        return True
    if data[:8] == b"!<arch>\n":
        found = False
        for name, blob in _deb_members(data, file):
            found = _analyse_bytes(f, blob, f"{file}:{name}", top=False) or found
        if not found:
            raise BadInput("a package with no boot/vmlinuz-* or boot/config-*", file=file)
        return True
    if data[:2] == b"\x1f\x8b":
        try:
            inner = _gunzip_capped(data, TEXT_MAX)
        except (OSError, EOFError, zlib.error) as e:
            raise BadInput(f"gzip: {e}", file=file) from None
        if _looks_config(inner):
            _take_config(f, inner.decode("utf-8", "replace"), file, file)
            return True
        if inner[:4] == b"\x7fELF":
            _scan_image_bytes(f, inner, file, "vmlinux (gzip)")
            return True
        if top:
            raise BadInput("a gzip file that holds neither a kernel config nor a vmlinux",
                           file=file)
        return False
    if _looks_config(data):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadInput("not UTF-8 text", file=file, offset=e.start) from None
        _take_config(f, text, file, file)
        return True
    if top:
        if b"#define" in data[:65536] and _DEFINE.search(data):
            _take_defines(f, data, file)
            return True
        raise BadInput("not a kernel image (no ELF header, no bzImage setup header \"HdrS\" "
                       "at 0x202), not a kernel config, not a Debian kernel package", file=file)
    return False


def _gunzip_capped(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, limit)
    if not d.eof and len(out) < limit:
        raise EOFError("gzip stream is truncated")
    return out


def _take_defines(f: _Facts, data: bytes, file: str) -> None:
    for m in _DEFINE.finditer(data):
        f.defines[m.group(1).decode()] = m.group(2).decode().strip('"')
    f.inputs.append({"file": file, "what": "header"})


_DIR_FILES = re.compile(r"^(vmlinu[xz](-.*)?|bzImage|\.config|config(-.*)?|config\.gz|"
                        r".*\.deb)$")
_HEADER_NAMES = ("pci-liveupdate.h", "pci_liveupdate.h", "liveupdate.h", "kexec_handover.h",
                 "luo.h", "pci.h")


def _analyse_dir(f: _Facts, d: Path) -> None:
    names = []
    for sub in (d, d / "boot"):
        if sub.is_dir():
            names += [p for p in sorted(sub.iterdir()) if p.is_file()
                      and _DIR_FILES.match(p.name)]
    # configs first (they beat inference), then images
    names.sort(key=lambda p: (0 if "config" in p.name else 1, str(p)))
    for p in names:
        _analyse_bytes(f, _read_file(p), str(p), top=False)
    for hdr in _find_headers(d):
        data = _read_file(hdr)
        if _DEFINE.search(data):
            _take_defines(f, data, str(hdr))
    if not f.inputs:
        raise BadInput("no vmlinux, vmlinuz, bzImage, config or kernel package in it",
                       file=str(d))


def _find_headers(d: Path):
    """Headers that may define the ABI constants (a build tree or linux-headers package),
    without walking a whole source tree: only the known include directories."""
    for inc in ("include/linux", "include/linux/kho", "include/linux/kho/abi",
                "drivers/pci", "usr/src"):
        base = d / inc
        if not base.is_dir():
            continue
        if inc == "usr/src":
            for sub in sorted(base.iterdir()):
                yield from _find_headers(sub)
            continue
        for name in _HEADER_NAMES:
            p = base / name
            if p.is_file():
                yield p


# ---- verdict --------------------------------------------------------------------------------

def _abi_from_facts(f: _Facts) -> dict:
    kho = sorted(c for c in f.compat if c.startswith("kho-"))
    luo = sorted(c for c in f.compat if c.startswith("luo-"))
    pci = sorted(c for c in f.compat if c.startswith("pci-"))
    d = f.defines
    abi = {"kho": d.get("KHO_FDT_COMPATIBLE") or (kho[-1] if kho else None),
           "luo": d.get("LUO_ABI_COMPATIBLE") or d.get("LUO_FDT_COMPATIBLE")
           or (luo[-1] if luo else None),
           "pci_flb": d.get("PCI_LUO_FLB_COMPATIBLE") or (pci[-1] if pci else None),
           "pci_version": int(d["PCI_LUO_FLB_VERSION"]) if "PCI_LUO_FLB_VERSION" in d else None}
    if abi["pci_flb"] is None and f.version_era:
        abi["pci_flb"] = "pci"
    return abi


def _profile_match(abi: dict):
    """(exact profile or None, nearest profile, ambiguous note)."""
    scores = []
    for p in PROFILES.values():
        s = 0
        s += 2 * (abi["kho"] == p.kho_compatible)
        s += 2 * (abi["luo"] == p.luo_compatible)
        s += 3 * (abi["pci_flb"] == p.pci_compatible)
        if abi["pci_version"] is not None:
            s += 1 * (abi["pci_version"] == p.pci_version)
        scores.append((s, p.name))
    exact = [p for p in PROFILES.values()
             if abi["kho"] == p.kho_compatible and abi["luo"] == p.luo_compatible
             and abi["pci_flb"] == p.pci_compatible
             and (abi["pci_version"] is None or abi["pci_version"] == p.pci_version)]
    best = max(scores)[0]
    nearest = [n for s, n in scores if s == best][-1]
    if exact:
        return _representative(exact, abi), nearest, exact
    return None, nearest, []


def _representative(exact: list, abi: dict):
    """Several profiles speak the same strings (the per-patch v6 profiles share their FLB
    name; v8/v9 differ only in PCI_LUO_FLB_VERSION): the one that carries the compatible as
    its alias (pci-v2 -> v6-p05, pci-v3 -> v6), else the latest."""
    for p in exact:
        if abi["pci_flb"] in p.aliases:
            return p
    return exact[-1]


def _verdict(f: _Facts, doc: dict) -> None:
    cfg = f.config
    if cfg is not None:
        doc["config"] = dict(cfg)
        doc["config_source"] = f.config_source
    elif f.scanned_image:
        # inferred from the image: code and compatibles are there or not
        doc["config"] = {
            "KEXEC_HANDOVER": _infer(any(c.startswith("kho-") for c in f.compat), f),
            "LIVEUPDATE": _infer(any(c.startswith("luo-") for c in f.compat), f),
            "PCI_LIVEUPDATE": _infer(f.pci_marks, f)}
        doc["config_source"] = "inferred from the image"
    doc["release"] = f.release or f.config_release
    abi = _abi_from_facts(f)
    doc["abi"] = abi
    c = doc["config"]
    missing = [k for k in OPTIONS if c[k] is False]
    if missing:
        rel = doc["release"] or "this kernel"
        if cfg is not None:
            why = ", ".join(f"CONFIG_{k} is not set" for k in missing)
            if "KEXEC_HANDOVER" in f.config_absent:
                why += _absent_why(f.config_release, rel)
        else:
            why = ", ".join(f"no {k.lower().replace('_', ' ')} code in the image"
                            for k in missing)
        doc["reason"] = f"this kernel cannot take part in a Live Update: {why}"
        return
    found = {k: v for k, v in abi.items() if v is not None}
    if not found:
        if not f.scanned_image:
            doc["live_update_capable"] = True
            doc["reason"] = ("its config enables Live Update, but the ABI strings live in the "
                             "image: give the image (or a directory holding both) to pick a "
                             "profile")
        else:
            doc["reason"] = ("this kernel cannot take part in a Live Update: no KHO/LUO/PCI "
                             "FLB compatible strings in the image")
        return
    exact, nearest, same = _profile_match(abi)
    doc["nearest_profile"] = nearest
    doc["live_update_capable"] = all(c[k] is not False for k in OPTIONS)
    if exact is not None:
        doc["profile"] = exact.name
        doc["reason"] = f"speaks the {exact.name} ABI ({exact.series})"
        others = [p.name for p in same if p is not exact]
        if others and exact.pci_version is not None and abi["pci_version"] is None:
            doc["reason"] += (": PCI_LUO_FLB_VERSION is a constant in code, not in the image; "
                              f"assumed {exact.pci_version}, the latest (a directory with the "
                              "kernel headers settles it)")
        elif others:
            doc["reason"] += (f"; {', '.join(others)} carry the same strings (patch levels "
                              "of one revision cannot be told apart from an image)")
        return
    shown = ", ".join(f"{k}={v}" for k, v in found.items())
    doc["reason"] = f"unknown ABI: {shown}, nearest profile {nearest}"


# KHO's first mainline release (gen A, "6.16/6.19-era" in kho-luo-abi.md §8: UNCONFIRMED;
# we take 6.16). Before it CONFIG_KEXEC_HANDOVER does not exist; after it, a config that does
# not mention it at all did not offer it (an unmet dependency hides an option entirely).
KHO_FIRST_RELEASE = (6, 16)


def _absent_why(config_release: str | None, rel: str) -> str:
    m = re.match(r"(\d+)\.(\d+)", config_release or "")
    if m and (int(m.group(1)), int(m.group(2))) < KHO_FIRST_RELEASE:
        return (f" ({rel} predates KHO, first in Linux {KHO_FIRST_RELEASE[0]}."
                f"{KHO_FIRST_RELEASE[1]}: the option does not exist in it)")
    return " (the config does not even offer it: a dependency of KEXEC_HANDOVER is not met)"


def _infer(seen: bool, f: _Facts):
    if seen:
        return True
    return False if f.image_complete else None


def analyse(path) -> dict:
    """The ``kernel_image`` document of a file or directory (raises BadInput, exit 3)."""
    p = Path(path)
    f = _Facts()
    if p.is_dir():
        _analyse_dir(f, p)
    else:
        _analyse_bytes(f, _read_file(p), str(p), top=True)
    doc = _new_doc(str(p))
    _verdict(f, doc)
    doc["inputs"] = f.inputs
    doc["notes"] = f.notes
    return doc


def profile_for(path) -> tuple[str, dict]:
    """``--kernel IMAGE``: the profile a kernel build speaks; BadInput naming the reason when
    it has none (it cannot take part, or its ABI is unknown to pcilu)."""
    doc = analyse(path)
    if doc["profile"] is None:
        raise BadInput(doc["reason"], file=str(path))
    return doc["profile"], doc


__all__ = ["analyse", "profile_for", "parse_config", "MAGICS", "INFLATE_FACTOR"]
