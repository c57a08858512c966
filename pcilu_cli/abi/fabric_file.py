# SPDX-License-Identifier: GPL-2.0-only
"""``PCILUFAB``: pcilu's own serialized fabric (``pcilu generate``, the fabric note of a state
file). No kernel header mirrors it; it is declared here like the kernel's layouts so that its
bytes have one written form and the model's codecs are derived from it.

    pcilu_fabric_header    magic "PCILUFAB", u16 version (2), then a zlib stream of the body:
    pcilu_fabric_body      u32 meta_len, u32 table_len, u32 nr_functions, u32 uids_len,
                           then meta (JSON), the record table, the uid column, the
                           config-space blobs
    pcilu_fabric_record    one per function, 16 bytes (the table is nr_functions of them)
    uid column             nr_functions of pcilu_fabric_uid_end (u32: where record i's uid
                           ends in the uid text), nr_functions of pcilu_fabric_uid_order
                           (u32: the records in the byte order of their uids), then uids_len
                           bytes of uid text (every uid, UTF-8, in record order)

The uid column lets a reader find one function by its uid (bisection over the order) and
name record ``i`` (its uid is the text from end ``i - 1`` to end ``i``) without reading every
uid (:mod:`pcilu_cli.fabric.uid_column`). Ends and orders are two runs, not interleaved:
each compresses better alone. Version 1 (still read) has no uid column:
``pcilu_fabric_body_v1`` and a JSON list ``uids`` in the meta.

All little-endian. The Construct declarations are in
:mod:`pcilu_cli.abi.fabric_file_layouts` (re-exported here, imported on first use).
"""
from __future__ import annotations

from pcilu_cli.abi.codec import cached, lazy_layouts

FABRIC_MAGIC = b"PCILUFAB"
FABRIC_VERSION = 2
FABRIC_VERSIONS = (1, 2)            # what this pcilu reads

_LAYOUTS = "pcilu_cli.abi.fabric_file_layouts"


__getattr__ = lazy_layouts(__name__, _LAYOUTS)   # the declarations, on first use


FABRIC_HEADER = cached(_LAYOUTS, "pcilu_fabric_header")[0]     # (magic, version): 10 bytes
FABRIC_BODY = cached(_LAYOUTS, "pcilu_fabric_body")[0]   # (meta_len, table_len, nr, uids): 16
FABRIC_BODY_V1 = cached(_LAYOUTS, "pcilu_fabric_body_v1")[0]   # (meta_len, table_len, nr): 12
FABRIC_RECORD = cached(_LAYOUTS, "pcilu_fabric_record")[0]     # one per function: 16 bytes
FABRIC_UID_END = cached(_LAYOUTS, "pcilu_fabric_uid_end")[0]       # u32 per record
FABRIC_UID_ORDER = cached(_LAYOUTS, "pcilu_fabric_uid_order")[0]   # u32 per record
