# SPDX-License-Identifier: GPL-2.0-only
"""Telling hand-over blobs apart by their bytes (a raw ``struct pci_ser`` carries no
compatible string), and the LUO FLB page as a document. Pure: bytes in, answers out."""
from __future__ import annotations

from pcilu_cli.abi import pci
from pcilu_cli.abi.page import PAGE_SIZE as PAGE
from pcilu_cli.abi.page import get_order
from pcilu_cli.abi.codec import parse
from pcilu_cli.abi import luo
from pcilu_cli.abi.luo import (
    LIVEUPDATE_FLB_COMPAT_LENGTH, LUO_FLB_HEADER, LUO_FLB_MAX, LUO_FLB_PGCNT, LUO_FLB_SER,
)
from pcilu_cli.errors import BadInput

_FLB_HDR_SIZE = LUO_FLB_HEADER.size    # 16
_FLB_ENT_SIZE = LUO_FLB_SER.size       # 64


def looks_like_flb_page(data: bytes) -> bool:
    """A LUO FLB page: header {pgcnt = 1, count <= 63} then printable NUL-padded names."""
    if len(data) < _FLB_HDR_SIZE:
        return False
    pgcnt, count = LUO_FLB_HEADER.unpack_from(data, 0)
    if pgcnt != LUO_FLB_PGCNT or not 0 < count <= LUO_FLB_MAX or \
            len(data) < _FLB_HDR_SIZE + _FLB_ENT_SIZE:
        return False
    name = data[_FLB_HDR_SIZE:_FLB_HDR_SIZE + LIVEUPDATE_FLB_COMPAT_LENGTH].split(b"\0", 1)[0]
    return bool(name) and all(0x20 < c < 0x7F for c in name)


def detect_pci_profile(data: bytes) -> tuple[str | None, str]:
    """Guess the ``pci_ser`` layout of a raw blob; returns (profile name, reason), the name
    ``None`` when no layout fits cleanly (the blob is then of no known format)."""
    n = len(data)
    if n >= pci.PCI_SER_FLEX.size:
        max_nr, nr = pci.PCI_SER_FLEX.unpack_from(data, 0)
        need = pci.flex_size(max_nr)
        if need <= n and (n == need or n == _folio_size(need) or n % PAGE == 0):
            refs = _refcounts(memoryview(data)[pci.FLEX_DEVICES_OFFSET:need])
            if sum(1 for r in refs if r) == nr:
                if any(r > 1 for r in refs):
                    return "v6", "flex layout with path refcounts > 1 (pci-v3)"
                return "v6", ("flex layout (max_nr_devices/nr_devices agree with the entries); "
                              "pci-v1/pci-v2/pci-v3 cannot be told apart from the bytes, "
                              "assumed pci-v3 (v6)")
    vsize = pci.PCI_SER_VERSION.size
    if n >= vsize:
        version, nr, pa = pci.PCI_SER_VERSION.unpack_from(data, 0)
        if version in (1, 2) and pa % PAGE == 0 and not any(data[vsize:]):
            prof = "v8" if version == 1 else "v9"
            return prof, f"version-field layout, version {version}"
    bsize = pci.PCI_SER_BLOCK.size
    if n == bsize or (n >= bsize and not any(data[bsize:])):
        nr, pa = pci.PCI_SER_BLOCK.unpack_from(data, 0)
        if pa % PAGE == 0:
            return "v7", "v7 block layout (u32 nr_devices; u64 devices)"
    return None, "no struct pci_ser layout fits cleanly"


def _is_text(data: bytes) -> bool:
    """Printable UTF-8 without NULs: a YAML, JSON or lspci file handed to ``inspect`` by
    mistake (a pci_ser whose every byte is printable would not fit a layout anyway)."""
    head = data[:4096]
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:       # not just a character cut at the 4 KiB boundary
            return False
    return True


_TEXT_KINDS = {
    "json": "JSON: `pcilu encode` builds a blob from it",
    "scenario": "a scenario: `pcilu rehearse` runs it",
    "lspci": "an lspci dump: `pcilu fabric show` or `pcilu init` read it",
    "yaml": "a YAML fabric? `pcilu fabric show` or `pcilu init` read it",
}


def text_kind(data: bytes) -> str:
    """What a text file probably is: ``json``, ``scenario``, ``lspci`` or ``yaml``."""
    text = data[:4096].decode("utf-8", "replace").lstrip()
    if text[:1] in "{[":
        return "json"
    for line in text.splitlines():          # the first line that is not a comment
        s = line.strip()
        if s and not s.startswith("#"):
            if s.startswith("pcilu_scenario"):
                return "scenario"
            break
    if "pcilu_scenario" in text and "pcilu_fabric" not in text:
        return "scenario"
    import re
    if re.match(r"([0-9a-fA-F]{4,6}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7] ", text):
        return "lspci"
    return "yaml"


def _text_kind(data: bytes) -> str:
    """What a text file probably is, to say which command reads it."""
    return _TEXT_KINDS[text_kind(data)]


def _refcounts(body: memoryview):
    """Every entry's refcount (the last u16 of each 8-byte pci_dev_ser), without decoding the
    rest: a strided view on little-endian hosts, iter_unpack elsewhere."""
    import sys
    size = pci.PCI_DEV_SER_SIZE
    if sys.byteorder == "little" and len(body) % size == 0 and size % 2 == 0:
        per = size // 2                     # u16 words per entry; refcount is one of them
        return body.cast("H")[pci.REFCOUNT_OFFSET // 2::per]
    return [r for _d, _b, r in pci.PCI_DEV_SER.iter_unpack(body[:len(body) // size * size])]


def _folio_size(size: int) -> int:
    """Bytes of the folio kho_alloc_preserve() gives a ``size``-byte object."""
    return PAGE << get_order(size)


def flb_page_to_json(data: bytes, file) -> dict:
    hdr = parse(luo.luo_flb_header_ser, data, file=file, what="luo_flb_header_ser")
    recs = []
    for i in range(hdr.count):
        off = _FLB_HDR_SIZE + _FLB_ENT_SIZE * i
        if off + _FLB_ENT_SIZE > len(data):
            raise BadInput(f"FLB page header counts {hdr.count} entries but entry {i} is "
                           "truncated", file=file, offset=off, field=f"luo_flb_ser[{i}]")
        r = parse(luo.luo_flb_ser_raw, data, off, file=file, what=f"luo_flb_ser[{i}]")
        name = r.name.split(b"\0", 1)[0].decode("ascii", "replace")
        recs.append({"index": i, "name": name, "data": r.data, "count": r.count})
    return {"kind": "luo_flb_page", "pgcnt": hdr.pgcnt, "count": hdr.count, "flbs": recs}


