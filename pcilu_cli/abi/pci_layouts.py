# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/pci.h`` as Construct declarations: the one written form of
``struct pci_ser`` and ``struct pci_dev_ser`` in every layout the series has had (the C check
holds them against gcc). :mod:`pcilu_cli.abi.pci` decodes and encodes with the fast codecs
derived from these (kept in :mod:`pcilu_cli.abi.codec_cache`, so that decoding a blob does
not import Construct) and re-exports every name below.
"""
from __future__ import annotations

from construct import Int16ul, Int32ul, Int64ul, Struct

pci_dev_ser_v1 = Struct(               # v6 patch 01 ("pci-v1")
    "domain" / Int32ul,                # pci_domain_nr(dev->bus)
    "bdf" / Int16ul,                   # pci_dev_id(dev) = bus << 8 | devfn
    "padding" / Int16ul,
)

pci_dev_ser = Struct(                  # every later revision
    "domain" / Int32ul,
    "bdf" / Int16ul,
    "refcount" / Int16ul,              # 0 = free; else preserved devices at or below (pci-v3)
)

pci_ser_flex_header = Struct(          # followed by struct pci_dev_ser devices[max_nr_devices]
    "max_nr_devices" / Int32ul,
    "nr_devices" / Int32ul,
)

pci_ser_block = Struct(                # v7, __packed: 12 bytes
    "nr_devices" / Int32ul,
    "devices" / Int64ul,               # PA of the first kho_block (0 = none)
)

pci_ser_version = Struct(              # version-field era: 16 bytes
    "version" / Int32ul,               # must never be deleted, moved or resized
    "nr_devices" / Int32ul,
    "devices" / Int64ul,
)

# Layouts real trees carry from before v6 (decode only; no kernel profile speaks them):
# the v3 posting (PATCH v3 02/24, 23 Mar 2026) had a u64 header and entries "sorted ascending
# by domain and bdf" with a u16 reserved where v6 has the refcount. See abi/pre_v6.py.
pci_dev_ser_reserved = Struct(         # pre-v4: the last u16 is reserved
    "domain" / Int32ul,
    "bdf" / Int16ul,
    "reserved" / Int16ul,
)

pci_ser_u64_header = Struct(           # pre-v4: followed by devices[max_nr_devices]
    "max_nr_devices" / Int64ul,
    "nr_devices" / Int64ul,
)

LAYOUTS = ("pci_dev_ser_v1", "pci_dev_ser", "pci_ser_flex_header", "pci_ser_block",
           "pci_ser_version", "pci_dev_ser_reserved", "pci_ser_u64_header")
