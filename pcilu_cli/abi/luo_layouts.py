# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/luo.h`` as Construct declarations: the LUO records (the one written
form; the C check holds them against gcc). :mod:`pcilu_cli.abi.luo` holds the constants and the
fast codecs derived from these (kept in :mod:`pcilu_cli.abi.codec_cache`) and re-exports every
name below.
"""
from construct import Bytes, Int64ul, PaddedString, Struct

from pcilu_cli.abi.luo import (LIVEUPDATE_FLB_COMPAT_LENGTH, LIVEUPDATE_HNDL_COMPAT_LENGTH,
                               LIVEUPDATE_SESSION_NAME_LENGTH, LUO_ABI_COMPAT_LEN)

luo_flb_header_ser = Struct(
    "pgcnt" / Int64ul,         # pages in the FLB area (LUO_FLB_PGCNT = 1)
    "count" / Int64ul,         # luo_flb_ser entries that follow the header
)

luo_flb_ser = Struct(
    "name" / PaddedString(LIVEUPDATE_FLB_COMPAT_LENGTH, "ascii"),  # FLB compatible, NUL-padded
    "data" / Int64ul,          # FLB's serialized data: PA of e.g. struct pci_ser
    "count" / Int64ul,         # preserved files whose handler depends on this FLB
)

# The raw name bytes, for readers that must compare exactly (strcmp) or report garbage.
luo_flb_ser_raw = Struct(
    "name" / Bytes(LIVEUPDATE_FLB_COMPAT_LENGTH),
    "data" / Int64ul,
    "count" / Int64ul,
)

luo_ser = Struct(                          # gen D, __packed, 32 bytes; blob of the "LUO" subtree
    "compatible" / Bytes(LUO_ABI_COMPAT_LEN),  # "luo-v5\0\0" (compared with strncmp over 8 bytes)
    "liveupdate_num" / Int64ul,            # previous kernel's number + 1
    "sessions_pa" / Int64ul,               # first kho_block of the session chain; 0 = none
    "flbs_pa" / Int64ul,                   # the FLB page (always set)
)

luo_session_ser = Struct(                  # __packed, 80 bytes (gen A-D)
    "name" / Bytes(LIVEUPDATE_SESSION_NAME_LENGTH),  # NUL-terminated, zero padded
    "files" / Int64ul,                     # file_set_ser.files: gen D first block, gen A-C array
    "count" / Int64ul,                     # file_set_ser.count
)

luo_file_ser = Struct(                     # __packed, 64 bytes
    "compatible" / Bytes(LIVEUPDATE_HNDL_COMPAT_LENGTH),  # file handler compatible
    "data" / Int64ul,                      # handler's serialized_data (usually a PA)
    "token" / Int64ul,                     # user token of LIVEUPDATE_SESSION_PRESERVE_FD
)

luo_session_header_ser = Struct("count" / Int64ul)   # gen A-C: followed by count x session

LAYOUTS = ("luo_flb_header_ser", "luo_flb_ser", "luo_flb_ser_raw", "luo_ser", "luo_session_ser",
           "luo_file_ser", "luo_session_header_ser")
