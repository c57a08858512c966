# SPDX-License-Identifier: GPL-2.0-only
"""``PCILUFAB``: pcilu's own serialized fabric (``pcilu generate``, the fabric note of a state
file). No kernel header mirrors it; it is declared here like the kernel's layouts so that its
bytes have one written form and the model's codecs are derived from it.

    pcilu_fabric_header   magic "PCILUFAB", u16 version (1), then a zlib stream of the body:
    pcilu_fabric_body     u32 meta_len, u32 table_len, u32 nr_functions,
                          then meta (JSON), the record table, the config-space blobs
    pcilu_fabric_record   one per function, 16 bytes (the table is nr_functions of them)

All little-endian.
"""
from __future__ import annotations

from construct import Bytes, Int8ul, Int16ul, Int32sl, Int32ul, Struct

from pcilu_cli.abi.codec import fast

FABRIC_MAGIC = b"PCILUFAB"
FABRIC_VERSION = 1

pcilu_fabric_header = Struct(
    "magic" / Bytes(8),                # FABRIC_MAGIC
    "version" / Int16ul,               # FABRIC_VERSION
)

pcilu_fabric_body = Struct(            # the start of the inflated body
    "meta_len" / Int32ul,              # bytes of JSON meta (name, source, uids, knobs, ...)
    "table_len" / Int32ul,             # bytes of records: nr_functions * sizeof(record)
    "nr_functions" / Int32ul,
)

pcilu_fabric_record = Struct(
    "parent" / Int32sl,                # index of the upstream function's record; -1: root bus
    "root" / Int16ul,                  # index into meta.roots
    "devfn" / Int8ul,
    "flags" / Int8ul,                  # bit 0: VF; bits 7:4: config size code (64/128/256/4K)
    "vf_index" / Int16ul,
    "vbus_delta" / Int8ul,             # a VF's bus offset above its link's secondary bus
    "pad" / Int8ul,
    "blob" / Int32ul,                  # index of its config-space bytes (identical ones shared)
)

FABRIC_HEADER = fast(pcilu_fabric_header)      # (magic, version): 10 bytes
FABRIC_BODY = fast(pcilu_fabric_body)          # (meta_len, table_len, nr_functions): 12 bytes
FABRIC_RECORD = fast(pcilu_fabric_record)      # the record table's codec: 16 bytes
