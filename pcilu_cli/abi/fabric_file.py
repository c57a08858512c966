# SPDX-License-Identifier: GPL-2.0-only
"""``PCILUFAB``: pcilu's own serialized fabric (``pcilu generate``, the fabric note of a state
file). No kernel header mirrors it; it is declared here like the kernel's layouts so that its
bytes have one written form and the model's codecs are derived from it.

    pcilu_fabric_header   magic "PCILUFAB", u16 version (1), then a zlib stream of the body:
    pcilu_fabric_body     u32 meta_len, u32 table_len, u32 nr_functions,
                          then meta (JSON), the record table, the config-space blobs
    pcilu_fabric_record   one per function, 16 bytes (the table is nr_functions of them)

All little-endian. The Construct declarations are in
:mod:`pcilu_cli.abi.fabric_file_layouts` (re-exported here, imported on first use).
"""
from __future__ import annotations

from pcilu_cli.abi.codec import cached, lazy_layouts

FABRIC_MAGIC = b"PCILUFAB"
FABRIC_VERSION = 1

_LAYOUTS = "pcilu_cli.abi.fabric_file_layouts"


__getattr__ = lazy_layouts(__name__, _LAYOUTS)   # the declarations, on first use


FABRIC_HEADER = cached(_LAYOUTS, "pcilu_fabric_header")[0]     # (magic, version): 10 bytes
FABRIC_BODY = cached(_LAYOUTS, "pcilu_fabric_body")[0]         # (meta_len, table_len, nr): 12
FABRIC_RECORD = cached(_LAYOUTS, "pcilu_fabric_record")[0]     # one per function: 16 bytes
