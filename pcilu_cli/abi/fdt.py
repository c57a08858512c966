# SPDX-License-Identifier: GPL-2.0-only
"""The flattened device tree's own records (libfdt's ``fdt.h``, Devicetree Specification §5):
the header, a property's header, a memory-reservation entry. Big-endian, unlike the rest of
the hand-over; the KHO root FDT and LUO's gen A-C FDT are made of these.

The Construct declarations are in :mod:`pcilu_cli.abi.fdt_layouts` (re-exported here,
imported on first use); the fast codecs are derived from them through the codec cache.
"""
from pcilu_cli.abi.codec import cached, lazy_layouts, scalar

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 1, 2, 3, 4, 9

# The largest device tree a kernel takes: arm64's MAX_FDT_SIZE (asm/boot.h, SZ_2M). The
# hand-over's own trees are far smaller (the KHO root FDT and LUO's FDT are one page each),
# so pcilu reads no FDT larger than this: a crafted tree can spend ~12 bytes per node, and
# a larger one would cost more memory than its size allows.
MAX_FDT_SIZE = 2 << 20

_LAYOUTS = "pcilu_cli.abi.fdt_layouts"


__getattr__ = lazy_layouts(__name__, _LAYOUTS)   # the declarations, on first use


FDT_HEADER, _HDR_OFF = cached(_LAYOUTS, "fdt_header")
FDT_HEADER_SIZE = FDT_HEADER.size
FDT_TOTALSIZE_OFFSET = _HDR_OFF["totalsize"]
FDT_PROPERTY = cached(_LAYOUTS, "fdt_property")[0]

FDT_TOKEN = scalar(">I")                   # a structure-block token (FDT_BEGIN_NODE ...)
