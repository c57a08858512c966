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
