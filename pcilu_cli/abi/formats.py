# SPDX-License-Identifier: GPL-2.0-only
"""The one table from a file's first bytes (its magic, or its shape) to what it is.

Every file-taking command asks :func:`identify` (through ``pcilu_cli.state.files``) instead
of testing magic bytes itself, as CRIU's image loader keeps one magic → handler table. Each
:class:`Format` row names a ``kind``, says in words what such a file is and which commands
read it, and has a ``match(data, name)`` test that returns ``None`` (not this format) or a
short detail string. Rows are tried in order; the first match wins, so rows with a magic
number come before rows that only recognise a shape.

Adding a format is adding a row (:func:`register`), e.g. a compressed host capture or an
older ``struct pci_ser`` layout; the decoders that turn each kind into objects live in the
layer that owns them and are looked up by ``kind``.

Kinds: ``elf`` (a pcilu state file or a memory dump), ``fdt``, ``pcilu_fabric``,
``pcilu_capture``, ``gzip``, ``tar``, ``compressed`` (bzip2, xz), ``luo_flb_page``, ``kho_kexec_metadata``, ``pci_ser_u64``,
``pci_ser``, ``text`` (facts: ``text`` = json | scenario | lspci | yaml); anything else is
:data:`UNKNOWN`. Messages that say what a wrong file is use :meth:`Identified.describe`.
"""
from __future__ import annotations

from collections.abc import Callable

from pcilu_cli.abi import kho, luo
from pcilu_cli.abi.elf import ELF_MAGIC
from pcilu_cli.abi.fabric_file import FABRIC_MAGIC
from pcilu_cli.abi.fdt import FDT_MAGIC
from pcilu_cli.errors import Value

UNKNOWN = "unknown"
FDT_MAGIC_BYTES = FDT_MAGIC.to_bytes(4, "big")
GZIP_MAGIC = b"\x1f\x8b"
CAPTURE_MANIFEST = "pcilu-capture.json"      # the first member of a capture's tar
CAPTURE_HEAD = 1 << 16                       # bytes of a file enough to recognise a capture


class Format:
    """One row of the table. (Plain classes here, not dataclasses: this module is on every
    ``inspect``'s path, and a dataclass's methods are generated at import.)"""

    __slots__ = ("kind", "title", "readers", "match")

    def __init__(self, kind: str, title: str, readers: str,
                 match: Callable[[bytes, str], str | tuple[str, dict] | None]):
        self.kind = kind
        self.title = title                    # what it is, in words
        self.readers = readers                # which commands read it
        self.match = match

    def __repr__(self) -> str:
        return f"Format(kind={self.kind!r}, title={self.title!r}, readers={self.readers!r})"


class Identified(Value):
    """What a file is: its row's kind, title and readers, and what the match found."""

    __slots__ = ("kind", "title", "detail", "readers", "facts")
    FIELDS = __slots__         # unhashable: facts is a dict

    def __init__(self, kind: str, title: str, detail: str, readers: str,
                 facts: dict | None = None):
        self.kind = kind
        self.title = title
        self.detail = detail
        self.readers = readers
        self.facts = {} if facts is None else facts    # what the match found (e.g. "profile")


    def describe(self) -> str:
        """``a LUO FLB page (2 records)``: what the file looks like, for messages."""
        return self.title + (f" ({self.detail})" if self.detail else "")


def _magic(magic: bytes, detail: str = "") -> Callable[[bytes, str], str | None]:
    return lambda data, _name: detail if data[:len(magic)] == magic else None


def _tar(data: bytes, _name: str) -> str | None:
    return "" if len(data) >= 512 and data[257:262] == b"ustar" else None


def _capture(data: bytes, _name: str) -> str | None:
    """A gzip'd tar whose first member is the manifest: the first tar header, decompressed
    from the file's first bytes (at most 512 bytes are inflated, whatever the input)."""
    if data[:2] != GZIP_MAGIC:
        return None
    import zlib
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[:CAPTURE_HEAD], 512)
    except zlib.error:
        return None
    name = CAPTURE_MANIFEST.encode() + b"\0"
    return "" if len(head) == 512 and head[:len(name)] == name else None


def _flb_page(data: bytes, _name: str) -> str | None:
    from pcilu_cli.abi.detect import looks_like_flb_page
    if not looks_like_flb_page(data):
        return None
    count = luo.LUO_FLB_HEADER.unpack_from(data, 0)[1]
    return f"{count} record{'s' if count != 1 else ''}"


def _kexec_metadata(data: bytes, _name: str) -> str | None:
    """``struct kho_kexec_metadata`` (the ``kexec-metadata`` sub-FDT, 73 bytes): version 1 and
    a NUL-terminated printable release string."""
    size = kho.KHO_KEXEC_METADATA_SIZE
    if len(data) != size:
        return None
    version, release, count = kho.KHO_KEXEC_METADATA.unpack(data)
    name, nul, _rest = release.partition(b"\0")
    if version != kho.KHO_KEXEC_METADATA_VERSION or not nul or \
            not all(0x20 <= c < 0x7F for c in name):
        return None
    return f"previous release {name.decode()!r}, kexec count {count}"


def _pci_ser(data: bytes, _name: str) -> str | None:
    from pcilu_cli.abi.detect import detect_pci_profile
    if not data:
        return None
    profile, why = detect_pci_profile(data)
    return None if profile is None else (why, {"profile": profile})


def _pci_ser_u64(data: bytes, _name: str) -> str | None:
    from pcilu_cli.abi.pre_v6 import looks_like_pci_ser_u64
    return "" if looks_like_pci_ser_u64(data) else None


def _text(data: bytes, _name: str):
    from pcilu_cli.abi.detect import _TEXT_KINDS, _is_text, text_kind
    if not data or not _is_text(data):
        return None
    if data[:4096].translate(None, _TEXT_CONTROLS) != data[:4096]:
        return None                          # control characters: binary after all
    kind = text_kind(data)
    return _TEXT_KINDS[kind], {"text": kind}


def is_binary(data: bytes) -> bool:
    """Bytes that are no text at all (a NUL, or not UTF-8): what a blob looks like."""
    from pcilu_cli.abi.detect import _is_text
    return bool(data) and not _is_text(data)


_TEXT_CONTROLS = bytes(c for c in range(32) if c not in (9, 10, 12, 13)) + b"\x7f"


FORMATS: list[Format] = [
    Format("elf", "an ELF image (a pcilu state file or a memory dump)",
           "state commands, inspect (state files); inspect (dumps)",
           _magic(ELF_MAGIC)),
    Format("fdt", "a flattened device tree", "inspect", _magic(FDT_MAGIC_BYTES)),
    Format("pcilu_fabric", "a serialized fabric (pcilu generate)",
           "fabric show, fabric export, init", _magic(FABRIC_MAGIC)),
    Format("pcilu_capture", "a pcilu capture (pcilu capture)",
           "fabric show, init, plan, verify, inspect", _capture),
    Format("gzip", "a gzip-compressed file", "fabric show, init (a sysfs snapshot .tar.gz)",
           _magic(GZIP_MAGIC)),
    Format("tar", "a tar archive", "fabric show, init (a sysfs snapshot)", _tar),
    Format("compressed", "a bzip2- or xz-compressed file",
           "fabric show, init (a sysfs snapshot .tar.bz2 / .tar.xz)",
           lambda data, _name: "" if data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\0" else None),
    Format("luo_flb_page", "a LUO FLB page", "inspect, diff", _flb_page),
    Format("kho_kexec_metadata", "a struct kho_kexec_metadata (KHO kexec-metadata)",
           "inspect", _kexec_metadata),
    Format("pci_ser_u64", "a struct pci_ser of the pre-v4 posting (u64 header)", "inspect",
           _pci_ser_u64),
    Format("pci_ser", "a struct pci_ser", "inspect, diff, kexec --flb", _pci_ser),
    Format("text", "a text file", "", _text),
]


def register(fmt: Format, *, before: str | None = None) -> None:
    """Add a row; ``before`` = the kind it must be tried ahead of (default: before the
    shape-only rows ``pci_ser`` and ``text``)."""
    kinds = [f.kind for f in FORMATS]
    at = kinds.index(before or "pci_ser")
    FORMATS.insert(at, fmt)


HEAD_BYTES = 4096      # enough for every row's magic and shape test


def identify_head(path) -> Identified:
    """What the file at ``path`` is, from its first :data:`HEAD_BYTES` (``OSError`` —
    including ``IsADirectoryError`` — is the caller's to word)."""
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    return identify(head, str(path))


def identify(data: bytes, name: str = "") -> Identified:
    """What ``data`` is: the first row of :data:`FORMATS` that matches, else unknown."""
    for f in FORMATS:
        detail = f.match(data, name)
        if detail is not None:
            facts = {}
            if isinstance(detail, tuple):
                detail, facts = detail
            return Identified(f.kind, f.title, detail, f.readers, facts)
    if not data:
        return Identified(UNKNOWN, "an empty file", "", "")
    return Identified(UNKNOWN, f"{len(data)} bytes of no known format",
                      "not ELF, FDT, a LUO FLB page, kexec metadata or a struct pci_ser of any "
                      "profile", "")
