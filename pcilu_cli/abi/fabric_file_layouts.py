# SPDX-License-Identifier: GPL-2.0-only
"""``PCILUFAB`` (pcilu's serialized fabric) as Construct declarations.
:mod:`pcilu_cli.abi.fabric_file` holds the constants and the fast codecs derived from these
(kept in :mod:`pcilu_cli.abi.codec_cache`) and re-exports every name below.
"""
from construct import Bytes, Int8ul, Int16ul, Int32sl, Int32ul, Struct

pcilu_fabric_header = Struct(
    "magic" / Bytes(8),                # FABRIC_MAGIC
    "version" / Int16ul,               # FABRIC_VERSION (1 is still read)
)

pcilu_fabric_body = Struct(            # the start of the inflated body (version 2)
    "meta_len" / Int32ul,              # bytes of JSON meta (name, source, knobs, ...)
    "table_len" / Int32ul,             # bytes of records: nr_functions * sizeof(record)
    "nr_functions" / Int32ul,
    "uids_len" / Int32ul,              # bytes of uid text (after the uid slots)
)

pcilu_fabric_body_v1 = Struct(         # version 1: no uid column, the uids are in the meta
    "meta_len" / Int32ul,              # bytes of JSON meta (name, source, uids, knobs, ...)
    "table_len" / Int32ul,
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

# version 2's uid column, after the record table: nr_functions ends, nr_functions orders,
# then uids_len bytes of uid text (every uid, UTF-8, in record order)
pcilu_fabric_uid_end = Struct(
    "end" / Int32ul,                   # where record i's uid ends in the uid text
)

pcilu_fabric_uid_order = Struct(
    "record" / Int32ul,                # the record whose uid is i-th in byte order
)

LAYOUTS = ("pcilu_fabric_header", "pcilu_fabric_body", "pcilu_fabric_body_v1",
           "pcilu_fabric_record", "pcilu_fabric_uid_end", "pcilu_fabric_uid_order")
