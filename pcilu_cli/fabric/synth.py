# SPDX-License-Identifier: GPL-2.0-only
"""Synthetic fabrics for benchmarks: many realistic trees, built fast and sparsely.

Shape per domain: root bus 00 → root ports (device 1..31, functions 0..7) → a switch
(upstream port → ``endpoints_per_switch`` downstream ports) → one endpoint device per
downstream port, with 1, 2, 4 or 8 functions (seeded choice).  Bus numbers are what firmware
leaves (depth-first in device order, the pci_scan_bridge_extend() pass-1 order), computed
directly.  A domain is full when its 256 bus numbers are used; further domains follow
(0, 1, 2, ...; ``domains`` is the minimum count, more are added as needed).

Memory: endpoints share one immutable template config (copy-on-write); only bridges own a
private copy (they hold bus numbers).  262,144 functions build in a few seconds.

API:
    synth_fabric(n_functions, domains=1, endpoints_per_switch=8, seed=0) -> Fabric
"""
from __future__ import annotations

import random

from pcilu_cli.fabric import format_bdf
from pcilu_cli.fabric.build import FunctionSpec, make_config
from pcilu_cli.fabric.model import _EMPTY_MAP, Fabric, Function


def _templates():
    acs = (0x005F, 0x0000)
    mk = make_config
    return {
        "rp": mk(FunctionSpec("0000:00:01.0", vendor=0x8086, device=0x352a, kind="root_port",
                              acs=acs, ari_forwarding=(True, False), bus_master=True,
                              slot=True, multifunction=True)),   # ports at functions 0-7
        "usp": mk(FunctionSpec("0000:01:00.0", vendor=0x1000, device=0xc030, kind="upstream",
                               bus_master=True)),
        "dsp": mk(FunctionSpec("0000:02:00.0", vendor=0x1000, device=0xc030,
                               kind="downstream", acs=acs, ari_forwarding=(True, False),
                               bus_master=True, slot=True)),
        "ep": mk(FunctionSpec("0000:03:00.0", vendor=0x144d, device=0xa824,
                              class_code=0x010802, bus_master=True)),
        "ep_mf": mk(FunctionSpec("0000:03:00.0", vendor=0x15b3, device=0x101d,
                                 class_code=0x020000, bus_master=True, multifunction=True)),
    }


def synth_fabric(n_functions: int, domains: int = 1, endpoints_per_switch: int = 8,
                 seed: int = 0) -> Fabric:
    if n_functions < 1:
        raise ValueError("n_functions must be >= 1")
    k = max(1, min(int(endpoints_per_switch), 32))
    rng = random.Random(seed)
    t = _templates()
    fab = Fabric(f"synth-{n_functions}", {"kind": "synthetic", "seed": seed,
                                          "endpoints_per_switch": k}, {})
    by_uid = fab._by_uid
    count = 0
    dom = 0

    def new(uid, devfn, tmpl, parent, link_map):
        fn = Function(uid, devfn, tmpl.copy())
        fn.fabric = fab
        if parent is None:
            fn.root = link_map_root[0]
        else:
            fn.upstream, fn.root = parent, parent.root
        link_map[devfn] = fn
        by_uid[uid] = fn
        return fn

    link_map_root = [None]
    while count < n_functions:
        root = fab.add_root(dom, 0)
        link_map_root[0] = root
        bus = 0
        bridges_root = []
        for devfn in range(8, 256):           # device 1..31, function 0..7
            if count >= n_functions or bus + 2 + k > 0xFF:
                break
            rp = new(format_bdf(dom, 0, devfn), devfn, t["rp"], None, root.functions)
            bridges_root.append(rp)
            count += 1
            rp_sec = bus + 1
            rp.downstream, rp.bridges = {}, []
            usp = new(format_bdf(dom, rp_sec, 0), 0, t["usp"], rp, rp.downstream)
            rp.bridges.append(usp)
            count += 1
            usp_sec = rp_sec + 1
            usp.downstream, usp.bridges = {}, []
            nxt = usp_sec
            for i in range(k):
                if count >= n_functions:
                    break
                dsp_devfn = i << 3
                dsp = new(format_bdf(dom, usp_sec, dsp_devfn), dsp_devfn, t["dsp"], usp,
                          usp.downstream)
                usp.bridges.append(dsp)
                count += 1
                nxt += 1
                dsp.set_bus_numbers(usp_sec, nxt, nxt)
                dsp.downstream = {}
                nfuncs = rng.choice((1, 1, 2, 4, 8))
                tmpl = t["ep"] if nfuncs == 1 else t["ep_mf"]
                for f in range(nfuncs):
                    if count >= n_functions:
                        break
                    new(format_bdf(dom, nxt, f), f, tmpl, dsp, dsp.downstream)
                    count += 1
            usp.set_bus_numbers(rp_sec, usp_sec, nxt)
            rp.set_bus_numbers(0, rp_sec, nxt)
            bus = nxt
        root.bridges = bridges_root
        dom += 1
        if count < n_functions and dom >= 0x10000:
            raise ValueError("too many functions for the synthetic layout")
    while dom < domains:
        fab.add_root(dom, 0)
        dom += 1
    for fn in by_uid.values():
        if not fn.downstream:
            fn.downstream = _EMPTY_MAP
    fab.invalidate_routes()
    return fab
