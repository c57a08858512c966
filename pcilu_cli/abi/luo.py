# SPDX-License-Identifier: GPL-2.0-only
"""``include/linux/kho/abi/luo.h``: the LUO records, in every generation a profile may use.

Gen D (``luo-v5``): ``struct luo_ser`` (raw, 32 bytes) → session ``kho_block`` chain
(``luo_session_ser``, 80 bytes) → file chains (``luo_file_ser``, 64 bytes); FLB page.
Gen A–C (``luo-v1``): an FDT whose ``luo-session``/``luo-flb`` nodes hold PAs; the session
array and the FLB page share the same record layouts. (``kho-luo-abi.md`` §2.)

The Construct declarations are in :mod:`pcilu_cli.abi.luo_layouts` (re-exported here, imported
on first use); the fast codecs below are derived from them through the codec cache, so reading
an FLB page does not import Construct.
"""
from pcilu_cli.abi.codec import cached, lazy_layouts

LUO_KHO_ENTRY_NAME = "LUO"
LIVEUPDATE_HNDL_COMPAT_LENGTH = 48
LIVEUPDATE_FLB_COMPAT_LENGTH = 48
LIVEUPDATE_SESSION_NAME_LENGTH = 64
LUO_FLB_PGCNT = 1
LUO_ABI_COMPATIBLE = "luo-v5"
LUO_ABI_COMPAT_LEN = 8                     # ALIGN(sizeof("luo-v5"), 8)

_LAYOUTS = "pcilu_cli.abi.luo_layouts"


__getattr__ = lazy_layouts(__name__, _LAYOUTS)   # the declarations, on first use


# ---- fast codecs (struct speed), derived from the declarations ----------------------------------
LUO_FLB_HEADER = cached(_LAYOUTS, "luo_flb_header_ser")[0]        # (pgcnt, count)
LUO_FLB_SER = cached(_LAYOUTS, "luo_flb_ser_raw")[0]              # (name bytes, data, count)
LUO_SER = cached(_LAYOUTS, "luo_ser")[0]         # (compatible, liveupdate_num, sessions, flbs)
LUO_SESSION_SER = cached(_LAYOUTS, "luo_session_ser")[0]          # (name bytes, files, count)
LUO_FILE_SER = cached(_LAYOUTS, "luo_file_ser")[0]                # (compatible bytes, data, token)
LUO_SESSION_HEADER = cached(_LAYOUTS, "luo_session_header_ser")[0]  # (count,)

# ---- FLB page (identical in gen A-D) ------------------------------------------------------
LUO_FLB_MAX = (LUO_FLB_PGCNT * 4096 - LUO_FLB_HEADER.size) // LUO_FLB_SER.size  # 63

# ---- gen D: raw struct luo_ser ("luo-v5") -------------------------------------------------------
LUO_SER_SIZE = LUO_SER.size                        # 32
LUO_SESSION_SER_SIZE = LUO_SESSION_SER.size        # 80 (gen A-D)
LUO_FILE_SER_SIZE = LUO_FILE_SER.size              # 64

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

LUO_SESSION_PGCNT = 16                     # contiguous session area (gen A-C)
LUO_SESSION_MAX = (LUO_SESSION_PGCNT * 4096 - 8) // 80   # 819
LUO_FILE_PGCNT = 2                         # contiguous file array per session (gen A-C)
LUO_FILE_MAX = LUO_FILE_PGCNT * 4096 // 64  # 128
