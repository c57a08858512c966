# SPDX-License-Identifier: GPL-2.0-only
"""Hand-over layouts from before v6 that real trees carry: told apart by their bytes and
decoded, with the posting they belong to. No kernel profile writes them.

* ``struct pci_ser`` with a **u64 header** (``u64 max_nr_devices; u64 nr_devices``) and
  8-byte entries ``{u32 domain; u16 bdf; u16 reserved}`` "sorted ascending by domain and
  bdf": the v3 posting (PATCH v3 02/24, 23 Mar 2026, compat ``"pci-v1"`` there; the spec also
  names a ``"pci-v2"`` with this header -- which compat a given blob had is not in its bytes).
  Layouts: :data:`pcilu_cli.abi.pci.pci_ser_u64_header` / ``pci_dev_ser_reserved``.
* a ``"kho-v2"`` KHO root FDT whose sub-nodes already carry ``blob-size`` (so ``blob-size``
  alone does not mean ``kho-v3``): read by ``memory.fdt.read_kho_root_fdt``, named here.
"""
from __future__ import annotations


from pcilu_cli.abi import pci
from pcilu_cli.abi.bdf import format_dev_id
from pcilu_cli.abi.codec import cached

POSTING_PCI_U64 = ("pre-v4 posting of the PCI Live Update series (v3, Mar 2026: "
                   "u64 max_nr_devices/nr_devices, entries sorted by domain and bdf)")
POSTING_KHO_V2_BLOB_SIZE = ("a kho-v2 tree that already carries blob-size (between the radix "
                            "tree and the kho-v3 bump; which release is UNCONFIRMED)")
_U64_HDR = cached(pci._LAYOUTS, "pci_ser_u64_header")[0]   # (max_nr_devices, nr_devices)
_HDR = _U64_HDR.size                                       # 16
_ENT = cached(pci._LAYOUTS, "pci_dev_ser_reserved")[0].size  # 8


def looks_like_pci_ser_u64(data: bytes) -> bool:
    """The u64-header layout: both u64s fit in 32 bits, the array fits the blob, the first
    ``nr_devices`` entries are in use and strictly ascending by (domain, bdf), the rest zero.
    (The v6 flex reading of such a blob sees ``nr_devices`` 0 next to in-use entries, so the
    two cannot both fit.)"""
    n = len(data)
    if n < _HDR:
        return False
    mx, nr = _U64_HDR.unpack_from(data, 0)
    if mx >> 32 or nr > mx or _HDR + _ENT * mx > n or not nr:
        return False
    body = memoryview(data)[_HDR:_HDR + _ENT * mx]
    ents = list(pci.PCI_DEV_SER.iter_unpack(body))
    keys = [(d, b) for d, b, _r in ents[:nr]]
    if any(k == (0, 0) for k in keys[1:]) or keys != sorted(set(keys)):
        return False
    return not any(body[_ENT * nr:].tobytes()) and not any(data[_HDR + _ENT * mx:])


def decode_pci_ser_u64(data: bytes, *, file=None) -> dict:
    """The ``inspect --json`` document of a u64-header ``struct pci_ser``."""
    mx, nr = _U64_HDR.unpack_from(data, 0)
    body = memoryview(data)[_HDR:_HDR + _ENT * mx]
    devices = []
    for slot, (d, b, r) in enumerate(pci.PCI_DEV_SER.iter_unpack(body)):
        if slot >= nr:
            break
        devices.append({"slot": slot, "domain": d, "bus": b >> 8, "device": (b >> 3) & 0x1F,
                        "function": b & 7, "bdf": format_dev_id(d, b), "reserved": r})
    return {"kind": "pci_ser", "profile": None, "compatible": None, "layout": "flex-u64",
            "posting": POSTING_PCI_U64, "max_nr_devices": mx, "nr_devices": nr,
            "devices": devices, "free_slots": mx - nr, "blob_size": len(data),
            "warnings": []}
