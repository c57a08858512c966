# SPDX-License-Identifier: GPL-2.0-only
"""Construct layouts of the config-space structures (type 0/1 headers, PM, PCIe, ACS, ARI,
SR-IOV capabilities) that the fabric synthesizes.

Field names follow the kernel's pci_regs.h where it has one; the register offsets and bits
under their kernel names are in ``pci_regs.py``. Used to build config space for hand-written
fabrics (``fabric/function_spec.py``); the hot accessors in ``fabric/model.py`` read registers
directly, at the offsets ``pci_regs.py`` names, for speed.
"""
from __future__ import annotations

from construct import Bytes, Int8ul, Int16ul, Int32ul, Padding, Struct

# Common to both header types (0x00..0x0f)
_COMMON = (
    "vendor" / Int16ul,
    "device" / Int16ul,
    "command" / Int16ul,
    "status" / Int16ul,
    "revision" / Int8ul,
    "class_prog" / Int8ul,
    "class_device" / Int16ul,       # subclass | base class << 8
    "cache_line_size" / Int8ul,
    "latency_timer" / Int8ul,
    "header_type" / Int8ul,
    "bist" / Int8ul,
)

Type0Header = Struct(
    *_COMMON,
    "bar" / Int32ul[6],
    "cardbus_cis" / Int32ul,
    "subsystem_vendor" / Int16ul,
    "subsystem_id" / Int16ul,
    "rom_address" / Int32ul,
    "capability_list" / Int8ul,
    Padding(7),
    "interrupt_line" / Int8ul,
    "interrupt_pin" / Int8ul,
    "min_gnt" / Int8ul,
    "max_lat" / Int8ul,
)

Type1Header = Struct(
    *_COMMON,
    "bar" / Int32ul[2],
    "primary_bus" / Int8ul,
    "secondary_bus" / Int8ul,
    "subordinate_bus" / Int8ul,
    "sec_latency_timer" / Int8ul,
    "io_base" / Int8ul,
    "io_limit" / Int8ul,
    "sec_status" / Int16ul,
    "memory_base" / Int16ul,
    "memory_limit" / Int16ul,
    "pref_memory_base" / Int16ul,
    "pref_memory_limit" / Int16ul,
    "pref_base_upper32" / Int32ul,
    "pref_limit_upper32" / Int32ul,
    "io_base_upper16" / Int16ul,
    "io_limit_upper16" / Int16ul,
    "capability_list" / Int8ul,
    Padding(3),
    "rom_address1" / Int32ul,
    "interrupt_line" / Int8ul,
    "interrupt_pin" / Int8ul,
    "bridge_control" / Int16ul,
)

CapHeader = Struct("id" / Int8ul, "next" / Int8ul)

PmCap = Struct(                     # PCI Power Management capability (ID 0x01), 8 bytes
    "id" / Int8ul, "next" / Int8ul,
    "pmc" / Int16ul,
    "ctrl" / Int16ul,               # PMCSR: bits 1:0 = D0..D3hot
    "bridge_ext" / Int8ul,
    "data" / Int8ul,
)

PcieCap = Struct(                   # PCI Express capability (ID 0x10), v2 layout, 0x3c bytes
    "id" / Int8ul, "next" / Int8ul,
    "flags" / Int16ul,              # version 3:0, port type 7:4, slot 8
    "devcap" / Int32ul,
    "devctl" / Int16ul, "devsta" / Int16ul,
    "lnkcap" / Int32ul,
    "lnkctl" / Int16ul, "lnksta" / Int16ul,
    "sltcap" / Int32ul,
    "sltctl" / Int16ul, "sltsta" / Int16ul,
    "rtctl" / Int16ul, "rtcap" / Int16ul,
    "rtsta" / Int32ul,
    "devcap2" / Int32ul,            # bit 5 ARI Forwarding Supported
    "devctl2" / Int16ul,            # bit 5 ARI Forwarding Enable
    "devsta2" / Int16ul,
    "lnkcap2" / Int32ul,
    "lnkctl2" / Int16ul, "lnksta2" / Int16ul,
    "sltcap2" / Int32ul,
    "sltctl2" / Int16ul, "sltsta2" / Int16ul,
)

PcieCapV1 = Struct(                 # version 1: nothing from +0x24 on
    "id" / Int8ul, "next" / Int8ul, "flags" / Int16ul, "rest" / Bytes(0x20),
)

ExtCapHeader = Int32ul              # id 15:0, version 19:16, next 31:20

AcsCap = Struct(                    # ACS (0x000d), 8 bytes + egress vector
    "header" / ExtCapHeader,
    "cap" / Int16ul,
    "ctrl" / Int16ul,
)

AriCap = Struct(                    # ARI (0x000e), 8 bytes
    "header" / ExtCapHeader,
    "cap" / Int16ul,                # bits 15:8 Next Function Number
    "ctrl" / Int16ul,
)

SriovCap = Struct(                  # SR-IOV (0x0010), 0x40 bytes
    "header" / ExtCapHeader,
    "cap" / Int32ul,
    "ctrl" / Int16ul,               # bit 0 VF Enable, bit 3 VF MSE, bit 4 ARI Capable Hierarchy
    "status" / Int16ul,
    "initial_vfs" / Int16ul,
    "total_vfs" / Int16ul,
    "num_vfs" / Int16ul,
    "func_link" / Int8ul,
    Padding(1),
    "vf_offset" / Int16ul,
    "vf_stride" / Int16ul,
    Padding(2),
    "vf_device" / Int16ul,
    "supported_page_sizes" / Int32ul,
    "system_page_size" / Int32ul,
    "vf_bar" / Int32ul[6],
    "migration_state" / Int32ul,
)


def ext_cap_header(cap_id: int, version: int, next_off: int) -> int:
    """An extended capability header (the inverse of PCI_EXT_CAP_ID/_VER/_NEXT)."""
    return (cap_id & 0xFFFF) | (version & 0xF) << 16 | (next_off & 0xFFC) << 20
