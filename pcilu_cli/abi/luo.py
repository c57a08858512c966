# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/luo.h``: the LUO records, in every generation a profile may use.

Gen D (``luo-v5``): ``struct luo_ser`` (raw, 32 bytes) → session ``kho_block`` chain
(``luo_session_ser``, 80 bytes) → file chains (``luo_file_ser``, 64 bytes); FLB page.
Gen A–C (``luo-v1``): an FDT whose ``luo-session``/``luo-flb`` nodes hold PAs; the session
array and the FLB page share the same record layouts. (``kho-luo-abi.md`` §2.)
"""
from construct import Bytes, Int64ul, PaddedString, Struct

LUO_KHO_ENTRY_NAME = "LUO"
LIVEUPDATE_HNDL_COMPAT_LENGTH = 48
LIVEUPDATE_FLB_COMPAT_LENGTH = 48
LIVEUPDATE_SESSION_NAME_LENGTH = 64

# ---- FLB page (identical in gen A-D) ------------------------------------------------------
LUO_FLB_PGCNT = 1

luo_flb_header_ser = Struct(
    "pgcnt" / Int64ul,         # pages in the FLB area (LUO_FLB_PGCNT = 1)
    "count" / Int64ul,         # luo_flb_ser entries that follow the header
)

luo_flb_ser = Struct(
    "name" / PaddedString(LIVEUPDATE_FLB_COMPAT_LENGTH, "ascii"),  # FLB compatible, NUL-padded
    "data" / Int64ul,          # FLB's serialized data: PA of e.g. struct pci_ser
    "count" / Int64ul,         # preserved files whose handler depends on this FLB
)

LUO_FLB_MAX = (LUO_FLB_PGCNT * 4096 - luo_flb_header_ser.sizeof()) // luo_flb_ser.sizeof()  # 63

# The raw name bytes, for readers that must compare exactly (strcmp) or report garbage.
luo_flb_ser_raw = Struct(
    "name" / Bytes(LIVEUPDATE_FLB_COMPAT_LENGTH),
    "data" / Int64ul,
    "count" / Int64ul,
)

# ---- gen D: raw struct luo_ser ("luo-v5") -------------------------------------------------------
LUO_ABI_COMPATIBLE = "luo-v5"
LUO_ABI_COMPAT_LEN = 8                     # ALIGN(sizeof("luo-v5"), 8)

luo_ser = Struct(                          # __packed, 32 bytes; blob of the "LUO" KHO subtree
    "compatible" / Bytes(LUO_ABI_COMPAT_LEN),  # "luo-v5\0\0" (compared with strncmp over 8 bytes)
    "liveupdate_num" / Int64ul,            # previous kernel's number + 1
    "sessions_pa" / Int64ul,               # first kho_block of the session chain; 0 = none
    "flbs_pa" / Int64ul,                   # the FLB page (always set)
)
LUO_SER_SIZE = luo_ser.sizeof()            # 32

luo_session_ser = Struct(                  # __packed, 80 bytes (gen A-D)
    "name" / Bytes(LIVEUPDATE_SESSION_NAME_LENGTH),  # NUL-terminated, zero padded
    "files" / Int64ul,                     # file_set_ser.files: gen D first block, gen A-C array
    "count" / Int64ul,                     # file_set_ser.count
)
LUO_SESSION_SER_SIZE = luo_session_ser.sizeof()   # 80

luo_file_ser = Struct(                     # __packed, 64 bytes
    "compatible" / Bytes(LIVEUPDATE_HNDL_COMPAT_LENGTH),  # file handler compatible
    "data" / Int64ul,                      # handler's serialized_data (usually a PA)
    "token" / Int64ul,                     # user token of LIVEUPDATE_SESSION_PRESERVE_FD
)
LUO_FILE_SER_SIZE = luo_file_ser.sizeof()  # 64

# ---- gen A-C: the LUO FDT ("luo-v1") ------------------------------------------------------------
LUO_FDT_SIZE = 4096
LUO_FDT_COMPATIBLE = "luo-v1"
LUO_FDT_LIVEUPDATE_NUM = "liveupdate-number"
LUO_FDT_SESSION_NODE_NAME = "luo-session"
LUO_FDT_SESSION_COMPATIBLE = "luo-session-v2"
LUO_FDT_SESSION_HEADER = "luo-session-header"
LUO_FDT_FLB_NODE_NAME = "luo-flb"
LUO_FDT_FLB_COMPATIBLE = "luo-flb-v1"
LUO_FDT_FLB_HEADER = "luo-flb-header"

luo_session_header_ser = Struct("count" / Int64ul)   # followed by count x luo_session_ser
LUO_SESSION_PGCNT = 16                     # contiguous session area (gen A-C)
LUO_SESSION_MAX = (LUO_SESSION_PGCNT * 4096 - 8) // 80   # 819
LUO_FILE_PGCNT = 2                         # contiguous file array per session (gen A-C)
LUO_FILE_MAX = LUO_FILE_PGCNT * 4096 // 64  # 128
