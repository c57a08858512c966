# SPDX-License-Identifier: GPL-2.0-only
"""Small fabrics the kernel scenarios share (built with the fabric builder, not YAML)."""
from pcilu_cli.fabric.build import FabricBuilder


def switch_fabric(**knobs):
    """host bridge; RP 00:01.0 → USP 01:00.0 → DSP 02:00.0 / 02:01.0 → EP 03:00.0 / 04:00.0.

    ``knobs`` maps "rp", "usp", "dsp0", "dsp1" to fault knobs of that function."""
    b = FabricBuilder("switch")
    b.add_function("0000:00:00.0", vendor=0x8086, device=0x29c0, kind="host_bridge")
    b.add_function("0000:00:01.0", vendor=0x8086, device=0x7075, kind="root_port",
                   acs=(0x1F, 0x1D), ari_forwarding=(True, False), bus_master=True,
                   knobs=knobs.get("rp", {}))
    b.add_function("0000:01:00.0", "0000:00:01.0", vendor=0x10B5, device=0x8747,
                   kind="upstream", bus_master=True, knobs=knobs.get("usp", {}))
    for i in range(2):
        dsp = f"0000:02:{i:02x}.0"
        b.add_function(dsp, "0000:01:00.0", vendor=0x10B5, device=0x8747, kind="downstream",
                       acs=(0x7F, 0x1D), ari_forwarding=(True, False), bus_master=True,
                       knobs=knobs.get(f"dsp{i}", {}))
        b.add_function(f"0000:{3 + i:02x}:00.0", dsp, vendor=0x144D, device=0xA808,
                       class_code=0x010802, bus_master=True)
    return b.build()
