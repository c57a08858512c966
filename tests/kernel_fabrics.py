# SPDX-License-Identifier: GPL-2.0-only
"""Small fabrics and helpers the kernel tests share: fabrics built with the fabric builder (not
YAML), the switch fabric's BDFs, errnos, and flex-era ``struct pci_ser`` bytes packed by hand."""
from __future__ import annotations

import json
import struct

from pcilu_cli.fabric.build import FabricBuilder
from pcilu_cli.kernel import Kernel
from tests.inmemory_kexec import next_kernel


def record_config_reads(monkeypatch, cfg) -> list:
    """The offsets of every config read of ``cfg`` from now on (``ConfigSpace.read`` wrapped
    for the rest of the test)."""
    from pcilu_cli.fabric.config import ConfigSpace
    reads = []
    orig = ConfigSpace.read

    def read(self, off, width):
        if self is cfg:
            reads.append(off)
        return orig(self, off, width)
    monkeypatch.setattr(ConfigSpace, "read", read)
    return reads


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


EINVAL, EBUSY, ENOSPC, ENOENT, EOPNOTSUPP = -22, -16, -28, -2, -95

# switch_fabric(): RP 00:01.0 → USP 01:00.0 → DSP0 02:00.0 → EP0 03:00.0
#                                          → DSP1 02:01.0 → EP1 04:00.0   (+ host bridge)
RP, USP, DSP0, DSP1, EP0, EP1 = ("0000:00:01.0", "0000:01:00.0", "0000:02:00.0",
                                 "0000:02:01.0", "0000:03:00.0", "0000:04:00.0")


def entry(domain, bdf, rc):
    """One flex-era ``struct pci_dev_ser`` (u32 domain, u16 bdf, u16 refcount), packed by hand."""
    return struct.pack("<IHH", domain, bdf, rc)


def slots(blob):
    """{bdf: (slot, refcount)} of the in-use entries of a flex-era blob."""
    max_nr = struct.unpack_from("<I", blob, 0)[0]
    out = {}
    for i in range(max_nr):
        d, b, rc = struct.unpack_from("<IHH", blob, 8 + 8 * i)
        if rc:
            out[(d, b)] = (i, rc)
    return out


def hdr(blob):
    """(max_nr_devices, nr_devices) of a flex-era blob."""
    return struct.unpack_from("<II", blob, 0)


def new_lines(k, start):
    return k.log.lines(start)


def two_ep_next_kernel(**knobs):
    """Both switch endpoints preserved, then kexec: (generation 0, generation 1)."""
    k = Kernel.boot(switch_fabric(**knobs))
    k.preserve(EP0)
    k.preserve(EP1)
    return k, next_kernel(k, k.kexec())


def devs(k):
    """{bdf: device} of a kernel's report."""
    return {d["bdf"]: d for d in k.report()["devices"] if d["bdf"]}


def snapshot(k):
    """What a refused operation must leave unchanged: the blob, LUO's state, every device's marks."""
    return (k.outgoing_blob(), json.dumps(k.luo.to_state(), sort_keys=True),
            {d.key: (d.outgoing, d.frozen) for d in k.devices.values()})


FOUR_EPS = ["0000:03:00.0", "0000:04:00.0", "0000:05:00.0", "0000:06:00.0"]


def four_endpoint_fabric(d3cold_ep=None):
    """RP 00:01.0 → USP 01:00.0 → four DSPs 02:0x.0 → the endpoints FOUR_EPS (03..06:00.0),
    and an RCiEP 00:02.0; every function a bus master; ``d3cold_ep`` is in D3cold."""
    b = FabricBuilder("prop")
    b.add_function("0000:00:01.0", kind="root_port", bus_master=True)
    b.add_function("0000:01:00.0", "0000:00:01.0", kind="upstream", bus_master=True)
    for i, ep in enumerate(FOUR_EPS):
        dsp = f"0000:02:{i:02x}.0"
        b.add_function(dsp, "0000:01:00.0", kind="downstream", bus_master=True)
        b.add_function(ep, dsp, bus_master=True,
                       power_state="D3cold" if ep == d3cold_ep else None)
    b.add_function("0000:00:02.0", kind="rciep", bus_master=True)
    return b.build()
